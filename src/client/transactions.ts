/**
 * The transactional side of the producer: the transaction coordinator's requests and the
 * state machine the Java client documents.
 *
 *   uninitialized --initTransactions--> ready --beginTransaction--> in-transaction
 *   in-transaction --commitTransaction--> committing --> ready
 *   in-transaction | abortable-error --abortTransaction--> aborting --> ready
 *   any --fenced, not authorized, invalid state--> fatal-error (only close() is left)
 *
 * Partitions join the transaction lazily: the sender asks `canSend(topic, partition)` before
 * draining a partition's batch; the first time, the partition waits in `pendingAdd` until an
 * AddPartitionsToTxn (one in flight at a time, every waiting partition in it) succeeds.
 * Offsets join through AddOffsetsToTxn (to the transaction coordinator) then TxnOffsetCommit
 * (to the group coordinator). EndTxn commits or aborts; a transaction that never reached the
 * coordinator ends without a request.
 *
 * Errors are sorted as the Java client sorts them. Retriable: coordinator moves and loads,
 * CONCURRENT_TRANSACTIONS, UNKNOWN_TOPIC_OR_PARTITION. Fatal (TransactionFatalError, or
 * ProducerFencedError when another producer took the transactional id over): fencing,
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING,
 * UNSUPPORTED_VERSION, INVALID_TRANSACTION_TIMEOUT. Everything else that fails a record or an
 * offset commit makes the transaction abortable (TransactionAbortableError); when it left a
 * sequence gap the abort also bumps the producer epoch (KIP-360) so sequences start again.
 */

import type { AddPartitionsToTxnResponse } from '../protocol/generated/add-partitions-to-txn-response.ts';
import { ApiKey } from '../protocol/generated/api-keys.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { TxnOffsetCommitResponse } from '../protocol/generated/txn-offset-commit-response.ts';
import type { Cluster } from './cluster.ts';
import {
  backoffMs,
  KafkaClientError,
  KafkaConnectionError,
  KafkaProtocolError,
  KafkaRequestTimeoutError,
  ProducerFencedError,
  TransactionAbortableError,
  TransactionFatalError,
  TransactionStateError,
} from './errors.ts';
import { isCoordinatorError } from './group.ts';

export type TransactionState =
  | 'uninitialized'
  | 'initializing'
  | 'ready'
  | 'in-transaction'
  | 'committing'
  | 'aborting'
  | 'abortable-error'
  | 'fatal-error';

/** What `sendOffsetsToTransaction` needs to know of the consumer's group membership. */
export interface ConsumerGroupMetadata {
  groupId: string;
  /** Generation (classic) or member epoch (KIP-848); -1 skips the broker's fencing check. */
  generationId?: number;
  memberId?: string;
  groupInstanceId?: string | null;
}

export interface TransactionOffset {
  topic: string;
  partition: number;
  /** The next offset to consume (last processed + 1). */
  offset: number;
  leaderEpoch?: number;
  metadata?: string | null;
}

/** What the transaction manager needs from the producer. */
export interface TransactionHost {
  readonly cluster: Cluster;
  idAndEpoch(): { producerId: bigint; producerEpoch: number };
  /** A new producer id or epoch: the producer restarts its sequences. */
  setProducerIdAndEpoch(producerId: bigint, producerEpoch: number): void;
  /** Wakes the sender (a partition joined the transaction). */
  scheduleRun(): void;
  /** Wakes the sender after `ms` (AddPartitionsToTxn backoff). */
  scheduleWake(ms: number): void;
}

/** Codes after which the producer is fenced for good. */
const FENCED_CODES = new Set<number>([
  ErrorCode.PRODUCER_FENCED,
  ErrorCode.INVALID_PRODUCER_EPOCH,
  ErrorCode.TRANSACTION_COORDINATOR_FENCED,
]);

/** Other codes after which the producer cannot go on. */
const FATAL_CODES = new Set<number>([
  ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
  ErrorCode.INVALID_TXN_STATE,
  ErrorCode.INVALID_PRODUCER_ID_MAPPING,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.INVALID_TRANSACTION_TIMEOUT,
  ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
  ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
]);

