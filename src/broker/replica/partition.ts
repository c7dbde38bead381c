/**
 * One topic-partition this node replicates: its log, its role (leader epoch, replicas,
 * ISR), its high watermark and its idempotent producer state.
 *
 * One writer: leader appends run one at a time in the partition's queue, so the
 * producer-state check, the log append and the state update happen with nothing in
 * between (Kafka holds the partition's lock across the same three steps). Reads do not
 * queue: the log serves them concurrently with appends.
 *
 * Replication (src/replication): as leader, a LeaderState tracks the followers' fetch
 * positions, the ISR and the high watermark (the smallest log end offset among the
 * ISR; with ISR = [self] it follows the log end offset after every append) and proposes
 * ISR changes (onIsrChangePending tells the replica manager, which sends AlterPartition).
 * As follower, a FollowerState says what to fetch from the leader and applies answers;
 * the replica manager's fetchers drive it. Waiters (acks=-1 produce) are resolved when
 * the high watermark passes their offset; the hook onHighWatermarkAdvanced wakes parked
 * fetches.
 */
import type { Clock } from '../../env/clock.ts';
import { StorageError } from '../../env/disk.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { FetchResponsePartitionData } from '../../protocol/generated/fetch-response.ts';
import { ATTR_CONTROL } from '../../protocol/records/batch-header.ts';
import { type BatchHeader, iterateBatches } from '../../protocol/records/index.ts';
import { type FollowerOutcome, FollowerState } from '../../replication/follower.ts';
import { LeaderState } from '../../replication/leader.ts';
import type { LogConfig } from '../../storage/config.ts';
import type { PartitionLog, ReadResult } from '../../storage/partition-log.ts';
import type { CompletedTxn } from '../producer-state/producer-state.ts';
import { type ProducerBatch, ProducerStateManager, type VerificationGuard } from '../producer-state/producer-state.ts';
import type { ProducerSnapshotStore } from '../producer-state/snapshot.ts';
import { abortedEntry, applyBatchesToState, readTxnMarker, TxnCompletions } from '../producer-state/transactions.ts';

/** The effective configuration of a partition: its log's and the produce path's. */
export interface PartitionConfig {
  log: LogConfig;
  /** max.message.bytes: the largest batch accepted (default 1048588). */
  maxMessageBytes: number;
  /** min.insync.replicas (default 1): acks=-1 needs at least this many in the ISR. */
  minInsyncReplicas: number;
  /** message.timestamp.before.max.ms: how far in the past a CreateTime may be. */
  timestampBeforeMaxMs: number;
  /** message.timestamp.after.max.ms: how far in the future a CreateTime may be. */
  timestampAfterMaxMs: number;
}

export interface PartitionRole {
  leader: number;
  leaderEpoch: number;
  replicas: readonly number[];
  isr: readonly number[];
  /** The image's partition epoch (0 when unknown). */
  partitionEpoch?: number;
}

/** The replica.* broker settings a partition uses. */
export interface PartitionReplicationSettings {
  /** replica.lag.time.max.ms (default 30000). */
  replicaLagTimeMaxMs: number;
  /** replica.fetch.backoff.ms (default 1000). */
  replicaFetchBackoffMs: number;
  /** Whether a broker may join the ISR (registered, unfenced, at that epoch when not -1). */
  isReplicaEligible?: (brokerId: number, brokerEpoch: number) => boolean;
}

export type AppendOutcome =
  | {
      kind: 'appended' | 'duplicate';
      baseOffset: number;
      lastOffset: number;
      logAppendTimeMs: number;
      logStartOffset: number;
      /** Bytes appended (0 for a duplicate). */
      bytes: number;
    }
  | { kind: 'error'; errorCode: number; message: string };

/** Appends waiting in one partition's queue before new ones are refused (REQUEST_TIMED_OUT). */
export const MAX_PENDING_APPENDS = 1024;

interface CommitWaiter {
  offset: number;
  resolve: (committed: boolean) => void;
  cancel: () => void;
}

