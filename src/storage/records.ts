/**
 * What the storage engine needs to know about record batches beyond their header:
 * validating a buffer of batches handed to append, and (for compaction only) walking the
 * records of an uncompressed batch to read their offset delta, key and whether the value
 * is null. Records are never re-encoded: a cleaned batch is the original header followed
 * by the surviving records' original bytes.
 */

import { StorageError } from '../env/disk.ts';
import {
  ATTR_COMPRESSION_MASK,
  BATCH_HEADER_SIZE,
  BatchOffset,
  CURRENT_MAGIC,
  computeBatchCrc,
} from '../protocol/records/batch-header.ts';

/** The header fields the log tracks per batch. */
export interface BatchInfo {
  /** Position of the batch in its buffer or file. */
  position: number;
  sizeInBytes: number;
  baseOffset: number;
  lastOffsetDelta: number;
  partitionLeaderEpoch: number;
  maxTimestamp: number;
  recordsCount: number;
}

export function lastOffsetOfInfo(b: BatchInfo): number {
  return b.baseOffset + b.lastOffsetDelta;
}

/** Reads the fields of BatchInfo from a header at `pos` (61 bytes must be there). */
export function readBatchInfo(buf: Buffer, pos: number, position = pos): BatchInfo {
  return {
    position,
    sizeInBytes: buf.readInt32BE(pos + BatchOffset.BatchLength) + 12,
    baseOffset: Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset)),
    lastOffsetDelta: buf.readInt32BE(pos + BatchOffset.LastOffsetDelta),
    partitionLeaderEpoch: buf.readInt32BE(pos + BatchOffset.PartitionLeaderEpoch),
    maxTimestamp: Number(buf.readBigInt64BE(pos + BatchOffset.MaxTimestamp)),
    recordsCount: buf.readInt32BE(pos + BatchOffset.RecordsCount),
  };
}

/**
 * Why the batch at `pos` is not a well-formed v2 batch, or undefined when it is.
 * `checkCrc` false only checks the framing (used when scanning headers of trusted data).
 */
export function batchProblem(buf: Buffer, pos: number, checkCrc: boolean): string | undefined {
  if (buf.length - pos < BATCH_HEADER_SIZE) return 'short header';
  const size = buf.readInt32BE(pos + BatchOffset.BatchLength) + 12;
  if (size < BATCH_HEADER_SIZE) return `bad batch length ${size}`;
  if (buf.length - pos < size) return 'short batch';
  if (buf.readInt8(pos + BatchOffset.Magic) !== CURRENT_MAGIC) return 'bad magic';
  if (buf.readInt32BE(pos + BatchOffset.LastOffsetDelta) < 0) return 'negative lastOffsetDelta';
  if (checkCrc && buf.readUInt32BE(pos + BatchOffset.Crc) !== computeBatchCrc(buf, pos, size)) return 'bad crc';
  return undefined;
}

/**
 * Validates a buffer of whole batches handed to append: framing, magic 2 and CRC of each.
 * Throws StorageError('corrupt') (the broker maps it to CORRUPT_MESSAGE).
 */
export function validateBatches(buf: Buffer): BatchInfo[] {
  const out: BatchInfo[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const problem = batchProblem(buf, pos, true);
    if (problem) throw new StorageError('corrupt', `invalid record batch at byte ${pos}: ${problem}`);
    const info = readBatchInfo(buf, pos);
    out.push(info);
    pos += info.sizeInBytes;
  }
  if (out.length === 0) throw new StorageError('corrupt', 'no record batch to append');
  return out;
}

export function isCompressed(buf: Buffer, pos: number): boolean {
  return (buf.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK) !== 0;
}

// ---- varints (zigzag), as numbers --------------------------------------------------

export interface VarintRead {
  value: number;
  next: number;
}

/** Reads a zigzag varint/varlong at `pos` as a number (exact below 2^53). */
export function readVarint(buf: Buffer, pos: number, end: number): VarintRead {
  let raw = 0;
  let scale = 1;
  let p = pos;
  for (let i = 0; i < 10; i++) {
    if (p >= end) throw new StorageError('corrupt', 'truncated varint');
    const b = buf[p++]!;
    raw += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      const value = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      return { value, next: p };
    }
    scale *= 128;
  }
  throw new StorageError('corrupt', 'varint too long');
}

