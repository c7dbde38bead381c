/**
 * Message formats v0 and v1 ("message sets"), which clients from before Kafka 0.11 read
 * and write. The broker keeps v2 batches on disk; these are only converted to and from.
 *
 * A message set is a run of entries:
 *
 *   offset int64 | messageSize int32 | message
 *   message: crc int32 (CRC-32 IEEE over magic..end) | magic int8 | attributes int8
 *            | [timestamp int64, v1 only] | key bytes (int32 length, -1 = null) | value bytes
 *
 * attributes: bits 0-2 compression codec (none, gzip, snappy, lz4; zstd does not exist
 * before v2), bit 3 (v1) timestamp type (LogAppendTime). A compressed message ("wrapper")
 * carries a whole inner message set, compressed, as its value; its offset is the offset
 * of the last inner message. Inner offsets are absolute in v0 and relative in v1
 * (absolute = wrapperOffset - lastInnerRelative + innerRelative). Under LogAppendTime the
 * wrapper's timestamp applies to every inner message.
 *
 * LZ4 under v0 carried a wrong frame header checksum (computed over the magic too); we
 * write it that way for v0 readers, and the decoder accepts both checksums.
 */
import { crc32 } from '@node-rs/crc32';
import { CompressionType } from './batch-header.ts';
import { compress, decompress } from './compression.ts';
import { CorruptRecordError } from './errors.ts';
import { xxhash32 } from './xxhash32.ts';

export type LegacyMagic = 0 | 1;

/** offset + messageSize. */
export const LEGACY_LOG_OVERHEAD = 12;
/** crc + magic + attributes + key length + value length. */
const V0_MIN_MESSAGE_SIZE = 14;
/** ... + timestamp. */
const V1_MIN_MESSAGE_SIZE = 22;
const ATTR_LEGACY_COMPRESSION_MASK = 0x07;
const ATTR_LEGACY_LOG_APPEND_TIME = 0x08;
/** The highest codec v0/v1 know (lz4). */
const MAX_LEGACY_CODEC = CompressionType.Lz4;
/** v0 messages have no timestamp. */
export const NO_TIMESTAMP = -1;
const DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 << 20;

/** One logical (inner, if it was compressed) message, with its absolute offset. */
export interface LegacyMessage {
  offset: number;
  magic: LegacyMagic;
  /** -1 in v0. */
  timestamp: number;
  timestampType: 'create' | 'log-append';
  key: Buffer | null;
  value: Buffer | null;
  /** Codec of the wrapper this message came in (None when it was not compressed). */
  compression: CompressionType;
}

export interface DecodeMessageSetOptions {
  /** Bound on the decompressed bytes of all wrappers together (default 64 MiB). */
  maxUncompressedBytes?: number | undefined;
  /** Check CRC-32 of every message (default true). */
  verifyCrc?: boolean | undefined;
  /**
   * Fetch responses may end in a partial entry (old brokers cut at the byte limit):
   * ignore it instead of failing. Default false (a produced set must be whole).
   */
  allowPartialTail?: boolean | undefined;
}

export interface LegacyMessageInput {
  offset: number;
  /** Ignored in v0. */
  timestamp?: number | undefined;
  key?: Buffer | string | null | undefined;
  value?: Buffer | string | null | undefined;
}

export interface EncodeMessageSetOptions {
  magic: LegacyMagic;
  messages: readonly LegacyMessageInput[];
  /** None writes one entry per message; a codec writes one wrapper around them all. */
  compression?: CompressionType | undefined;
  /** v1: LogAppendTime, with this time on every message (and the wrapper). */
  logAppendTimeMs?: number | undefined;
}

function corrupt(kind: ConstructorParameters<typeof CorruptRecordError>[0], message: string, position = -1): never {
  throw new CorruptRecordError(kind, message, position);
}

/** True when `buf` starts with a v0/v1 entry (the magic sits at byte 16 in every format). */
export function isLegacyMessageSet(buf: Buffer | null): boolean {
  return buf !== null && buf.length > 16 && buf.readInt8(16) < 2 && buf.readInt8(16) >= 0;
}