export class Partition {
  readonly producers = new ProducerStateManager();
  /** Completed transactions whose marker the ISR may not have yet (they hold the LSO). */
  readonly txnCompletions = new TxnCompletions();
  leader = -1;
  leaderEpoch = -1;
  replicas: readonly number[] = [];
  partitionEpoch = 0;
  /** Set while this node leads the partition. */
  leaderState: LeaderState | undefined;
  /** Set while this node follows the partition (in replicas, not leader). */
  followerState: FollowerState | undefined;
  /** Called when the leader proposes an ISR change (the replica manager sends AlterPartition). */
  onIsrChangePending: ((partition: Partition) => void) | undefined;
  replication: PartitionReplicationSettings = { replicaLagTimeMaxMs: 30_000, replicaFetchBackoffMs: 1000 };
  private roleIsr: readonly number[] = [];
  /** Bytes appended since this object was created (parked fetches estimate new data with it). */
  appendedBytes = 0;
  /** Called when the high watermark moves up (the fetch purgatory listens). */
  onHighWatermarkAdvanced: ((partition: Partition) => void) | undefined;
  /** Called after a leader append that left the high watermark where it was (parked follower fetches wake). */
  onAppendedBelowHighWatermark: ((partition: Partition) => void) | undefined;

  private tail: Promise<unknown> = Promise.resolve();
  /** Operations chained on `tail` and not settled yet (0: the queue is idle). */
  private queued = 0;
  private readonly settled = (): void => {
    this.queued--;
  };
  private readonly appendSettled = (): void => {
    this.queued--;
    this.pending--;
  };
  private pending = 0;
  private commitWaiters: CommitWaiter[] = [];
  private producerStateDirty = false;
  /** Offset of the last snapshot written or loaded (-1: none). */
  private snapshotOffset = -1;
  private closed = false;

  constructor(
    readonly nodeId: number,
    readonly topic: string,
    readonly partition: number,
    public topicId: string,
    readonly log: PartitionLog,
    public config: PartitionConfig,
    private readonly clock: Clock,
    private readonly snapshots?: ProducerSnapshotStore,
  ) {}

  /** Loads producer state: the newest snapshot, then the log from there to its end. */
  async loadProducerState(): Promise<void> {
    const end = this.log.logEndOffset();
    this.txnCompletions.clear();
    let from: number | undefined;
    try {
      from = await this.snapshots?.load(this.producers, end);
      if (from !== undefined) this.snapshotOffset = from;
    } catch {
      // An unreadable snapshot directory: rebuild everything from the log.
      this.producers.clear();
    }
    from ??= this.log.logStartOffset();
    let offset = Math.max(from, this.log.logStartOffset());
    while (offset < end) {
      const read = await this.log.read(offset, 1 << 20, { maxOffset: end, minOneBatch: true });
      if (read.kind !== 'records' || read.records.length === 0) break;
      let next = offset;
      try {
        for (const { header } of iterateBatches(read.records)) next = header.baseOffset + header.lastOffsetDelta + 1;
        // Markers replayed write their aborted-index entries again (a crash may have lost them).
        const applied = applyBatchesToState(this.producers, read.records, offset, this.txnCompletions);
        await this.indexAborted(applied.aborted);
      } catch {
        break; // the log recovered its own bytes; an unreadable header ends the replay here
      }
      if (next <= offset) break;
      offset = next;
    }
    this.producers.removeBelow(this.log.logStartOffset());
  }

  isLeader(): boolean {
    return this.leader === this.nodeId;
  }

  /** The ISR: the leader's committed one, else the image's. */
  get isr(): readonly number[] {
    return this.leaderState?.isr ?? this.roleIsr;
  }

  isFollower(): boolean {
    return this.followerState !== undefined;
  }

