/** Shared helpers for the storage tests: a manual clock, batch builders, log factories. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/env/clock.ts';
import type { Disk, DiskFile } from '../../src/env/disk.ts';
import { nodeDisk } from '../../src/env/disk.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { type LogConfig, logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { MemoryLog } from '../../src/storage/memory-log.ts';
import type { PartitionLog } from '../../src/storage/partition-log.ts';
import { buildSimpleBatch, listBatches, recordsOf, type SimpleRecord } from '../../src/storage/records.ts';

export class ManualClock implements Clock {
  private tasks: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  constructor(
    private now = 1_700_000_000_000,
    private mono = 0,
  ) {}
  nowMs(): number {
    return this.now;
  }
  monotonicMs(): number {
    return this.mono;
  }
  schedule(delayMs: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.tasks.push({ at: this.mono + delayMs, fn, id });
    return () => {
      this.tasks = this.tasks.filter((t) => t.id !== id);
    };
  }
  advance(ms: number): void {
    this.now += ms;
    this.mono += ms;
    const due = this.tasks.filter((t) => t.at <= this.mono);
    this.tasks = this.tasks.filter((t) => t.at > this.mono);
    for (const t of due) t.fn();
  }
}

/** A batch of `count` records with keys k<i> and values v<i>, at timestamp ts. */
export function batchOf(count: number, ts = 1000, valueSize = 10): Buffer {
  const records: SimpleRecord[] = [];
  for (let i = 0; i < count; i++) records.push({ key: `k${i}`, value: 'v'.repeat(valueSize), timestampMs: ts });
  return buildSimpleBatch(records);
}

export interface DecodedRecord {
  offset: number;
  key: string | null;
  value: string | null;
}

/** Every record of a buffer of uncompressed batches. */
export function decodeRecords(buf: Buffer): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  for (const b of listBatches(buf)) {
    for (const r of recordsOf(buf, b.position)) {
      out.push({
        offset: b.baseOffset + r.offsetDelta,
        key: r.key?.toString() ?? null,
        value: r.value?.toString() ?? null,
      });
    }
  }
  return out;
}

/** Reads the whole log from the start (through repeated reads). */
export async function readAll(log: PartitionLog, maxOffset?: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let offset = log.logStartOffset();
  const end = maxOffset ?? log.logEndOffset();
  while (offset < end) {
    const r = await log.read(offset, 1 << 20, { maxOffset: end });
    if (r.kind !== 'records') throw new Error(`read at ${offset}: ${r.kind}`);
    const batches = listBatches(r.records);
    if (batches.length === 0) break;
    for (const b of batches) {
      out.push(r.records.subarray(b.position, b.position + b.sizeInBytes));
      offset = b.baseOffset + b.lastOffsetDelta + 1;
    }
  }
  return out;
}

export interface LogFactory {
  name: string;
  /** Creates a fresh empty log. */
  create(config?: Partial<LogConfig>, clock?: ManualClock): Promise<PartitionLog>;
  /** File logs: close and reopen the same log. */
  reopen?(log: PartitionLog): Promise<PartitionLog>;
  cleanup(): Promise<void>;
}

export async function tempDir(prefix = 'runnel-storage-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function fileLogFactory(kind: 'node' | 'memory'): LogFactory {
  let dir: string | undefined;
  let disk: Disk | undefined;
  let n = 0;
  const opened = new Map<PartitionLog, { dir: string; clock: ManualClock; config: LogConfig }>();
  return {
    name: `FileLog(${kind}Disk)`,
    async create(config = {}, clock = new ManualClock()) {
      if (!disk) {
        disk = kind === 'node' ? nodeDisk : memoryDisk();
        dir = kind === 'node' ? await tempDir() : '/data';
      }
      const logDir = join(dir!, `t-${n++}`);
      const cfg = logConfig(config);
      const log = await FileLog.open({ dir: logDir, topic: 't', partition: n, config: cfg, disk, clock });
      opened.set(log, { dir: logDir, clock, config: cfg });
      return log;
    },
    async reopen(log) {
      const o = opened.get(log)!;
      await log.close();
      const next = await FileLog.open({
        dir: o.dir,
        topic: 't',
        partition: log.partition,
        config: log.config,
        disk: disk!,
        clock: o.clock,
        cleanShutdown: true,
        highWatermark: log.highWatermark(),
      });
      opened.set(next, o);
      return next;
    },
    async cleanup() {
      for (const log of opened.keys()) await log.close().catch(() => {});
      if (kind === 'node' && dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export function memoryLogFactory(): LogFactory {
  return {
    name: 'MemoryLog',
    async create(config = {}, clock = new ManualClock()) {
      return new MemoryLog({ topic: 't', partition: 0, config: logConfig(config), clock });
    },
    async cleanup() {},
  };
}

/** Wraps a Disk to count read() and write() calls on segment (.log) files. */
export function countingDisk(inner: Disk): { disk: Disk; logWrites: () => number; logReads: () => number } {
  let writes = 0;
  let reads = 0;
  const disk: Disk = {
    open: async (path, options) => {
      const file = await inner.open(path, options);
      if (!path.endsWith('.log')) return file;
      const counted: DiskFile = {
        path: file.path,
        read: (position, length) => {
          reads++;
          return file.read(position, length);
        },
        write: (position, data) => {
          writes++;
          return file.write(position, data);
        },
        writev: (position, parts) => {
          writes++;
          return file.writev(position, parts);
        },
        sync: () => file.sync(),
        datasync: () => file.datasync(),
        truncate: (length) => file.truncate(length),
        size: () => file.size(),
        close: () => file.close(),
      };
      return counted;
    },
    mkdirp: (path) => inner.mkdirp(path),
    readdir: (path) => inner.readdir(path),
    rename: (from, to) => inner.rename(from, to),
    unlink: (path) => inner.unlink(path),
    rmrf: (path) => inner.rmrf(path),
    stat: (path) => inner.stat(path),
    syncDir: (path) => inner.syncDir(path),
  };
  return { disk, logWrites: () => writes, logReads: () => reads };
}
