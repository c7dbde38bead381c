/**
 * Shared, bounded resources of all file logs:
 * - FilePool: an LRU of open file handles bounded by maxOpenFiles. Logs borrow a handle
 *   for one operation (`withFile`) and give it back; idle handles are closed when the
 *   bound is reached, so 10,000 partitions do not hold 30,000 descriptors. When every
 *   handle is borrowed, borrowers wait (the bound is hard).
 * - IndexCache: whole index files held in memory, an LRU bounded in bytes, so an idle
 *   partition costs no index memory.
 */
import type { Disk, DiskFile } from '../env/disk.ts';
import { toStorageError } from '../env/disk.ts';

interface PoolEntry {
  path: string;
  file: Promise<DiskFile>;
  refs: number;
  retired: boolean;
}

export class FilePool {
  private readonly entries = new Map<string, PoolEntry>();
  /** Entries invalidated while borrowed: closed on release. */
  private readonly retiring = new Set<PoolEntry>();
  private readonly waiters: (() => void)[] = [];
  private maxSeen = 0;
  /** Handles being closed. */
  private closing = 0;

  constructor(
    readonly disk: Disk,
    readonly maxOpenFiles = 1024,
  ) {
    if (maxOpenFiles < 4) throw new Error('maxOpenFiles must be at least 4');
  }

  openCount(): number {
    return this.entries.size + this.retiring.size + this.closing;
  }

  maxOpenCount(): number {
    return this.maxSeen;
  }

  /** Borrows the handle of `path` (opened on demand) for the duration of fn. */
  async withFile<T>(path: string, fn: (file: DiskFile) => Promise<T>, create = false): Promise<T> {
    const entry = await this.acquire(path, create);
    try {
      return await fn(await entry.file);
    } finally {
      this.release(entry);
    }
  }

  private async acquire(path: string, create: boolean): Promise<PoolEntry> {
    for (;;) {
      const existing = this.entries.get(path);
      if (existing) {
        existing.refs++;
        this.entries.delete(path);
        this.entries.set(path, existing);
        try {
          await existing.file;
        } catch (err) {
          this.release(existing);
          throw toStorageError(err, path);
        }
        return existing;
      }
      if (this.openCount() >= this.maxOpenFiles) {
        // Close the least recently used idle handle (if any) and wait for a slot: a handle
        // being closed still counts, so the bound holds at every moment.
        this.evictOne();
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      const entry: PoolEntry = { path, file: this.disk.open(path, { create }), refs: 1, retired: false };
      this.entries.set(path, entry);
      this.maxSeen = Math.max(this.maxSeen, this.openCount());
      try {
        await entry.file;
      } catch (err) {
        if (this.entries.get(path) === entry) this.entries.delete(path);
        this.wake();
        throw toStorageError(err, path);
      }
      return entry;
    }
  }

  private release(entry: PoolEntry): void {
    entry.refs--;
    if (entry.refs === 0 && entry.retired) {
      this.retiring.delete(entry);
      this.closeEntry(entry);
    }
    this.wake();
  }

  /** Wakes one waiter per event (a release, a completed close): no thundering herd. */
  private wake(): void {
    this.waiters.shift()?.();
  }

  private evictOne(): boolean {
    for (const entry of this.entries.values()) {
      if (entry.refs === 0) {
        this.entries.delete(entry.path);
        this.closeEntry(entry);
        return true;
      }
    }
    return false;
  }

  /** Closes a handle; it counts against the bound until the close completes. */
  private closeEntry(entry: PoolEntry): void {
    this.closing++;
    entry.file
      .then(
        (f) => f.close().catch(() => {}),
        () => {},
      )
      .finally(() => {
        this.closing--;
        this.wake();
      });
  }

  /** Forgets the handle of `path` (file deleted, renamed or replaced); closed once unborrowed. */
  invalidate(path: string): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    this.entries.delete(path);
    if (entry.refs === 0) this.closeEntry(entry);
    else {
      entry.retired = true;
      this.retiring.add(entry);
    }
    this.wake();
  }

  /** Closes every idle handle under a directory prefix. */
  invalidatePrefix(prefix: string): void {
    for (const path of [...this.entries.keys()]) if (path.startsWith(prefix)) this.invalidate(path);
  }
}

export interface CachedIndex {
  buf: Buffer;
  /** Bytes of buf in use. */
  length: number;
}

export class IndexCache {
  private readonly entries = new Map<string, CachedIndex>();
  private bytes = 0;

  constructor(readonly maxBytes = 64 * 1024 * 1024) {}

  get(path: string): CachedIndex | undefined {
    const entry = this.entries.get(path);
    if (entry) {
      this.entries.delete(path);
      this.entries.set(path, entry);
    }
    return entry;
  }

  set(path: string, buf: Buffer): CachedIndex {
    this.invalidate(path);
    const entry = { buf, length: buf.length };
    this.entries.set(path, entry);
    this.bytes += buf.length;
    this.trim();
    return entry;
  }

  /** Appends an entry to a cached index (no-op when not cached). */
  append(path: string, data: Buffer, atLength: number): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    if (entry.length !== atLength) {
      this.invalidate(path);
      return;
    }
    if (entry.length + data.length > entry.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(64, (entry.length + data.length) * 2));
      entry.buf.copy(grown, 0, 0, entry.length);
      this.bytes += grown.length - entry.buf.length;
      entry.buf = grown;
    }
    data.copy(entry.buf, entry.length);
    entry.length += data.length;
    this.trim();
  }

  truncate(path: string, length: number): void {
    const entry = this.entries.get(path);
    if (entry && length < entry.length) entry.length = length;
  }

  invalidate(path: string): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    this.entries.delete(path);
    this.bytes -= entry.buf.length;
  }

  invalidatePrefix(prefix: string): void {
    for (const path of [...this.entries.keys()]) if (path.startsWith(prefix)) this.invalidate(path);
  }

  cachedBytes(): number {
    return this.bytes;
  }

  private trim(): void {
    while (this.bytes > this.maxBytes && this.entries.size > 1) {
      const oldest = this.entries.keys().next().value as string;
      this.invalidate(oldest);
    }
  }
}

/** Many readers or one exclusive holder (swaps, deletions, truncation of segments). */
export class RwLock {
  private readers = 0;
  private writer = false;
  private queue: { exclusive: boolean; resolve: () => void }[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.queue.push({ exclusive: false, resolve }));
    } else this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.pump();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.readers > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.queue.push({ exclusive: true, resolve }));
    } else this.writer = true;
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.pump();
    }
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.writer) {
      const next = this.queue[0]!;
      if (next.exclusive) {
        if (this.readers > 0) return;
        this.queue.shift();
        this.writer = true;
        next.resolve();
        return;
      }
      this.queue.shift();
      this.readers++;
      next.resolve();
    }
  }
}

/** Runs operations one at a time, in order, with a bound on how many may wait. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(readonly maxPending = 10_000) {}

  size(): number {
    return this.pending;
  }

  run<T>(fn: () => Promise<T>, onFull: () => Error): Promise<T> {
    if (this.pending >= this.maxPending) return Promise.reject(onFull());
    this.pending++;
    const result = this.tail.then(fn).finally(() => {
      this.pending--;
    });
    this.tail = result.catch(() => {});
    return result;
  }

  /** Resolves when everything queued so far has run. */
  drain(): Promise<void> {
    return this.tail.then(() => {});
  }
}