  /**
   * Applies a new role from metadata (leader, epoch, replicas, ISR). A new leader epoch
   * here starts a new LeaderState (the high watermark carries on, never goes back); the
   * same epoch with a newer partition epoch commits the image's ISR. A follower's
   * FollowerState learns the new leader and epoch.
   */
  updateRole(role: PartitionRole): void {
    const wasLeader = this.isLeader();
    const previousEpoch = this.leaderEpoch;
    this.leader = role.leader;
    this.leaderEpoch = role.leaderEpoch;
    this.replicas = role.replicas;
    this.roleIsr = role.isr;
    this.partitionEpoch = role.partitionEpoch ?? 0;
    const nowMs = this.clock.monotonicMs();
    if (this.isLeader()) {
      this.followerState = undefined;
      const state = {
        leaderEpoch: role.leaderEpoch,
        partitionEpoch: this.partitionEpoch,
        replicas: role.replicas,
        isr: role.isr,
      };
      if (this.leaderState === undefined || !wasLeader || previousEpoch !== role.leaderEpoch) {
        this.leaderState = new LeaderState({
          ...state,
          localId: this.nodeId,
          log: this.log,
          nowMs,
          replicaLagTimeMaxMs: this.replication.replicaLagTimeMaxMs,
          minInsyncReplicas: this.config.minInsyncReplicas,
          isReplicaEligible: this.replication.isReplicaEligible,
        });
      } else {
        this.leaderState.applyMetadata(state, nowMs);
      }
      this.maybeIncrementHighWatermark();
      return;
    }
    this.leaderState = undefined;
    if (wasLeader) this.failCommitWaiters();
    if (role.replicas.includes(this.nodeId) && role.leader >= 0) {
      if (this.followerState === undefined) {
        this.followerState = new FollowerState({
          topic: this.topic,
          topicId: this.topicId,
          partition: this.partition,
          leaderId: role.leader,
          leaderEpoch: role.leaderEpoch,
          log: this.log,
          replicaFetchBackoffMs: this.replication.replicaFetchBackoffMs,
        });
      } else this.followerState.updateLeader(role.leader, role.leaderEpoch);
    } else {
      this.followerState = undefined;
    }
  }

  /**
   * Applies the leader's Fetch answer for this partition (follower role), in the
   * partition's queue: appends keep the leader's offsets and epochs and update producer
   * state; a truncation rebuilds producer state from the log.
   */
  applyFollowerFetch(
    data: FetchResponsePartitionData,
    fetchedOffset: number,
    nowMs: number,
    fetchedLeaderEpoch?: number,
  ): Promise<FollowerOutcome> {
    this.queued++;
    const run = this.tail.then(async (): Promise<FollowerOutcome> => {
      const follower = this.followerState;
      if (follower === undefined || this.closed) return { kind: 'idle', highWatermarkMoved: false };
      const outcome = await follower.handleResponse(data, fetchedOffset, nowMs, fetchedLeaderEpoch);
      if (outcome.kind === 'appended') {
        this.appendedBytes += outcome.bytes;
        await this.applyProducerBatches(data.records ?? Buffer.alloc(0), fetchedOffset);
      } else if (outcome.kind === 'truncated') {
        this.producers.clear();
        this.snapshotOffset = -1;
        await this.loadProducerState();
      }
      if ((outcome.kind === 'appended' || outcome.kind === 'idle') && outcome.highWatermarkMoved) {
        this.onHighWatermarkAdvanced?.(this);
      }
      return outcome;
    });
    this.tail = run.then(this.settled, this.settled);
    return run;
  }

  /** Follower append: the same producer-state bookkeeping as the leader's, markers included. */
  private async applyProducerBatches(records: Buffer, fromOffset: number): Promise<void> {
    let aborted: CompletedTxn[] = [];
    try {
      const applied = applyBatchesToState(this.producers, records, fromOffset, this.txnCompletions);
      if (applied.changed) this.producerStateDirty = true;
      aborted = applied.aborted;
    } catch {
      // The log accepted the bytes; a header we cannot walk leaves producer state as it is.
    }
    await this.indexAborted(aborted).catch(() => {});
  }

  /** Writes aborted transactions to the log's aborted-transaction index. */
  private async indexAborted(aborted: readonly CompletedTxn[]): Promise<void> {
    for (const t of aborted) {
      const lso = Math.min(this.producers.firstUnstableOffset() ?? t.lastOffset + 1, t.lastOffset + 1);
      await this.log.addAbortedTxn(abortedEntry(t, lso));
    }
  }

