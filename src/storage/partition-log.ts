/**
 * The partition log as the broker sees it: one ordered, immutable, append-only sequence
 * of record batches with offsets that are never reused. Two implementations share this
 * interface and one conformance suite (test/storage/conformance.test.ts): FileLog
 * (segments on a Disk) and MemoryLog (tests of upper layers, the simulator).
 *
 * Offsets and timestamps are numbers (exact below 2^53); convert to bigint at the
 * protocol boundary. Record bytes are opaque: batches go in as received (offsets
 * assigned in place) and come out as the same bytes.
 */
import type { LogConfig } from './config.ts';
import type { AbortedTxn } from './txn-index.ts';

export type { AbortedTxn } from './txn-index.ts';

export interface AppendOptions {
  /** The leader epoch written into each batch's partitionLeaderEpoch. */
  leaderEpoch: number;
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** The time written into the batches under LogAppendTime, else -1. */
  logAppendTimeMs: number;
  logStartOffset: number;
  recordCount: number;
}

export interface ReadOptions {
  /** Exclusive upper bound, e.g. the high watermark. Defaults to the log end offset. */
  maxOffset?: number;
  /** Return the first batch even when it is larger than maxBytes (default true). */
  minOneBatch?: boolean;
  /**
   * Where the bytes read go: returns a buffer of at least `bytes` (e.g. from the fetch's
   * buffer pool). The records returned may then be a view of such a buffer, so the caller
   * must not reuse it while the records are in use. Default: a new buffer per read.
   */
  allocate?: (bytes: number) => Buffer;
}

export type ReadResult =
  | {
      kind: 'records';
      /** Whole batches, concatenated as stored; may start before fetchOffset. */
      records: Buffer;
      logStartOffset: number;
      logEndOffset: number;
      highWatermark: number;
    }
  | {
      /** fetchOffset is outside [logStartOffset, logEndOffset]. */
      kind: 'offset-out-of-range';
      logStartOffset: number;
      logEndOffset: number;
      highWatermark: number;
    };

export interface TimestampAndOffset {
  timestamp: number;
  offset: number;
  leaderEpoch: number;
}

export interface EpochEndOffset {
  /** -1 (UNDEFINED_EPOCH) when unknown. */
  leaderEpoch: number;
  /** -1 (UNDEFINED_EPOCH_OFFSET) when unknown. */
  endOffset: number;
}

export type DeleteRecordsResult =
  | { kind: 'ok'; lowWatermark: number }
  /** The offset is above the high watermark. */
  | { kind: 'offset-out-of-range'; lowWatermark: number };

export interface CompactionResult {
  /** Segments rewritten. */
  segmentsCleaned: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface PartitionLog {
  readonly topic: string;
  readonly partition: number;
  readonly config: LogConfig;

  logStartOffset(): number;
  logEndOffset(): number;
  highWatermark(): number;
  /** Moves the high watermark (clamped to [logStartOffset, logEndOffset]); returns it. */
  updateHighWatermark(offset: number): number;

  /** Leader append: assigns offsets in place, from the log end offset. Serialized per log. */
  append(batches: Buffer, options: AppendOptions): Promise<AppendResult>;
  /** Follower append: keeps the batches' offsets and epochs (must start at or after the LEO). */
  appendAsFollower(batches: Buffer): Promise<AppendResult>;

  read(fetchOffset: number, maxBytes: number, options?: ReadOptions): Promise<ReadResult>;
  /**
   * ListOffsets: the first record (at or after the log start offset) whose timestamp is
   * >= timestampMs, found through the time index; undefined when none.
   */
  offsetForTimestamp(timestampMs: number): Promise<TimestampAndOffset | undefined>;
  /** The largest timestamp in the log and the offset of its (first) record (ListOffsets -3), or undefined. */
  maxTimestamp(): Promise<TimestampAndOffset | undefined>;

  /**
   * Records an aborted transaction in the aborted-transaction index (Kafka's .txnindex),
   * with the segment holding its ABORT marker (entry.lastOffset, already in the log).
   * Ignored when the entry is known or the marker is outside the log.
   */
  addAbortedTxn(entry: AbortedTxn): Promise<void>;
  /** Aborted transactions overlapping [fetchOffset, upperBoundOffset) (read_committed Fetch). */
  abortedTxns(fetchOffset: number, upperBoundOffset: number): AbortedTxn[];

  /** Follower truncation: removes every offset >= offset. */
  truncateTo(offset: number): Promise<void>;
  /** Drops everything and restarts the log empty at `offset`. */
  truncateFullyAndStartAt(offset: number): Promise<void>;
  latestEpoch(): number;
  /** OffsetForLeaderEpoch. */
  endOffsetForEpoch(leaderEpoch: number): EpochEndOffset;

  /** DeleteRecords: moves the log start offset up to `offset` (<= high watermark). */
  deleteRecordsBefore(offset: number): Promise<DeleteRecordsResult>;
  /** Retention: deletes closed segments past retention.ms / retention.bytes / the log start offset. */
  deleteOldSegments(nowMs: number): Promise<number>;
  /** Compaction (cleanup.policy with compact); `force` ignores min.cleanable.dirty.ratio. */
  compact(nowMs: number, options?: { force?: boolean }): Promise<CompactionResult>;
  /** Closes the active segment if it holds data (tests, tools; Kafka's log.roll()). */
  roll(): Promise<void>;
  /** fsync what is not yet flushed. */
  flush(): Promise<void>;
  /** Runs flush.ms: flushes when the last flush is older than flush.ms. */
  maybeFlush(nowMs: number): Promise<void>;

  updateConfig(config: LogConfig): void;
  segmentCount(): number;
  sizeInBytes(): number;
  close(): Promise<void>;
}
