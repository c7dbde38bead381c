/**
 * The coordinator runtime: generic over a state machine (a "shard"), one shard per
 * partition of a coordinator topic (__consumer_offsets-N for groups).
 *
 * One writer per shard: every operation on a shard runs on that shard's queue, one at a
 * time. A write operation looks at the state and returns `{ records, response }` without
 * changing it; the runtime appends the records to the shard's partition through the
 * injected CoordinatorLog. With a two-phase log (`appendPipelined`) the records are
 * replayed into the shard (`shard.replay`) as soon as they are in the leader's log and the
 * next operation runs at once; the response (and `onAppended`, on the queue) waits until
 * the records and every earlier write's are committed, so responses go out in log order.
 * A failed commit fails that operation and the later pending ones, and the shard is
 * dropped and loaded again from the log (nothing uncommitted stays in memory). A log
 * without `appendPipelined` is used serially (committed append, then replay). Reads
 * (`read`) see the latest state and wait for no commit. Loading a shard (after a restart,
 * or when this node becomes leader of the partition) is the same replay over the
 * partition's log; unloading drops the shard and its timers.
 *
 * Timers (session timeouts, rebalance timeouts, offset expiration) go through the
 * injected Clock and run as write operations on the shard's queue.
 */
import type { Clock } from '../../env/clock.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';

/** A record as stored in the coordinator topic: key and value bytes (null value = tombstone). */
export interface SerializedRecord {
  key: Buffer;
  value: Buffer | null;
}

export type LogAppendOutcome = { errorCode: 0; lastOffset: number } | { errorCode: number; lastOffset?: undefined };

/**
 * A two-phase append: resolves once the records are in the leader's log (with their
 * offsets), and `committed` resolves later with NONE once they are committed (past the
 * high watermark), or with an error code (timeout, leadership lost).
 */
export type PipelinedAppendOutcome =
  | { errorCode: 0; lastOffset: number; committed: Promise<number> }
  | { errorCode: number; lastOffset?: undefined; committed?: undefined };

/** The producer a transactional write belongs to (TxnOffsetCommit): its records stay pending until its marker. */
export interface TxnProducer {
  producerId: bigint;
  producerEpoch: number;
}

/** An end-of-transaction marker (a COMMIT or ABORT control record) for one producer. */
export interface TxnMarker extends TxnProducer {
  committed: boolean;
  coordinatorEpoch: number;
}

/** Where a runtime's records go: the partition logs of the coordinator topic. */
export interface CoordinatorLog {
  /**
   * Appends the records to `partition` as one batch; resolves once they are committed, or
   * with an error code. With `producer`, the batch is transactional (that producer's).
   */
  append(
    partition: number,
    records: readonly SerializedRecord[],
    nowMs: number,
    producer?: TxnProducer,
  ): Promise<LogAppendOutcome>;
  /**
   * Optional two-phase append. With it the runtime pipelines: it replays the records as
   * soon as they are in the log and runs the next operations while they replicate.
   */
  appendPipelined?(
    partition: number,
    records: readonly SerializedRecord[],
    nowMs: number,
    producer?: TxnProducer,
  ): Promise<PipelinedAppendOutcome>;
  /**
   * Optional: whether this node's replica of `partition` leads it at `leaderEpoch` or a later
   * epoch (-1: any) and takes no more follower appends. A broker applies a leadership change
   * asynchronously after the metadata naming it leader, so loading waits for this before it
   * reads the log (a read before could miss a follower append still landing).
   */
  isLeader?(partition: number, leaderEpoch: number): boolean;
  /** Appends a transaction marker (a control batch) to `partition`; resolves once committed. */
  appendMarker?(partition: number, marker: TxnMarker, nowMs: number): Promise<LogAppendOutcome>;
  /**
   * Calls onRecord for every record of `partition`, from its start to its committed end, in
   * order (with the producer id of a transactional batch), and onMarker for every
   * transaction marker.
   */
  readAll(
    partition: number,
    onRecord: (record: SerializedRecord, offset: number, producerId?: bigint) => void,
    onMarker?: (producerId: bigint, committed: boolean, offset: number) => void,
  ): Promise<void>;
}