  /**
   * Resolves once the appends queued now (leader appends, follower fetch answers) are
   * done: a role change waits for it, so a follower append in flight never lands after
   * this node became leader (its epoch start would be wrong).
   */
  whenIdle(): Promise<void> {
    return this.tail.then(
      () => {},
      () => {},
    );
  }

  /** A new topic config: min.insync.replicas reaches the leader state. */
  applyConfig(config: PartitionConfig): void {
    this.config = config;
    if (this.leaderState !== undefined) this.leaderState.minInsyncReplicas = config.minInsyncReplicas;
  }

  highWatermark(): number {
    return this.log.highWatermark();
  }

  /**
   * The last stable offset: below it every transaction is decided (KIP-98). The smallest
   * first offset of an ongoing transaction, or of a completed one whose marker is not yet
   * below the high watermark, else the high watermark.
   */
  lastStableOffset(): number {
    return this.txnCompletions.lastStableOffset(this.producers, this.log.highWatermark());
  }

  /** Records a follower's fetch position (replication); may move the high watermark. */
  updateFollowerFetchState(replicaId: number, logEndOffset: number, brokerEpoch = -1): void {
    const leader = this.leaderState;
    if (leader === undefined) return;
    const moved = leader.updateFollowerFetchState(
      replicaId,
      { fetchOffset: logEndOffset, brokerEpoch },
      this.clock.monotonicMs(),
    );
    if (moved) this.highWatermarkAdvanced();
    this.checkIsrChange();
  }

  /** HW = min LEO over the ISR (the leader's own LEO included). Returns true when it moved. */
  maybeIncrementHighWatermark(): boolean {
    const leader = this.leaderState;
    if (leader === undefined || !this.isLeader()) return false;
    if (!leader.maybeIncrementHighWatermark(this.clock.monotonicMs())) return false;
    this.highWatermarkAdvanced();
    return true;
  }

  /** Wakes acks=-1 waiters and parked fetches after the high watermark moved up. */
  highWatermarkAdvanced(): void {
    this.resolveCommitWaiters(this.log.highWatermark());
    this.onHighWatermarkAdvanced?.(this);
  }

  /** Tells the replica manager when the leader has an ISR change to send. */
  checkIsrChange(): void {
    if (this.leaderState?.pendingIsr() !== undefined) this.onIsrChangePending?.(this);
  }

  /** The ISR expiration task: proposes dropping followers that fell behind. */
  maybeShrinkIsr(): void {
    if (this.leaderState?.maybeShrinkIsr(this.clock.monotonicMs())) this.checkIsrChange();
  }

  /**
   * Leader append of validated batches (`headers` are theirs, in order): producer-state
   * check, log append (offsets assigned in place), producer-state update.
   * `verificationGuard`: set when transaction verification is on (KIP-890, see
   * producer-state.ts); a transactional batch then needs it or an ongoing transaction.
   */
  appendAsLeader(
    batches: Buffer,
    headers: readonly BatchHeader[],
    verificationGuard?: VerificationGuard,
  ): Promise<AppendOutcome> {
    if (this.pending >= MAX_PENDING_APPENDS) {
      return Promise.resolve({
        kind: 'error',
        errorCode: ErrorCode.REQUEST_TIMED_OUT,
        message: `too many appends waiting on ${this.topic}-${this.partition}`,
      });
    }
    this.pending++;
    // An idle queue starts the append at once (the producer-state check runs before anything
    // else can queue); otherwise it waits for the operations ahead.
    const result =
      this.queued === 0
        ? this.doAppend(batches, headers, verificationGuard)
        : this.tail.then(() => this.doAppend(batches, headers, verificationGuard));
    this.queued++;
    this.tail = result.then(this.appendSettled, this.appendSettled);
    return result;
  }

