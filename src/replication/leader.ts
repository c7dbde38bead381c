/**
 * The leader's side of one partition's replication, sans-io: what each follower has
 * fetched, the in-sync replica set (ISR), the high watermark, AlterPartition proposals
 * and the acks=-1 / min.insync.replicas answers.
 *
 * Nothing here reads a clock, starts a timer or opens a socket: every call that depends
 * on time takes `nowMs`, the log comes in through ReplicationLog (FileLog and MemoryLog
 * both fit), and changes to the ISR come out as AlterPartition partition data for the
 * caller to send (`takeAlterPartition`) and go back in through `onAlterPartitionResponse`
 * or `applyMetadata`. The broker (src/broker/replica) and the simulator drive it the
 * same way.
 *
 * The rules, as Apache Kafka applies them:
 * - A follower is caught up at time t when its fetch offset reached the leader's log end
 *   offset (LEO) at t, or reached the LEO the leader had at its previous fetch (then it
 *   was caught up at that previous fetch's time). lastCaughtUpTimeMs only moves forward.
 * - ISR shrink (checked by `maybeShrinkIsr`, which the caller runs every
 *   replica.lag.time.max.ms / 2): a follower in the ISR whose LEO is below the leader's
 *   and whose last caught-up time is older than replica.lag.time.max.ms is dropped.
 * - ISR expand (on a follower fetch): a follower outside the ISR whose LEO reached the
 *   high watermark and the start offset of the leader's current epoch is added, when the
 *   broker is eligible (registered, not fenced, not shutting down: `isReplicaEligible`).
 * - One AlterPartition in flight per partition (KIP-497). While one is pending, the
 *   "maximal ISR" counts for the high watermark: an expansion counts at once, a shrink
 *   only once committed (the maximal ISR is the union of the committed and proposed sets).
 * - High watermark = the smallest LEO among the leader and every follower that is in the
 *   maximal ISR, or caught up and eligible (it is about to join); it only moves forward.
 *   (Kafka's partition replication has no "current epoch must be committed" rule for the
 *   high watermark, unlike KRaft; the epoch start offset only gates ISR expansion.)
 * - acks=-1: refused with NOT_ENOUGH_REPLICAS before the append when the committed ISR is
 *   smaller than min.insync.replicas; once the high watermark passes the batch, answered
 *   NONE, or NOT_ENOUGH_REPLICAS_AFTER_APPEND when the maximal ISR shrank below it.
 * - AlterPartition errors: OPERATION_NOT_ATTEMPTED and INELIGIBLE_REPLICA drop the
 *   proposal (back to the committed ISR); INVALID_UPDATE_VERSION, FENCED_LEADER_EPOCH,
 *   UNKNOWN_TOPIC_OR_PARTITION, NEW_LEADER_ELECTED and the rest keep it pending until a
 *   newer metadata image (applyMetadata) settles the state; a transport failure,
 *   NOT_CONTROLLER or REQUEST_TIMED_OUT makes it sendable again.
 */
import type {
  AlterPartitionRequestBrokerState,
  AlterPartitionRequestPartitionData,
} from '../protocol/generated/alter-partition-request.ts';
import type { AlterPartitionResponsePartitionData } from '../protocol/generated/alter-partition-response.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { FetchResponsePartitionData } from '../protocol/generated/fetch-response.ts';
import type { ReplicationLog } from './log.ts';

/** replica.lag.time.max.ms default (Kafka 2.5+). */
export const DEFAULT_REPLICA_LAG_TIME_MAX_MS = 30_000;

/** What the leader knows of one follower, from its fetches. */
export interface FollowerReplicaState {
  readonly brokerId: number;
  /** -1 until the follower fetched in this leader epoch. */
  logEndOffset: number;
  logStartOffset: number;
  lastFetchTimeMs: number;
  /** The leader's LEO when the follower's last fetch was served (-1 before the first). */
  lastFetchLeaderLogEndOffset: number;
  /** -Infinity when never caught up (a follower outside the ISR at election). */
  lastCaughtUpTimeMs: number;
  /** The broker epoch the follower sent (Fetch v15+), -1 when unknown. */
  brokerEpoch: number;
}

export interface LeaderPartitionState {
  leaderEpoch: number;
  partitionEpoch: number;
  replicas: readonly number[];
  isr: readonly number[];
}

