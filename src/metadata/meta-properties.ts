/**
 * meta.properties: each log directory says which cluster and node it belongs to, as in
 * Kafka (version=1, cluster.id, node.id, directory.id). The first start formats empty
 * directories (Kafka needs `kafka-storage format`; Runnel does it itself, with a fresh
 * cluster id unless one is given). Later starts check that every directory agrees with
 * the others and with node.id, and refuse to start otherwise.
 */
import { posix } from 'node:path';
import type { Disk } from '../env/disk.ts';
import type { Random } from '../env/random.ts';
import { uuidFromBytes } from '../protocol/codec/uuid.ts';

export const META_PROPERTIES_FILE = 'meta.properties';

export interface MetaProperties {
  clusterId: string;
  nodeId: number;
  directoryId: string;
}

export class MetaPropertiesError extends Error {
  override readonly name = 'MetaPropertiesError';
}

export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const m = /^([^=:\s]+)\s*[=:\s]\s*(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

export function formatMetaProperties(meta: MetaProperties, nowMs: number): string {
  return [
    '#',
    `#${new Date(nowMs).toUTCString()}`,
    `cluster.id=${meta.clusterId}`,
    `directory.id=${meta.directoryId}`,
    `node.id=${meta.nodeId}`,
    'version=1',
    '',
  ].join('\n');
}

async function readText(disk: Disk, path: string): Promise<string | undefined> {
  const stat = await disk.stat(path);
  if (stat === undefined) return undefined;
  const file = await disk.open(path);
  try {
    return (await file.read(0, stat.size)).toString('utf8');
  } finally {
    await file.close();
  }
}

async function writeText(disk: Disk, dir: string, name: string, text: string): Promise<void> {
  const tmp = posix.join(dir, `${name}.tmp`);
  const file = await disk.open(tmp, { create: true });
  try {
    await file.truncate(0);
    await file.write(0, Buffer.from(text, 'utf8'));
    await file.sync();
  } finally {
    await file.close();
  }
  await disk.rename(tmp, posix.join(dir, name));
  await disk.syncDir(dir);
}

/** A fresh random uuid in Kafka's display form (never starting with '-'). */
export function randomUuid(random: Random): string {
  for (;;) {
    const id = uuidFromBytes(random.bytes(16));
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Reads meta.properties of every log dir, formatting the ones without it. Returns the
 * cluster id all of them share. Throws MetaPropertiesError on a mismatch.
 */
export async function loadOrFormatMetaProperties(options: {
  disk: Disk;
  random: Random;
  nowMs: number;
  logDirs: readonly string[];
  nodeId: number;
  /** Cluster id to format with (default: a fresh random one, or the one already on disk). */
  clusterId?: string;
}): Promise<{ clusterId: string; formatted: string[] }> {
  const { disk, logDirs, nodeId } = options;
  const found: { dir: string; meta: Map<string, string> }[] = [];
  const missing: string[] = [];
  for (const dir of logDirs) {
    await disk.mkdirp(dir);
    const text = await readText(disk, posix.join(dir, META_PROPERTIES_FILE));
    if (text === undefined) missing.push(dir);
    else found.push({ dir, meta: parseProperties(text) });
  }
  let clusterId = options.clusterId;
  for (const { dir, meta } of found) {
    const version = meta.get('version');
    if (version !== '1') {
      throw new MetaPropertiesError(`${posix.join(dir, META_PROPERTIES_FILE)}: unsupported version ${version}`);
    }
    const storedNode = Number(meta.get('node.id'));
    if (storedNode !== nodeId) {
      throw new MetaPropertiesError(
        `Stored node id ${meta.get('node.id')} in ${dir} doesn't match previous node id ${nodeId}. If you moved your data, make sure your configured node id matches. If you intend to create a new node, you should remove all data in your data directories.`,
      );
    }
    const stored = meta.get('cluster.id');
    if (stored === undefined || stored === '') {
      throw new MetaPropertiesError(`${posix.join(dir, META_PROPERTIES_FILE)} has no cluster.id`);
    }
    if (clusterId !== undefined && stored !== clusterId) {
      throw new MetaPropertiesError(
        `Invalid cluster.id in: ${posix.join(dir, META_PROPERTIES_FILE)}. Expected ${clusterId}, but read ${stored}`,
      );
    }
    clusterId = stored;
  }
  clusterId ??= randomUuid(options.random);
  for (const dir of missing) {
    const meta = { clusterId, nodeId, directoryId: randomUuid(options.random) };
    await writeText(disk, dir, META_PROPERTIES_FILE, formatMetaProperties(meta, options.nowMs));
  }
  return { clusterId, formatted: missing };
}