  private async doAppend(
    batches: Buffer,
    headers: readonly BatchHeader[],
    verificationGuard: VerificationGuard | undefined,
  ): Promise<AppendOutcome> {
    if (this.closed) {
      return { kind: 'error', errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: 'partition closed' };
    }
    if (!this.isLeader()) {
      return { kind: 'error', errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, message: 'not the leader' };
    }
    const staged: ProducerBatch[] = [];
    let position = 0;
    for (const h of headers) {
      const at = position;
      position += h.sizeInBytes;
      if (h.producerId < 0n) continue;
      if ((h.attributes & ATTR_CONTROL) !== 0) {
        // A COMMIT/ABORT marker (WriteTxnMarkers): epoch and coordinator epoch checks only.
        const marker = readTxnMarker(batches, at);
        const check = marker && this.producers.checkMarker(h.producerId, h.producerEpoch, marker.coordinatorEpoch);
        if (check?.kind === 'error') return { kind: 'error', errorCode: check.errorCode, message: check.message };
        continue;
      }
      const check = this.producers.check(h, staged, verificationGuard);
      if (check.kind === 'error') return { kind: 'error', errorCode: check.errorCode, message: check.message };
      if (check.kind === 'duplicate') {
        const logAppendTime = this.config.log.messageTimestampType === 'LogAppendTime';
        return {
          kind: 'duplicate',
          baseOffset: check.firstOffset,
          lastOffset: check.lastOffset,
          logAppendTimeMs: logAppendTime ? check.timestampMs : -1,
          logStartOffset: this.log.logStartOffset(),
          bytes: 0,
        };
      }
      staged.push(h);
    }
    let result: Awaited<ReturnType<PartitionLog['append']>>;
    try {
      result = await this.log.append(batches, { leaderEpoch: this.leaderEpoch });
    } catch (err) {
      if (err instanceof StorageError) {
        const errorCode =
          err.kind === 'corrupt'
            ? ErrorCode.CORRUPT_MESSAGE
            : err.kind === 'closed'
              ? ErrorCode.NOT_LEADER_OR_FOLLOWER // shutting down or deleted: the client looks again
              : err.kind === 'overloaded'
                ? ErrorCode.REQUEST_TIMED_OUT
                : ErrorCode.KAFKA_STORAGE_ERROR;
        return { kind: 'error', errorCode, message: err.message };
      }
      throw err;
    }
    const aborted: CompletedTxn[] = [];
    let offset = result.baseOffset;
    position = 0;
    for (const h of headers) {
      if (h.producerId >= 0n) {
        const ts = result.logAppendTimeMs >= 0 ? result.logAppendTimeMs : h.maxTimestamp;
        if ((h.attributes & ATTR_CONTROL) === 0) this.producers.apply(h, offset, ts);
        else {
          const marker = readTxnMarker(batches, position);
          const done = marker && this.producers.completeTxn(h.producerId, h.producerEpoch, marker, offset, ts);
          if (done) {
            this.txnCompletions.add(done);
            if (done.isAborted) aborted.push(done);
          }
        }
        this.producerStateDirty = true;
      }
      offset += h.lastOffsetDelta + 1;
      position += h.sizeInBytes;
    }
    if (aborted.length > 0) {
      try {
        await this.indexAborted(aborted);
      } catch (err) {
        if (!(err instanceof StorageError)) throw err;
        return { kind: 'error', errorCode: ErrorCode.KAFKA_STORAGE_ERROR, message: err.message };
      }
    }
    this.appendedBytes += batches.length;
    if (!this.maybeIncrementHighWatermark()) this.onAppendedBelowHighWatermark?.(this);
    return {
      kind: 'appended',
      baseOffset: result.baseOffset,
      lastOffset: result.lastOffset,
      logAppendTimeMs: result.logAppendTimeMs,
      logStartOffset: result.logStartOffset,
      bytes: batches.length,
    };
  }

