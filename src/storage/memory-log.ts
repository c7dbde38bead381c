/**
 * MemoryLog: the PartitionLog interface held in memory, for tests of upper layers and
 * the simulator. It keeps the same segment model as FileLog (rolls on segment.bytes,
 * segment.ms and a full index; retention deletes whole closed segments) so the two pass
 * one conformance suite; there is no durability to speak of.
 */
import type { Clock } from '../env/clock.ts';
import { StorageError } from '../env/disk.ts';
import { assignBatchOffset, setLogAppendTime } from '../protocol/records/batch-header.ts';
import {
  cleanBatch,
  collectKeys,
  dirtyRatio,
  firstRecordAtOrAfter,
  noteProducerBatch,
  TxnCleaning,
} from './compaction.ts';
import type { LogConfig } from './config.ts';
import { EpochCache } from './epoch-cache.ts';
import { SerialQueue } from './file-pool.ts';
import type {
  AppendOptions,
  AppendResult,
  CompactionResult,
  DeleteRecordsResult,
  EpochEndOffset,
  PartitionLog,
  ReadOptions,
  ReadResult,
  TimestampAndOffset,
} from './partition-log.ts';
import { lastOffsetOfInfo, readBatchInfo, validateBatches } from './records.ts';
import { MAX_RELATIVE_OFFSET, OFFSET_INDEX_ENTRY_SIZE, TIME_INDEX_ENTRY_SIZE } from './segment.ts';
import { type AbortedTxn, MemoryTxnIndex } from './txn-index.ts';

interface MemBatch {
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  leaderEpoch: number;
  bytes: Buffer;
}

interface MemSegment {
  baseOffset: number;
  batches: MemBatch[];
  size: number;
  createdMs: number;
  /** Index entries FileLog would have written (for the index-full roll rule). */
  indexEntries: number;
  bytesSinceLastIndexEntry: number;
}

export interface MemoryLogOptions {
  topic: string;
  partition: number;
  config: LogConfig;
  clock: Clock;
  maxPendingAppends?: number;
}

export class MemoryLog implements PartitionLog {
  readonly topic: string;
  readonly partition: number;
  config: LogConfig;
  private readonly clock: Clock;
  private readonly queue: SerialQueue;
  private segments: MemSegment[];
  private startOffset = 0;
  private endOffset = 0;
  private hw = 0;
  private cleanerCheckpoint = 0;
  private readonly epochs = new EpochCache();
  private closed = false;
  private readonly txnIndex = new MemoryTxnIndex();

  constructor(options: MemoryLogOptions) {
    this.topic = options.topic;
    this.partition = options.partition;
    this.config = options.config;
    this.clock = options.clock;
    this.queue = new SerialQueue(options.maxPendingAppends ?? 1000);
    this.segments = [this.newSegment(0)];
  }

  private newSegment(baseOffset: number): MemSegment {
    return {
      baseOffset,
      batches: [],
      size: 0,
      createdMs: this.clock.nowMs(),
      indexEntries: 0,
      bytesSinceLastIndexEntry: 0,
    };
  }

  private active(): MemSegment {
    return this.segments.at(-1)!;
  }