export function writeVarint(value: number, out: number[]): void {
  let raw = value >= 0 ? value * 2 : -value * 2 - 1;
  while (raw >= 128) {
    out.push((raw % 128) | 0x80);
    raw = Math.floor(raw / 128);
  }
  out.push(raw);
}

/** One record of an uncompressed batch, as byte ranges of the batch buffer. */
export interface RecordView {
  /** Start (length prefix included) and end of the record's bytes. */
  start: number;
  end: number;
  offsetDelta: number;
  timestampDelta: number;
  /** null for a null key. */
  key: Buffer | null;
  /** A tombstone has a null value. */
  valueIsNull: boolean;
  /** A view of the value bytes (null for a tombstone). */
  value: Buffer | null;
}

/** Walks the records of the uncompressed batch at `pos`. */
export function recordsOf(buf: Buffer, pos: number): Generator<RecordView> {
  const size = buf.readInt32BE(pos + BatchOffset.BatchLength) + 12;
  return recordsIn(buf, pos + BATCH_HEADER_SIZE, pos + size, buf.readInt32BE(pos + BatchOffset.RecordsCount));
}

/** Walks `count` records laid out in buf[start, end) (a batch body, or decompressed records). */
export function* recordsIn(buf: Buffer, start: number, end: number, count: number): Generator<RecordView> {
  let p = start;
  for (let i = 0; i < count; i++) {
    const start = p;
    const len = readVarint(buf, p, end);
    const recordEnd = len.next + len.value;
    if (len.value < 0 || recordEnd > end) throw new StorageError('corrupt', 'record overruns its batch');
    p = len.next + 1; // attributes
    const timestampDelta = readVarint(buf, p, recordEnd);
    const offsetDelta = readVarint(buf, timestampDelta.next, recordEnd);
    const keyLength = readVarint(buf, offsetDelta.next, recordEnd);
    let key: Buffer | null = null;
    p = keyLength.next;
    if (keyLength.value >= 0) {
      key = buf.subarray(p, p + keyLength.value);
      p += keyLength.value;
    }
    const valueLength = readVarint(buf, p, recordEnd);
    yield {
      start,
      end: recordEnd,
      offsetDelta: offsetDelta.value,
      timestampDelta: timestampDelta.value,
      key,
      valueIsNull: valueLength.value < 0,
      value: valueLength.value < 0 ? null : buf.subarray(valueLength.next, valueLength.next + valueLength.value),
    };
    p = recordEnd;
  }
}

/**
 * A new batch made of the header of the batch at `pos` and the given record byte ranges:
 * base offset, lastOffsetDelta, timestamps and producer fields are kept, so the offsets of
 * the surviving records do not change. Only batchLength, recordsCount and the CRC change.
 */
export function rebuildBatch(
  buf: Buffer,
  pos: number,
  records: readonly RecordView[],
  /** Where the record views point (decompressed records), when not `buf`. */
  recordBytes: Buffer = buf,
  /** Compresses the surviving records (compressed batches). */
  pack?: (raw: Buffer) => Buffer,
): Buffer {
  let body: Buffer;
  if (pack) {
    body = pack(Buffer.concat(records.map((r) => recordBytes.subarray(r.start, r.end))));
  } else {
    let length = 0;
    for (const r of records) length += r.end - r.start;
    body = Buffer.allocUnsafe(length);
    let p = 0;
    for (const r of records) p += recordBytes.copy(body, p, r.start, r.end);
  }
  const size = BATCH_HEADER_SIZE + body.length;
  const out = Buffer.allocUnsafe(size);
  buf.copy(out, 0, pos, pos + BATCH_HEADER_SIZE);
  body.copy(out, BATCH_HEADER_SIZE);
  out.writeInt32BE(size - 12, BatchOffset.BatchLength);
  out.writeInt32BE(records.length, BatchOffset.RecordsCount);
  out.writeUInt32BE(computeBatchCrc(out, 0, size), BatchOffset.Crc);
  return out;
}

