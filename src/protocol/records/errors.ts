/**
 * Why a record batch is rejected. Every malformed input to the records layer maps to
 * one of these kinds; any other exception thrown while decoding is a bug.
 */
export type CorruptRecordKind =
  /** Fewer bytes than the batch (or record) says it has. */
  | 'truncated'
  /** batchLength smaller than a header, or a record length that does not fit its batch. */
  | 'invalid-length'
  /** Magic byte other than 2. */
  | 'unsupported-magic'
  /** Stored CRC32C does not match the batch bytes. */
  | 'crc-mismatch'
  /** Compression codec bits 5..7. */
  | 'unsupported-compression'
  /** recordsCount does not match the records found, or is negative. */
  | 'invalid-record-count'
  /** lastOffsetDelta != recordsCount - 1, or record offset deltas not 0, 1, 2, ... */
  | 'invalid-offset-delta'
  /** A record whose fields do not parse or do not end where its length says. */
  | 'invalid-record'
  /** A control record with an unreadable key or value. */
  | 'invalid-control-record'
  /** The compressed payload does not decompress. */
  | 'decompression-failed'
  /** Decompressed data would exceed the caller's bound. */
  | 'decompressed-too-large';

/** A typed error for bytes that are not a valid record batch. */
export class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';
  readonly kind: CorruptRecordKind;
  /**
   * Byte offset of the batch at fault within the buffer handed in, when known (-1 if not):
   * log recovery truncates there.
   */
  readonly position: number;

  constructor(kind: CorruptRecordKind, message: string, position = -1) {
    super(`${kind}: ${message}`);
    this.kind = kind;
    this.position = position;
  }
}