export interface LeaderStateOptions extends LeaderPartitionState {
  localId: number;
  log: ReplicationLog;
  nowMs: number;
  /** replica.lag.time.max.ms */
  replicaLagTimeMaxMs?: number;
  /** min.insync.replicas of the topic. */
  minInsyncReplicas?: number;
  /**
   * Whether a broker may join the ISR (registered, unfenced, not in controlled shutdown,
   * and, when brokerEpoch is not -1, at that epoch). Everyone by default.
   */
  isReplicaEligible?: (brokerId: number, brokerEpoch: number) => boolean;
}

/** A proposed ISR change waiting for the controller. */
interface PendingIsr {
  kind: 'expand' | 'shrink';
  isr: readonly number[];
  /** Sent and not yet answered. */
  inFlight: boolean;
  /** Answered with an error that only new metadata resolves. */
  waitingForMetadata: boolean;
}

export class LeaderState {
  readonly localId: number;
  leaderEpoch: number;
  partitionEpoch: number;
  replicas: readonly number[];
  /** The committed ISR (the metadata image's, or the last AlterPartition answer's). */
  isr: readonly number[];
  /** The leader's LEO when it became leader at this epoch. */
  readonly leaderEpochStartOffset: number;
  replicaLagTimeMaxMs: number;
  minInsyncReplicas: number;
  private readonly log: ReplicationLog;
  private readonly followers = new Map<number, FollowerReplicaState>();
  private pending: PendingIsr | undefined;
  private readonly isReplicaEligible: (brokerId: number, brokerEpoch: number) => boolean;

  constructor(options: LeaderStateOptions) {
    this.localId = options.localId;
    this.log = options.log;
    this.leaderEpoch = options.leaderEpoch;
    this.partitionEpoch = options.partitionEpoch;
    this.replicas = options.replicas;
    this.isr = options.isr;
    this.leaderEpochStartOffset = options.log.logEndOffset();
    this.replicaLagTimeMaxMs = options.replicaLagTimeMaxMs ?? DEFAULT_REPLICA_LAG_TIME_MAX_MS;
    this.minInsyncReplicas = options.minInsyncReplicas ?? 1;
    this.isReplicaEligible = options.isReplicaEligible ?? (() => true);
    this.resetFollowers(options.nowMs);
  }

  /** Followers in the ISR start caught up "now" (not shrunk at once); the others never were. */
  private resetFollowers(nowMs: number): void {
    for (const id of this.replicas) {
      if (id === this.localId || this.followers.has(id)) continue;
      this.followers.set(id, {
        brokerId: id,
        logEndOffset: -1,
        logStartOffset: -1,
        lastFetchTimeMs: 0,
        lastFetchLeaderLogEndOffset: -1,
        lastCaughtUpTimeMs: this.isr.includes(id) ? nowMs : Number.NEGATIVE_INFINITY,
        brokerEpoch: -1,
      });
    }
    for (const id of [...this.followers.keys()]) if (!this.replicas.includes(id)) this.followers.delete(id);
  }

  follower(brokerId: number): Readonly<FollowerReplicaState> | undefined {
    return this.followers.get(brokerId);
  }

  isReplica(brokerId: number): boolean {
    return this.followers.has(brokerId);
  }

  /** The ISR that counts for the high watermark: committed plus any proposed addition. */
  maximalIsr(): readonly number[] {
    const p = this.pending;
    if (p === undefined || p.kind === 'shrink') return this.isr;
    return [...new Set([...this.isr, ...p.isr])];
  }

  /** The proposed ISR while an AlterPartition is pending, else undefined. */
  pendingIsr(): readonly number[] | undefined {
    return this.pending?.isr;
  }

  /**
   * A newer image for this partition at the same leader epoch (ISR committed by the
   * controller, replicas reassigned, config). Older partition epochs are ignored.
   */
  applyMetadata(state: LeaderPartitionState, nowMs: number): void {
    if (state.leaderEpoch !== this.leaderEpoch) throw new Error('a new leader epoch needs a new LeaderState');
    if (state.partitionEpoch < this.partitionEpoch) return;
    if (state.partitionEpoch > this.partitionEpoch) this.pending = undefined;
    this.partitionEpoch = state.partitionEpoch;
    this.replicas = state.replicas;
    this.isr = state.isr;
    this.resetFollowers(nowMs);
  }

