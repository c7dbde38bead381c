/**
 * Record batches (message format v2): build, decode, validate, iterate. Sans-io: every
 * function takes bytes and returns bytes or values. The 61-byte header layout lives in
 * batch-header.ts; the record layout in record.ts.
 */
import { Reader } from '../codec/reader.ts';
import { Writer } from '../codec/writer.ts';
import {
  ATTR_COMPRESSION_MASK,
  ATTR_CONTROL,
  ATTR_DELETE_HORIZON,
  ATTR_TIMESTAMP_TYPE_LOG_APPEND,
  ATTR_TRANSACTIONAL,
  BATCH_HEADER_SIZE,
  BATCH_LOG_OVERHEAD,
  type BatchHeader,
  BatchOffset,
  CompressionType,
  CURRENT_MAGIC,
  computeBatchCrc,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  readBatchHeader,
} from './batch-header.ts';
import { type CompressionName, compress, compressionTypeOf, decompress } from './compression.ts';
import { type ControlRecordType, encodeControlKey, encodeEndTxnMarker } from './control.ts';
import { CorruptRecordError, type CorruptRecordKind } from './errors.ts';
import {
  type KafkaRecord,
  MIN_RECORD_SIZE,
  type RecordInput,
  readRecord,
  sizeOfRecord,
  sizeOfRecordBody,
  skipRecord,
  writeRecord,
} from './record.ts';
import { snappyCompressRaw } from './snappy.ts';

export type TimestampType = 'create' | 'log-append';

/** Default bound on a batch's decompressed records, when the caller gives none. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 << 20;
/** The highest compression code Kafka defines (zstd). */
const MAX_COMPRESSION_CODE = CompressionType.Zstd;

export interface BuildRecordBatchOptions {
  records: readonly RecordInput[];
  compression?: CompressionType | CompressionName | undefined;
  baseOffset?: number | undefined;
  partitionLeaderEpoch?: number | undefined;
  producerId?: bigint | undefined;
  producerEpoch?: number | undefined;
  baseSequence?: number | undefined;
  transactional?: boolean | undefined;
  isControl?: boolean | undefined;
  timestampType?: TimestampType | undefined;
  /**
   * Snappy only: 'xerial' (default) is the framing the Java client writes and every
   * Kafka client reads; 'raw' is one plain Snappy block, as librdkafka writes.
   */
  snappyFraming?: 'xerial' | 'raw' | undefined;
  /**
   * Set by the log cleaner: the batch's baseTimestamp becomes this delete horizon and
   * the delete-horizon attribute bit is set (record timestamps stay correct).
   */
  deleteHorizonMs?: number | undefined;
  /**
   * Uncompressed only: encode into this buffer when it has room (the result is then a view
   * of its start), else into a fresh one. The producer passes reused buffers.
   */
  into?: Buffer | undefined;
}

/** A decoded batch: header fields, decoded attributes and its records. */
export interface RecordBatch extends BatchHeader {
  compression: CompressionType;
  timestampType: TimestampType;
  isTransactional: boolean;
  isControl: boolean;
  /** The delete horizon (= baseTimestamp) when the attribute bit is set, else -1. */
  deleteHorizonMs: number;
  records: KafkaRecord[];
}

export interface DecodeBatchOptions {
  /** Bound on decompressed (or, uncompressed, raw) record bytes per batch. */
  maxUncompressedBytes?: number | undefined;
  /** Check the CRC32C (default true). */
  verifyCrc?: boolean | undefined;
}

function attributesOf(opts: BuildRecordBatchOptions, compression: CompressionType): number {
  let attributes = compression;
  if (opts.timestampType === 'log-append') attributes |= ATTR_TIMESTAMP_TYPE_LOG_APPEND;
  if (opts.transactional) attributes |= ATTR_TRANSACTIONAL;
  if (opts.isControl) attributes |= ATTR_CONTROL;
  if (opts.deleteHorizonMs !== undefined) attributes |= ATTR_DELETE_HORIZON;
  return attributes;
}

/**
 * Encodes a batch. Record offset deltas are 0..n-1; baseTimestamp is the first record's
 * timestamp (or the delete horizon); maxTimestamp the largest. Uncompressed batches are
 * sized first and written into one allocation.
 */
