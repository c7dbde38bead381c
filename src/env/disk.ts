/**
 * Disk, as the storage engine sees it: a narrow async interface, so the same log code
 * runs on the real file system (nodeDisk), in memory (memoryDisk, disk-memory.ts) and
 * under injected faults (faultyDisk, disk-faults.ts).
 *
 * Every failure surfaces as a StorageError with a `kind`; the broker maps these to
 * KAFKA_STORAGE_ERROR. Nothing else in src/storage touches node:fs.
 */
import { constants, promises as fs, readSync, writeSync, writevSync } from 'node:fs';

/**
 * NodeFile writes up to this size with write(2) on the event loop's thread; larger ones go
 * through libuv's thread pool, so that a big group commit does not hold the loop. A small
 * write into the page cache takes microseconds, less than the pool's round trip (queue, wake
 * a worker, wake the loop), which on a loaded machine costs milliseconds: produce appends
 * at a steady rate are small. Reads stay on the pool unless marked cached (below).
 */
export const SYNC_WRITE_MAX_BYTES = 64 * 1024;

/**
 * A read of up to this size that the caller marks `cached` (bytes this process wrote
 * moments ago, so in the page cache) is done with read(2) on the calling thread, for the
 * same reason: a consumer or follower at the tail reads a few KiB per fetch. Unmarked
 * reads, and larger ones, go through the thread pool: a read that misses the page cache
 * would hold the event loop, and every connection with it, for a disk access.
 */
export const SYNC_READ_MAX_BYTES = 64 * 1024;

export type StorageErrorKind =
  /** ENOSPC / EDQUOT: the disk is full. Retrying after space returns works. */
  | 'no-space'
  /** Any other I/O failure (EIO, EBADF, ...). */
  | 'io'
  /** Bytes on disk (or handed to append) that are not a valid record batch. */
  | 'corrupt'
  /** The file or directory does not exist. */
  | 'not-found'
  /** The file or directory already exists. */
  | 'exists'
  /** The log or file was closed. */
  | 'closed'
  /** A bounded queue is full (too many appends waiting on one log). */
  | 'overloaded';

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly kind: StorageErrorKind,
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Wraps any thrown value into a StorageError, mapping errno codes to kinds. */
export function toStorageError(err: unknown, path?: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: string } | null)?.code;
  const kind: StorageErrorKind =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'no-space'
      : code === 'ENOENT'
        ? 'not-found'
        : code === 'EEXIST'
          ? 'exists'
          : 'io';
  const message = err instanceof Error ? err.message : String(err);
  return new StorageError(kind, message, path, { cause: err });
}

/** An open file. Positions are absolute; writes are full (or throw). */
export interface DiskFile {
  readonly path: string;
  /**
   * Reads up to `length` bytes at `position`; shorter only at end of file. With `into` (at
   * least `length` bytes, e.g. from a buffer pool) the bytes may be read into it and the
   * result is then a view of it; callers use the result either way. `cached`: the caller
   * knows the bytes are in the page cache (SYNC_READ_MAX_BYTES).
   */
  read(position: number, length: number, into?: Buffer, cached?: boolean): Promise<Buffer>;
  /** Writes all of `data` at `position` (write(2) completed: survives a process crash). */
  write(position: number, data: Buffer): Promise<void>;
  /**
   * Writes `parts` back to back at `position`, as `write` of their concatenation would, with
   * one pwritev(2) where the file system allows it (no copy into one buffer first).
   */
  writev(position: number, parts: readonly Buffer[]): Promise<void>;
  /** fsync: data and metadata reach stable storage (survives power loss). */
  sync(): Promise<void>;
  /** fdatasync. */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface DiskStat {
  size: number;
  isDirectory: boolean;
}

export interface OpenOptions {
  /** Create the file when missing (default false: missing file -> 'not-found'). */
  create?: boolean;
}

export interface Disk {
  open(path: string, options?: OpenOptions): Promise<DiskFile>;
  /** mkdir -p. */
  mkdirp(path: string): Promise<void>;
  /** Names of the entries of a directory (not paths), in no particular order. */
  readdir(path: string): Promise<string[]>;
  /** Atomic rename; replaces `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** rm -rf (no error when missing). */
  rmrf(path: string): Promise<void>;
  /** undefined when missing. */
  stat(path: string): Promise<DiskStat | undefined>;
  /** fsync a directory so that creations/renames in it are durable. */
  syncDir(path: string): Promise<void>;
}

async function wrap<T>(path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw toStorageError(err, path);
  }
}

