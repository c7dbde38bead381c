/**
 * One partition's records from one Fetch response, decoded lazily: batches are walked one at a
 * time as the application asks for records, so a large fetch costs nothing until it is read.
 * Control batches are skipped; under read_committed, records of aborted transactions are
 * skipped too (Kafka's algorithm: a producer id enters the aborted set at its transaction's
 * first offset, listed in the response, and leaves it at its ABORT marker).
 */
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
    const r = new Reader(data);
    for (let i = 0; i < count && r.offset < data.length; i++) {
      const length = r.readVarint();
      const end = r.offset + length;
      r.offset += 1; // attributes
      const timestampDelta = r.readVarlongNumber();
      const offset = baseOffset + r.readVarint();
      if (offset < skipBefore) {
        r.offset = end;
        continue;
      }
      const keyLength = r.readVarint();
      const key = keyLength < 0 ? null : r.readRawBytes(keyLength);
      const valueLength = r.readVarint();
      const value = valueLength < 0 ? null : r.readRawBytes(valueLength);
      const headerCount = r.readVarint();
      let headers: RecordHeader[] = NO_HEADERS;
      if (headerCount > 0) {
        headers = new Array<RecordHeader>(headerCount);
        for (let h = 0; h < headerCount; h++) {
          const hk = r.readRawBytes(r.readVarint()).toString('utf8');
          const hvLength = r.readVarint();
          headers[h] = { key: hk, value: hvLength < 0 ? null : r.readRawBytes(hvLength) };
        }
      }
      r.offset = end;
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
const NO_HEADERS: RecordHeader[] = [];