  /**
   * A follower fetch at `fetchOffset` (its LEO), served when the leader's LEO was
   * `leaderLogEndOffset`. Returns whether the high watermark moved; may propose an ISR
   * expansion (see takeAlterPartition).
   */
  updateFollowerFetchState(
    brokerId: number,
    fetch: { fetchOffset: number; logStartOffset?: number; brokerEpoch?: number; leaderLogEndOffset?: number },
    nowMs: number,
  ): boolean {
    const f = this.followers.get(brokerId);
    if (f === undefined) return false;
    const leaderEnd = fetch.leaderLogEndOffset ?? this.log.logEndOffset();
    if (fetch.fetchOffset >= leaderEnd) f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, nowMs);
    else if (f.lastFetchLeaderLogEndOffset >= 0 && fetch.fetchOffset >= f.lastFetchLeaderLogEndOffset) {
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs);
    }
    const moved = f.logEndOffset !== fetch.fetchOffset;
    f.logEndOffset = fetch.fetchOffset;
    f.logStartOffset = fetch.logStartOffset ?? f.logStartOffset;
    f.lastFetchLeaderLogEndOffset = leaderEnd;
    f.lastFetchTimeMs = nowMs;
    if (fetch.brokerEpoch !== undefined && fetch.brokerEpoch >= 0) f.brokerEpoch = fetch.brokerEpoch;
    this.maybeExpandIsr(f);
    return moved ? this.maybeIncrementHighWatermark(nowMs) : false;
  }

  private isCaughtUp(f: FollowerReplicaState, leaderEnd: number, nowMs: number): boolean {
    if (f.logEndOffset < 0 && !this.isr.includes(f.brokerId)) return false;
    return f.logEndOffset === leaderEnd || nowMs - f.lastCaughtUpTimeMs <= this.replicaLagTimeMaxMs;
  }

  private maybeExpandIsr(f: FollowerReplicaState): void {
    if (this.pending !== undefined || this.isr.includes(f.brokerId)) return;
    if (f.logEndOffset < this.log.highWatermark() || f.logEndOffset < this.leaderEpochStartOffset) return;
    if (!this.isReplicaEligible(f.brokerId, f.brokerEpoch)) return;
    this.pending = {
      kind: 'expand',
      isr: [...this.isr, f.brokerId],
      inFlight: false,
      waitingForMetadata: false,
    };
  }

  /** Followers of the committed ISR that fell out of sync at `nowMs`. */
  outOfSyncReplicas(nowMs: number): number[] {
    const leaderEnd = this.log.logEndOffset();
    const out: number[] = [];
    for (const id of this.isr) {
      const f = this.followers.get(id);
      if (f !== undefined && !this.isCaughtUp(f, leaderEnd, nowMs)) out.push(id);
    }
    return out;
  }

  /** Proposes dropping out-of-sync followers (when nothing is pending). Returns whether it did. */
  maybeShrinkIsr(nowMs: number): boolean {
    if (this.pending !== undefined) return false;
    const out = this.outOfSyncReplicas(nowMs);
    if (out.length === 0) return false;
    this.pending = {
      kind: 'shrink',
      isr: this.isr.filter((id) => !out.includes(id)),
      inFlight: false,
      waitingForMetadata: false,
    };
    return true;
  }

  /** HW = min LEO over the leader and the followers that count; moves only forward. */
  maybeIncrementHighWatermark(nowMs: number): boolean {
    const leaderEnd = this.log.logEndOffset();
    const maximal = this.maximalIsr();
    let hw = leaderEnd;
    for (const f of this.followers.values()) {
      const counts =
        maximal.includes(f.brokerId) ||
        (this.isCaughtUp(f, leaderEnd, nowMs) && this.isReplicaEligible(f.brokerId, f.brokerEpoch));
      if (counts && f.logEndOffset < hw) hw = f.logEndOffset;
    }
    const before = this.log.highWatermark();
    if (hw <= before) return false;
    return this.log.updateHighWatermark(hw) > before;
  }

  /**
   * The AlterPartition entry to send now, or undefined (nothing pending, or one in flight,
   * or waiting for metadata). Marks it in flight.
   */
  takeAlterPartition(): AlterPartitionRequestPartitionData | undefined {
    const p = this.pending;
    if (p === undefined || p.inFlight || p.waitingForMetadata) return undefined;
    p.inFlight = true;
    const newIsrWithEpochs: AlterPartitionRequestBrokerState[] = p.isr.map((id) => ({
      brokerId: id,
      brokerEpoch: BigInt(id === this.localId ? -1 : (this.followers.get(id)?.brokerEpoch ?? -1)),
    }));
    return {
      partitionIndex: -1, // filled in by the caller, which knows the partition
      leaderEpoch: this.leaderEpoch,
      newIsr: [...p.isr],
      newIsrWithEpochs,
      leaderRecoveryState: 0,
      partitionEpoch: this.partitionEpoch,
    };
  }

  /** Whether a proposal is waiting to be sent (not in flight, not waiting for metadata). */
  hasSendableAlterPartition(): boolean {
    const p = this.pending;
    return p !== undefined && !p.inFlight && !p.waitingForMetadata;
  }

  /** The request carrying the proposal never got an answer: it may be sent again. */
  onAlterPartitionFailed(): void {
    if (this.pending !== undefined) this.pending.inFlight = false;
  }

  /**
   * The controller's answer for this partition. Returns true when the committed ISR
   * changed (the high watermark may then move: the caller runs maybeIncrementHighWatermark).
   */
  onAlterPartitionResponse(response: AlterPartitionResponsePartitionData, nowMs: number): boolean {
    const p = this.pending;
    if (p === undefined || !p.inFlight) return false;
    p.inFlight = false;
    if (response.errorCode === ErrorCode.NONE) {
      if (response.leaderEpoch !== this.leaderEpoch) {
        // Answered for another epoch: the image will bring the new state.
        p.waitingForMetadata = true;
        return false;
      }
      if (response.partitionEpoch < this.partitionEpoch) return false;
      this.pending = undefined;
      this.partitionEpoch = response.partitionEpoch;
      this.isr = response.isr;
      this.resetFollowers(nowMs);
      this.maybeIncrementHighWatermark(nowMs);
      return true;
    }
    switch (response.errorCode) {
      case ErrorCode.OPERATION_NOT_ATTEMPTED:
      case ErrorCode.INELIGIBLE_REPLICA:
        this.pending = undefined;
        return false;
      case ErrorCode.NOT_CONTROLLER:
      case ErrorCode.REQUEST_TIMED_OUT:
      case ErrorCode.NETWORK_EXCEPTION:
        // Not decided by any controller: the same proposal goes again (after a backoff).
        return false;
      default:
        p.waitingForMetadata = true;
        return false;
    }
  }

  /** acks=-1 before the append: NONE or NOT_ENOUGH_REPLICAS (committed ISR below min.insync.replicas). */
  checkEnoughReplicasForAppend(): number {
    return this.isr.length < this.minInsyncReplicas ? ErrorCode.NOT_ENOUGH_REPLICAS : ErrorCode.NONE;
  }

  /**
   * acks=-1 after the append of offsets below `requiredOffset` (the last offset + 1):
   * undefined while the high watermark is below it, then NONE or NOT_ENOUGH_REPLICAS_AFTER_APPEND.
   */
  checkEnoughReplicasReachOffset(requiredOffset: number): number | undefined {
    if (this.log.highWatermark() < requiredOffset) return undefined;
    return this.maximalIsr().length < this.minInsyncReplicas
      ? ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
      : ErrorCode.NONE;
  }

  /**
   * The divergence check of a follower fetch (KIP-320): when the follower's last fetched
   * epoch ends earlier in this log than its fetch offset, or this log does not know the
   * epoch, the answer's DivergingEpoch = (the largest epoch <= it here, where it ends).
   * undefined when the logs agree (or the follower sent no epoch).
   */
  divergingEpoch(lastFetchedEpoch: number, fetchOffset: number): { epoch: number; endOffset: number } | undefined {
    return divergingEpoch({ endOffsetForEpoch: (e) => this.endOffsetForEpoch(e) }, lastFetchedEpoch, fetchOffset);
  }

  /**
   * The log's epoch lookup, as if the current leader epoch were already in the log's epoch
   * cache starting at the log end (Kafka writes it there at election; our logs record an
   * epoch with its first batch): OffsetForLeaderEpoch and the divergence check answer the
   * same before and after the new leader's first append.
   */
  endOffsetForEpoch(epoch: number): { leaderEpoch: number; endOffset: number } {
    const latest = this.log.latestEpoch();
    if (epoch >= 0 && latest < this.leaderEpoch && epoch > latest) {
      if (epoch >= this.leaderEpoch) {
        return epoch === this.leaderEpoch
          ? { leaderEpoch: epoch, endOffset: this.log.logEndOffset() }
          : { leaderEpoch: -1, endOffset: -1 };
      }
      // Between the log's latest epoch and the current one: nothing was written in it, so
      // the latest epoch runs to the log end (nothing of the current epoch is there yet).
      // With no epoch in the log at all (a replica restarted empty at a leader's log start,
      // then elected), Kafka's cache holds only the current epoch from the log end, and an
      // older epoch is answered as ending there.
      return latest < 0
        ? { leaderEpoch: epoch, endOffset: this.log.logEndOffset() }
        : { leaderEpoch: latest, endOffset: this.log.logEndOffset() };
    }
    return this.log.endOffsetForEpoch(epoch);
  }
}

