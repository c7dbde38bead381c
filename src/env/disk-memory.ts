/**
 * An in-memory Disk with a model of what a crash keeps.
 *
 * Each file has its current bytes (what write(2) has put in the page cache) and its
 * durable bytes (as of the last sync). `crash()` models a power loss: every file goes
 * back to its durable bytes, optionally keeping a random prefix of the unflushed tail
 * (a torn write). A process crash (kill -9) loses nothing: model it by simply dropping
 * every handle with `crash({ keepUnflushed: true })`.
 *
 * Simplification: directory operations (create, rename, unlink, mkdir) are durable at
 * once, as if every directory were fsynced after each change.
 */
import { posix } from 'node:path';
import type { Disk, DiskFile, DiskStat, OpenOptions } from './disk.ts';
import { StorageError } from './disk.ts';
import type { Random } from './random.ts';

interface MemNode {
  data: Buffer;
  length: number;
  durable: Buffer;
}

export interface CrashOptions {
  /** Keep unflushed data (a process crash rather than a power loss). */
  keepUnflushed?: boolean;
  /** With a Random, each file keeps a random prefix of its unflushed appended bytes. */
  random?: Random;
}

export interface MemoryDisk extends Disk {
  /** Drops every open handle and, unless keepUnflushed, every unsynced byte. */
  crash(options?: CrashOptions): void;
  /** Number of currently open handles. */
  openFileCount(): number;
  /** Highest number of simultaneously open handles seen. */
  maxOpenFileCount(): number;
  /** Total bytes held by files. */
  usedBytes(): number;
}

