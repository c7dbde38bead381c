/**
 * replication-offset-checkpoint: each partition's high watermark, kept in the log
 * directory so that a restarted replica does not start its high watermark at the log
 * start. Kafka's text layout: version 0, the entry count, then "<topic> <partition> <hw>"
 * per line. Replaced atomically (tmp file, fsync, rename, fsync of the directory).
 */
import { posix } from 'node:path';
import type { Disk } from '../../env/disk.ts';

export const HW_CHECKPOINT_FILE = 'replication-offset-checkpoint';

export function serializeHighWatermarks(
  entries: ReadonlyMap<string, { topic: string; partition: number; hw: number }>,
) {
  const lines = ['0', String(entries.size)];
  for (const e of entries.values()) lines.push(`${e.topic} ${e.partition} ${e.hw}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** topic-partition key -> high watermark; empty for a missing or unreadable file. */
export function parseHighWatermarks(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines[0] !== '0') return out;
  const count = Number(lines[1]);
  for (let i = 0; i < count; i++) {
    const parts = (lines[2 + i] ?? '').split(' ');
    if (parts.length !== 3) return new Map();
    const partition = Number(parts[1]);
    const hw = Number(parts[2]);
    if (!Number.isInteger(partition) || !Number.isInteger(hw)) return new Map();
    out.set(`${parts[0]}-${partition}`, hw);
  }
  return out;
}

export async function readHighWatermarks(disk: Disk, dir: string): Promise<Map<string, number>> {
  const path = posix.join(dir, HW_CHECKPOINT_FILE);
  if ((await disk.stat(path)) === undefined) return new Map();
  const f = await disk.open(path);
  try {
    const size = await f.size();
    return parseHighWatermarks((await f.read(0, size)).toString('utf8'));
  } finally {
    await f.close();
  }
}

export async function writeHighWatermarks(disk: Disk, dir: string, data: Buffer): Promise<void> {
  const path = posix.join(dir, HW_CHECKPOINT_FILE);
  const tmp = `${path}.tmp`;
  await disk.mkdirp(dir);
  const f = await disk.open(tmp, { create: true });
  try {
    await f.truncate(0);
    await f.write(0, data);
    await f.sync();
  } finally {
    await f.close();
  }
  await disk.rename(tmp, path);
  await disk.syncDir(dir);
}
