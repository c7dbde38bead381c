/**
 * Produce v0-2 up-conversion: old clients send message sets in format v0/v1; the log
 * keeps only v2 batches. The whole set (every entry, compressed wrappers unwrapped)
 * becomes one v2 batch with the same keys, values and codec, and the produce path then
 * validates and appends it as any other batch (offsets are assigned by the log).
 *
 * Timestamps: v1 messages keep their CreateTime; v0 messages have none and keep -1 (no
 * timestamp), as Kafka 3.x does when it converts them; a LogAppendTime topic stamps the
 * batch at append anyway. A v1 wrapper under LogAppendTime (which clients should not
 * send) gives its timestamp to every message.
 *
 * Produce v3+ must carry v2 batches (the produce path answers INVALID_RECORD).
 */
import { ErrorCode } from '../../protocol/generated/errors.ts';
import {
  buildRecordBatch,
  CompressionType,
  CorruptRecordError,
  type CorruptRecordKind,
} from '../../protocol/records/index.ts';
import { decodeMessageSet } from '../../protocol/records/legacy.ts';

export type UpConversion = { ok: true; batch: Buffer } | { ok: false; errorCode: number; message: string };

/** Kinds that mean the record structure (not the bytes) is wrong: INVALID_RECORD. */
const INVALID_KINDS: ReadonlySet<CorruptRecordKind> = new Set(['invalid-record']);

/** Converts a v0/v1 message set into one v2 batch; decompression is bounded by `maxUncompressedBytes`. */
export function upConvert(messageSet: Buffer, maxUncompressedBytes: number): UpConversion {
  try {
    const messages = decodeMessageSet(messageSet, { maxUncompressedBytes });
    if (messages.length === 0) return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: 'no messages' };
    const compression = messages.find((m) => m.compression !== CompressionType.None)?.compression;
    const batch = buildRecordBatch({
      records: messages.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp })),
      compression: compression ?? CompressionType.None,
    });
    return { ok: true, batch };
  } catch (e) {
    if (!(e instanceof CorruptRecordError)) throw e;
    return {
      ok: false,
      errorCode: INVALID_KINDS.has(e.kind) ? ErrorCode.INVALID_RECORD : ErrorCode.CORRUPT_MESSAGE,
      message: `invalid message set: ${e.message}`,
    };
  }
}