function norm(path: string): string {
  const p = posix.normalize(path);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function notFound(path: string): StorageError {
  return new StorageError('not-found', `ENOENT: no such file or directory '${path}'`, path);
}

export function memoryDisk(): MemoryDisk {
  const files = new Map<string, MemNode>();
  const dirs = new Map<string, Set<string>>([
    ['/', new Set()],
    ['.', new Set()],
  ]);
  let generation = 0;
  let open = 0;
  let maxOpen = 0;

  const parentOf = (p: string): Set<string> => {
    const dir = dirs.get(posix.dirname(p));
    if (!dir) throw notFound(posix.dirname(p));
    return dir;
  };

  class MemFile implements DiskFile {
    private closed = false;
    private readonly gen = generation;
    constructor(
      readonly path: string,
      private readonly node: MemNode,
    ) {}

    private check(): MemNode {
      if (this.closed || this.gen !== generation) throw new StorageError('closed', 'file handle closed', this.path);
      return this.node;
    }

    async read(position: number, length: number, into?: Buffer): Promise<Buffer> {
      const node = this.check();
      const end = Math.min(node.length, position + length);
      if (end <= position) return Buffer.alloc(0);
      if (into !== undefined && into.length >= length) {
        node.data.copy(into, 0, position, end);
        return into.subarray(0, end - position);
      }
      return Buffer.from(node.data.subarray(position, end));
    }

    async write(position: number, data: Buffer): Promise<void> {
      const node = this.check();
      const end = position + data.length;
      if (end > node.data.length) {
        const grown = Buffer.alloc(Math.max(end, node.data.length * 2, 64));
        node.data.copy(grown, 0, 0, node.length);
        node.data = grown;
      }
      if (position > node.length) node.data.fill(0, node.length, position);
      data.copy(node.data, position);
      node.length = Math.max(node.length, end);
    }

    writev(position: number, parts: readonly Buffer[]): Promise<void> {
      return this.write(position, Buffer.concat(parts as Buffer[]));
    }

    async sync(): Promise<void> {
      const node = this.check();
      node.durable = Buffer.from(node.data.subarray(0, node.length));
    }

    datasync(): Promise<void> {
      return this.sync();
    }

    async truncate(length: number): Promise<void> {
      const node = this.check();
      if (length < node.length) node.length = length;
      else if (length > node.length) await this.write(node.length, Buffer.alloc(length - node.length));
    }

    async size(): Promise<number> {
      return this.check().length;
    }

    async close(): Promise<void> {
      if (this.closed) return;
      this.closed = true;
      if (this.gen === generation) open--;
    }
  }

  return {
    async open(path: string, options?: OpenOptions): Promise<DiskFile> {
      const p = norm(path);
      let node = files.get(p);
      if (!node) {
        if (!options?.create) throw notFound(p);
        if (dirs.has(p)) throw new StorageError('io', `EISDIR '${p}'`, p);
        parentOf(p).add(posix.basename(p));
        node = { data: Buffer.alloc(0), length: 0, durable: Buffer.alloc(0) };
        files.set(p, node);
      }
      open++;
      maxOpen = Math.max(maxOpen, open);
      return new MemFile(p, node);
    },
    async mkdirp(path: string): Promise<void> {
      const p = norm(path);
      if (dirs.has(p)) return;
      if (files.has(p)) throw new StorageError('exists', `EEXIST '${p}'`, p);
      const parent = posix.dirname(p);
      if (parent !== p) await this.mkdirp(parent);
      dirs.get(parent)?.add(posix.basename(p));
      dirs.set(p, new Set());
    },
    async readdir(path: string): Promise<string[]> {
      const dir = dirs.get(norm(path));
      if (!dir) throw notFound(path);
      return [...dir];
    },
    async rename(from: string, to: string): Promise<void> {
      const f = norm(from);
      const t = norm(to);
      const node = files.get(f);
      if (node) {
        const toParent = parentOf(t);
        parentOf(f).delete(posix.basename(f));
        files.delete(f);
        files.set(t, node);
        toParent.add(posix.basename(t));
        return;
      }
      const dir = dirs.get(f);
      if (!dir) throw notFound(f);
      // Directory rename: move every path under it.
      const toParent = parentOf(t);
      parentOf(f).delete(posix.basename(f));
      toParent.add(posix.basename(t));
      for (const [p, n] of [...files]) {
        if (p.startsWith(`${f}/`)) {
          files.delete(p);
          files.set(t + p.slice(f.length), n);
        }
      }
      for (const [p, d] of [...dirs]) {
        if (p === f || p.startsWith(`${f}/`)) {
          dirs.delete(p);
          dirs.set(t + p.slice(f.length), d);
        }
      }
    },
    async unlink(path: string): Promise<void> {
      const p = norm(path);
      if (!files.delete(p)) throw notFound(p);
      parentOf(p).delete(posix.basename(p));
    },
    async rmrf(path: string): Promise<void> {
      const p = norm(path);
      if (files.delete(p)) {
        parentOf(p).delete(posix.basename(p));
        return;
      }
      if (!dirs.has(p)) return;
      for (const key of [...files.keys()]) if (key.startsWith(`${p}/`)) files.delete(key);
      for (const key of [...dirs.keys()]) if (key === p || key.startsWith(`${p}/`)) dirs.delete(key);
      dirs.get(posix.dirname(p))?.delete(posix.basename(p));
    },
    async stat(path: string): Promise<DiskStat | undefined> {
      const p = norm(path);
      const node = files.get(p);
      if (node) return { size: node.length, isDirectory: false };
      if (dirs.has(p)) return { size: 0, isDirectory: true };
      return undefined;
    },
    async syncDir(path: string): Promise<void> {
      if (!dirs.has(norm(path))) throw notFound(path);
    },
    crash(options?: CrashOptions): void {
      generation++;
      open = 0;
      if (options?.keepUnflushed) return;
      for (const node of files.values()) {
        const durableLength = node.durable.length;
        let keep = durableLength;
        if (options?.random && node.length > durableLength) {
          keep = durableLength + options.random.int(node.length - durableLength + 1);
        }
        const data = Buffer.alloc(keep);
        node.durable.copy(data, 0, 0, Math.min(durableLength, keep));
        if (keep > durableLength) node.data.copy(data, durableLength, durableLength, keep);
        node.data = data;
        node.length = keep;
        node.durable = Buffer.from(data);
      }
    },
    openFileCount: () => open,
    maxOpenFileCount: () => maxOpen,
    usedBytes() {
      let total = 0;
      for (const node of files.values()) total += node.length;
      return total;
    },
  };
}