  /**
   * Resolves true once the high watermark is past `lastOffset` (acks=-1), false when
   * timeoutMs passes first or leadership is lost.
   */
  waitForCommit(lastOffset: number, timeoutMs: number): Promise<boolean> {
    if (this.highWatermark() > lastOffset) return Promise.resolve(true);
    // A closed partition has failed its waiters already: a late one must not wait out its timer.
    if (!this.isLeader() || this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: CommitWaiter = {
        offset: lastOffset,
        resolve,
        cancel: () => {},
      };
      waiter.cancel = this.clock.schedule(Math.max(0, timeoutMs), () => {
        this.commitWaiters = this.commitWaiters.filter((w) => w !== waiter);
        resolve(false);
      });
      this.commitWaiters.push(waiter);
    });
  }

  /** Whether the ISR is big enough for acks=-1 (NOT_ENOUGH_REPLICAS otherwise). */
  hasEnoughReplicasForAcksAll(): boolean {
    return this.isr.length >= this.config.minInsyncReplicas;
  }

  /**
   * acks=-1 once the high watermark passed `lastOffset`: NONE, or
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below min.insync.replicas meanwhile.
   */
  commitErrorCode(lastOffset: number): number {
    const leader = this.leaderState;
    if (leader === undefined) return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    return leader.checkEnoughReplicasReachOffset(lastOffset + 1) ?? ErrorCode.REQUEST_TIMED_OUT;
  }

  private resolveCommitWaiters(hw: number): void {
    if (this.commitWaiters.length === 0) return;
    const still: CommitWaiter[] = [];
    for (const w of this.commitWaiters) {
      if (hw > w.offset) {
        w.cancel();
        w.resolve(true);
      } else still.push(w);
    }
    this.commitWaiters = still;
  }

  private failCommitWaiters(): void {
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    for (const w of waiters) {
      w.cancel();
      w.resolve(false);
    }
  }

  /**
   * Consumer or follower read. Consumers read below the high watermark (read_committed:
   * below the last stable offset); followers (replication) read to the log end.
   */
  read(
    fetchOffset: number,
    maxBytes: number,
    options: { isolationLevel: number; minOneBatch: boolean; follower?: boolean },
  ): Promise<ReadResult> {
    const maxOffset = options.follower
      ? this.log.logEndOffset()
      : options.isolationLevel === 1
        ? this.lastStableOffset()
        : this.highWatermark();
    return this.log.read(fetchOffset, maxBytes, { maxOffset, minOneBatch: options.minOneBatch });
  }

  /** DeleteRecords: moves the log start offset (producer state below it is dropped). */
  async deleteRecordsBefore(offset: number): Promise<{ errorCode: number; lowWatermark: number }> {
    const result = await this.log.deleteRecordsBefore(offset);
    if (result.kind === 'offset-out-of-range') {
      return { errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: result.lowWatermark };
    }
    this.producers.removeBelow(result.lowWatermark);
    return { errorCode: ErrorCode.NONE, lowWatermark: result.lowWatermark };
  }

  /**
   * Writes a producer state snapshot at the log end offset when the state changed or the
   * log grew since the last one: the snapshot's offset also bounds how much log a restart
   * after a crash replays (an empty state is worth writing for that alone).
   */
  snapshotProducerState(force = false): Promise<void> {
    const store = this.snapshots;
    const stale = (): boolean => this.producerStateDirty || this.log.logEndOffset() !== this.snapshotOffset;
    if (store === undefined || (!force && !stale())) return Promise.resolve();
    this.queued++;
    const run = this.tail.then(async () => {
      if (!force && !stale()) return;
      this.producerStateDirty = false;
      const offset = this.log.logEndOffset();
      await store.write(this.producers, offset);
      this.snapshotOffset = offset;
    });
    this.tail = run.then(this.settled, this.settled);
    return run;
  }

  /** Stops appends (waiting for those queued), snapshots producer state, fails commit waiters. */
  async close(): Promise<void> {
    await this.snapshotProducerState(true).catch(() => {});
    this.closed = true;
    await this.tail.catch(() => {});
    this.failCommitWaiters();
  }

  /** Refuses further appends without waiting (deleted partitions, shutdown on error). */
  abandon(): void {
    this.closed = true;
    this.failCommitWaiters();
  }
}