// ---- building batches (tests, benchmarks, the simulator) ---------------------------

export interface SimpleRecord {
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  timestampMs?: number;
}

export interface SimpleBatchOptions {
  baseOffset?: number;
  partitionLeaderEpoch?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  attributes?: number;
  /** Default for records without a timestamp. */
  timestampMs?: number;
}

const toBuf = (b: Buffer | string | null | undefined): Buffer | null =>
  b === null || b === undefined ? null : typeof b === 'string' ? Buffer.from(b) : b;

/**
 * Encodes an uncompressed v2 batch with a valid CRC. Minimal on purpose (no headers,
 * no compression): the full codec lives in src/protocol/records.
 */
export function buildSimpleBatch(records: readonly SimpleRecord[], options: SimpleBatchOptions = {}): Buffer {
  if (records.length === 0) throw new Error('a batch needs at least one record');
  const defaultTs = options.timestampMs ?? 0;
  const timestamps = records.map((r) => r.timestampMs ?? defaultTs);
  const baseTimestamp = Math.min(...timestamps);
  const maxTimestamp = Math.max(...timestamps);
  const bodies: Buffer[] = [];
  records.forEach((r, i) => {
    const fields: number[] = [0];
    writeVarint(timestamps[i]! - baseTimestamp, fields);
    writeVarint(i, fields);
    const key = toBuf(r.key);
    const value = toBuf(r.value);
    const keyLen: number[] = [];
    writeVarint(key ? key.length : -1, keyLen);
    const valueLen: number[] = [];
    writeVarint(value ? value.length : -1, valueLen);
    const headerCount: number[] = [];
    writeVarint(0, headerCount);
    const body = Buffer.concat([
      Buffer.from(fields),
      Buffer.from(keyLen),
      key ?? Buffer.alloc(0),
      Buffer.from(valueLen),
      value ?? Buffer.alloc(0),
      Buffer.from(headerCount),
    ]);
    const len: number[] = [];
    writeVarint(body.length, len);
    bodies.push(Buffer.from(len), body);
  });
  const recordsBytes = Buffer.concat(bodies);
  const size = BATCH_HEADER_SIZE + recordsBytes.length;
  const out = Buffer.alloc(size);
  out.writeBigInt64BE(BigInt(options.baseOffset ?? 0), BatchOffset.BaseOffset);
  out.writeInt32BE(size - 12, BatchOffset.BatchLength);
  out.writeInt32BE(options.partitionLeaderEpoch ?? -1, BatchOffset.PartitionLeaderEpoch);
  out.writeInt8(CURRENT_MAGIC, BatchOffset.Magic);
  out.writeInt16BE(options.attributes ?? 0, BatchOffset.Attributes);
  out.writeInt32BE(records.length - 1, BatchOffset.LastOffsetDelta);
  out.writeBigInt64BE(BigInt(baseTimestamp), BatchOffset.BaseTimestamp);
  out.writeBigInt64BE(BigInt(maxTimestamp), BatchOffset.MaxTimestamp);
  out.writeBigInt64BE(BigInt(options.producerId ?? -1), BatchOffset.ProducerId);
  out.writeInt16BE(options.producerEpoch ?? -1, BatchOffset.ProducerEpoch);
  out.writeInt32BE(options.baseSequence ?? -1, BatchOffset.BaseSequence);
  out.writeInt32BE(records.length, BatchOffset.RecordsCount);
  recordsBytes.copy(out, BATCH_HEADER_SIZE);
  out.writeUInt32BE(computeBatchCrc(out, 0, size), BatchOffset.Crc);
  return out;
}

/** Splits a buffer of whole batches into BatchInfo entries (framing only, no CRC). */
export function listBatches(buf: Buffer): BatchInfo[] {
  const out: BatchInfo[] = [];
  let pos = 0;
  while (pos + BATCH_HEADER_SIZE <= buf.length) {
    const info = readBatchInfo(buf, pos);
    if (info.sizeInBytes < BATCH_HEADER_SIZE || pos + info.sizeInBytes > buf.length) break;
    out.push(info);
    pos += info.sizeInBytes;
  }
  return out;
}
