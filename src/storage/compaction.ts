/**
 * Compaction logic shared by FileLog and MemoryLog: which records of a batch survive.
 *
 * A record survives unless a later record with the same key exists in the part of the
 * log the key map covers, or it is a tombstone (null value) whose batch's max timestamp
 * is older than delete.retention.ms. Transactions (Kafka's cleaner rules):
 * - a transactional batch whose transaction is decided in the scanned range (a marker
 *   of its producer follows it) is cleaned like any batch when committed and removed
 *   when aborted (the log's aborted-transaction index says which);
 * - a transactional batch with no marker after it (an ongoing transaction, above the
 *   last stable offset) is kept whole and its keys do not count;
 * - a COMMIT/ABORT marker is removed in two steps, as Kafka's cleaner does (KIP-98's
 *   marker retention with KIP-534's delete horizon). While any data batch of its
 *   transaction is still in the log when a pass starts, it is kept (an ABORT marker thus
 *   outlives its aborted data by at least one pass, so a reader that got the data also
 *   gets the marker). The first pass that finds the transaction's data gone stamps the
 *   marker with a delete horizon (attribute bit 0x40, baseTimestamp = now +
 *   delete.retention.ms: a read_committed consumer that fetched the data before has that
 *   long to read the marker) and, for an ABORT, the log drops the transaction's
 *   aborted-index entry (`TxnCleaning.abortsWithoutData`; with its data gone, a consumer
 *   must not skip that producer's later batches). A pass after the horizon removes the
 *   marker. Other control records are kept.
 * Kept whole as well: the last batch of each producer id in the cleaned range (producer
 * state needs it; Kafka keeps an empty batch there, Runnel the batch as it is, a marker
 * included).
 * Compressed batches are decompressed (src/protocol/records codecs, bounded), filtered
 * and recompressed with the same codec.
 * A surviving batch keeps its header: base offset, lastOffsetDelta, timestamps, producer
 * fields. Records keep their bytes (offset and timestamp deltas included), so offsets
 * never move; only batchLength, recordsCount and the CRC change.
 */

import { createHash } from 'node:crypto';
import { StorageError } from '../env/disk.ts';
import {
  ATTR_COMPRESSION_MASK,
  ATTR_CONTROL,
  ATTR_DELETE_HORIZON,
  ATTR_TIMESTAMP_TYPE_LOG_APPEND,
  ATTR_TRANSACTIONAL,
  BATCH_HEADER_SIZE,
  BatchOffset,
  type CompressionType,
  computeBatchCrc,
} from '../protocol/records/batch-header.ts';
import { compress, decompress } from '../protocol/records/compression.ts';
import { ControlRecordType, decodeControlKey } from '../protocol/records/control.ts';
import { type RecordView, rebuildBatch, recordsIn } from './records.ts';
import type { AbortedTxn } from './txn-index.ts';

/** Bound on one batch's decompressed records during compaction. */
export const MAX_UNCOMPRESSED_BATCH_BYTES = 64 * 1024 * 1024;

export interface CleanContext {
  /** mapKey(key) -> offset of its latest record in the dirty range. */
  keys: Map<string, number>;
  /** Producer id -> base offset of its last batch in the cleaned range. */
  producerLastBatch: Map<bigint, number>;
  nowMs: number;
  deleteRetentionMs: number;
  /** Transaction outcomes of the scanned range (none: transactional batches kept whole). */
  txns?: TxnCleaning;
}

/**
 * What the cleaner knows of transactions in the scanned range: the markers of each
 * producer, the aborted transactions from the log's index, and the keys of transactional
 * batches held until their outcome is known (a marker later in the scan).
 */
export class TxnCleaning {
  /** Producer id -> offsets of its markers, ascending (scan order). */
  private readonly markers = new Map<bigint, number[]>();
  /** Producer id -> data batches seen since its last marker (its open transaction's). */
  private readonly dataSinceMarker = new Map<bigint, number>();
  /** Marker offset -> whether a data batch of its transaction was in the log at the scan. */
  private readonly markerHadData = new Map<number, boolean>();
  private deferred: { producerId: bigint; offset: number; key: string }[] = [];

  constructor(private readonly aborted: readonly AbortedTxn[]) {}

