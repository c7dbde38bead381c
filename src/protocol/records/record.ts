/**
 * One record inside a v2 batch:
 *
 *   length varint (bytes after this field)
 *   attributes int8 (unused, 0)
 *   timestampDelta varlong
 *   offsetDelta varint
 *   keyLength varint (-1 = null) | key
 *   valueLength varint (-1 = null) | value
 *   headerCount varint
 *     headerKeyLength varint | key (UTF-8, never null)
 *     headerValueLength varint (-1 = null) | value
 *
 * Encoding is size-first (sizeOfRecord, then writeRecord into a buffer that already has
 * room); decoding returns zero-copy views of the input for keys and values.
 */
import { DecodeError } from '../codec/errors.ts';
import type { Reader } from '../codec/reader.ts';
import { sizeOfVarint, sizeOfVarlongNumber } from '../codec/varint.ts';
import type { Writer } from '../codec/writer.ts';
import { CorruptRecordError } from './errors.ts';

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A decoded record, with its absolute offset and timestamp filled in from the batch. */
export interface KafkaRecord {
  attributes: number;
  timestampDelta: number;
  offsetDelta: number;
  /** baseOffset + offsetDelta. */
  offset: number;
  /** baseTimestamp + timestampDelta, or the batch's maxTimestamp under LogAppendTime. */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export type RecordBytes = Buffer | Uint8Array | string | null;

/** A record to encode. Strings are written as UTF-8. */
export interface RecordInput {
  key?: RecordBytes | undefined;
  value?: RecordBytes | undefined;
  headers?: readonly { key: string; value?: RecordBytes | undefined }[] | undefined;
  /** Create time in ms. */
  timestamp: number;
}

function bytesLength(b: RecordBytes | undefined): number {
  if (b === null || b === undefined) return -1;
  return typeof b === 'string' ? Buffer.byteLength(b, 'utf8') : b.length;
}

function sizeOfField(len: number): number {
  return sizeOfVarint(len) + Math.max(len, 0);
}

/** Bytes after the length prefix of a record (its "body"). */
export function sizeOfRecordBody(record: RecordInput, timestampDelta: number, offsetDelta: number): number {
  let size = 1 + sizeOfVarlongNumber(timestampDelta) + sizeOfVarint(offsetDelta);
  size += sizeOfField(bytesLength(record.key));
  size += sizeOfField(bytesLength(record.value));
  const headers = record.headers;
  const count = headers ? headers.length : 0;
  size += sizeOfVarint(count);
  for (let i = 0; i < count; i++) {
    const h = headers![i]!;
    size += sizeOfField(Buffer.byteLength(h.key, 'utf8'));
    size += sizeOfField(bytesLength(h.value));
  }
  return size;
}

/** Total encoded size of a record: length prefix + body. */
export function sizeOfRecord(bodySize: number): number {
  return sizeOfVarint(bodySize) + bodySize;
}

function writeField(w: Writer, b: RecordBytes | undefined): void {
  if (b === null || b === undefined) {
    w.writeVarint(-1);
  } else if (typeof b === 'string') {
    const len = Buffer.byteLength(b, 'utf8');
    w.writeVarint(len);
    w.offset += w.buf.write(b, w.offset, len, 'utf8');
  } else {
    w.writeVarint(b.length);
    w.buf.set(b, w.offset);
    w.offset += b.length;
  }
}

/** Writes a record whose body size was computed by sizeOfRecordBody. */
export function writeRecord(
  w: Writer,
  record: RecordInput,
  bodySize: number,
  timestampDelta: number,
  offsetDelta: number,
): void {
  w.writeVarint(bodySize);
  w.writeInt8(0);
  w.writeVarlongNumber(timestampDelta);
  w.writeVarint(offsetDelta);
  writeField(w, record.key);
  writeField(w, record.value);
  const headers = record.headers;
  const count = headers ? headers.length : 0;
  w.writeVarint(count);
  for (let i = 0; i < count; i++) {
    const h = headers![i]!;
    writeField(w, h.key);
    writeField(w, h.value);
  }
}

/** The smallest possible record: length, attributes, ts, offset, key, value, header count. */
export const MIN_RECORD_SIZE = 7;

function invalid(message: string): never {
  throw new CorruptRecordError('invalid-record', message);
}

function readField(r: Reader, recordEnd: number): Buffer | null {
  const len = r.readVarint();
  if (len < 0) {
    if (len !== -1) invalid(`negative field length ${len}`);
    return null;
  }
  if (len > recordEnd - r.offset) invalid(`field of ${len} bytes runs past its record`);
  return r.readRawBytes(len);
}

/**
 * Decodes the record at the reader's position. Lengths are checked against the record's
 * own end; a DecodeError from the reader (truncation, over-long varint) becomes a
 * CorruptRecordError.
 */
export function readRecord(r: Reader, baseOffset: number, baseTimestamp: number, logAppendTime: number): KafkaRecord {
  try {
    const length = r.readVarint();
    if (length < MIN_RECORD_SIZE - 1 || length > r.end - r.offset) invalid(`record length ${length} does not fit`);
    const recordEnd = r.offset + length;
    const attributes = r.readInt8();
    const timestampDelta = r.readVarlongNumber();
    const offsetDelta = r.readVarint();
    const key = readField(r, recordEnd);
    const value = readField(r, recordEnd);
    const headerCount = r.readVarint();
    if (headerCount < 0 || headerCount * 2 > recordEnd - r.offset) invalid(`header count ${headerCount}`);
    const headers: RecordHeader[] = new Array(headerCount);
    for (let i = 0; i < headerCount; i++) {
      const keyLength = r.readVarint();
      if (keyLength < 0 || keyLength > recordEnd - r.offset) invalid(`header key length ${keyLength}`);
      const headerKey = r.readRawBytes(keyLength).toString('utf8');
      headers[i] = { key: headerKey, value: readField(r, recordEnd) };
    }
    if (r.offset !== recordEnd) invalid(`record ends at ${r.offset}, its length says ${recordEnd}`);
    return {
      attributes,
      timestampDelta,
      offsetDelta,
      offset: baseOffset + offsetDelta,
      timestamp: logAppendTime >= 0 ? logAppendTime : baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    };
  } catch (e) {
    if (e instanceof DecodeError) throw new CorruptRecordError('invalid-record', e.message);
    throw e;
  }
}

/**
 * Walks over the record at the reader's position without allocating anything, checking
 * that its fields fit its length. Returns its offsetDelta.
 */
export function skipRecord(r: Reader): number {
  try {
    const length = r.readVarint();
    if (length < MIN_RECORD_SIZE - 1 || length > r.end - r.offset) invalid(`record length ${length} does not fit`);
    const recordEnd = r.offset + length;
    r.offset += 1; // attributes
    r.readVarlong();
    const offsetDelta = r.readVarint();
    for (let f = 0; f < 2; f++) {
      const len = r.readVarint();
      if (len < -1 || len > recordEnd - r.offset) invalid(`field length ${len}`);
      if (len > 0) r.offset += len;
    }
    const headerCount = r.readVarint();
    if (headerCount < 0 || headerCount * 2 > recordEnd - r.offset) invalid(`header count ${headerCount}`);
    for (let i = 0; i < headerCount; i++) {
      const keyLength = r.readVarint();
      if (keyLength < 0 || keyLength > recordEnd - r.offset) invalid(`header key length ${keyLength}`);
      r.offset += keyLength;
      const len = r.readVarint();
      if (len < -1 || len > recordEnd - r.offset) invalid(`header value length ${len}`);
      if (len > 0) r.offset += len;
    }
    if (r.offset !== recordEnd) invalid(`record ends at ${r.offset}, its length says ${recordEnd}`);
    return offsetDelta;
  } catch (e) {
    if (e instanceof DecodeError) throw new CorruptRecordError('invalid-record', e.message);
    throw e;
  }
}