  private enqueue<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.queue.run(
      async () => {
        if (this.closed) throw new StorageError('closed', `log ${this.topic}-${this.partition} is closed`);
        return fn();
      },
      () => new StorageError('overloaded', `too many operations waiting on ${this.topic}-${this.partition}`),
    );
  }

  logStartOffset(): number {
    return this.startOffset;
  }
  logEndOffset(): number {
    return this.endOffset;
  }
  highWatermark(): number {
    return this.hw;
  }
  updateHighWatermark(offset: number): number {
    this.hw = Math.max(this.startOffset, Math.min(offset, this.endOffset));
    return this.hw;
  }
  latestEpoch(): number {
    return this.epochs.latestEpoch();
  }
  endOffsetForEpoch(leaderEpoch: number): EpochEndOffset {
    return this.epochs.endOffsetFor(leaderEpoch, this.endOffset);
  }
  updateConfig(config: LogConfig): void {
    this.config = config;
  }
  segmentCount(): number {
    return this.segments.length;
  }
  sizeInBytes(): number {
    return this.segments.reduce((n, s) => n + s.size, 0);
  }
  segmentBaseOffsets(): number[] {
    return this.segments.map((s) => s.baseOffset);
  }

  append(batches: Buffer, options: AppendOptions): Promise<AppendResult> {
    return this.enqueue(() => this.doAppend(batches, true, options.leaderEpoch));
  }

  appendAsFollower(batches: Buffer): Promise<AppendResult> {
    return this.enqueue(() => this.doAppend(batches, false, -1));
  }

  private doAppend(buf: Buffer, assign: boolean, leaderEpoch: number): AppendResult {
    const infos = validateBatches(buf);
    const now = this.clock.nowMs();
    let logAppendTimeMs = -1;
    if (assign) {
      const logAppendTime = this.config.messageTimestampType === 'LogAppendTime';
      if (logAppendTime) logAppendTimeMs = now;
      let next = this.endOffset;
      for (const info of infos) {
        assignBatchOffset(buf, info.position, next, leaderEpoch);
        if (logAppendTime) {
          setLogAppendTime(buf, info.position, now);
          info.maxTimestamp = now;
        }
        info.baseOffset = next;
        info.partitionLeaderEpoch = leaderEpoch;
        next += info.lastOffsetDelta + 1;
      }
    } else {
      let expected = this.endOffset;
      for (const info of infos) {
        if (info.baseOffset < expected) {
          throw new StorageError('corrupt', `follower append at offset ${info.baseOffset} below ${expected}`);
        }
        expected = lastOffsetOfInfo(info) + 1;
      }
    }
    const first = infos[0]!.baseOffset;
    const last = lastOffsetOfInfo(infos.at(-1)!);
    this.maybeRoll(buf.length, infos.length, first, last, now);
    const seg = this.active();
    let recordCount = 0;
    for (const info of infos) {
      const bytes = Buffer.from(buf.subarray(info.position, info.position + info.sizeInBytes));
      if (seg.bytesSinceLastIndexEntry > this.config.indexIntervalBytes) {
        seg.indexEntries++;
        seg.bytesSinceLastIndexEntry = 0;
      }
      seg.bytesSinceLastIndexEntry += bytes.length;
      seg.batches.push({
        baseOffset: info.baseOffset,
        lastOffset: lastOffsetOfInfo(info),
        maxTimestamp: info.maxTimestamp,
        leaderEpoch: info.partitionLeaderEpoch,
        bytes,
      });
      seg.size += bytes.length;
      recordCount += info.recordsCount;
      if (!assign) this.epochs.assign(info.partitionLeaderEpoch, info.baseOffset);
    }
    if (assign) this.epochs.assign(leaderEpoch, first);
    this.endOffset = last + 1;
    return { baseOffset: first, lastOffset: last, logAppendTimeMs, logStartOffset: this.startOffset, recordCount };
  }

  private maybeRoll(bytes: number, batches: number, first: number, last: number, now: number): void {
    const seg = this.active();
    if (seg.size === 0) return;
    const c = this.config;
    if (
      seg.size + bytes > c.segmentBytes ||
      now - seg.createdMs >= c.segmentMs ||
      seg.indexEntries + batches >= Math.floor(c.segmentIndexBytes / OFFSET_INDEX_ENTRY_SIZE) ||
      seg.indexEntries + batches + 1 >= Math.floor(c.segmentIndexBytes / TIME_INDEX_ENTRY_SIZE) ||
      last - seg.baseOffset > MAX_RELATIVE_OFFSET
    ) {
      this.segments = [...this.segments, this.newSegment(Math.max(first, this.endOffset))];
    }
  }

  roll(): Promise<void> {
    return this.enqueue(() => {
      if (this.active().size > 0) this.segments = [...this.segments, this.newSegment(this.endOffset)];
    });
  }

  async read(fetchOffset: number, maxBytes: number, options: ReadOptions = {}): Promise<ReadResult> {
    if (this.closed) throw new StorageError('closed', 'log closed');
    const logStartOffset = this.startOffset;
    const logEndOffset = this.endOffset;
    const highWatermark = this.hw;
    if (fetchOffset < logStartOffset || fetchOffset > logEndOffset) {
      return { kind: 'offset-out-of-range', logStartOffset, logEndOffset, highWatermark };
    }
    const limit = Math.min(options.maxOffset ?? logEndOffset, logEndOffset);
    const minOneBatch = options.minOneBatch ?? true;
    const out: Buffer[] = [];
    let total = 0;
    for (const seg of this.segments) {
      const next = this.segments[this.segments.indexOf(seg) + 1];
      if (next && next.baseOffset <= fetchOffset) continue;
      if (seg.baseOffset >= limit) break;
      for (const b of seg.batches) {
        if (b.lastOffset < fetchOffset) continue;
        if (b.lastOffset >= limit) break;
        if (total + b.bytes.length > maxBytes && (total > 0 || !minOneBatch)) break;
        out.push(b.bytes);
        total += b.bytes.length;
      }
      if (out.length > 0 || seg.batches.some((b) => b.lastOffset >= fetchOffset)) break;
    }
    return { kind: 'records', records: Buffer.concat(out, total), logStartOffset, logEndOffset, highWatermark };
  }

  async offsetForTimestamp(timestampMs: number): Promise<TimestampAndOffset | undefined> {
    for (const seg of this.segments) {
      for (const b of seg.batches) {
        if (b.maxTimestamp >= timestampMs && b.lastOffset >= this.startOffset) {
          const found = firstRecordAtOrAfter(b.bytes, 0, timestampMs, this.startOffset);
          if (found) return { ...found, leaderEpoch: b.leaderEpoch };
        }
      }
    }
    return undefined;
  }

  async maxTimestamp(): Promise<TimestampAndOffset | undefined> {
    let best: MemBatch | undefined;
    for (const seg of this.segments) {
      for (const b of seg.batches) if (b.maxTimestamp >= 0 && (!best || b.maxTimestamp > best.maxTimestamp)) best = b;
    }
    if (!best) return undefined;
    const record = firstRecordAtOrAfter(best.bytes, 0, best.maxTimestamp, 0);
    return { timestamp: best.maxTimestamp, offset: record?.offset ?? best.baseOffset, leaderEpoch: best.leaderEpoch };
  }

  truncateTo(offset: number): Promise<void> {
    return this.enqueue(() => {
      if (offset >= this.endOffset) return;
      if (offset < this.startOffset) {
        this.resetTo(offset);
        return;
      }
      let newEnd = offset;
      const kept: MemSegment[] = [];
      for (const seg of this.segments) {
        if (kept.length > 0 && seg.baseOffset > offset) break;
        const next = this.segments[this.segments.indexOf(seg) + 1];
        if (next && next.baseOffset <= offset) {
          kept.push(seg);
          continue;
        }
        const cut = seg.batches.findIndex((b) => b.lastOffset >= offset);
        if (cut >= 0) {
          newEnd = Math.min(offset, seg.batches[cut]!.baseOffset);
          seg.batches = seg.batches.slice(0, cut);
          seg.size = seg.batches.reduce((n, b) => n + b.bytes.length, 0);
          seg.bytesSinceLastIndexEntry = Math.min(seg.bytesSinceLastIndexEntry, seg.size);
        }
        kept.push(seg);
        break;
      }
      this.segments = kept;
      this.endOffset = newEnd;
      this.hw = Math.min(this.hw, newEnd);
      this.cleanerCheckpoint = Math.min(this.cleanerCheckpoint, newEnd);
      this.epochs.truncateFromEnd(newEnd);
      this.txnIndex.truncateFrom(newEnd);
    });
  }

  truncateFullyAndStartAt(offset: number): Promise<void> {
    return this.enqueue(() => this.resetTo(offset));
  }

  private resetTo(offset: number): void {
    this.segments = [this.newSegment(offset)];
    this.startOffset = this.endOffset = this.hw = this.cleanerCheckpoint = offset;
    this.epochs.clear();
    this.txnIndex.clearAll();
  }

  deleteRecordsBefore(offset: number): Promise<DeleteRecordsResult> {
    return this.enqueue((): DeleteRecordsResult => {
      if (offset > this.hw) return { kind: 'offset-out-of-range', lowWatermark: this.startOffset };
      if (offset > this.startOffset) {
        this.startOffset = offset;
        this.deletePrefix(this.countBelowStart());
        this.epochs.truncateFromStart(this.startOffset);
      }
      return { kind: 'ok', lowWatermark: this.startOffset };
    });
  }

  private countBelowStart(): number {
    let n = 0;
    while (n < this.segments.length - 1 && this.segments[n + 1]!.baseOffset <= this.startOffset) n++;
    return n;
  }

  private segMaxTimestamp(seg: MemSegment): number {
    return seg.batches.reduce((m, b) => Math.max(m, b.maxTimestamp), -1);
  }

  deleteOldSegments(nowMs: number): Promise<number> {
    return this.enqueue(() => {
      const closed = this.segments.length - 1;
      let count = this.countBelowStart();
      const c = this.config;
      if (c.cleanupPolicy.delete) {
        if (c.retentionMs >= 0) {
          let n = 0;
          while (n < closed && nowMs - this.segMaxTimestamp(this.segments[n]!) > c.retentionMs) n++;
          count = Math.max(count, n);
        }
        if (c.retentionBytes >= 0) {
          let excess = this.sizeInBytes() - c.retentionBytes;
          let n = 0;
          while (n < closed && excess - this.segments[n]!.size >= 0) {
            excess -= this.segments[n]!.size;
            n++;
          }
          count = Math.max(count, n);
        }
      }
      return this.deletePrefix(count);
    });
  }

  private deletePrefix(count: number): number {
    const n = Math.min(count, this.segments.length - 1);
    if (n <= 0) return 0;
    this.segments = this.segments.slice(n);
    this.txnIndex.dropBelow(this.segments[0]!.baseOffset);
    this.startOffset = Math.max(this.startOffset, this.segments[0]!.baseOffset);
    this.hw = Math.max(this.hw, this.startOffset);
    this.cleanerCheckpoint = Math.max(this.cleanerCheckpoint, this.startOffset);
    this.epochs.truncateFromStart(this.startOffset);
    return n;
  }

  addAbortedTxn(entry: AbortedTxn): Promise<void> {
    return this.enqueue(() => {
      if (entry.lastOffset < this.startOffset || entry.lastOffset >= this.endOffset) return;
      this.txnIndex.add(entry);
    });
  }

  abortedTxns(fetchOffset: number, upperBoundOffset: number): AbortedTxn[] {
    return this.txnIndex.collect(fetchOffset, upperBoundOffset);
  }

  compact(nowMs: number, options: { force?: boolean } = {}): Promise<CompactionResult> {
    return this.enqueue(() => {
      const result: CompactionResult = { segmentsCleaned: 0, bytesBefore: 0, bytesAfter: 0 };
      if (!this.config.cleanupPolicy.compact) return result;
      const segments = this.segments;
      let end = segments.length - 1;
      if (this.config.minCompactionLagMs > 0) {
        const j = segments.findIndex(
          (s, i) => i < end && this.segMaxTimestamp(s) > nowMs - this.config.minCompactionLagMs,
        );
        if (j >= 0) end = j;
      }
      if (end <= 0) return result;
      const firstDirty = Math.max(this.cleanerCheckpoint, this.startOffset);
      let dirtyStart = end;
      for (let j = 0; j < end; j++) {
        if (segments[j + 1]!.baseOffset > firstDirty) {
          dirtyStart = j;
          break;
        }
      }
      let clean = 0;
      let dirty = 0;
      for (let j = 0; j < end; j++) {
        if (j < dirtyStart) clean += segments[j]!.size;
        else dirty += segments[j]!.size;
      }
      if (!options.force && dirtyRatio(clean, dirty) < this.config.minCleanableDirtyRatio) return result;
      const keys = new Map<string, number>();
      const producerLastBatch = new Map<bigint, number>();
      const txns = new TxnCleaning(this.txnIndex.all());
      for (let j = 0; j < end; j++) {
        for (const b of segments[j]!.batches) {
          noteProducerBatch(b.bytes, 0, producerLastBatch);
          txns.note(b.bytes, 0, j >= dirtyStart ? keys : undefined);
          if (j >= dirtyStart) collectKeys(b.bytes, 0, keys);
        }
      }
      txns.resolveKeys(keys);
      const ctx = { keys, producerLastBatch, nowMs, deleteRetentionMs: this.config.deleteRetentionMs, txns };
      // Groups of consecutive segments whose combined size fits one segment become one.
      const merged = new Set<MemSegment>();
      for (let j = 0; j < end; ) {
        const group = [segments[j]!];
        let bytes = segments[j]!.size;
        while (j + group.length < end) {
          const next = segments[j + group.length]!;
          const after = segments[j + group.length + 1]!;
          if (bytes + next.size > this.config.segmentBytes) break;
          if (after.baseOffset - 1 - group[0]!.baseOffset > MAX_RELATIVE_OFFSET) break;
          group.push(next);
          bytes += next.size;
        }
        j += group.length;
        let changed = group.length > 1;
        const batches: MemBatch[] = [];
        for (const seg of group) {
          for (const b of seg.batches) {
            const cleaned = cleanBatch(b.bytes, 0, ctx);
            if (cleaned === 'keep') batches.push(b);
            else {
              changed = true;
              if (cleaned) batches.push({ ...b, bytes: cleaned, maxTimestamp: readBatchInfo(cleaned, 0).maxTimestamp });
            }
          }
        }
        if (!changed) continue;
        const first = group[0]!;
        first.batches = batches;
        first.size = batches.reduce((n, b) => n + b.bytes.length, 0);
        for (const seg of group.slice(1)) merged.add(seg);
        result.segmentsCleaned += group.length;
        result.bytesBefore += bytes;
        result.bytesAfter += first.size;
      }
      this.segments = this.segments.filter((seg) => !merged.has(seg));
      this.txnIndex.remove(txns.abortsWithoutData());
      this.cleanerCheckpoint = Math.max(this.cleanerCheckpoint, segments[end]!.baseOffset);
      return result;
    });
  }

  async flush(): Promise<void> {}

  async maybeFlush(_nowMs: number): Promise<void> {}

  async close(): Promise<void> {
    await this.queue.drain();
    this.closed = true;
  }
}
