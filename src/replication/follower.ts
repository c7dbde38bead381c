/**
 * The follower's side of one partition's replication, sans-io: what to ask the leader
 * for, and what to do with its answer.
 *
 * `fetchPartition()` is this partition's entry of the next Fetch request: fetch offset =
 * the local log end offset, lastFetchedEpoch = the local log's latest epoch (KIP-320),
 * currentLeaderEpoch = the epoch this follower believes in. `handleResponse()` applies
 * the leader's answer to the local log (through ReplicationLog, awaited) and says what
 * the fetcher does next:
 * - records: appended as they are (the leader's offsets and epochs kept); the follower's
 *   high watermark = min(leader's high watermark, local LEO); the leader's log start
 *   offset (retention, DeleteRecords) is applied locally once below that high watermark.
 * - DivergingEpoch (epoch E, end offset O): the local log diverged. When the local log
 *   knows E, it truncates to min(O, where E ends locally); when it does not, to the end
 *   of the largest local epoch below E (or O); the next fetch checks again, so several
 *   rounds walk back over several epochs.
 * - OFFSET_OUT_OF_RANGE: below the leader's log start -> the local log restarts empty at
 *   the leader's log start; else (the local log is ahead of the leader) it truncates to
 *   the leader's high watermark (nothing above it was committed).
 * - FENCED_LEADER_EPOCH (this follower is behind on metadata): stop until a new epoch
 *   comes from metadata. NOT_LEADER_OR_FOLLOWER, UNKNOWN_LEADER_EPOCH (the leader is
 *   behind), UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID and the rest: retry after
 *   replica.fetch.backoff.ms.
 * Nothing here reads a clock or starts a timer: backoff deadlines are computed from the
 * `nowMs` passed in and kept for the caller to read (`readyAtMs`).
 */
import { ZERO_UUID } from '../protocol/codec/uuid.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { FetchRequestFetchPartition } from '../protocol/generated/fetch-request.ts';
import type { FetchResponsePartitionData } from '../protocol/generated/fetch-response.ts';
import type { ReplicationLog } from './log.ts';

/** replica.fetch.backoff.ms default. */
export const DEFAULT_REPLICA_FETCH_BACKOFF_MS = 1000;

export type FollowerOutcome =
  | { kind: 'appended'; bytes: number; highWatermarkMoved: boolean }
  | { kind: 'idle'; highWatermarkMoved: boolean }
  | { kind: 'truncated'; offset: number }
  | { kind: 'backoff'; errorCode: number; untilMs: number }
  | { kind: 'fenced'; errorCode: number };

export interface FollowerStateOptions {
  topic: string;
  topicId: string;
  partition: number;
  leaderId: number;
  leaderEpoch: number;
  log: ReplicationLog;
  replicaFetchBackoffMs?: number;
}

export class FollowerState {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  leaderId: number;
  leaderEpoch: number;
  /** 'fetching' (in the next request), 'delayed' (until readyAtMs), 'fenced' (until new metadata). */
  state: 'fetching' | 'delayed' | 'fenced' = 'fetching';
  readyAtMs = 0;
  lastErrorCode: number = ErrorCode.NONE;
  private readonly log: ReplicationLog;
  private readonly backoffMs: number;

  constructor(options: FollowerStateOptions) {
    this.topic = options.topic;
    this.topicId = options.topicId;
    this.partition = options.partition;
    this.leaderId = options.leaderId;
    this.leaderEpoch = options.leaderEpoch;
    this.log = options.log;
    this.backoffMs = options.replicaFetchBackoffMs ?? DEFAULT_REPLICA_FETCH_BACKOFF_MS;
  }

  /** A new leader or epoch from metadata: fetch again at once. */
  updateLeader(leaderId: number, leaderEpoch: number): void {
    if (leaderId === this.leaderId && leaderEpoch === this.leaderEpoch) return;
    this.leaderId = leaderId;
    this.leaderEpoch = leaderEpoch;
    this.state = 'fetching';
    this.readyAtMs = 0;
  }

  /** Whether this partition goes into a fetch sent at `nowMs`. */
  isReady(nowMs: number): boolean {
    if (this.state === 'delayed' && nowMs >= this.readyAtMs) this.state = 'fetching';
    return this.state === 'fetching';
  }

  fetchOffset(): number {
    return this.log.logEndOffset();
  }

  fetchPartition(partitionMaxBytes: number): FetchRequestFetchPartition {
    return {
      partition: this.partition,
      currentLeaderEpoch: this.leaderEpoch,
      fetchOffset: BigInt(this.log.logEndOffset()),
      lastFetchedEpoch: this.log.latestEpoch(),
      logStartOffset: BigInt(this.log.logStartOffset()),
      partitionMaxBytes,
      replicaDirectoryId: ZERO_UUID,
    };
  }

  /** The whole fetch failed (connection lost, timeout): back off. */
  onFetchFailed(nowMs: number): void {
    this.delay(ErrorCode.NETWORK_EXCEPTION, nowMs);
  }