  /** Pass 1, every batch of the scanned range in offset order. */
  note(buf: Buffer, pos: number, keys: Map<string, number> | undefined): void {
    const attributes = buf.readInt16BE(pos + BatchOffset.Attributes);
    if ((attributes & ATTR_TRANSACTIONAL) === 0) return;
    const pid = buf.readBigInt64BE(pos + BatchOffset.ProducerId);
    const base = Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset));
    if ((attributes & ATTR_CONTROL) !== 0) {
      let list = this.markers.get(pid);
      if (list === undefined) {
        list = [];
        this.markers.set(pid, list);
      }
      list.push(base);
      this.markerHadData.set(base, (this.dataSinceMarker.get(pid) ?? 0) > 0);
      this.dataSinceMarker.delete(pid);
      return;
    }
    this.dataSinceMarker.set(pid, (this.dataSinceMarker.get(pid) ?? 0) + 1);
    if (keys === undefined) return;
    const body = recordsBody(buf, pos);
    for (const r of recordsIn(body.bytes, body.start, body.end, recordCount(buf, pos))) {
      if (r.key) this.deferred.push({ producerId: pid, offset: base + r.offsetDelta, key: mapKey(r.key) });
    }
  }

  /** After pass 1: keys of committed transactional records join the map. */
  resolveKeys(keys: Map<string, number>): void {
    for (const d of this.deferred) {
      if (this.outcome(d.producerId, d.offset) !== 'committed') continue;
      const latest = keys.get(d.key);
      if (latest === undefined || latest < d.offset) keys.set(d.key, d.offset);
    }
    this.deferred = [];
  }

  /** Whether the marker at `offset` was scanned and no data batch of its transaction was. */
  markerDataGone(offset: number): boolean {
    return this.markerHadData.get(offset) === false;
  }

  /**
   * The aborted-index entries whose ABORT marker was scanned with the transaction's data
   * already gone: the log drops them after the pass (Kafka's cleaner does not carry
   * them into the cleaned segment).
   */
  abortsWithoutData(): AbortedTxn[] {
    return this.aborted.filter((a) => this.markerDataGone(a.lastOffset));
  }

  outcome(producerId: bigint, offset: number): 'open' | 'committed' | 'aborted' {
    const list = this.markers.get(producerId);
    if (list === undefined || list[list.length - 1]! < offset) return 'open';
    for (const a of this.aborted) {
      if (a.producerId === producerId && a.firstOffset <= offset && offset <= a.lastOffset) return 'aborted';
    }
    return 'committed';
  }
}

function keepsWhole(buf: Buffer, pos: number): boolean {
  return (buf.readInt16BE(pos + BatchOffset.Attributes) & (ATTR_CONTROL | ATTR_TRANSACTIONAL)) !== 0;
}

/** The records of the batch at `pos` (decompressed when needed) and how to walk them. */
function recordsBody(buf: Buffer, pos: number): { bytes: Buffer; start: number; end: number; codec: CompressionType } {
  const size = buf.readInt32BE(pos + BatchOffset.BatchLength) + 12;
  const codec = (buf.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK) as CompressionType;
  if (codec === 0) return { bytes: buf, start: pos + BATCH_HEADER_SIZE, end: pos + size, codec };
  let raw: Buffer;
  try {
    raw = decompress(codec, buf.subarray(pos + BATCH_HEADER_SIZE, pos + size), MAX_UNCOMPRESSED_BATCH_BYTES);
  } catch (err) {
    throw new StorageError('corrupt', `cannot decompress batch for compaction: ${String(err)}`, undefined, {
      cause: err,
    });
  }
  return { bytes: raw, start: 0, end: raw.length, codec };
}

function recordCount(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + BatchOffset.RecordsCount);
}

/**
 * The key map's key for a record key: short keys as they are (bytes as latin1), longer
 * ones by their MD5 (as Kafka's cleaner does), so an entry costs a bounded amount of memory.
 */
export function mapKey(key: Buffer): string {
  return key.length <= 32 ? `=${key.toString('latin1')}` : `#${createHash('md5').update(key).digest('base64')}`;
}

/** Adds the keys of the batch at `pos` to the map (latest offset wins). */
export function collectKeys(buf: Buffer, pos: number, keys: Map<string, number>): void {
  if (keepsWhole(buf, pos)) return;
  const base = Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset));
  const body = recordsBody(buf, pos);
  for (const r of recordsIn(body.bytes, body.start, body.end, recordCount(buf, pos))) {
    if (r.key) keys.set(mapKey(r.key), base + r.offsetDelta);
  }
}

export function noteProducerBatch(buf: Buffer, pos: number, producers: Map<bigint, number>): void {
  const pid = buf.readBigInt64BE(pos + BatchOffset.ProducerId);
  if (pid >= 0n) producers.set(pid, Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset)));
}

/**
 * Cleans the batch at `pos`: 'keep' when unchanged, null when no record survives, else
 * the rebuilt batch.
 */
export function cleanBatch(buf: Buffer, pos: number, ctx: CleanContext): Buffer | null | 'keep' {
  const attributes = buf.readInt16BE(pos + BatchOffset.Attributes);
  const base = Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset));
  const pid = buf.readBigInt64BE(pos + BatchOffset.ProducerId);
  if ((attributes & ATTR_CONTROL) !== 0) return cleanMarker(buf, pos, ctx, pid, base);
  if ((attributes & ATTR_TRANSACTIONAL) !== 0) {
    const outcome = ctx.txns?.outcome(pid, base) ?? 'open';
    if (outcome === 'open') return 'keep';
    if (outcome === 'aborted') return ctx.producerLastBatch.get(pid) === base ? 'keep' : null;
  }
  if (pid >= 0n && ctx.producerLastBatch.get(pid) === base) return 'keep';
  const maxTimestamp = Number(buf.readBigInt64BE(pos + BatchOffset.MaxTimestamp));
  const tombstonesExpired = maxTimestamp < ctx.nowMs - ctx.deleteRetentionMs;
  const body = recordsBody(buf, pos);
  const kept: RecordView[] = [];
  let total = 0;
  for (const r of recordsIn(body.bytes, body.start, body.end, recordCount(buf, pos))) {
    total++;
    if (r.key) {
      const latest = ctx.keys.get(mapKey(r.key));
      if (latest !== undefined && latest > base + r.offsetDelta) continue;
      if (r.valueIsNull && tombstonesExpired) continue;
    }
    kept.push(r);
  }
  if (kept.length === total) return 'keep';
  if (kept.length === 0) return null;
  return body.codec === 0
    ? rebuildBatch(buf, pos, kept)
    : rebuildBatch(buf, pos, kept, body.bytes, (raw) => compress(body.codec, raw));
}