/** Decodes a message set, unwrapping compressed messages into their inner messages. */
export function decodeMessageSet(buf: Buffer, opts: DecodeMessageSetOptions = {}): LegacyMessage[] {
  const maxBytes = opts.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
  const verifyCrc = opts.verifyCrc ?? true;
  const out: LegacyMessage[] = [];
  let decompressed = 0;
  walk(buf, opts.allowPartialTail ?? false, verifyCrc, (entry) => {
    if (entry.codec === CompressionType.None) {
      out.push(entry.message(entry.offset, entry.timestamp, CompressionType.None));
      return;
    }
    if (entry.value === null) corrupt('invalid-record', 'compressed message without a value', entry.position);
    const inner = decompress(entry.codec, entry.value, maxBytes - decompressed);
    decompressed += inner.length;
    const innerEntries: Entry[] = [];
    walk(inner, false, verifyCrc, (e) => {
      if (e.codec !== CompressionType.None) corrupt('invalid-record', 'nested compressed message', entry.position);
      if (e.magic !== entry.magic) {
        corrupt('invalid-record', `inner magic ${e.magic} differs from wrapper magic ${entry.magic}`, entry.position);
      }
      innerEntries.push(e);
    });
    if (innerEntries.length === 0) corrupt('invalid-record', 'empty compressed message', entry.position);
    const lastRelative = innerEntries[innerEntries.length - 1]!.offset;
    const base = entry.magic === 0 ? 0 : entry.offset - lastRelative;
    for (const e of innerEntries) {
      const timestamp = entry.logAppendTime ? entry.timestamp : e.timestamp;
      const m = e.message(base + e.offset, timestamp, entry.codec);
      if (entry.logAppendTime) m.timestampType = 'log-append';
      out.push(m);
    }
  });
  return out;
}

interface Entry {
  position: number;
  offset: number;
  magic: LegacyMagic;
  codec: CompressionType;
  logAppendTime: boolean;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  message(offset: number, timestamp: number, compression: CompressionType): LegacyMessage;
}

function walk(buf: Buffer, allowPartialTail: boolean, verifyCrc: boolean, visit: (e: Entry) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    const left = buf.length - pos;
    if (left < LEGACY_LOG_OVERHEAD) {
      if (allowPartialTail) return;
      corrupt('truncated', `${left} bytes left, an entry header needs ${LEGACY_LOG_OVERHEAD}`, pos);
    }
    // Producers' offsets are not checked (the log assigns its own), only read.
    const offset = Number(buf.readBigInt64BE(pos));
    const size = buf.readInt32BE(pos + 8);
    if (size < V0_MIN_MESSAGE_SIZE) corrupt('invalid-length', `message size ${size}`, pos);
    if (size > left - LEGACY_LOG_OVERHEAD) {
      if (allowPartialTail) return;
      corrupt('truncated', `message of ${size} bytes, ${left - LEGACY_LOG_OVERHEAD} left`, pos);
    }
    const start = pos + LEGACY_LOG_OVERHEAD;
    const end = start + size;
    const magic = buf.readInt8(start + 4);
    if (magic !== 0 && magic !== 1) corrupt('unsupported-magic', `magic ${magic} in a message set`, pos);
    if (magic === 1 && size < V1_MIN_MESSAGE_SIZE) corrupt('invalid-length', `v1 message size ${size}`, pos);
    if (verifyCrc && buf.readUInt32BE(start) !== crc32(buf.subarray(start + 4, end))) {
      corrupt('crc-mismatch', 'message CRC-32 does not match', pos);
    }
    const attributes = buf.readInt8(start + 5);
    const codec = attributes & ATTR_LEGACY_COMPRESSION_MASK;
    if (codec > MAX_LEGACY_CODEC) corrupt('unsupported-compression', `codec ${codec} in message format v${magic}`, pos);
    let p = start + 6;
    let timestamp = NO_TIMESTAMP;
    if (magic === 1) {
      const ts = buf.readBigInt64BE(p);
      if (ts < -1n || ts > BigInt(Number.MAX_SAFE_INTEGER)) corrupt('invalid-record', `timestamp ${ts}`, pos);
      timestamp = Number(ts);
      p += 8;
    }
    const readBytes = (): Buffer | null => {
      if (end - p < 4) corrupt('invalid-record', 'field length past the message', pos);
      const len = buf.readInt32BE(p);
      p += 4;
      if (len === -1) return null;
      if (len < 0 || len > end - p) corrupt('invalid-record', `field length ${len}`, pos);
      const b = buf.subarray(p, p + len);
      p += len;
      return b;
    };
    const key = readBytes();
    const value = readBytes();
    if (p !== end) corrupt('invalid-record', 'message has trailing bytes', pos);
    const logAppendTime = magic === 1 && (attributes & ATTR_LEGACY_LOG_APPEND_TIME) !== 0;
    visit({
      position: pos,
      offset,
      magic,
      codec,
      logAppendTime,
      timestamp,
      key,
      value,
      message: (offset, ts, compression) => ({
        offset,
        magic,
        timestamp: magic === 0 ? NO_TIMESTAMP : ts,
        timestampType: logAppendTime ? 'log-append' : 'create',
        key,
        value,
        compression,
      }),
    });
    pos = end;
  }
}