  private delay(errorCode: number, nowMs: number): FollowerOutcome {
    this.state = 'delayed';
    this.lastErrorCode = errorCode;
    this.readyAtMs = nowMs + this.backoffMs;
    return { kind: 'backoff', errorCode, untilMs: this.readyAtMs };
  }

  /**
   * Applies the leader's answer for this partition to the local log. `fetchedOffset` is
   * the offset the request asked from and `fetchedLeaderEpoch` the leader epoch it carried:
   * an answer to an older request, or to one sent before metadata brought another leader
   * or epoch, is dropped (a FENCED_LEADER_EPOCH for the old epoch would otherwise stop
   * this partition until yet another epoch arrives).
   */
  async handleResponse(
    data: FetchResponsePartitionData,
    fetchedOffset: number,
    nowMs: number,
    fetchedLeaderEpoch: number = this.leaderEpoch,
  ): Promise<FollowerOutcome> {
    const log = this.log;
    if (fetchedOffset !== log.logEndOffset() || fetchedLeaderEpoch !== this.leaderEpoch) {
      return { kind: 'idle', highWatermarkMoved: false };
    }
    switch (data.errorCode) {
      case ErrorCode.NONE:
        break;
      case ErrorCode.OFFSET_OUT_OF_RANGE: {
        const leaderStart = Number(data.logStartOffset);
        const leaderHw = Number(data.highWatermark);
        if (leaderStart >= 0 && fetchedOffset < leaderStart) {
          await log.truncateFullyAndStartAt(leaderStart);
          this.lastErrorCode = ErrorCode.NONE;
          return { kind: 'truncated', offset: leaderStart };
        }
        if (leaderHw >= 0 && leaderHw < fetchedOffset) {
          const to = Math.max(leaderHw, log.logStartOffset());
          await log.truncateTo(to);
          return { kind: 'truncated', offset: to };
        }
        return this.delay(data.errorCode, nowMs);
      }
      case ErrorCode.FENCED_LEADER_EPOCH:
        this.state = 'fenced';
        this.lastErrorCode = data.errorCode;
        return { kind: 'fenced', errorCode: data.errorCode };
      default:
        return this.delay(data.errorCode, nowMs);
    }
    this.lastErrorCode = ErrorCode.NONE;

    const diverging = data.divergingEpoch;
    if (diverging.epoch >= 0 || diverging.endOffset >= 0n) {
      const to = this.truncationOffset(diverging.epoch, Number(diverging.endOffset));
      if (to < log.logEndOffset()) {
        await log.truncateTo(to);
        return { kind: 'truncated', offset: to };
      }
    }

    let bytes = 0;
    const records = data.records;
    if (records !== null && records.length > 0) {
      // The leader's log start may sit inside a batch: an empty log restarts at the batch's
      // base offset so the whole batch fits (the leader's start offset applies afterwards).
      const baseOffset = records.length >= 8 ? Number(records.readBigInt64BE(0)) : log.logEndOffset();
      if (baseOffset < log.logEndOffset() && log.logStartOffset() === log.logEndOffset()) {
        await log.truncateFullyAndStartAt(baseOffset);
      }
      const result = await log.appendAsFollower(records);
      if (result.recordCount > 0 || result.lastOffset >= result.baseOffset) bytes = records.length;
    }
    const highWatermarkMoved = await this.applyLeaderOffsets(Number(data.highWatermark), Number(data.logStartOffset));
    return bytes > 0 ? { kind: 'appended', bytes, highWatermarkMoved } : { kind: 'idle', highWatermarkMoved };
  }

  /** Where to truncate for a DivergingEpoch (epoch, endOffset) answer. */
  truncationOffset(epoch: number, endOffset: number): number {
    const log = this.log;
    const leo = log.logEndOffset();
    if (epoch < 0 || endOffset < 0) return Math.min(leo, Math.max(endOffset, log.highWatermark()));
    const local = log.endOffsetForEpoch(epoch);
    if (local.endOffset < 0) return Math.min(endOffset, leo);
    if (local.leaderEpoch === epoch) return Math.min(endOffset, local.endOffset, leo);
    // The local log does not have `epoch`: cut where its largest lower epoch ends.
    return Math.min(local.endOffset, leo);
  }

  /** Follower HW = min(leader HW, local LEO); the leader's log start propagates. */
  private async applyLeaderOffsets(leaderHw: number, leaderLogStart: number): Promise<boolean> {
    const log = this.log;
    const before = log.highWatermark();
    let moved = false;
    if (leaderHw >= 0) {
      const hw = Math.min(leaderHw, log.logEndOffset());
      if (hw > before) moved = log.updateHighWatermark(hw) > before;
    }
    if (leaderLogStart > log.logStartOffset() && leaderLogStart <= log.highWatermark()) {
      await log.deleteRecordsBefore(leaderLogStart);
    }
    return moved;
  }
}