/** A Kafka error code as the typed error a transactional call throws. */
export function transactionError(code: number, context: string, brokerMessage?: string | null): KafkaClientError {
  if (FENCED_CODES.has(code)) return new ProducerFencedError(code, context, brokerMessage);
  return new KafkaProtocolError(code, context, brokerMessage);
}

/** True for errors after which the producer can only be closed. */
export function isFatalTransactionError(e: unknown): boolean {
  if (e instanceof ProducerFencedError || e instanceof TransactionFatalError) return true;
  return e instanceof KafkaProtocolError && (FENCED_CODES.has(e.code) || FATAL_CODES.has(e.code));
}

/** Retry of a transaction's first AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS (Java client: 20 ms). */
const ADD_PARTITIONS_CONCURRENT_RETRY_MS = 20;

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class TransactionManager {
  state: TransactionState = 'uninitialized';
  private coordinatorId = -1;
  /** Partitions the coordinator has in the current transaction. */
  private readonly added = new Set<string>();
  /** Partitions with a batch ready that wait for AddPartitionsToTxn. */
  private readonly pendingAdd = new Map<string, { topic: string; partition: number }>();
  private addInFlight = false;
  private addRetryAtMs = 0;
  private addAttempt = 0;
  /** The coordinator knows of this transaction (a partition or offsets were added). */
  private started = false;
  private abortableCause: Error | null = null;
  private fatalCause: Error | null = null;
  /** The abort must bump the epoch (a batch with a sequence failed). */
  private bumpOnAbort = false;
  private operation: Promise<void> | null = null;
  /** Bumped by every begin(): an AddPartitionsToTxn answer for an earlier transaction is ignored. */
  private generation = 0;

  constructor(
    private readonly host: TransactionHost,
    readonly transactionalId: string,
    readonly transactionTimeoutMs: number,
  ) {}

  private get cluster(): Cluster {
    return this.host.cluster;
  }

  /** Throws unless the producer may send now (inside a transaction, no error pending). */
  checkSend(): void {
    this.throwIfFatal();
    if (this.state === 'abortable-error') {
      throw new TransactionAbortableError('the transaction must be aborted', { cause: this.abortableCause });
    }
    if (this.state !== 'in-transaction') {
      throw new TransactionStateError(`send() needs beginTransaction() first (state ${this.state})`);
    }
  }

  get fatalError(): Error | null {
    return this.fatalCause;
  }

  private throwIfFatal(): void {
    if (this.fatalCause !== null) throw this.fatalCause;
  }

  private requireState(what: string, ...states: TransactionState[]): void {
    this.throwIfFatal();
    if (this.operation !== null) throw new TransactionStateError(`${what}: another transactional call is running`);
    if (!states.includes(this.state)) throw new TransactionStateError(`${what} in state ${this.state}`);
  }

  /** Marks the producer unusable. Returns the error to throw. */
  /**
   * Marks the producer unusable. Returns the error every later call throws: a
   * ProducerFencedError, or a TransactionFatalError whose `cause` is what happened.
   */
  fail(e: unknown): Error {
    if (this.fatalCause === null) {
      let err = e instanceof Error ? e : new Error(String(e));
      if (err instanceof KafkaProtocolError && !(err instanceof ProducerFencedError) && FENCED_CODES.has(err.code)) {
        err = new ProducerFencedError(err.code, err.context, err.brokerMessage);
      }
      if (!(err instanceof ProducerFencedError) && !(err instanceof TransactionFatalError)) {
        err = new TransactionFatalError(`the producer cannot go on: ${err.message}`, { cause: err });
      }
      this.fatalCause = err;
    }
    this.state = 'fatal-error';
    this.pendingAdd.clear();
    return this.fatalCause;
  }

  /** A record or offset commit failed: the transaction can only abort. */
  abortable(e: unknown, bumpEpoch = false): void {
    if (isFatalTransactionError(e)) {
      this.fail(e);
      return;
    }
    if (bumpEpoch) this.bumpOnAbort = true;
    if (this.state === 'fatal-error') return;
    if (this.abortableCause === null) this.abortableCause = e instanceof Error ? e : new Error(String(e));
    if (this.state === 'in-transaction' || this.state === 'committing') this.state = 'abortable-error';
  }

  get hasAbortableError(): boolean {
    return this.abortableCause !== null;
  }

  // ---- coordinator --------------------------------------------------------------------

  private async coordinator(): Promise<number> {
    if (this.coordinatorId >= 0) return this.coordinatorId;
    const conn = await this.cluster.anyConnection();
    const v = conn.versionFor(ApiKey.FindCoordinator);
    const res = await conn.request(ApiKey.FindCoordinator, {
      key: this.transactionalId,
      keyType: 1,
      coordinatorKeys: [this.transactionalId],
    });
    const c =
      v >= 4
        ? res.coordinators[0]
        : { nodeId: res.nodeId, host: res.host, port: res.port, errorCode: res.errorCode, errorMessage: null };
    if (c === undefined) throw new KafkaProtocolError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'FindCoordinator');
    if (c.errorCode !== 0) throw transactionError(c.errorCode, 'FindCoordinator (transaction)', c.errorMessage);
    if (!this.cluster.brokers.has(c.nodeId)) {
      this.cluster.brokers.set(c.nodeId, { nodeId: c.nodeId, host: c.host, port: c.port, rack: null });
    }
    this.coordinatorId = c.nodeId;
    return c.nodeId;
  }

  /** Runs `fn` against the transaction coordinator, finding it again after it moved, retrying what is retriable. */
  private withCoordinator<T>(fn: (node: number) => Promise<T>, timeoutMs: number): Promise<T> {
    return this.cluster.withRetries(
      async () => {
        const node = await this.coordinator();
        try {
          return await fn(node);
        } catch (e) {
          if (isMoveError(e)) this.coordinatorId = -1;
          throw e;
        }
      },
      undefined,
      timeoutMs,
    );
  }

  // ---- InitProducerId -------------------------------------------------------------------

  /** initTransactions(): a producer id and epoch for the transactional id (fencing older producers). */
  async init(timeoutMs: number): Promise<void> {
    this.requireState('initTransactions()', 'uninitialized');
    this.state = 'initializing';
    try {
      await this.run(() => this.initProducerId(false, timeoutMs));
      this.state = 'ready';
    } catch (e) {
      if (isFatalTransactionError(e)) throw this.fail(e);
      this.state = 'uninitialized';
      throw e;
    }
  }

  private async run(fn: () => Promise<void>): Promise<void> {
    const p = fn();
    this.operation = p.then(
      () => undefined,
      () => undefined,
    );
    try {
      await p;
    } finally {
      this.operation = null;
    }
  }

  /** InitProducerId with the transactional id; `bump` keeps the id and asks for the next epoch (KIP-360). */
  private async initProducerId(bump: boolean, timeoutMs: number): Promise<void> {
    await this.withCoordinator(async (node) => {
      const conn = await this.cluster.connection(node);
      const current = this.host.idAndEpoch();
      const withCurrent = bump && current.producerId >= 0n && conn.versionFor(ApiKey.InitProducerId) >= 3;
      const res = await conn.request(ApiKey.InitProducerId, {
        transactionalId: this.transactionalId,
        transactionTimeoutMs: this.transactionTimeoutMs,
        producerId: withCurrent ? current.producerId : -1n,
        producerEpoch: withCurrent ? current.producerEpoch : -1,
      });
      if (res.errorCode !== 0) throw transactionError(res.errorCode, 'InitProducerId');
      this.host.setProducerIdAndEpoch(res.producerId, res.producerEpoch);
    }, timeoutMs);
  }

  // ---- begin / partitions ---------------------------------------------------------------

  begin(): void {
    this.requireState('beginTransaction()', 'ready');
    this.state = 'in-transaction';
    this.generation++;
    this.started = false;
    this.added.clear();
    this.pendingAdd.clear();
    this.abortableCause = null;
  }

  /** Sender: may a batch for this partition go now? If not yet in the transaction, asks for it. */
  canSend(topic: string, partition: number): boolean {
    if (this.state !== 'in-transaction' && this.state !== 'committing') return false;
    const key = tpKey(topic, partition);
    if (this.added.has(key)) return true;
    this.pendingAdd.set(key, { topic, partition });
    return false;
  }

  /** Sender, after a drain: sends AddPartitionsToTxn for the waiting partitions (one request at a time). */
  addPendingPartitions(): void {
    if (this.pendingAdd.size === 0 || this.addInFlight) return;
    if (this.state !== 'in-transaction' && this.state !== 'committing') return;
    const now = this.cluster.clock.monotonicMs();
    if (this.addRetryAtMs > now) {
      this.host.scheduleWake(this.addRetryAtMs - now);
      return;
    }
    const batch = [...this.pendingAdd.entries()];
    const generation = this.generation;
    this.addInFlight = true;
    this.addPartitions(batch.map(([, tp]) => tp)).then(
      (failed) => {
        this.addInFlight = false;
        if (generation !== this.generation || (this.state !== 'in-transaction' && this.state !== 'committing')) {
          this.host.scheduleRun(); // an answer for a transaction that has ended
          return;
        }
        if (failed === null) {
          this.addAttempt = 0;
          this.started = true;
          for (const [key] of batch) {
            this.added.add(key);
            this.pendingAdd.delete(key);
          }
          this.host.scheduleRun();
          return;
        }
        this.retryAdd(failed);
      },
      (e: unknown) => {
        this.addInFlight = false;
        if (generation !== this.generation) {
          this.host.scheduleRun();
          return;
        }
        if (e instanceof KafkaClientError && e.retriable && this.fatalCause === null) {
          this.retryAdd();
          return;
        }
        this.pendingAdd.clear();
        this.abortable(e);
        this.host.scheduleRun();
      },
    );
  }

  private retryAdd(cause?: Error): void {
    const r = this.cluster.retry;
    // The previous transaction's markers are still being written: that takes milliseconds,
    // so the first AddPartitionsToTxn of a transaction retries sooner than retry.backoff.ms
    // (the Java client does the same, 20 ms).
    const concurrent =
      !this.started && cause instanceof KafkaProtocolError && cause.code === ErrorCode.CONCURRENT_TRANSACTIONS;
    const wait = concurrent
      ? Math.min(ADD_PARTITIONS_CONCURRENT_RETRY_MS, r.retryBackoffMs)
      : backoffMs(this.addAttempt++, r.retryBackoffMs, r.retryBackoffMaxMs, this.cluster.random.next());
    this.addRetryAtMs = this.cluster.clock.monotonicMs() + wait;
    this.host.scheduleWake(wait);
  }

  /** One AddPartitionsToTxn. Resolves null on success, or a retriable error; rejects otherwise. */
  private async addPartitions(tps: { topic: string; partition: number }[]): Promise<Error | null> {
    let node: number;
    try {
      node = await this.coordinator();
    } catch (e) {
      if (e instanceof KafkaClientError && e.retriable) return e;
      throw e;
    }
    const byTopic = new Map<string, number[]>();
    for (const tp of tps) {
      let l = byTopic.get(tp.topic);
      if (l === undefined) {
        l = [];
        byTopic.set(tp.topic, l);
      }
      l.push(tp.partition);
    }
    const topics = [...byTopic].map(([name, partitions]) => ({ name, partitions }));
    const { producerId, producerEpoch } = this.host.idAndEpoch();
    let res: AddPartitionsToTxnResponse;
    try {
      const conn = await this.cluster.connection(node);
      // Versions 4+ are the brokers' batched form; clients write 3 at most.
      const version = Math.min(3, conn.versionFor(ApiKey.AddPartitionsToTxn));
      res = await conn.request(
        ApiKey.AddPartitionsToTxn,
        {
          transactions: [],
          v3AndBelowTransactionalId: this.transactionalId,
          v3AndBelowProducerId: producerId,
          v3AndBelowProducerEpoch: producerEpoch,
          v3AndBelowTopics: topics,
        },
        { version },
      );
    } catch (e) {
      if (isMoveError(e)) this.coordinatorId = -1;
      if (e instanceof KafkaClientError && e.retriable) return e;
      throw e;
    }
    if (res.errorCode !== 0) throw transactionError(res.errorCode, 'AddPartitionsToTxn');
    let retriable: Error | null = null;
    let other: Error | null = null;
    for (const t of res.resultsByTopicV3AndBelow) {
      for (const p of t.resultsByPartition) {
        const code = p.partitionErrorCode;
        if (code === 0 || code === ErrorCode.OPERATION_NOT_ATTEMPTED) continue;
        const e = transactionError(code, `AddPartitionsToTxn ${t.name}-${p.partitionIndex}`);
        if (isCoordinatorError(code)) this.coordinatorId = -1;
        if (isFatalTransactionError(e)) throw e;
        if (e.retriable) retriable ??= e;
        else other ??= e;
      }
    }
    if (other !== null) throw other;
    return retriable;
  }

  // ---- offsets --------------------------------------------------------------------------

  /** AddOffsetsToTxn, then TxnOffsetCommit to the group's coordinator. */
  async sendOffsets(offsets: TransactionOffset[], group: ConsumerGroupMetadata, timeoutMs: number): Promise<void> {
    this.requireState('sendOffsetsToTransaction()', 'in-transaction');
    try {
      await this.run(async () => {
        await this.withCoordinator(async (node) => {
          const { producerId, producerEpoch } = this.host.idAndEpoch();
          const res = await this.cluster.request(node, ApiKey.AddOffsetsToTxn, {
            transactionalId: this.transactionalId,
            producerId,
            producerEpoch,
            groupId: group.groupId,
          });
          if (res.errorCode !== 0) throw transactionError(res.errorCode, 'AddOffsetsToTxn');
        }, timeoutMs);
        this.started = true;
        await this.txnOffsetCommit(offsets, group, timeoutMs);
      });
    } catch (e) {
      if (isFatalTransactionError(e)) throw this.fail(e);
      this.abortable(e);
      throw e;
    }
  }

  private async txnOffsetCommit(
    offsets: TransactionOffset[],
    group: ConsumerGroupMetadata,
    timeoutMs: number,
  ): Promise<void> {
    let groupCoordinator = -1;
    let left = offsets;
    await this.cluster.withRetries(
      async () => {
        if (groupCoordinator < 0) groupCoordinator = await this.findGroupCoordinator(group.groupId);
        const byTopic = new Map<string, TransactionOffset[]>();
        for (const o of left) {
          let l = byTopic.get(o.topic);
          if (l === undefined) {
            l = [];
            byTopic.set(o.topic, l);
          }
          l.push(o);
        }
        const { producerId, producerEpoch } = this.host.idAndEpoch();
        let res: TxnOffsetCommitResponse;
        try {
          res = await this.cluster.request(groupCoordinator, ApiKey.TxnOffsetCommit, {
            transactionalId: this.transactionalId,
            groupId: group.groupId,
            producerId,
            producerEpoch,
            generationId: group.generationId ?? -1,
            memberId: group.memberId ?? '',
            groupInstanceId: group.groupInstanceId ?? null,
            topics: [...byTopic].map(([name, list]) => ({
              name,
              partitions: list.map((o) => ({
                partitionIndex: o.partition,
                committedOffset: BigInt(o.offset),
                committedLeaderEpoch: o.leaderEpoch ?? -1,
                committedMetadata: o.metadata ?? '',
              })),
            })),
          });
        } catch (e) {
          if (isMoveError(e)) groupCoordinator = -1;
          throw e;
        }
        const failed = new Set<string>();
        let retriable: KafkaClientError | null = null;
        for (const t of res.topics) {
          for (const p of t.partitions) {
            if (p.errorCode === 0) continue;
            const e = transactionError(p.errorCode, `TxnOffsetCommit ${t.name}-${p.partitionIndex}`);
            if (isCoordinatorError(p.errorCode)) groupCoordinator = -1;
            if (!e.retriable) throw e;
            retriable ??= e;
            failed.add(tpKey(t.name, p.partitionIndex));
          }
        }
        if (retriable !== null) {
          left = left.filter((o) => failed.has(tpKey(o.topic, o.partition)));
          throw retriable;
        }
      },
      undefined,
      timeoutMs,
    );
  }

  private async findGroupCoordinator(groupId: string): Promise<number> {
    const conn = await this.cluster.anyConnection();
    const v = conn.versionFor(ApiKey.FindCoordinator);
    const res = await conn.request(ApiKey.FindCoordinator, { key: groupId, keyType: 0, coordinatorKeys: [groupId] });
    const c =
      v >= 4
        ? res.coordinators[0]
        : { nodeId: res.nodeId, host: res.host, port: res.port, errorCode: res.errorCode, errorMessage: null };
    if (c === undefined) throw new KafkaProtocolError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'FindCoordinator');
    if (c.errorCode !== 0) throw new KafkaProtocolError(c.errorCode, 'FindCoordinator (group)', c.errorMessage);
    if (!this.cluster.brokers.has(c.nodeId)) {
      this.cluster.brokers.set(c.nodeId, { nodeId: c.nodeId, host: c.host, port: c.port, rack: null });
    }
    return c.nodeId;
  }

  // ---- commit / abort -------------------------------------------------------------------

  /** Checks a commit may start; the producer flushes between this and `commit()`. */
  beginCommit(): void {
    if (this.state === 'abortable-error') {
      throw new TransactionAbortableError('the transaction cannot commit: abort it', { cause: this.abortableCause });
    }
    this.requireState('commitTransaction()', 'in-transaction', 'committing');
    this.state = 'committing';
  }

  /** EndTxn(commit) once every record of the transaction is acknowledged. */
  async commit(timeoutMs: number): Promise<void> {
    if (this.abortableCause !== null || this.state !== 'committing') {
      this.throwIfFatal();
      this.state = 'abortable-error';
      throw new TransactionAbortableError('a record of the transaction failed: abort it', {
        cause: this.abortableCause,
      });
    }
    try {
      await this.run(() => this.endTxn(true, timeoutMs));
    } catch (e) {
      if (isFatalTransactionError(e)) throw this.fail(e);
      // A retriable failure that outlived the timeout: the outcome is unknown, commit may be called again.
      this.state = e instanceof KafkaClientError && e.retriable ? 'committing' : 'abortable-error';
      if (this.state === 'abortable-error') this.abortableCause ??= e instanceof Error ? e : new Error(String(e));
      throw e;
    }
    this.finish();
  }

  /** Checks an abort may start; the producer then fails its unsent batches and waits for the rest. */
  beginAbort(): void {
    this.requireState('abortTransaction()', 'in-transaction', 'abortable-error', 'committing', 'aborting');
    this.state = 'aborting';
    this.pendingAdd.clear();
  }

  /** EndTxn(abort), then an epoch bump when a sequence gap was left behind. */
  async abort(timeoutMs: number): Promise<void> {
    try {
      await this.run(async () => {
        await this.endTxn(false, timeoutMs);
        if (this.bumpOnAbort) {
          await this.initProducerId(true, timeoutMs);
          this.bumpOnAbort = false;
        }
      });
    } catch (e) {
      if (isFatalTransactionError(e)) throw this.fail(e);
      throw e;
    }
    this.finish();
  }

  private finish(): void {
    this.state = 'ready';
    this.started = false;
    this.added.clear();
    this.pendingAdd.clear();
    this.abortableCause = null;
  }

  private async endTxn(committed: boolean, timeoutMs: number): Promise<void> {
    if (!this.started) return;
    await this.withCoordinator(async (node) => {
      const { producerId, producerEpoch } = this.host.idAndEpoch();
      const conn = await this.cluster.connection(node);
      // Version 5 is KIP-890's epoch bump on every EndTxn, which this client does not follow.
      const version = Math.min(4, conn.versionFor(ApiKey.EndTxn));
      const res = await conn.request(
        ApiKey.EndTxn,
        { transactionalId: this.transactionalId, producerId, producerEpoch, committed },
        { version },
      );
      if (res.errorCode !== 0) throw transactionError(res.errorCode, committed ? 'EndTxn(commit)' : 'EndTxn(abort)');
    }, timeoutMs);
  }
}

function isMoveError(e: unknown): boolean {
  return (
    e instanceof KafkaConnectionError ||
    e instanceof KafkaRequestTimeoutError ||
    (e instanceof KafkaProtocolError && isCoordinatorError(e.code))
  );
}
