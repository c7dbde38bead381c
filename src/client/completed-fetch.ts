/**
 * One partition's records from one Fetch response, decoded lazily: batches are walked one at a
 * time as the application asks for records, so a large fetch costs nothing until it is read.
 * Control batches are skipped; under read_committed, records of aborted transactions are
 * skipped too (Kafka's algorithm: a producer id enters the aborted set at its transaction's
 * first offset, listed in the response, and leaves it at its ABORT marker).
 */
import { DecodeError } from '../protocol/codec/errors.ts';
import { Reader } from '../protocol/codec/reader.ts';
import {
  ATTR_COMPRESSION_MASK,
  ATTR_CONTROL,
  ATTR_TIMESTAMP_TYPE_LOG_APPEND,
  ATTR_TRANSACTIONAL,
  BATCH_HEADER_SIZE,
  BATCH_LOG_OVERHEAD,
  BatchOffset,
  type CompressionType,
  ControlRecordType,
  checkBatchFraming,
  decompress,
  type RecordHeader,
  readControlKeyType,
} from './records-internal.ts';

export interface ConsumerRecord<K = Buffer | null, V = Buffer | null> {
  topic: string;
  partition: number;
  offset: number;
  /** Create time, or the broker's append time on LogAppendTime topics. */
  timestamp: number;
  key: K;
  value: V;
  headers: RecordHeader[];
  /** Leader epoch of the batch (for commits with epochs). */
  leaderEpoch: number;
}

export interface AbortedTxn {
  producerId: bigint;
  firstOffset: number;
}

export class CompletedFetch {
  /** Byte position of the next batch to decode in `data`. */
  private pos = 0;
  /** Decoded records of the current batch not yet handed out. */
  private pending: ConsumerRecord<unknown, unknown>[] = [];
  private pendingIndex = 0;
  private readonly abortedProducers = new Set<bigint>();
  /** Next offset after the last record or batch consumed from this fetch. */
  nextOffset: number;
  readonly sizeInBytes: number;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly data: Buffer,
    fetchOffset: number,
    /** Bumped when the partition is seeked, so stale fetches are dropped. */
    readonly epoch: number,
    private readonly abortedTxns: AbortedTxn[] | null,
    private readonly decodeKey: (b: Buffer | null, topic: string) => unknown,
    private readonly decodeValue: (b: Buffer | null, topic: string) => unknown,
    private readonly verifyCrc: boolean,
  ) {
    this.nextOffset = fetchOffset;
    this.sizeInBytes = data.length;
    if (abortedTxns !== null) abortedTxns.sort((a, b) => a.firstOffset - b.firstOffset);
  }

  get isDrained(): boolean {
    if (this.pendingIndex < this.pending.length) return false;
    const left = this.data.length - this.pos;
    if (left < BATCH_LOG_OVERHEAD) return true;
    return this.data.readInt32BE(this.pos + BatchOffset.BatchLength) + BATCH_LOG_OVERHEAD > left;
  }

  /** Moves up to `max` records into `out`; returns how many. */
  drain(out: ConsumerRecord<unknown, unknown>[], max: number): number {
    let n = 0;
    while (n < max) {
      if (this.pendingIndex < this.pending.length) {
        const r = this.pending[this.pendingIndex++]!;
        out.push(r);
        this.nextOffset = r.offset + 1;
        n++;
        continue;
      }
      if (!this.nextBatch()) break;
    }
    return n;
  }

  /** Decodes the next batch into `pending`; false when none is left. */
  private nextBatch(): boolean {
    this.pending = EMPTY;
    this.pendingIndex = 0;
    const buf = this.data;
    for (;;) {
      const pos = this.pos;
      if (buf.length - pos < BATCH_LOG_OVERHEAD) return false;
      const size = buf.readInt32BE(pos + BatchOffset.BatchLength) + BATCH_LOG_OVERHEAD;
      if (size > buf.length - pos) return false; // a partial batch at the end of the response
      checkBatchFraming(buf, pos, this.verifyCrc);
      this.pos = pos + size;
      const baseOffset = Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset));
      const lastOffset = baseOffset + buf.readInt32BE(pos + BatchOffset.LastOffsetDelta);
      if (lastOffset < this.nextOffset) continue;
      const attributes = buf.readInt16BE(pos + BatchOffset.Attributes);
      const producerId = buf.readBigInt64BE(pos + BatchOffset.ProducerId);
      if (this.abortedTxns !== null) {
        while (this.abortedTxns.length > 0 && this.abortedTxns[0]!.firstOffset <= lastOffset) {
          this.abortedProducers.add(this.abortedTxns.shift()!.producerId);
        }
      }
      if ((attributes & ATTR_CONTROL) !== 0) {
        if (this.abortedTxns !== null) {
          const type = this.controlType(buf, pos, size);
          if (type === ControlRecordType.Abort) this.abortedProducers.delete(producerId);
        }
        this.nextOffset = lastOffset + 1;
        continue;
      }
      if ((attributes & ATTR_TRANSACTIONAL) !== 0 && this.abortedProducers.has(producerId)) {
        this.nextOffset = lastOffset + 1;
        continue;
      }
      this.pending = this.decodeRecords(buf, pos, size, attributes, baseOffset);
      if (this.pending.length === 0) {
        this.nextOffset = lastOffset + 1;
        continue;
      }
      return true;
    }
  }

  private controlType(buf: Buffer, pos: number, size: number): number {
    const compression = (buf.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK) as CompressionType;
    const data = decompress(compression, buf.subarray(pos + BATCH_HEADER_SIZE, pos + size), 1 << 20);
    const r = new Reader(data);
    r.readVarint(); // length
    r.offset += 1; // attributes
    r.readVarlong();
    r.readVarint();
    const keyLength = r.readVarint();
    if (keyLength < 4) return -1;
    return readControlKeyType(r.readRawBytes(keyLength));
  }

  private decodeRecords(
    buf: Buffer,
    pos: number,
    size: number,
    attributes: number,
    baseOffset: number,
  ): ConsumerRecord<unknown, unknown>[] {
    const compression = (attributes & ATTR_COMPRESSION_MASK) as CompressionType;
    const body = buf.subarray(pos + BATCH_HEADER_SIZE, pos + size);
    const data = compression === 0 ? body : decompress(compression, body, 256 << 20);
    const count = buf.readInt32BE(pos + BatchOffset.RecordsCount);
    const baseTimestamp = Number(buf.readBigInt64BE(pos + BatchOffset.BaseTimestamp));
    const logAppend =
      (attributes & ATTR_TIMESTAMP_TYPE_LOG_APPEND) !== 0
        ? Number(buf.readBigInt64BE(pos + BatchOffset.MaxTimestamp))
        : -1;
    const leaderEpoch = buf.readInt32BE(pos + BatchOffset.PartitionLeaderEpoch);
    const topic = this.topic;
    const partition = this.partition;
    const decodeKey = this.decodeKey;
    const decodeValue = this.decodeValue;
    const skipBefore = this.nextOffset;
    const out: ConsumerRecord<unknown, unknown>[] = [];
    const dataEnd = data.length;
    cursor = 0;
    for (let i = 0; i < count && cursor < dataEnd; i++) {
      const length = readVarint(data, dataEnd);
      const end = cursor + length;
      if (length < 0 || end > dataEnd) throw new DecodeError('length-exceeds-frame', `record length ${length}`, cursor);
      cursor += 1; // attributes
      const timestampDelta = readVarlong(data, end);
      const offset = baseOffset + readVarint(data, end);
      if (offset < skipBefore) {
        cursor = end;
        continue;
      }
      const key = readBytes(data, end, readVarint(data, end));
      const value = readBytes(data, end, readVarint(data, end));
      const headerCount = readVarint(data, end);
      let headers: RecordHeader[] = NO_HEADERS;
      if (headerCount > 0) {
        headers = new Array<RecordHeader>(headerCount);
        for (let h = 0; h < headerCount; h++) {
          const hk = readBytes(data, end, readVarint(data, end));
          if (hk === null) throw new DecodeError('unexpected-null', 'null header key', cursor);
          const hv = readBytes(data, end, readVarint(data, end));
          headers[h] = { key: hk.toString('utf8'), value: hv };
        }
      }
      cursor = end;
      out.push({
        topic,
        partition,
        offset,
        timestamp: logAppend >= 0 ? logAppend : baseTimestamp + timestampDelta,
        key: decodeKey(key, topic),
        value: decodeValue(value, topic),
        headers,
        leaderEpoch,
      });
    }
    return out;
  }
}

