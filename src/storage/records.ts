/**
 * What the storage engine needs to know about record batches beyond their header:
 * validating a buffer of batches handed to append, and (for compaction only) walking the
 * records of an uncompressed batch to read their offset delta, key and whether the value
 * is null. Records are never re-encoded: a cleaned batch is the original header followed
 * by the surviving records' original bytes.
 */

import { StorageError } from '../env/disk.ts';
import { DecodeError } from '../protocol/codec/errors.ts';
import { Reader } from '../protocol/codec/reader.ts';
import { buildRecordBatch } from '../protocol/records/batch.ts';
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
  const r = new Reader(buf, start, end);
  for (let i = 0; i < count; i++) {
    const recordStart = r.offset;
    const length = varint(r);
    const recordEnd = r.offset + length;
    if (length < 0 || recordEnd > end) throw new StorageError('corrupt', 'record overruns its batch');
    r.offset += 1; // attributes
    const timestampDelta = varint(r, true);
    const offsetDelta = varint(r);
    const keyLength = varint(r);
    let key: Buffer | null = null;
    if (keyLength >= 0) {
      if (r.offset + keyLength > recordEnd) throw new StorageError('corrupt', 'key overruns its record');
      key = buf.subarray(r.offset, r.offset + keyLength);
      r.offset += keyLength;
    }
    const valueLength = varint(r);
    yield {
      start: recordStart,
      end: recordEnd,
      offsetDelta,
      timestampDelta,
      key,
      valueIsNull: valueLength < 0,
      value: valueLength < 0 ? null : buf.subarray(r.offset, r.offset + valueLength),
    };
    r.offset = recordEnd;
  }
}

/** A zigzag varint (varlong for timestamps) from the shared codec; a malformed one is a corrupt log. */
function varint(r: Reader, long = false): number {
  try {
    return long ? r.readVarlongNumber() : r.readVarint();
  } catch (e) {
    if (e instanceof DecodeError) throw new StorageError('corrupt', `bad varint: ${e.message}`);
    throw e;
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
  /** Default for records without a timestamp. */
  timestampMs?: number;
}

/** An uncompressed v2 batch with a valid CRC, through the shared batch builder. */
export function buildSimpleBatch(records: readonly SimpleRecord[], options: SimpleBatchOptions = {}): Buffer {
  if (records.length === 0) throw new Error('a batch needs at least one record');
  const defaultTs = options.timestampMs ?? 0;
  return buildRecordBatch({
    records: records.map((r) => ({
      key: r.key ?? null,
      value: r.value ?? null,
      timestamp: r.timestampMs ?? defaultTs,
    })),
    baseOffset: options.baseOffset ?? 0,
    partitionLeaderEpoch: options.partitionLeaderEpoch ?? -1,
    producerId: BigInt(options.producerId ?? -1),
    producerEpoch: options.producerEpoch ?? -1,
    baseSequence: options.baseSequence ?? -1,
  });
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
