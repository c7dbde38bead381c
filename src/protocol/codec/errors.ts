/**
 * Why a decode failed. Every malformed input maps to one of these; any other
 * exception thrown while decoding is a bug in the codec.
 */
export type DecodeErrorReason =
  | 'truncated'
  | 'negative-length'
  | 'length-exceeds-frame'
  | 'unexpected-null'
  | 'varint-too-long'
  | 'tagged-field-size'
  | 'invalid-value'
  | 'unsupported-version';

/** A typed error for bytes that do not decode. Protocol layer code throws nothing else on bad input. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  readonly reason: DecodeErrorReason;
  /** Byte offset in the input at which the problem was found, when known. */
  readonly offset: number;

  constructor(reason: DecodeErrorReason, message: string, offset = -1) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : message);
    this.reason = reason;
    this.offset = offset;
  }
}
