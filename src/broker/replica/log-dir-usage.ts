/**
 * Total and usable bytes of the file system holding a log directory (DescribeLogDirs v4),
 * from statfs(2). An I/O adapter like env/: the replica manager uses it only when its
 * logs live on the real disk (nodeDisk).
 */
import { statfs } from 'node:fs/promises';
import type { LogDirUsage } from './replica-manager.ts';

export async function statfsUsage(dir: string): Promise<LogDirUsage> {
  const s = await statfs(dir);
  return { totalBytes: s.blocks * s.bsize, usableBytes: s.bavail * s.bsize };
}