/** Whether the control batch at `pos` is a COMMIT/ABORT marker (not another control record). */
function isTxnMarker(buf: Buffer, pos: number): boolean {
  if (recordCount(buf, pos) !== 1) return false;
  const body = recordsBody(buf, pos);
  for (const r of recordsIn(body.bytes, body.start, body.end, 1)) {
    if (r.key === null) return false;
    const type = decodeControlKey(r.key).type;
    return type === ControlRecordType.Commit || type === ControlRecordType.Abort;
  }
  return false;
}

/** A marker's two-step removal (see the file comment): keep, stamp a delete horizon, or drop. */
function cleanMarker(buf: Buffer, pos: number, ctx: CleanContext, pid: bigint, base: number): Buffer | null | 'keep' {
  const txns = ctx.txns;
  if (txns === undefined || !txns.markerDataGone(base)) return 'keep';
  if (ctx.producerLastBatch.get(pid) === base) return 'keep';
  if (!isTxnMarker(buf, pos)) return 'keep';
  const attributes = buf.readInt16BE(pos + BatchOffset.Attributes);
  if ((attributes & ATTR_DELETE_HORIZON) !== 0) {
    const horizonMs = Number(buf.readBigInt64BE(pos + BatchOffset.BaseTimestamp));
    return horizonMs <= ctx.nowMs ? null : 'keep';
  }
  return withDeleteHorizon(buf, pos, ctx.nowMs + ctx.deleteRetentionMs);
}

/**
 * A copy of the batch at `pos` carrying a delete horizon (KIP-534): attribute bit 0x40
 * set, baseTimestamp holding the horizon, the CRC recomputed. Used for markers only: the
 * marker record's own timestamp is of no use to consumers (they skip control records).
 */
export function withDeleteHorizon(buf: Buffer, pos: number, horizonMs: number): Buffer {
  const size = buf.readInt32BE(pos + BatchOffset.BatchLength) + 12;
  const out = Buffer.from(buf.subarray(pos, pos + size));
  out.writeInt16BE(out.readInt16BE(BatchOffset.Attributes) | ATTR_DELETE_HORIZON, BatchOffset.Attributes);
  out.writeBigInt64BE(BigInt(horizonMs), BatchOffset.BaseTimestamp);
  out.writeUInt32BE(computeBatchCrc(out, 0, size), BatchOffset.Crc);
  return out;
}

/**
 * ListOffsets inside a batch: the first record at or after `minOffset` whose timestamp is
 * >= timestampMs (LogAppendTime batches: every record has the batch's max timestamp).
 * Undefined when none.
 */
export function firstRecordAtOrAfter(
  buf: Buffer,
  pos: number,
  timestampMs: number,
  minOffset: number,
): { offset: number; timestamp: number } | undefined {
  const base = Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset));
  const maxTimestamp = Number(buf.readBigInt64BE(pos + BatchOffset.MaxTimestamp));
  const attributes = buf.readInt16BE(pos + BatchOffset.Attributes);
  if ((attributes & ATTR_TIMESTAMP_TYPE_LOG_APPEND) !== 0 || (attributes & ATTR_CONTROL) !== 0) {
    const last = base + buf.readInt32BE(pos + BatchOffset.LastOffsetDelta);
    return maxTimestamp >= timestampMs && last >= minOffset
      ? { offset: Math.max(base, minOffset), timestamp: maxTimestamp }
      : undefined;
  }
  const baseTimestamp = Number(buf.readBigInt64BE(pos + BatchOffset.BaseTimestamp));
  const body = recordsBody(buf, pos);
  for (const r of recordsIn(body.bytes, body.start, body.end, recordCount(buf, pos))) {
    const offset = base + r.offsetDelta;
    const timestamp = baseTimestamp + r.timestampDelta;
    if (offset >= minOffset && timestamp >= timestampMs) return { offset, timestamp };
  }
  return undefined;
}

/** Kafka's dirty ratio: dirty bytes over all cleanable bytes (0 when nothing). */
export function dirtyRatio(cleanBytes: number, dirtyBytes: number): number {
  const total = cleanBytes + dirtyBytes;
  return total === 0 ? 0 : dirtyBytes / total;
}
