/**
 * A fault-injecting Disk wrapper for tests and the simulator. Faults are either armed
 * explicitly (`failNext`, `noSpace`) or drawn at given rates from a seeded Random, so a
 * seed replays the same faults.
 *
 * - torn write: a random prefix of the data reaches the inner disk, then the write fails
 * - ENOSPC: writes (and growing truncates) fail with 'no-space' while `noSpace` is set,
 *   after writing a random prefix (what a real full disk may do)
 * - EIO: the chosen operation fails with 'io'
 * Lost unflushed data on crash is the inner memoryDisk's `crash()`.
 */
import type { Disk, DiskFile, DiskStat, OpenOptions } from './disk.ts';
import { StorageError } from './disk.ts';
import type { Random } from './random.ts';

export type FaultOp = 'open' | 'read' | 'write' | 'sync' | 'truncate' | 'rename' | 'unlink' | 'readdir' | 'mkdir';

export interface FaultRates {
  /** Probability that a write is torn (prefix written, then 'io'). */
  tornWrite?: number;
  /** Probability of 'io' per operation, by operation. */
  io?: Partial<Record<FaultOp, number>>;
}

export interface FaultyDisk extends Disk {
  /** While true, writes fail with 'no-space' (after a random prefix). */
  noSpace: boolean;
  rates: FaultRates;
  /**
   * After `skip` matching calls succeed, the next `count` calls of `op` (optionally only on
   * paths containing `pathIncludes`) fail with `kind`.
   */
  failNext(
    op: FaultOp,
    options?: { kind?: 'io' | 'no-space'; count?: number; skip?: number; pathIncludes?: string; torn?: boolean },
  ): void;
  /** Forgets every armed failNext. */
  disarm(): void;
  /** Number of faults injected so far. */
  injected(): number;
}

interface Armed {
  op: FaultOp;
  kind: 'io' | 'no-space';
  count: number;
  skip: number;
  pathIncludes?: string;
  torn: boolean;
}

export function faultyDisk(inner: Disk, random: Random, rates: FaultRates = {}): FaultyDisk {
  const armed: Armed[] = [];
  let injected = 0;

  const fault = (kind: 'io' | 'no-space', op: string, path: string): StorageError => {
    injected++;
    return new StorageError(kind, kind === 'no-space' ? `ENOSPC (injected) on ${op}` : `EIO (injected) on ${op}`, path);
  };

  /** Returns the fault to raise for this call, if any. */
  const draw = (op: FaultOp, path: string): { kind: 'io' | 'no-space'; torn: boolean } | undefined => {
    const i = armed.findIndex((a) => a.op === op && (a.pathIncludes === undefined || path.includes(a.pathIncludes)));
    if (i >= 0) {
      const a = armed[i]!;
      if (a.skip > 0) {
        a.skip--;
        return undefined;
      }
      if (--a.count <= 0) armed.splice(i, 1);
      return { kind: a.kind, torn: a.torn };
    }
    if (op === 'write' && disk.noSpace) return { kind: 'no-space', torn: true };
    if (op === 'write' && disk.rates.tornWrite && random.next() < disk.rates.tornWrite)
      return { kind: 'io', torn: true };
    const rate = disk.rates.io?.[op];
    if (rate && random.next() < rate) return { kind: 'io', torn: op === 'write' };
    return undefined;
  };

  class FaultyFile implements DiskFile {
    constructor(private readonly file: DiskFile) {}
    get path(): string {
      return this.file.path;
    }
    async read(position: number, length: number, into?: Buffer, cached?: boolean): Promise<Buffer> {
      const f = draw('read', this.path);
      if (f) throw fault(f.kind, 'read', this.path);
      return this.file.read(position, length, into, cached);
    }
    async write(position: number, data: Buffer): Promise<void> {
      const f = draw('write', this.path);
      if (f) {
        if (f.torn && data.length > 0) {
          const prefix = random.int(data.length);
          if (prefix > 0) await this.file.write(position, data.subarray(0, prefix));
        }
        throw fault(f.kind, 'write', this.path);
      }
      return this.file.write(position, data);
    }
    /** As one write of the concatenation: the same faults, torn prefix included. */
    writev(position: number, parts: readonly Buffer[]): Promise<void> {
      return this.write(position, Buffer.concat(parts as Buffer[]));
    }
    async sync(): Promise<void> {
      const f = draw('sync', this.path);
      if (f) throw fault(f.kind, 'sync', this.path);
      return this.file.sync();
    }
    datasync(): Promise<void> {
      return this.sync();
    }
    async truncate(length: number): Promise<void> {
      const f = draw('truncate', this.path);
      if (f) throw fault(f.kind, 'truncate', this.path);
      return this.file.truncate(length);
    }
    size(): Promise<number> {
      return this.file.size();
    }
    close(): Promise<void> {
      return this.file.close();
    }
  }

  const simple = async <T>(op: FaultOp, path: string, run: () => Promise<T>): Promise<T> => {
    const f = draw(op, path);
    if (f) throw fault(f.kind, op, path);
    return run();
  };

  const disk: FaultyDisk = {
    noSpace: false,
    rates,
    failNext(op, options) {
      armed.push({
        op,
        kind: options?.kind ?? 'io',
        count: options?.count ?? 1,
        skip: options?.skip ?? 0,
        pathIncludes: options?.pathIncludes,
        torn: options?.torn ?? false,
      });
    },
    injected: () => injected,
    disarm() {
      armed.length = 0;
    },
    async open(path: string, options?: OpenOptions): Promise<DiskFile> {
      return new FaultyFile(await simple('open', path, () => inner.open(path, options)));
    },
    mkdirp: (path) => simple('mkdir', path, () => inner.mkdirp(path)),
    readdir: (path) => simple('readdir', path, () => inner.readdir(path)),
    rename: (from, to) => simple('rename', from, () => inner.rename(from, to)),
    unlink: (path) => simple('unlink', path, () => inner.unlink(path)),
    rmrf: (path) => simple('unlink', path, () => inner.rmrf(path)),
    stat: (path): Promise<DiskStat | undefined> => inner.stat(path),
    syncDir: (path) => simple('sync', path, () => inner.syncDir(path)),
  };
  return disk;
}
