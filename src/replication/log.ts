/**
 * The part of a partition log that replication reads and writes. Both storage
 * implementations (FileLog, MemoryLog) satisfy it as they are, being PartitionLogs; the
 * simulator hands the core a MemoryLog.
 */
import type { PartitionLog } from '../storage/partition-log.ts';

export type ReplicationLog = Pick<
  PartitionLog,
  | 'logStartOffset'
  | 'logEndOffset'
  | 'highWatermark'
  | 'updateHighWatermark'
  | 'appendAsFollower'
  | 'truncateTo'
  | 'truncateFullyAndStartAt'
  | 'latestEpoch'
  | 'endOffsetForEpoch'
  | 'deleteRecordsBefore'
  | 'read'
>;

/** Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET. */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;
