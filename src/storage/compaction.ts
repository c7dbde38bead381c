/**
 * Compaction logic shared by FileLog and MemoryLog: which records of a batch survive.
 *
 * A record survives unless a later record with the same key exists in the part of the
 * log the key map covers, or it is a tombstone (null value) whose batch's max timestamp
 * is older than delete.retention.ms. Kept as they are (not filtered):
 * - control and transactional batches (transactions come later),
 * - the last batch of each producer id in the cleaned range (producer state needs it),
 * - compressed batches: the record decoder for them is not used here yet, so their keys
 *   are neither collected nor filtered (the log stays correct, just less compact).
 * A surviving batch keeps its base offset and lastOffsetDelta, so offsets never move.
 */
import { ATTR_CONTROL, ATTR_TRANSACTIONAL, BatchOffset } from '../protocol/records/batch-header.ts';
import { isCompressed, type RecordView, rebuildBatch, recordsOf } from './records.ts';

export interface CleanContext {
  /** Key (bytes as latin1) -> offset of its latest record in the dirty range. */
  keys: Map<string, number>;
  /** Producer id -> base offset of its last batch in the cleaned range. */
  producerLastBatch: Map<bigint, number>;
  nowMs: number;
  deleteRetentionMs: number;
}

function keepsWhole(buf: Buffer, pos: number): boolean {
  const attributes = buf.readInt16BE(pos + BatchOffset.Attributes);
  return (attributes & (ATTR_CONTROL | ATTR_TRANSACTIONAL)) !== 0 || isCompressed(buf, pos);
}

/** Adds the keys of the batch at `pos` to the map (latest offset wins). */
export function collectKeys(buf: Buffer, pos: number, keys: Map<string, number>): void {
  if (keepsWhole(buf, pos)) return;
  const base = Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset));
  for (const r of recordsOf(buf, pos)) {
    if (r.key) keys.set(r.key.toString('latin1'), base + r.offsetDelta);
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
  if (keepsWhole(buf, pos)) return 'keep';
  const base = Number(buf.readBigInt64BE(pos + BatchOffset.BaseOffset));
  const pid = buf.readBigInt64BE(pos + BatchOffset.ProducerId);
  if (pid >= 0n && ctx.producerLastBatch.get(pid) === base) return 'keep';
  const maxTimestamp = Number(buf.readBigInt64BE(pos + BatchOffset.MaxTimestamp));
  const tombstonesExpired = maxTimestamp < ctx.nowMs - ctx.deleteRetentionMs;
  const kept: RecordView[] = [];
  let total = 0;
  for (const r of recordsOf(buf, pos)) {
    total++;
    if (r.key) {
      const latest = ctx.keys.get(r.key.toString('latin1'));
      if (latest !== undefined && latest > base + r.offsetDelta) continue;
      if (r.valueIsNull && tombstonesExpired) continue;
    }
    kept.push(r);
  }
  if (kept.length === total) return 'keep';
  if (kept.length === 0) return null;
  return rebuildBatch(buf, pos, kept);
}

/** Kafka's dirty ratio: dirty bytes over all cleanable bytes (0 when nothing). */
export function dirtyRatio(cleanBytes: number, dirtyBytes: number): number {
  const total = cleanBytes + dirtyBytes;
  return total === 0 ? 0 : dirtyBytes / total;
}
