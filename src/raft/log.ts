/**
 * The Raft log in memory: batches above the latest snapshot, with the lookups Raft needs
 * (end offset for an epoch, batches from an offset) and a record of what changed since
 * the last persist (`dirtyFrom`), which a store (store.ts) turns into disk writes.
 *
 * Offsets handed to truncateTo and batchesFrom are batch boundaries: a follower fetches
 * and truncates whole batches, and epochs change only between batches.
 */
import type { LogBatch, SnapshotId } from './types.ts';
import { batchEnd } from './types.ts';

export interface EpochEndOffset {
  /** The largest epoch <= the one asked for that this log knows; -1 when none. */
  epoch: number;
  /** The end offset of that epoch (the base offset of the next epoch's first batch). */
  endOffset: number;
}

export class RaftLog {
  private batches: LogBatch[] = [];
  /** Offsets below this are only in the snapshot. */
  private start = 0;
  private snapshot: SnapshotId | undefined;
  /** Lowest offset changed (appended or truncated) since the last markPersisted(). */
  dirtyFrom = Number.POSITIVE_INFINITY;
  /** Set when the log start moved (snapshot installed or log prefix dropped). */
  startChanged = false;

  static from(snapshot: SnapshotId | undefined, batches: LogBatch[]): RaftLog {
    const log = new RaftLog();
    log.snapshot = snapshot;
    log.start = snapshot?.endOffset ?? 0;
    let next = log.start;
    for (const b of batches) {
      if (b.baseOffset !== next) throw new Error(`raft log: batch at ${b.baseOffset}, expected ${next}`);
      log.batches.push(b);
      next = batchEnd(b);
    }
    return log;
  }

  startOffset(): number {
    return this.start;
  }

  endOffset(): number {
    const last = this.batches[this.batches.length - 1];
    return last ? batchEnd(last) : this.start;
  }

  /** Epoch of the last batch (or of the snapshot when the log above it is empty); 0 when empty. */
  lastEpoch(): number {
    const last = this.batches[this.batches.length - 1];
    return last ? last.epoch : (this.snapshot?.epoch ?? 0);
  }

  latestSnapshot(): SnapshotId | undefined {
    return this.snapshot;
  }

  batchCount(): number {
    return this.batches.length;
  }

  allBatches(): readonly LogBatch[] {
    return this.batches;
  }

  append(batch: LogBatch): void {
    const end = this.endOffset();
    if (batch.baseOffset !== end) throw new Error(`raft log: append at ${batch.baseOffset}, end is ${end}`);
    if (batch.epoch < this.lastEpoch()) throw new Error(`raft log: epoch ${batch.epoch} below ${this.lastEpoch()}`);
    if (batch.records.length === 0) throw new Error('raft log: empty batch');
    this.batches.push(batch);
    this.dirtyFrom = Math.min(this.dirtyFrom, batch.baseOffset);
  }

  /** Index of the batch whose baseOffset is `offset`, or -1. */
  private indexAt(offset: number): number {
    let lo = 0;
    let hi = this.batches.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = this.batches[mid]!.baseOffset;
      if (b === offset) return mid;
      if (b < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Index of the batch that contains `offset`, or -1. */
  private indexContaining(offset: number): number {
    let lo = 0;
    let hi = this.batches.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = this.batches[mid]!;
      if (offset < b.baseOffset) hi = mid - 1;
      else if (offset >= batchEnd(b)) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The batch containing `offset`, if this log has it. */
  batchContaining(offset: number): LogBatch | undefined {
    const i = this.indexContaining(offset);
    return i < 0 ? undefined : this.batches[i];
  }

  /**
   * The largest batch boundary at or below `offset`: `offset` itself, or the base of the
   * batch containing it. Divergence gives an offset from the leader's log, which is a
   * boundary there but may fall inside a batch of an epoch only this log has.
   */
  boundaryAtOrBelow(offset: number): number {
    if (offset >= this.endOffset()) return this.endOffset();
    if (offset <= this.start) return this.start;
    const b = this.batchContaining(offset);
    return b ? b.baseOffset : offset;
  }

  /** Removes every batch at or above `offset` (a batch boundary at or above the log start). */
  truncateTo(offset: number): void {
    if (offset >= this.endOffset()) return;
    if (offset < this.start) throw new Error(`raft log: truncate to ${offset} below log start ${this.start}`);
    const i = offset === this.start ? 0 : this.indexAt(offset);
    if (i < 0) throw new Error(`raft log: truncate to ${offset}, not a batch boundary`);
    this.batches.length = i;
    this.dirtyFrom = Math.min(this.dirtyFrom, offset);
  }

  /** Up to maxBatches batches starting at `offset` (a boundary); empty at the end. */
  batchesFrom(offset: number, maxBatches: number): LogBatch[] {
    if (offset >= this.endOffset()) return [];
    const i = offset === this.start ? 0 : this.indexAt(offset);
    if (i < 0) throw new Error(`raft log: read at ${offset}, not a batch boundary`);
    return this.batches.slice(i, i + maxBatches);
  }

  /**
   * Kafka's endOffsetForEpoch: the largest epoch <= `epoch` in this log and where it ends.
   * The snapshot counts as a batch of its epoch ending at the log start.
   */
  endOffsetForEpoch(epoch: number): EpochEndOffset {
    if (epoch >= this.lastEpoch()) return { epoch: this.lastEpoch(), endOffset: this.endOffset() };
    for (let i = this.batches.length - 1; i >= 0; i--) {
      const b = this.batches[i]!;
      if (b.epoch <= epoch) return { epoch: b.epoch, endOffset: this.nextEpochStart(i) };
    }
    if (this.snapshot && this.snapshot.epoch <= epoch) return { epoch: this.snapshot.epoch, endOffset: this.start };
    return { epoch: -1, endOffset: this.start };
  }

  /** Base offset of the first batch after index i whose epoch differs from batch i's. */
  private nextEpochStart(i: number): number {
    const e = this.batches[i]!.epoch;
    for (let j = i + 1; j < this.batches.length; j++)
      if (this.batches[j]!.epoch !== e) return this.batches[j]!.baseOffset;
    return this.endOffset();
  }

  /**
   * A snapshot at `id` now exists. With `dropAll` (a snapshot fetched from the leader) the
   * log restarts empty at the snapshot's end; otherwise batches below it are dropped.
   */
  installSnapshot(id: SnapshotId, dropAll: boolean): void {
    if (dropAll || id.endOffset >= this.endOffset()) {
      this.batches = [];
    } else {
      const i = this.indexAt(id.endOffset);
      if (i < 0) throw new Error(`raft log: snapshot end ${id.endOffset} is not a batch boundary`);
      this.batches = this.batches.slice(i);
    }
    this.start = id.endOffset;
    this.snapshot = id;
    this.startChanged = true;
    this.dirtyFrom = Math.min(this.dirtyFrom, this.start);
  }

  markPersisted(): void {
    this.dirtyFrom = Number.POSITIVE_INFINITY;
    this.startChanged = false;
  }
}