/** Records of the state machine, to and from their stored form. */
export interface RecordSerde<R> {
  serialize(record: R): SerializedRecord;
  /** undefined for a record this state machine does not know (skipped while loading). */
  deserialize(record: SerializedRecord): R | undefined;
}

export interface WriteResult<R, T> {
  records: R[];
  response: T;
  /** Writes the records as this producer's transactional batch (pending until its marker). */
  producer?: TxnProducer;
  /**
   * Runs on the shard's queue right after the records were appended and replayed
   * (errorCode 0), or after the append failed (the state is unchanged). Completes
   * responses parked by earlier operations (a JoinGroup waiting for the others).
   */
  onAppended?: (errorCode: number) => void;
}

export type WriteOp<S, R, T> = (shard: S, nowMs: number) => WriteResult<R, T>;

/** What a shard is handed: its partition, the time, and timers that run as write operations. */
export interface ShardContext<S, R> {
  readonly partition: number;
  nowMs(): number;
  /** Runs `op` on the shard's queue after delayMs; replaces a timer of the same key. */
  schedule(key: string, delayMs: number, op: WriteOp<S, R, unknown>): void;
  cancel(key: string): void;
  isScheduled(key: string): boolean;
}

export interface CoordinatorShard<R> {
  /**
   * The only place durable state changes. `offset` is the record's offset in the partition;
   * `producerId` is set for a record of a transactional batch.
   */
  replay(record: R, offset: number, producerId?: bigint): void;
  /** A transaction marker of `producerId` was written (commit or abort its pending records). */
  replayEndTransaction?(producerId: bigint, committed: boolean, offset: number): void;
  /** After the log was replayed: re-arm timers (sessions, expiration). */
  onLoaded?(): void;
  /** Before the shard is dropped: answer parked requests (NOT_COORDINATOR). */
  onUnloaded?(): void;
}

export type Outcome<T> = { errorCode: 0; value: T } | { errorCode: number; value?: undefined };

export type ShardStatus = 'absent' | 'loading' | 'active';

export interface CoordinatorRuntimeOptions<S extends CoordinatorShard<R>, R> {
  clock: Clock;
  log: CoordinatorLog;
  serde: RecordSerde<R>;
  newShard(ctx: ShardContext<S, R>): S;
  /** Operations waiting on one shard before new ones get COORDINATOR_NOT_AVAILABLE. */
  maxQueuedOps?: number;
  onError?: (err: unknown, task: string) => void;
}

interface Timer {
  cancel: () => void;
}

type RunResult<T> =
  | { errorCode: 0; value: T; committed: Promise<number> }
  | { errorCode: number; value?: undefined; committed?: undefined };

class ShardHolder<S> {
  status: ShardStatus = 'loading';
  shard!: S;
  queue: Promise<void> = Promise.resolve();
  queued = 0;
  /**
   * Resolves NONE once every record written so far is committed, an error code once one
   * of them failed to commit (the shard is then reloaded). Responses wait on it, in order.
   */
  lastCommit: Promise<number> = Promise.resolve(0);
  /** Set when an uncommitted write failed: this holder's state is being dropped. */
  failed = false;
  /** Ends a load's wait for the local replica's leadership (the holder is dropped). */
  stopWaiting: (() => void) | undefined;
  readonly timers = new Map<string, Timer>();
  constructor(readonly partition: number) {}
}

/** The error codes a failed append maps to, as Kafka's coordinators answer them. */
export function appendErrorToCoordinatorError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.NONE:
      return ErrorCode.NONE;
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    default:
      return errorCode;
  }
}

export class CoordinatorRuntime<S extends CoordinatorShard<R>, R> {
  private readonly shards = new Map<number, ShardHolder<S>>();
  private readonly maxQueuedOps: number;
  private readonly reloading = new Set<number>();
  private closed = false;

  constructor(private readonly options: CoordinatorRuntimeOptions<S, R>) {
    this.maxQueuedOps = options.maxQueuedOps ?? 10_000;
  }

  status(partition: number): ShardStatus {
    return this.shards.get(partition)?.status ?? 'absent';
  }