class NodeFile implements DiskFile {
  constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
  ) {}

  read(position: number, length: number, into?: Buffer, cached = false): Promise<Buffer> {
    if (cached && length <= SYNC_READ_MAX_BYTES) {
      try {
        const buf = into !== undefined && into.length >= length ? into : Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const bytesRead = readSync(this.handle.fd, buf, done, length - done, position + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return Promise.resolve(done === buf.length ? buf : buf.subarray(0, done));
      } catch (err) {
        return Promise.reject(toStorageError(err, this.path));
      }
    }
    return wrap(this.path, async () => {
      const buf = into !== undefined && into.length >= length ? into : Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await this.handle.read(buf, done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === buf.length ? buf : buf.subarray(0, done);
    });
  }

  write(position: number, data: Buffer): Promise<void> {
    if (data.length <= SYNC_WRITE_MAX_BYTES) {
      // See SYNC_WRITE_MAX_BYTES. Same outcome either way: the bytes are in the kernel when this settles.
      try {
        let done = 0;
        while (done < data.length) done += writeSync(this.handle.fd, data, done, data.length - done, position + done);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(toStorageError(err, this.path));
      }
    }
    return wrap(this.path, async () => {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.handle.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    });
  }

  writev(position: number, parts: readonly Buffer[]): Promise<void> {
    let total = 0;
    for (const p of parts) total += p.length;
    if (total <= SYNC_WRITE_MAX_BYTES) {
      try {
        let rest = parts;
        let at = position;
        while (rest.length > 0) {
          const written = writevSync(this.handle.fd, rest as Buffer[], at);
          at += written;
          rest = skipBytes(rest, written);
        }
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(toStorageError(err, this.path));
      }
    }
    return wrap(this.path, async () => {
      let rest = parts;
      let at = position;
      while (rest.length > 0) {
        const { bytesWritten } = await this.handle.writev(rest as Buffer[], at);
        at += bytesWritten;
        rest = skipBytes(rest, bytesWritten);
      }
    });
  }

  sync(): Promise<void> {
    return wrap(this.path, () => this.handle.sync());
  }

  datasync(): Promise<void> {
    return wrap(this.path, () => this.handle.datasync());
  }

  truncate(length: number): Promise<void> {
    return wrap(this.path, () => this.handle.truncate(length));
  }

  size(): Promise<number> {
    return wrap(this.path, async () => (await this.handle.stat()).size);
  }

  close(): Promise<void> {
    return wrap(this.path, () => this.handle.close());
  }
}

/** What is left of `parts` after its first `bytes` bytes (a short write's remainder). */
export function skipBytes(parts: readonly Buffer[], bytes: number): readonly Buffer[] {
  let i = 0;
  let left = bytes;
  while (i < parts.length && left >= parts[i]!.length) {
    left -= parts[i]!.length;
    i++;
  }
  if (i === parts.length) return [];
  const rest = parts.slice(i);
  if (left > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

/** The real file system, through node:fs/promises file handles. */
export const nodeDisk: Disk = {
  open(path, options) {
    return wrap(path, async () => {
      const flags = constants.O_RDWR | (options?.create ? constants.O_CREAT : 0);
      return new NodeFile(path, await fs.open(path, flags, 0o644));
    });
  },
  mkdirp(path) {
    return wrap(path, async () => {
      await fs.mkdir(path, { recursive: true });
    });
  },
  readdir(path) {
    return wrap(path, () => fs.readdir(path));
  },
  rename(from, to) {
    return wrap(from, () => fs.rename(from, to));
  },
  unlink(path) {
    return wrap(path, () => fs.unlink(path));
  },
  rmrf(path) {
    return wrap(path, () => fs.rm(path, { recursive: true, force: true }));
  },
  stat(path) {
    return wrap(path, async () => {
      try {
        const s = await fs.stat(path);
        return { size: s.size, isDirectory: s.isDirectory() };
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return undefined;
        throw err;
      }
    });
  },
  syncDir(path) {
    return wrap(path, async () => {
      const handle = await fs.open(path, constants.O_RDONLY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  },
};

/** Reads a whole small file (checkpoints); undefined when missing. */
export async function readWholeFile(disk: Disk, path: string): Promise<Buffer | undefined> {
  let file: DiskFile;
  try {
    file = await disk.open(path);
  } catch (err) {
    if (err instanceof StorageError && err.kind === 'not-found') return undefined;
    throw err;
  }
  try {
    return await file.read(0, await file.size());
  } finally {
    await file.close();
  }
}

/**
 * Replaces a small file atomically: write `path.tmp`, fsync, rename over `path`, fsync
 * the directory. A crash leaves either the old or the new content, never a mix.
 */
export async function writeFileAtomic(disk: Disk, path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await disk.open(tmp, { create: true });
  try {
    await file.truncate(0);
    await file.write(0, data);
    await file.sync();
  } finally {
    await file.close();
  }
  await disk.rename(tmp, path);
  const slash = path.lastIndexOf('/');
  if (slash > 0) await disk.syncDir(path.slice(0, slash));
}