const EMPTY: ConsumerRecord<unknown, unknown>[] = [];

// Record fields are read with local functions over one module-level cursor rather than a Reader
// per batch: no object per batch, no BigInt per record for the timestamp delta (a varlong), and
// bounds checked against the record's end. decodeRecords is synchronous, so one cursor serves.
let cursor = 0;

/** Zigzag varint (32-bit) at `cursor`, which it advances. */
function readVarint(buf: Buffer, end: number): number {
  let o = cursor;
  if (o >= end) throw new DecodeError('truncated', 'varint runs past the record', o);
  let b = buf[o++]!;
  if (b < 0x80) {
    cursor = o;
    return (b >>> 1) ^ -(b & 1);
  }
  let u = b & 0x7f;
  let scale = 128;
  for (let i = 1; i < 5; i++) {
    if (o >= end) throw new DecodeError('truncated', 'varint runs past the record', o);
    b = buf[o++]!;
    if (i === 4 && b > 0x0f) throw new DecodeError('varint-too-long', 'varint exceeds 32 bits', o - 1);
    u += (b & 0x7f) * scale;
    if (b < 0x80) {
      cursor = o;
      return (u >>> 1) ^ -(u & 1);
    }
    scale *= 128;
  }
  throw new DecodeError('varint-too-long', 'varint exceeds 32 bits', o);
}

/** Zigzag varlong at `cursor` as a number: up to 7 bytes (49 bits) exactly, longer through Reader. */
function readVarlong(buf: Buffer, end: number): number {
  let o = cursor;
  let u = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    if (o >= end) throw new DecodeError('truncated', 'varlong runs past the record', o);
    const b = buf[o++]!;
    u += (b & 0x7f) * scale;
    if (b < 0x80) {
      cursor = o;
      return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
    }
    scale *= 128;
  }
  const r = new Reader(buf.subarray(0, end));
  r.offset = cursor;
  const v = r.readVarlongNumber();
  cursor = r.offset;
  return v;
}

/** `n` bytes at `cursor` as a view (no copy), or null for a length of -1. */
function readBytes(buf: Buffer, end: number, n: number): Buffer | null {
  if (n < 0) {
    if (n === -1) return null;
    throw new DecodeError('negative-length', `negative length ${n}`, cursor);
  }
  const o = cursor;
  if (n > end - o) throw new DecodeError('length-exceeds-frame', `length ${n} exceeds ${end - o} remaining`, o);
  cursor = o + n;
  return buf.subarray(o, o + n);
}
const NO_HEADERS: RecordHeader[] = [];