export function buildRecordBatch(opts: BuildRecordBatchOptions): Buffer {
  const records = opts.records;
  const count = records.length;
  if (count === 0) throw new RangeError('a record batch needs at least one record');
  const compression =
    typeof opts.compression === 'string' ? compressionTypeOf(opts.compression) : (opts.compression ?? 0);
  if (compression < 0 || compression > MAX_COMPRESSION_CODE) throw new RangeError(`compression ${compression}`);
  const baseTimestamp = opts.deleteHorizonMs ?? records[0]!.timestamp;
  let maxTimestamp = records[0]!.timestamp;
  const bodySizes = new Array<number>(count);
  let recordsSize = 0;
  for (let i = 0; i < count; i++) {
    const ts = records[i]!.timestamp;
    if (ts > maxTimestamp) maxTimestamp = ts;
    const body = sizeOfRecordBody(records[i]!, ts - baseTimestamp, i);
    bodySizes[i] = body;
    recordsSize += sizeOfRecord(body);
  }
  let out: Buffer;
  if (compression === CompressionType.None) {
    const size = BATCH_HEADER_SIZE + recordsSize;
    const into = opts.into;
    out = into !== undefined && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    writeRecords(new Writer(out, BATCH_HEADER_SIZE), records, bodySizes, baseTimestamp);
  } else {
    const raw = Buffer.allocUnsafe(recordsSize);
    writeRecords(new Writer(raw, 0), records, bodySizes, baseTimestamp);
    const packed =
      compression === CompressionType.Snappy && opts.snappyFraming === 'raw'
        ? snappyCompressRaw(raw)
        : compress(compression, raw);
    out = Buffer.allocUnsafe(BATCH_HEADER_SIZE + packed.length);
    packed.copy(out, BATCH_HEADER_SIZE);
  }
  out.writeBigInt64BE(BigInt(opts.baseOffset ?? 0), BatchOffset.BaseOffset);
  out.writeInt32BE(out.length - BATCH_LOG_OVERHEAD, BatchOffset.BatchLength);
  out.writeInt32BE(opts.partitionLeaderEpoch ?? -1, BatchOffset.PartitionLeaderEpoch);
  out.writeInt8(CURRENT_MAGIC, BatchOffset.Magic);
  out.writeInt16BE(attributesOf(opts, compression), BatchOffset.Attributes);
  out.writeInt32BE(count - 1, BatchOffset.LastOffsetDelta);
  out.writeBigInt64BE(BigInt(baseTimestamp), BatchOffset.BaseTimestamp);
  out.writeBigInt64BE(BigInt(maxTimestamp), BatchOffset.MaxTimestamp);
  out.writeBigInt64BE(opts.producerId ?? NO_PRODUCER_ID, BatchOffset.ProducerId);
  out.writeInt16BE(opts.producerEpoch ?? -1, BatchOffset.ProducerEpoch);
  out.writeInt32BE(opts.baseSequence ?? NO_SEQUENCE, BatchOffset.BaseSequence);
  out.writeInt32BE(count, BatchOffset.RecordsCount);
  out.writeUInt32BE(computeBatchCrc(out, 0, out.length), BatchOffset.Crc);
  return out;
}

function writeRecords(w: Writer, records: readonly RecordInput[], bodySizes: number[], baseTimestamp: number): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    writeRecord(w, r, bodySizes[i]!, r.timestamp - baseTimestamp, i);
  }
}

export interface BuildControlBatchOptions {
  type: ControlRecordType.Abort | ControlRecordType.Commit;
  coordinatorEpoch: number;
  producerId: bigint;
  producerEpoch: number;
  timestamp: number;
  baseOffset?: number | undefined;
  partitionLeaderEpoch?: number | undefined;
}

/** A transaction marker: one control record in a transactional control batch. */
export function buildControlBatch(opts: BuildControlBatchOptions): Buffer {
  return buildRecordBatch({
    records: [
      { key: encodeControlKey(opts.type), value: encodeEndTxnMarker(opts.coordinatorEpoch), timestamp: opts.timestamp },
    ],
    baseOffset: opts.baseOffset,
    partitionLeaderEpoch: opts.partitionLeaderEpoch,
    producerId: opts.producerId,
    producerEpoch: opts.producerEpoch,
    baseSequence: NO_SEQUENCE,
    transactional: true,
    isControl: true,
  });
}