  partitions(): number[] {
    return [...this.shards.keys()];
  }

  /**
   * Replays the partition's log into a new shard; operations get COORDINATOR_LOAD_IN_PROGRESS
   * meanwhile. With a log that tells (`isLeader`), the replay starts once the local replica
   * leads the partition at `leaderEpoch` (the metadata's; -1: any epoch).
   */
  async load(partition: number, leaderEpoch = -1): Promise<void> {
    if (this.closed || this.shards.has(partition)) return;
    const holder = new ShardHolder<S>(partition);
    holder.shard = this.options.newShard(this.contextFor(holder));
    this.shards.set(partition, holder);
    const { serde } = this.options;
    const run = holder.queue.then(async () => {
      if (!(await this.waitLeader(holder, leaderEpoch))) {
        if (this.shards.get(partition) === holder) this.shards.delete(partition);
        return;
      }
      try {
        await this.options.log.readAll(
          partition,
          (rec, offset, producerId) => {
            const record = serde.deserialize(rec);
            if (record !== undefined) holder.shard.replay(record, offset, producerId);
          },
          (producerId, committed, offset) => holder.shard.replayEndTransaction?.(producerId, committed, offset),
        );
      } catch (err) {
        this.options.onError?.(err, `loading coordinator partition ${partition}`);
        if (this.shards.get(partition) === holder) this.shards.delete(partition);
        return;
      }
      if (this.shards.get(partition) !== holder) return;
      holder.status = 'active';
      holder.shard.onLoaded?.();
    });
    holder.queue = run;
    await run;
  }

  /**
   * Resolves true once the log says this node leads the partition at `leaderEpoch` (polled,
   * backing off from 5 to 200 ms), false when the holder is dropped first.
   */
  private waitLeader(holder: ShardHolder<S>, leaderEpoch: number): Promise<boolean> {
    const { log, clock } = this.options;
    const current = () => !this.closed && this.shards.get(holder.partition) === holder;
    if (log.isLeader === undefined || !current() || log.isLeader(holder.partition, leaderEpoch)) {
      return Promise.resolve(current());
    }
    return new Promise<boolean>((resolve) => {
      let cancel = (): void => {};
      let delayMs = 5;
      const done = (ok: boolean): void => {
        cancel();
        holder.stopWaiting = undefined;
        resolve(ok);
      };
      const check = (): void => {
        if (!current()) done(false);
        else if (log.isLeader!(holder.partition, leaderEpoch)) done(true);
        else {
          cancel = clock.schedule(delayMs, check);
          delayMs = Math.min(delayMs * 2, 200);
        }
      };
      holder.stopWaiting = () => done(false);
      check();
    });
  }

  /** Drops the shard (leadership moved): timers cancelled, parked requests answered by the shard. */
  async unload(partition: number): Promise<void> {
    this.reloading.delete(partition);
    await this.drop(partition);
  }

  private async drop(partition: number): Promise<void> {
    const holder = this.shards.get(partition);
    if (holder === undefined) return;
    this.shards.delete(partition);
    holder.stopWaiting?.();
    for (const t of holder.timers.values()) t.cancel();
    holder.timers.clear();
    const wasActive = holder.status === 'active';
    holder.status = 'absent';
    await holder.queue.catch(() => {});
    if (wasActive) holder.shard.onUnloaded?.();
  }

