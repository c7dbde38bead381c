/**
 * Producer state snapshots, one file per snapshot in the partition's log directory:
 *
 *   <partition dir>/<20-digit offset>.snapshot
 *
 * The offset is the log end offset the state covers: batches below it are in the
 * snapshot; the log from there on is replayed on load. The storage engine ignores these
 * files (it reads only its segment and checkpoint names) and deletes them with the
 * directory. Our own format (facts from Kafka: one file per offset, latest wins):
 *
 *   magic "RPS2" | offset int64 | count int32 |
 *   count x (producerId int64 | epoch int16 | lastTimestamp int64 |
 *            coordinatorEpoch int32 | currentTxnFirstOffset int64 | n int8 |
 *            n x (firstSeq int32 | lastSeq int32 | firstOffset int64 | lastOffset int64 | timestamp int64)) |
 *   crc32c uint32 of everything before it
 *
 * "RPS1" files (before transactions: no coordinatorEpoch/currentTxnFirstOffset) still load.
 *
 * A snapshot that does not parse or whose CRC fails is ignored (then deleted), and the
 * state is rebuilt from an older one or from the log start.
 */
import { posix } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { type Disk, readWholeFile, StorageError, writeFileAtomic } from '../../env/disk.ts';
import type { ProducerEntry, ProducerStateManager } from './producer-state.ts';

const MAGIC = 'RPS2';
const MAGIC_V1 = 'RPS1';
const SUFFIX = '.snapshot';

export function snapshotFileName(offset: number): string {
  return `${String(offset).padStart(20, '0')}${SUFFIX}`;
}

export function parseSnapshotFileName(name: string): number | undefined {
  if (!name.endsWith(SUFFIX)) return undefined;
  const digits = name.slice(0, -SUFFIX.length);
  if (!/^\d{20}$/.test(digits)) return undefined;
  return Number(digits);
}

export function encodeSnapshot(offset: number, entries: Iterable<ProducerEntry>): Buffer {
  const list = [...entries];
  let size = 4 + 8 + 4 + 4;
  for (const e of list) size += 8 + 2 + 8 + 4 + 8 + 1 + e.batches.length * 32;
  const buf = Buffer.alloc(size);
  let p = buf.write(MAGIC, 0, 'latin1');
  buf.writeBigInt64BE(BigInt(offset), p);
  p += 8;
  buf.writeInt32BE(list.length, p);
  p += 4;
  for (const e of list) {
    buf.writeBigInt64BE(e.producerId, p);
    buf.writeInt16BE(e.producerEpoch, p + 8);
    buf.writeBigInt64BE(BigInt(e.lastTimestampMs), p + 10);
    buf.writeInt32BE(e.coordinatorEpoch, p + 18);
    buf.writeBigInt64BE(BigInt(e.currentTxnFirstOffset), p + 22);
    buf.writeInt8(e.batches.length, p + 30);
    p += 31;
    for (const b of e.batches) {
      buf.writeInt32BE(b.firstSeq, p);
      buf.writeInt32BE(b.lastSeq, p + 4);
      buf.writeBigInt64BE(BigInt(b.firstOffset), p + 8);
      buf.writeBigInt64BE(BigInt(b.lastOffset), p + 16);
      buf.writeBigInt64BE(BigInt(b.timestampMs), p + 24);
      p += 32;
    }
  }
  buf.writeUInt32BE(crc32c(buf.subarray(0, p)) >>> 0, p);
  return buf;
}

export interface DecodedSnapshot {
  offset: number;
  entries: ProducerEntry[];
}

/** Parses a snapshot; undefined when it is damaged. */
export function decodeSnapshot(buf: Buffer): DecodedSnapshot | undefined {
  try {
    const magic = buf.length < 20 ? '' : buf.toString('latin1', 0, 4);
    if (magic !== MAGIC && magic !== MAGIC_V1) return undefined;
    const v2 = magic === MAGIC;
    const end = buf.length - 4;
    if (crc32c(buf.subarray(0, end)) >>> 0 !== buf.readUInt32BE(end)) return undefined;
    const offset = Number(buf.readBigInt64BE(4));
    const count = buf.readInt32BE(12);
    let p = 16;
    const entries: ProducerEntry[] = [];
    for (let i = 0; i < count; i++) {
      const fixed = v2 ? 31 : 19;
      if (p + fixed > end) return undefined;
      const producerId = buf.readBigInt64BE(p);
      const producerEpoch = buf.readInt16BE(p + 8);
      const lastTimestampMs = Number(buf.readBigInt64BE(p + 10));
      const coordinatorEpoch = v2 ? buf.readInt32BE(p + 18) : -1;
      const currentTxnFirstOffset = v2 ? Number(buf.readBigInt64BE(p + 22)) : -1;
      const n = buf.readInt8(p + fixed - 1);
      p += fixed;
      if (n < 0 || p + n * 32 > end) return undefined;
      const batches = [];
      for (let j = 0; j < n; j++) {
        batches.push({
          firstSeq: buf.readInt32BE(p),
          lastSeq: buf.readInt32BE(p + 4),
          firstOffset: Number(buf.readBigInt64BE(p + 8)),
          lastOffset: Number(buf.readBigInt64BE(p + 16)),
          timestampMs: Number(buf.readBigInt64BE(p + 24)),
        });
        p += 32;
      }
      entries.push({ producerId, producerEpoch, batches, lastTimestampMs, coordinatorEpoch, currentTxnFirstOffset });
    }
    return p === end ? { offset, entries } : undefined;
  } catch {
    return undefined;
  }
}

/** Reads and writes the snapshots of one partition directory. */
export class ProducerSnapshotStore {
  constructor(
    private readonly disk: Disk,
    readonly dir: string,
  ) {}

  /**
   * Loads the newest valid snapshot at or below `maxOffset` into `state` (cleared first)
   * and returns its offset, or undefined when there is none. Snapshots above maxOffset
   * (the log was truncated below them) and damaged ones are deleted.
   */
  async load(state: ProducerStateManager, maxOffset: number): Promise<number | undefined> {
    let names: string[];
    try {
      names = await this.disk.readdir(this.dir);
    } catch (err) {
      if (err instanceof StorageError && err.kind === 'not-found') return undefined;
      throw err;
    }
    const offsets = names
      .map(parseSnapshotFileName)
      .filter((o): o is number => o !== undefined)
      .sort((a, b) => b - a);
    for (const offset of offsets) {
      const path = posix.join(this.dir, snapshotFileName(offset));
      if (offset > maxOffset) {
        await this.disk.unlink(path);
        continue;
      }
      const bytes = await readWholeFile(this.disk, path);
      const snap = bytes === undefined ? undefined : decodeSnapshot(bytes);
      if (snap === undefined || snap.offset !== offset) {
        await this.disk.unlink(path);
        continue;
      }
      state.clear();
      for (const e of snap.entries) state.put(e);
      return offset;
    }
    return undefined;
  }

  /** Writes a snapshot at `offset` atomically and deletes the older ones. */
  async write(state: ProducerStateManager, offset: number): Promise<void> {
    await writeFileAtomic(
      this.disk,
      posix.join(this.dir, snapshotFileName(offset)),
      encodeSnapshot(offset, state.entries()),
    );
    const names = await this.disk.readdir(this.dir);
    for (const name of names) {
      const o = parseSnapshotFileName(name);
      if (o !== undefined && o < offset) await this.disk.unlink(posix.join(this.dir, name));
    }
  }
}