function corrupt(kind: CorruptRecordKind, message: string, position = -1): never {
  throw new CorruptRecordError(kind, message, position);
}

/**
 * Checks the framing of the batch at `pos` (length, bounds, magic, optionally CRC,
 * compression code, count sign) and returns its total size. Throws CorruptRecordError.
 */
export function checkBatchFraming(buf: Buffer, pos: number, verifyCrc: boolean): number {
  if (pos < 0 || buf.length - pos < BATCH_LOG_OVERHEAD) corrupt('truncated', 'no room for a batch length', pos);
  const batchLength = buf.readInt32BE(pos + BatchOffset.BatchLength);
  if (batchLength < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)
    corrupt('invalid-length', `batch length ${batchLength}`, pos);
  const size = batchLength + BATCH_LOG_OVERHEAD;
  if (size > buf.length - pos) corrupt('truncated', `batch of ${size} bytes, ${buf.length - pos} available`, pos);
  const magic = buf.readInt8(pos + BatchOffset.Magic);
  if (magic !== CURRENT_MAGIC) corrupt('unsupported-magic', `magic ${magic}`, pos);
  if (verifyCrc) {
    const stored = buf.readUInt32BE(pos + BatchOffset.Crc);
    const actual = computeBatchCrc(buf, pos, size);
    if (stored !== actual)
      corrupt('crc-mismatch', `stored ${stored.toString(16)}, computed ${actual.toString(16)}`, pos);
  }
  const compression = buf.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK;
  if (compression > MAX_COMPRESSION_CODE) corrupt('unsupported-compression', `compression code ${compression}`, pos);
  const count = buf.readInt32BE(pos + BatchOffset.RecordsCount);
  if (count < 0) corrupt('invalid-record-count', `records count ${count}`, pos);
  return size;
}

/** The records section of a batch, decompressed (bounded) when needed. */
function recordsBytes(buf: Buffer, pos: number, size: number, maxBytes: number): Buffer {
  const compression = (buf.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK) as CompressionType;
  return decompress(compression, buf.subarray(pos + BATCH_HEADER_SIZE, pos + size), maxBytes);
}

/** Decodes the batch at `pos` with all its records. Keys and values are views into `buf` (or the decompressed copy). */
export function decodeRecordBatch(buf: Buffer, pos = 0, opts: DecodeBatchOptions = {}): RecordBatch {
  try {
    return decodeBatchAt(buf, pos, opts);
  } catch (e) {
    if (e instanceof CorruptRecordError && e.position < 0) {
      throw new CorruptRecordError(e.kind, e.message.slice(e.kind.length + 2), pos);
    }
    throw e;
  }
}

function decodeBatchAt(buf: Buffer, pos: number, opts: DecodeBatchOptions): RecordBatch {
  const size = checkBatchFraming(buf, pos, opts.verifyCrc ?? true);
  const header = readBatchHeader(buf, pos);
  const attributes = header.attributes;
  const data = recordsBytes(buf, pos, size, opts.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES);
  const count = header.recordsCount;
  if (count > data.length / MIN_RECORD_SIZE)
    corrupt('invalid-record-count', `${count} records in ${data.length} bytes`);
  const logAppendTime = (attributes & ATTR_TIMESTAMP_TYPE_LOG_APPEND) !== 0 ? header.maxTimestamp : -1;
  const r = new Reader(data);
  const records = new Array<KafkaRecord>(count);
  for (let i = 0; i < count; i++) {
    if (r.offset >= data.length) corrupt('invalid-record-count', `batch ends after ${i} of ${count} records`);
    records[i] = readRecord(r, header.baseOffset, header.baseTimestamp, logAppendTime);
  }
  if (r.offset !== data.length) corrupt('invalid-record-count', `bytes remain after ${count} records`);
  return {
    ...header,
    compression: (attributes & ATTR_COMPRESSION_MASK) as CompressionType,
    timestampType: logAppendTime >= 0 ? 'log-append' : 'create',
    isTransactional: (attributes & ATTR_TRANSACTIONAL) !== 0,
    isControl: (attributes & ATTR_CONTROL) !== 0,
    deleteHorizonMs: (attributes & ATTR_DELETE_HORIZON) !== 0 ? header.baseTimestamp : -1,
    records,
  };
}