  /**
   * Records replayed into the shard failed to commit: its state may hold writes that are
   * not in the partition, so it is dropped and loaded again from the log (unless the
   * partition is unloaded meanwhile).
   */
  private failShard(holder: ShardHolder<S>): void {
    if (holder.failed) return;
    holder.failed = true;
    const partition = holder.partition;
    if (this.shards.get(partition) !== holder || this.closed) return;
    this.reloading.add(partition);
    void (async () => {
      await this.drop(partition);
      if (!this.reloading.delete(partition) || this.closed) return;
      await this.load(partition);
    })().catch((err: unknown) => this.options.onError?.(err, `reloading coordinator partition ${partition}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.shards.keys()].map((p) => this.unload(p)));
  }

  /**
   * Runs a read-only operation on the shard's queue. It sees every earlier operation's
   * records, committed or not, and does not wait for their commit (a write operation
   * without records does).
   */
  async read<T>(partition: number, op: (shard: S, nowMs: number) => T): Promise<Outcome<T>> {
    const holder = this.shards.get(partition);
    if (holder === undefined) return { errorCode: ErrorCode.NOT_COORDINATOR };
    if (holder.status === 'loading') return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS };
    if (holder.queued >= this.maxQueuedOps) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    holder.queued++;
    let release!: () => void;
    const prev = holder.queue;
    holder.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await prev;
      if (holder.status !== 'active' || holder.failed || this.shards.get(partition) !== holder) {
        return { errorCode: ErrorCode.NOT_COORDINATOR };
      }
      return { errorCode: 0, value: op(holder.shard, this.options.clock.nowMs()) };
    } finally {
      holder.queued--;
      release();
    }
  }

  /**
   * Runs a write operation on the shard's queue: op -> append its records -> replay ->
   * next operation. The response waits until the records (and every earlier operation's)
   * are committed; onAppended then runs on the queue. A response that is a promise (a
   * parked JoinGroup) is awaited after the queue moved on.
   */
  async write<T>(partition: number, op: WriteOp<S, R, T>): Promise<Outcome<Awaited<T>>> {
    const holder = this.shards.get(partition);
    if (holder === undefined) return { errorCode: ErrorCode.NOT_COORDINATOR };
    if (holder.status === 'loading') return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS };
    if (holder.queued >= this.maxQueuedOps) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    holder.queued++;
    let release!: () => void;
    const prev = holder.queue;
    holder.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    let result: RunResult<T>;
    try {
      await prev;
      result = await this.runOp(holder, op);
    } finally {
      holder.queued--;
      release();
    }
    if (result.errorCode !== 0) return { errorCode: result.errorCode };
    const code = await (result.committed as Promise<number>);
    if (code !== 0) return { errorCode: code };
    return { errorCode: 0, value: await (result.value as T) };
  }

  /** Runs fn on the shard's queue (no limit: it completes work already admitted). */
  private enqueue(holder: ShardHolder<S>, fn: () => void): Promise<void> {
    const run = holder.queue.then(fn);
    holder.queue = run.catch((err: unknown) => this.options.onError?.(err, 'coordinator completion'));
    return holder.queue;
  }

  private async runOp<T>(holder: ShardHolder<S>, op: WriteOp<S, R, T>): Promise<RunResult<T>> {
    if (holder.status !== 'active' || holder.failed || this.shards.get(holder.partition) !== holder) {
      return { errorCode: ErrorCode.NOT_COORDINATOR };
    }
    const nowMs = this.options.clock.nowMs();
    const result = op(holder.shard, nowMs);
    if (result.records.length === 0) {
      result.onAppended?.(0);
      // No records of its own, but it may answer from earlier uncommitted ones.
      return { errorCode: 0, value: result.response, committed: holder.lastCommit };
    }
    const serialized = result.records.map((r) => this.options.serde.serialize(r));
    const { log } = this.options;
    const pipelined = log.appendPipelined !== undefined;
    let outcome: PipelinedAppendOutcome;
    try {
      if (log.appendPipelined !== undefined) {
        outcome = await log.appendPipelined(holder.partition, serialized, nowMs, result.producer);
      } else {
        const o = await log.append(holder.partition, serialized, nowMs, result.producer);
        outcome =
          o.errorCode === 0
            ? { errorCode: 0, lastOffset: o.lastOffset!, committed: Promise.resolve(0) }
            : { errorCode: o.errorCode };
      }
    } catch (err) {
      this.options.onError?.(err, `append to coordinator partition ${holder.partition}`);
      outcome = { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR };
    }
    if (outcome.errorCode !== 0 || holder.status !== 'active' || holder.failed) {
      // Not in the log (or the shard is going away): the state is as it was.
      const code = appendErrorToCoordinatorError(outcome.errorCode || ErrorCode.NOT_COORDINATOR);
      result.onAppended?.(code);
      if (outcome.errorCode === 0) this.failShard(holder);
      return { errorCode: code };
    }
    const first = outcome.lastOffset! - result.records.length + 1;
    const producerId = result.producer?.producerId;
    result.records.forEach((r, i) => {
      holder.shard.replay(r, first + i, producerId);
    });
    if (!pipelined) {
      // Already committed (and nothing earlier is pending with such a log).
      result.onAppended?.(0);
      return { errorCode: 0, value: result.response, committed: holder.lastCommit };
    }
    // Completes in log order: after every earlier write committed, then this one.
    const before = holder.lastCommit;
    const own = outcome.committed!;
    const committed = (async (): Promise<number> => {
      const earlier = await before;
      let code = earlier !== 0 ? ErrorCode.NOT_COORDINATOR : await own.catch(() => ErrorCode.UNKNOWN_SERVER_ERROR);
      if (code === 0 && (holder.failed || this.shards.get(holder.partition) !== holder)) {
        code = ErrorCode.NOT_COORDINATOR;
      }
      return code === 0 ? 0 : appendErrorToCoordinatorError(code);
    })();
    const settled = committed.then(async (code) => {
      if (code !== 0) {
        this.failShard(holder);
        result.onAppended?.(code);
        return code;
      }
      let final = 0;
      await this.enqueue(holder, () => {
        if (holder.failed || holder.status !== 'active') final = ErrorCode.NOT_COORDINATOR;
        result.onAppended?.(final);
      });
      return final;
    });
    holder.lastCommit = settled;
    return { errorCode: 0, value: result.response, committed: settled };
  }

  /**
   * Writes a transaction marker to the shard's partition on its queue and replays it
   * (the shard commits or drops that producer's pending records). NONE or an error code.
   */
  async writeMarker(partition: number, marker: TxnMarker): Promise<number> {
    const appendMarker = this.options.log.appendMarker?.bind(this.options.log);
    if (appendMarker === undefined) return ErrorCode.UNKNOWN_SERVER_ERROR;
    return this.onQueue(partition, async (holder, nowMs) => {
      let outcome: LogAppendOutcome;
      try {
        outcome = await appendMarker(partition, marker, nowMs);
      } catch (err) {
        this.options.onError?.(err, `marker to coordinator partition ${partition}`);
        outcome = { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR };
      }
      if (outcome.errorCode !== 0) return outcome.errorCode;
      if (holder.status === 'active') {
        holder.shard.replayEndTransaction?.(marker.producerId, marker.committed, outcome.lastOffset!);
      }
      return ErrorCode.NONE;
    });
  }

  /** Runs `fn` alone on the shard's queue (like a write operation); NOT_COORDINATOR when absent. */
  private async onQueue(
    partition: number,
    fn: (holder: ShardHolder<S>, nowMs: number) => Promise<number>,
  ): Promise<number> {
    const holder = this.shards.get(partition);
    if (holder === undefined) return ErrorCode.NOT_COORDINATOR;
    if (holder.status === 'loading') return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
    if (holder.queued >= this.maxQueuedOps) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    holder.queued++;
    let release!: () => void;
    const prev = holder.queue;
    holder.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await prev;
      if (holder.status !== 'active' || this.shards.get(partition) !== holder) return ErrorCode.NOT_COORDINATOR;
      return await fn(holder, this.options.clock.nowMs());
    } finally {
      holder.queued--;
      release();
    }
  }

  private contextFor(holder: ShardHolder<S>): ShardContext<S, R> {
    const { clock } = this.options;
    return {
      partition: holder.partition,
      nowMs: () => clock.nowMs(),
      schedule: (key, delayMs, op) => {
        holder.timers.get(key)?.cancel();
        const timer: Timer = { cancel: () => {} };
        timer.cancel = clock.schedule(Math.max(0, delayMs), () => {
          if (holder.timers.get(key) !== timer) return;
          holder.timers.delete(key);
          this.write(holder.partition, op).catch((err: unknown) => this.options.onError?.(err, `timer ${key}`));
        });
        holder.timers.set(key, timer);
      },
      cancel: (key) => {
        holder.timers.get(key)?.cancel();
        holder.timers.delete(key);
      },
      isScheduled: (key) => holder.timers.has(key),
    };
  }
}
