/**
 * The fixed 61-byte header of a record batch (message format v2), read and patched
 * in place. This is all the storage engine and the produce path need to look at:
 * records themselves stay as opaque bytes.
 *
 *   offset  size  field
 *   0       8     baseOffset
 *   8       4     batchLength (bytes after this field)
 *   12      4     partitionLeaderEpoch
 *   16      1     magic (2)
 *   17      4     crc (CRC32C of bytes 21..end)
 *   21      2     attributes
 *   23      4     lastOffsetDelta
 *   27      8     baseTimestamp
 *   35      8     maxTimestamp
 *   43      8     producerId
 *   51      2     producerEpoch
 *   53      4     baseSequence
 *   57      4     recordsCount
 */
import { crc32c } from '@node-rs/crc32';

export const BATCH_HEADER_SIZE = 61;
/** The bytes before the batchLength-counted part: baseOffset + batchLength. */
export const BATCH_LOG_OVERHEAD = 12;
export const CURRENT_MAGIC = 2;

export enum BatchOffset {
  BaseOffset = 0,
  BatchLength = 8,
  PartitionLeaderEpoch = 12,
  Magic = 16,
  Crc = 17,
  Attributes = 21,
  LastOffsetDelta = 23,
  BaseTimestamp = 27,
  MaxTimestamp = 35,
  ProducerId = 43,
  ProducerEpoch = 51,
  BaseSequence = 53,
  RecordsCount = 57,
}

export enum CompressionType {
  None = 0,
  Gzip = 1,
  Snappy = 2,
  Lz4 = 3,
  Zstd = 4,
}

export const ATTR_COMPRESSION_MASK = 0x07;
export const ATTR_TIMESTAMP_TYPE_LOG_APPEND = 0x08;
export const ATTR_TRANSACTIONAL = 0x10;
export const ATTR_CONTROL = 0x20;
export const ATTR_DELETE_HORIZON = 0x40;

export const NO_PRODUCER_ID = -1n;
export const NO_SEQUENCE = -1;

/** A view of one batch's header fields (numbers where safe, bigint for producer id). */
export interface BatchHeader {
  baseOffset: number;
  /** Total size of the batch in bytes, header included (batchLength + 12). */
  sizeInBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

/** Reads the header of the batch starting at `pos`. The caller checks that 61 bytes are there. */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset)),
    sizeInBytes: buf.readInt32BE(pos + BatchOffset.BatchLength) + BATCH_LOG_OVERHEAD,
    partitionLeaderEpoch: buf.readInt32BE(pos + BatchOffset.PartitionLeaderEpoch),
    magic: buf.readInt8(pos + BatchOffset.Magic),
    crc: buf.readUInt32BE(pos + BatchOffset.Crc),
    attributes: buf.readInt16BE(pos + BatchOffset.Attributes),
    lastOffsetDelta: buf.readInt32BE(pos + BatchOffset.LastOffsetDelta),
    baseTimestamp: Number(buf.readBigInt64BE(pos + BatchOffset.BaseTimestamp)),
    maxTimestamp: Number(buf.readBigInt64BE(pos + BatchOffset.MaxTimestamp)),
    producerId: buf.readBigInt64BE(pos + BatchOffset.ProducerId),
    producerEpoch: buf.readInt16BE(pos + BatchOffset.ProducerEpoch),
    baseSequence: buf.readInt32BE(pos + BatchOffset.BaseSequence),
    recordsCount: buf.readInt32BE(pos + BatchOffset.RecordsCount),
  };
}

/** Total size in bytes of the batch at `pos` (from its batchLength field). */
export function batchSizeAt(buf: Buffer, pos = 0): number {
  return buf.readInt32BE(pos + BatchOffset.BatchLength) + BATCH_LOG_OVERHEAD;
}

/** The last offset of the batch at `pos`: baseOffset + lastOffsetDelta. */
export function lastOffsetOf(buf: Buffer, pos = 0): number {
  return Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset)) + buf.readInt32BE(pos + BatchOffset.LastOffsetDelta);
}

/** CRC32C over attributes..end, as stored in the crc field. */
export function computeBatchCrc(buf: Buffer, pos: number, sizeInBytes: number): number {
  return crc32c(buf.subarray(pos + BatchOffset.Attributes, pos + sizeInBytes)) >>> 0;
}

/** True when the stored CRC matches the batch's bytes. */
export function isBatchCrcValid(buf: Buffer, pos = 0): boolean {
  const size = batchSizeAt(buf, pos);
  if (size < BATCH_HEADER_SIZE || pos + size > buf.length) return false;
  return buf.readUInt32BE(pos + BatchOffset.Crc) === computeBatchCrc(buf, pos, size);
}

/**
 * Rewrites the base offset and partition leader epoch of the batch at `pos`, in place.
 * Neither field is covered by the CRC, so the records are not re-encoded and the CRC
 * stays valid: this is what the broker does to every batch it appends.
 */
export function assignBatchOffset(buf: Buffer, pos: number, baseOffset: number, partitionLeaderEpoch: number): void {
  buf.writeBigInt64BE(BigInt(baseOffset), pos + BatchOffset.BaseOffset);
  buf.writeInt32BE(partitionLeaderEpoch, pos + BatchOffset.PartitionLeaderEpoch);
}

/**
 * Sets the max timestamp and the LogAppendTime bit (topics with
 * message.timestamp.type=LogAppendTime). These are CRC-covered, so the CRC is recomputed.
 */
export function setLogAppendTime(buf: Buffer, pos: number, timestampMs: number): void {
  const size = batchSizeAt(buf, pos);
  const attributes = buf.readInt16BE(pos + BatchOffset.Attributes) | ATTR_TIMESTAMP_TYPE_LOG_APPEND;
  buf.writeInt16BE(attributes, pos + BatchOffset.Attributes);
  buf.writeBigInt64BE(BigInt(timestampMs), pos + BatchOffset.MaxTimestamp);
  buf.writeUInt32BE(computeBatchCrc(buf, pos, size), pos + BatchOffset.Crc);
}