/** A follower's fetch of one partition, as the leader sees it. */
export interface FollowerFetch {
  replicaId: number;
  /** Broker epoch from ReplicaState (Fetch v15+), -1 when not sent. */
  brokerEpoch: number;
  currentLeaderEpoch: number;
  fetchOffset: number;
  lastFetchedEpoch: number;
  logStartOffset: number;
  maxBytes: number;
}

/**
 * Serves a follower's fetch on the leader: epoch fencing, the divergence check, the
 * read up to the log end offset (not capped at the high watermark), then the follower's
 * state update (which may move the high watermark). The caller wakes produce waiters and
 * parked fetches when `highWatermarkMoved`.
 */
export async function serveFollowerFetch(
  leader: LeaderState,
  log: ReplicationLog,
  fetch: FollowerFetch,
  nowMs: number,
): Promise<{ data: FetchResponsePartitionData; highWatermarkMoved: boolean }> {
  const data: FetchResponsePartitionData = {
    partitionIndex: -1,
    errorCode: ErrorCode.NONE,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    divergingEpoch: { epoch: -1, endOffset: -1n },
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1n, epoch: -1 },
    abortedTransactions: null,
    preferredReadReplica: -1,
    records: EMPTY,
  };
  let highWatermarkMoved = false;
  const finish = (): { data: FetchResponsePartitionData; highWatermarkMoved: boolean } => {
    data.highWatermark = BigInt(log.highWatermark());
    data.lastStableOffset = data.highWatermark;
    data.logStartOffset = BigInt(log.logStartOffset());
    return { data, highWatermarkMoved };
  };
  if (fetch.currentLeaderEpoch >= 0 && fetch.currentLeaderEpoch < leader.leaderEpoch) {
    data.errorCode = ErrorCode.FENCED_LEADER_EPOCH;
    return finish();
  }
  if (fetch.currentLeaderEpoch > leader.leaderEpoch) {
    data.errorCode = ErrorCode.UNKNOWN_LEADER_EPOCH;
    return finish();
  }
  if (!leader.isReplica(fetch.replicaId)) {
    data.errorCode = ErrorCode.NOT_LEADER_OR_FOLLOWER;
    return finish();
  }
  const diverging = leader.divergingEpoch(fetch.lastFetchedEpoch, fetch.fetchOffset);
  if (diverging !== undefined) {
    // No end offset is known for the follower's last fetched epoch (say, a new leader that
    // has appended nothing yet): Kafka answers OFFSET_OUT_OF_RANGE rather than a
    // DivergingEpoch of -1/-1, which the follower would ignore and keep records the leader
    // does not have.
    if (diverging.epoch < 0 || diverging.endOffset < 0) {
      data.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      return finish();
    }
    data.divergingEpoch = { epoch: diverging.epoch, endOffset: BigInt(diverging.endOffset) };
    return finish();
  }
  const leaderEnd = log.logEndOffset();
  if (fetch.fetchOffset > leaderEnd || fetch.fetchOffset < log.logStartOffset()) {
    data.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
    return finish();
  }
  if (fetch.fetchOffset < leaderEnd) {
    const read = await log.read(fetch.fetchOffset, fetch.maxBytes, { maxOffset: leaderEnd, minOneBatch: true });
    if (read.kind === 'offset-out-of-range') {
      data.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      return finish();
    }
    data.records = read.records;
  }
  highWatermarkMoved = leader.updateFollowerFetchState(
    fetch.replicaId,
    {
      fetchOffset: fetch.fetchOffset,
      logStartOffset: fetch.logStartOffset,
      brokerEpoch: fetch.brokerEpoch,
      leaderLogEndOffset: leaderEnd,
    },
    nowMs,
  );
  return finish();
}

const EMPTY = Buffer.alloc(0);

export function divergingEpoch(
  log: Pick<ReplicationLog, 'endOffsetForEpoch'>,
  lastFetchedEpoch: number,
  fetchOffset: number,
): { epoch: number; endOffset: number } | undefined {
  if (lastFetchedEpoch < 0) return undefined;
  const found = log.endOffsetForEpoch(lastFetchedEpoch);
  if (found.leaderEpoch < lastFetchedEpoch || found.endOffset < fetchOffset) {
    return { epoch: found.leaderEpoch, endOffset: found.endOffset };
  }
  return undefined;
}