/** Decodes every complete batch in a records blob (a trailing partial batch is left out). */
export function decodeRecordBatches(buf: Buffer, opts: DecodeBatchOptions = {}): RecordBatch[] {
  const out: RecordBatch[] = [];
  for (const { position } of iterateBatches(buf)) out.push(decodeRecordBatch(buf, position, opts));
  return out;
}

export interface ValidateBatchOptions {
  /**
   * When set, compressed batches are decompressed (bounded by this) and their records
   * walked too; when not, only their header is checked.
   */
  maxUncompressedBytes?: number | undefined;
}

/**
 * The produce-path check of one batch, without decoding records into objects: framing,
 * magic, CRC, compression code, at least one record, lastOffsetDelta == recordsCount - 1,
 * and (uncompressed, or compressed when asked) a walk over the records checking that
 * each record's fields fit its length, offset deltas run 0, 1, 2, ..., and the count
 * matches. Returns null when the batch is valid, else what is wrong.
 */
export function validateBatch(buf: Buffer, pos = 0, opts: ValidateBatchOptions = {}): CorruptRecordKind | null {
  try {
    const size = checkBatchFraming(buf, pos, true);
    const count = buf.readInt32BE(pos + BatchOffset.RecordsCount);
    if (count === 0) return 'invalid-record-count';
    if (buf.readInt32BE(pos + BatchOffset.LastOffsetDelta) !== count - 1) return 'invalid-offset-delta';
    const compressed = (buf.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK) !== 0;
    if (compressed && opts.maxUncompressedBytes === undefined) return null;
    const data = compressed
      ? recordsBytes(buf, pos, size, opts.maxUncompressedBytes!)
      : buf.subarray(pos + BATCH_HEADER_SIZE, pos + size);
    if (count > data.length / MIN_RECORD_SIZE) return 'invalid-record-count';
    const r = new Reader(data);
    for (let i = 0; i < count; i++) {
      if (r.offset >= data.length) return 'invalid-record-count';
      if (skipRecord(r) !== i) return 'invalid-offset-delta';
    }
    return r.offset === data.length ? null : 'invalid-record-count';
  } catch (e) {
    if (e instanceof CorruptRecordError) return e.kind;
    throw e;
  }
}

export interface BatchPosition {
  /** Byte offset of the batch in the blob. */
  position: number;
  header: BatchHeader;
}

/**
 * Walks a records blob (a MemoryRecords-like view: batches back to back) yielding each
 * batch's position and header. Stops cleanly at a partial trailing batch, as fetch
 * responses may end with one. A batch length below the header size or a magic other
 * than 2 throws CorruptRecordError. Nothing is CRC-checked or decompressed here.
 */
export function* iterateBatches(buf: Buffer, start = 0, end = buf.length): Generator<BatchPosition> {
  let pos = start;
  while (end - pos >= BATCH_LOG_OVERHEAD) {
    const batchLength = buf.readInt32BE(pos + BatchOffset.BatchLength);
    if (batchLength < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD) {
      corrupt('invalid-length', `batch length ${batchLength} at ${pos}`, pos);
    }
    const size = batchLength + BATCH_LOG_OVERHEAD;
    if (size > end - pos) return;
    const magic = buf.readInt8(pos + BatchOffset.Magic);
    if (magic !== CURRENT_MAGIC) corrupt('unsupported-magic', `magic ${magic} at ${pos}`, pos);
    yield { position: pos, header: readBatchHeader(buf, pos) };
    pos += size;
  }
}

/** Bytes taken by the complete batches at the start of `buf` (where a partial trailing batch starts). */
export function completeBatchesSize(buf: Buffer, start = 0, end = buf.length): number {
  let pos = start;
  for (const b of iterateBatches(buf, start, end)) pos = b.position + b.header.sizeInBytes;
  return pos - start;
}
