/**
 * The partition data side of transactions (KIP-98), around ProducerStateManager:
 *
 * - `applyBatchesToState` walks appended batches (leader append, follower append, replay
 *   after a restart) and updates producer state: data batches through `apply`, COMMIT /
 *   ABORT markers (control batches) through `completeTxn`. Every completed transaction is
 *   handed to the TxnCompletions, and every aborted one goes to the log's
 *   aborted-transaction index (the caller writes it: `abortedEntries`).
 * - `TxnCompletions` keeps transactions whose marker is not yet below the high watermark
 *   (Kafka's "unreplicated" completed transactions): until the ISR has the marker, the
 *   transaction still holds the last stable offset, so a read_committed consumer never
 *   sees records whose outcome could still be lost with a leader change.
 *
 *   LSO = min(first offset of ongoing transactions,
 *             first offset of completed transactions whose marker is >= HW,
 *             HW)
 */
import { ATTR_CONTROL } from '../../protocol/records/batch-header.ts';
import { ControlRecordType, decodeControlKey, decodeEndTxnMarker } from '../../protocol/records/control.ts';
import { decodeRecordBatch, iterateBatches } from '../../protocol/records/index.ts';
import type { AbortedTxn } from '../../storage/txn-index.ts';
import type { CompletedTxn, ProducerStateManager } from './producer-state.ts';

/** The marker carried by a control batch, or undefined for other control records. */
export interface TxnMarkerRecord {
  committed: boolean;
  coordinatorEpoch: number;
}

/** Reads the COMMIT/ABORT marker of the control batch at `position` (undefined: not a marker). */
export function readTxnMarker(buf: Buffer, position: number): TxnMarkerRecord | undefined {
  const batch = decodeRecordBatch(buf, position, { verifyCrc: false });
  const record = batch.records[0];
  if (record === undefined) return undefined;
  const key = decodeControlKey(record.key);
  if (key.type !== ControlRecordType.Abort && key.type !== ControlRecordType.Commit) return undefined;
  return {
    committed: key.type === ControlRecordType.Commit,
    coordinatorEpoch: decodeEndTxnMarker(record.value).coordinatorEpoch,
  };
}

/** Completed transactions that still hold the last stable offset (marker not yet below the HW). */
export class TxnCompletions {
  private unreplicated: CompletedTxn[] = [];

  add(txn: CompletedTxn): void {
    this.unreplicated.push(txn);
  }

  /** The last stable offset for this high watermark (see the file comment). */
  lastStableOffset(producers: ProducerStateManager, highWatermark: number): number {
    if (this.unreplicated.length > 0) {
      this.unreplicated = this.unreplicated.filter((t) => t.lastOffset >= highWatermark);
    }
    let lso = highWatermark;
    const ongoing = producers.firstUnstableOffset();
    if (ongoing !== undefined && ongoing < lso) lso = ongoing;
    for (const t of this.unreplicated) if (t.firstOffset < lso) lso = t.firstOffset;
    return lso;
  }

  /** After a truncation or reload: forget what is no longer in the log. */
  clear(): void {
    this.unreplicated = [];
  }
}

export interface ApplyResult {
  /** Whether any producer state changed. */
  changed: boolean;
  /** Aborted transactions completed, for the log's aborted-transaction index. */
  aborted: CompletedTxn[];
}

/**
 * Applies the batches of `records` at or after `fromOffset` to producer state (their
 * offsets are the log's). Markers complete transactions; completions go to `completions`.
 * `lsoAfter` gives the last stable offset once a transaction is completed (for the index
 * entry). Throws on a batch it cannot walk (the caller decides).
 */
export function applyBatchesToState(
  producers: ProducerStateManager,
  records: Buffer,
  fromOffset: number,
  completions: TxnCompletions | undefined,
  timestampOverrideMs = -1,
): ApplyResult {
  const result: ApplyResult = { changed: false, aborted: [] };
  for (const { header, position } of iterateBatches(records)) {
    if (header.producerId < 0n) continue;
    if (header.baseOffset + header.lastOffsetDelta < fromOffset) continue;
    const ts = timestampOverrideMs >= 0 ? timestampOverrideMs : header.maxTimestamp;
    if ((header.attributes & ATTR_CONTROL) !== 0) {
      const marker = readTxnMarker(records, position);
      if (marker === undefined) continue;
      const done = producers.completeTxn(header.producerId, header.producerEpoch, marker, header.baseOffset, ts);
      result.changed = true;
      if (done !== undefined) {
        completions?.add(done);
        if (done.isAborted) result.aborted.push(done);
      }
      continue;
    }
    producers.apply(header, header.baseOffset, ts);
    result.changed = true;
  }
  return result;
}

/** The index entry of an aborted transaction, with the last stable offset after it. */
export function abortedEntry(txn: CompletedTxn, lastStableOffset: number): AbortedTxn {
  return {
    producerId: txn.producerId,
    firstOffset: txn.firstOffset,
    lastOffset: txn.lastOffset,
    lastStableOffset,
  };
}