function toBuffer(b: Buffer | string | null | undefined): Buffer | null {
  if (b === null || b === undefined) return null;
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

/** Size of one entry (offset, size, message) with these key/value lengths. */
export function sizeOfLegacyEntry(magic: LegacyMagic, key: Buffer | null, value: Buffer | null): number {
  return (
    LEGACY_LOG_OVERHEAD +
    (magic === 0 ? V0_MIN_MESSAGE_SIZE : V1_MIN_MESSAGE_SIZE) +
    (key?.length ?? 0) +
    (value?.length ?? 0)
  );
}

function writeEntry(
  out: Buffer,
  pos: number,
  offset: number,
  magic: LegacyMagic,
  attributes: number,
  timestamp: number,
  key: Buffer | null,
  value: Buffer | null,
): number {
  const size = sizeOfLegacyEntry(magic, key, value);
  out.writeBigInt64BE(BigInt(offset), pos);
  out.writeInt32BE(size - LEGACY_LOG_OVERHEAD, pos + 8);
  const start = pos + LEGACY_LOG_OVERHEAD;
  let p = start + 4;
  out.writeInt8(magic, p++);
  out.writeInt8(attributes, p++);
  if (magic === 1) {
    out.writeBigInt64BE(BigInt(timestamp), p);
    p += 8;
  }
  for (const b of [key, value]) {
    if (b === null) {
      out.writeInt32BE(-1, p);
      p += 4;
    } else {
      out.writeInt32BE(b.length, p);
      b.copy(out, p + 4);
      p += 4 + b.length;
    }
  }
  out.writeUInt32BE(crc32(out.subarray(start + 4, p)), start);
  return p;
}

function encodeUncompressed(
  magic: LegacyMagic,
  messages: readonly LegacyMessageInput[],
  attributes: number,
  timestampOf: (m: LegacyMessageInput) => number,
  offsetOf: (m: LegacyMessageInput, i: number) => number,
): Buffer {
  const keys = messages.map((m) => toBuffer(m.key));
  const values = messages.map((m) => toBuffer(m.value));
  let total = 0;
  for (let i = 0; i < messages.length; i++) total += sizeOfLegacyEntry(magic, keys[i]!, values[i]!);
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    pos = writeEntry(out, pos, offsetOf(m, i), magic, attributes, timestampOf(m), keys[i]!, values[i]!);
  }
  return out;
}

/** LZ4 as Kafka 0.8-0.9 wrote it: the frame header checksum also covers the magic. */
function breakLz4HeaderChecksum(frame: Buffer): Buffer {
  // Our encoder writes a 7-byte header: magic(4) FLG BD HC.
  frame[6] = (xxhash32(frame, 0, 0, 6) >>> 8) & 0xff;
  return frame;
}

/**
 * Encodes messages as a v0/v1 message set: one entry each, or (with a codec) one wrapper
 * holding them all. Offsets are kept as given (they should increase).
 */
export function encodeMessageSet(opts: EncodeMessageSetOptions): Buffer {
  const { magic, messages } = opts;
  if (messages.length === 0) throw new RangeError('a message set needs at least one message');
  const compression = opts.compression ?? CompressionType.None;
  if (compression < 0 || compression > MAX_LEGACY_CODEC) {
    throw new RangeError(`compression ${compression} does not exist in message format v${magic}`);
  }
  const logAppend = magic === 1 && opts.logAppendTimeMs !== undefined;
  const tsAttr = logAppend ? ATTR_LEGACY_LOG_APPEND_TIME : 0;
  const timestampOf = (m: LegacyMessageInput): number =>
    magic === 0 ? NO_TIMESTAMP : logAppend ? opts.logAppendTimeMs! : (m.timestamp ?? NO_TIMESTAMP);
  if (compression === CompressionType.None) {
    return encodeUncompressed(magic, messages, tsAttr, timestampOf, (m) => m.offset);
  }
  const first = messages[0]!.offset;
  const last = messages[messages.length - 1]!.offset;
  const inner = encodeUncompressed(magic, messages, 0, timestampOf, (m) => (magic === 0 ? m.offset : m.offset - first));
  let packed = compress(compression, inner);
  if (compression === CompressionType.Lz4 && magic === 0) packed = breakLz4HeaderChecksum(packed);
  let wrapperTs = NO_TIMESTAMP;
  if (magic === 1) {
    if (logAppend) wrapperTs = opts.logAppendTimeMs!;
    else for (const m of messages) wrapperTs = Math.max(wrapperTs, m.timestamp ?? NO_TIMESTAMP);
  }
  const out = Buffer.allocUnsafe(sizeOfLegacyEntry(magic, null, packed));
  writeEntry(out, 0, last, magic, compression | tsAttr, wrapperTs, null, packed);
  return out;
}
