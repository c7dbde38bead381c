/**
 * One shard of the transaction coordinator: the transactional ids of one
 * __transaction_state partition and their state machine (Kafka's TransactionMetadata,
 * transaction version 1 semantics: the producer epoch moves on InitProducerId and when
 * the coordinator fences or times out a transaction, not at every transaction end).
 *
 *   Empty -> Ongoing            AddPartitionsToTxn / AddOffsetsToTxn
 *   Ongoing -> PrepareCommit    EndTxn(commit)
 *   Ongoing -> PrepareAbort     EndTxn(abort), timeout (epoch + 1), InitProducerId fencing (epoch + 1)
 *   Prepare* -> Complete*       once every partition has its marker (the coordinator sends them)
 *   Empty/Complete* -> Empty    InitProducerId (epoch + 1, or a new producer id when exhausted)
 *   Empty/Complete* -> (gone)   unused for transactional.id.expiration.ms (tombstone)
 *
 * Operations return records; the state changes only in `replay`. Answers are error codes.
 */
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { TransactionLogValue } from '../../protocol/generated/transaction-log-value.ts';
import type { CoordinatorShard, ShardContext, WriteResult } from '../runtime/runtime.ts';
import type { TxnRecord } from './records.ts';

/** Kafka's TransactionState ids (the TransactionStatus byte) and names. */
export const TxnState = {
  Empty: 0,
  Ongoing: 1,
  PrepareCommit: 2,
  PrepareAbort: 3,
  CompleteCommit: 4,
  CompleteAbort: 5,
  Dead: 6,
  PrepareEpochFence: 7,
} as const;
export type TxnStateId = (typeof TxnState)[keyof typeof TxnState];

export const TXN_STATE_NAMES: readonly string[] = [
  'Empty',
  'Ongoing',
  'PrepareCommit',
  'PrepareAbort',
  'CompleteCommit',
  'CompleteAbort',
  'Dead',
  'PrepareEpochFence',
];

/** An epoch at or above this is exhausted: the next InitProducerId hands out a new producer id. */
export const MAX_PRODUCER_EPOCH = 32767;
const NO_PRODUCER_ID = -1n;
const NO_PRODUCER_EPOCH = -1;

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

export interface TxnMetadata {
  transactionalId: string;
  producerId: bigint;
  /** The producer id before the last change of id (epoch exhaustion), else -1. */
  lastProducerId: bigint;
  producerEpoch: number;
  /** The epoch before the last bump (in memory, as in Kafka): lets InitProducerId retries and KIP-360 recovery through. */
  lastProducerEpoch: number;
  txnTimeoutMs: number;
  state: TxnStateId;
  /** topic -> partitions in the transaction. */
  partitions: Map<string, Set<number>>;
  txnStartTimestampMs: number;
  txnLastUpdateTimestampMs: number;
}

export interface TxnShardConfig {
  /** transaction.max.timeout.ms */
  maxTimeoutMs: number;
  /** transactional.id.expiration.ms */
  idExpirationMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms */
  abortIntervalMs: number;
  /** transaction.remove.expired.transaction.cleanup.interval.ms */
  removeExpiredIntervalMs: number;
}

/** What a shard asks of its coordinator. */
export interface TxnShardHooks {
  /** Markers for a transaction in PrepareCommit/PrepareAbort: send them, then complete it. */
  sendMarkers(partition: number, txn: PreparedTxn): void;
}

/** A transaction whose markers are to be written. */
export interface PreparedTxn {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  committed: boolean;
  partitions: TopicPartitionRef[];
}

export type InitResult =
  | { kind: 'need-producer-id' }
  | { kind: 'done'; errorCode: number; producerId: bigint; producerEpoch: number };

export interface DescribedTxn {
  errorCode: number;
  transactionalId: string;
  transactionState: string;
  transactionTimeoutMs: number;
  transactionStartTimeMs: bigint;
  producerId: bigint;
  producerEpoch: number;
  topics: { topic: string; partitions: number[] }[];
}

export interface ListedTxn {
  transactionalId: string;
  producerId: bigint;
  transactionState: string;
}

type Op<T> = WriteResult<TxnRecord, T>;
export type TxnShardContext = ShardContext<TxnShard, TxnRecord>;

function partitionsOf(m: Map<string, Set<number>>): TopicPartitionRef[] {
  const out: TopicPartitionRef[] = [];
  for (const [topic, parts] of m) for (const partition of parts) out.push({ topic, partition });
  return out;
}

function clonePartitions(m: Map<string, Set<number>>): Map<string, Set<number>> {
  return new Map([...m].map(([t, p]) => [t, new Set(p)]));
}

export class TxnShard implements CoordinatorShard<TxnRecord> {
  readonly txns = new Map<string, TxnMetadata>();

  constructor(
    readonly ctx: TxnShardContext,
    readonly config: TxnShardConfig,
    private readonly hooks: TxnShardHooks,
  ) {}

  // ---- replay ---------------------------------------------------------------------------

  replay(record: TxnRecord): void {
    const v = record.value;
    if (v === null) {
      this.txns.delete(record.transactionalId);
      return;
    }
    const prev = this.txns.get(record.transactionalId);
    const partitions = new Map<string, Set<number>>();
    for (const t of v.transactionPartitions ?? []) partitions.set(t.topic, new Set(t.partitionIds));
    let lastProducerId = prev?.lastProducerId ?? NO_PRODUCER_ID;
    let lastProducerEpoch = prev?.lastProducerEpoch ?? NO_PRODUCER_EPOCH;
    if (prev !== undefined && (prev.producerId !== v.producerId || prev.producerEpoch !== v.producerEpoch)) {
      if (prev.producerId !== v.producerId) lastProducerId = prev.producerId;
      lastProducerEpoch = prev.producerId === v.producerId ? prev.producerEpoch : NO_PRODUCER_EPOCH;
    }
    this.txns.set(record.transactionalId, {
      transactionalId: record.transactionalId,
      producerId: v.producerId,
      lastProducerId,
      producerEpoch: v.producerEpoch,
      lastProducerEpoch,
      txnTimeoutMs: v.transactionTimeoutMs,
      state: v.transactionStatus as TxnStateId,
      partitions,
      txnStartTimestampMs: Number(v.transactionStartTimestampMs),
      txnLastUpdateTimestampMs: Number(v.transactionLastUpdateTimestampMs),
    });
  }

  onLoaded(): void {
    // Failover: transactions caught between Prepare* and Complete* get their markers again.
    for (const m of this.txns.values()) {
      if (m.state === TxnState.PrepareCommit || m.state === TxnState.PrepareAbort) {
        this.hooks.sendMarkers(this.ctx.partition, this.prepared(m));
      }
    }
    this.scheduleAbortTimedOut();
    this.scheduleRemoveExpired();
  }

  private prepared(m: TxnMetadata): PreparedTxn {
    return {
      transactionalId: m.transactionalId,
      producerId: m.producerId,
      producerEpoch: m.producerEpoch,
      committed: m.state === TxnState.PrepareCommit,
      partitions: partitionsOf(m.partitions),
    };
  }

  private record(
    transactionalId: string,
    m: {
      producerId: bigint;
      producerEpoch: number;
      txnTimeoutMs: number;
      state: TxnStateId;
      partitions: Map<string, Set<number>>;
      txnStartTimestampMs: number;
    },
    nowMs: number,
  ): TxnRecord {
    const value: TransactionLogValue = {
      producerId: m.producerId,
      previousProducerId: NO_PRODUCER_ID,
      nextProducerId: NO_PRODUCER_ID,
      producerEpoch: m.producerEpoch,
      transactionTimeoutMs: m.txnTimeoutMs,
      transactionStatus: m.state,
      transactionPartitions: [...m.partitions]
        .filter(([, p]) => p.size > 0)
        .map(([topic, p]) => ({ topic, partitionIds: [...p].sort((a, b) => a - b) })),
      transactionLastUpdateTimestampMs: BigInt(nowMs),
      transactionStartTimestampMs: BigInt(m.txnStartTimestampMs),
      clientTransactionVersion: 0,
    };
    return { transactionalId, value };
  }

  // ---- InitProducerId -------------------------------------------------------------------

  /**
   * InitProducerId with a transactional id. `newProducerId` is a fresh id from the
   * controller's blocks, handed in when an earlier call answered `need-producer-id`.
   * `expected` is the producer's current id and epoch (KIP-360, v3+), or -1/-1.
   */
  initProducerId(
    transactionalId: string,
    txnTimeoutMs: number,
    expectedProducerId: bigint,
    expectedEpoch: number,
    newProducerId: bigint | undefined,
    nowMs: number,
  ): Op<InitResult> {
    const done = (errorCode: number, producerId = -1n, producerEpoch = -1): Op<InitResult> => ({
      records: [],
      response: { kind: 'done', errorCode, producerId, producerEpoch },
    });
    if (txnTimeoutMs <= 0 || txnTimeoutMs > this.config.maxTimeoutMs) {
      return done(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    }
    const m = this.txns.get(transactionalId);
    const fresh = (producerId: bigint): Op<InitResult> => ({
      records: [
        this.record(
          transactionalId,
          {
            producerId,
            producerEpoch: 0,
            txnTimeoutMs,
            state: TxnState.Empty,
            partitions: new Map(),
            txnStartTimestampMs: -1,
          },
          nowMs,
        ),
      ],
      response: { kind: 'done', errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 },
    });
    if (m === undefined) {
      if (newProducerId === undefined) return { records: [], response: { kind: 'need-producer-id' } };
      return fresh(newProducerId);
    }
    const hasExpected = expectedProducerId >= 0n;
    if (hasExpected && expectedProducerId !== m.producerId && expectedProducerId !== m.lastProducerId) {
      return done(ErrorCode.PRODUCER_FENCED);
    }
    switch (m.state) {
      case TxnState.PrepareCommit:
      case TxnState.PrepareAbort:
      case TxnState.PrepareEpochFence:
        return done(ErrorCode.CONCURRENT_TRANSACTIONS);
      case TxnState.Ongoing: {
        // A new incarnation of the producer: fence the old one (epoch + 1) and abort its
        // transaction; the client retries once the abort completes.
        if (hasExpected && expectedEpoch !== m.producerEpoch) return done(ErrorCode.PRODUCER_FENCED);
        const epoch = m.producerEpoch < MAX_PRODUCER_EPOCH - 1 ? m.producerEpoch + 1 : m.producerEpoch;
        const prepared: TxnMetadata = { ...m, producerEpoch: epoch, state: TxnState.PrepareAbort };
        return {
          records: [this.record(transactionalId, prepared, nowMs)],
          response: { kind: 'done', errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1n, producerEpoch: -1 },
          onAppended: (code) => {
            if (code === 0) this.hooks.sendMarkers(this.ctx.partition, this.prepared(prepared));
          },
        };
      }
      case TxnState.Empty:
      case TxnState.CompleteCommit:
      case TxnState.CompleteAbort: {
        if (hasExpected) {
          const current = expectedProducerId === m.producerId && expectedEpoch === m.producerEpoch;
          const retry =
            (expectedProducerId === m.producerId && expectedEpoch === m.lastProducerEpoch) ||
            (expectedProducerId === m.lastProducerId && m.producerEpoch === 0);
          // A retry of the InitProducerId that made the current epoch (or a producer whose
          // transaction timed out, KIP-360): it gets the current id and epoch again.
          if (retry && !current) return done(ErrorCode.NONE, m.producerId, m.producerEpoch);
          if (!current) return done(ErrorCode.PRODUCER_FENCED);
        }
        if (m.producerEpoch >= MAX_PRODUCER_EPOCH - 1) {
          if (newProducerId === undefined) return { records: [], response: { kind: 'need-producer-id' } };
          return fresh(newProducerId);
        }
        const epoch = m.producerEpoch + 1;
        return {
          records: [
            this.record(
              transactionalId,
              {
                producerId: m.producerId,
                producerEpoch: epoch,
                txnTimeoutMs,
                state: TxnState.Empty,
                partitions: new Map(),
                txnStartTimestampMs: -1,
              },
              nowMs,
            ),
          ],
          response: { kind: 'done', errorCode: ErrorCode.NONE, producerId: m.producerId, producerEpoch: epoch },
        };
      }
      default:
        return done(ErrorCode.CONCURRENT_TRANSACTIONS);
    }
  }

  // ---- AddPartitionsToTxn / AddOffsetsToTxn ---------------------------------------------

  /** The error every partition of a request about this producer gets, or NONE. */
  private checkProducer(m: TxnMetadata | undefined, producerId: bigint, producerEpoch: number): number {
    if (m === undefined || m.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (producerEpoch !== m.producerEpoch) return ErrorCode.PRODUCER_FENCED;
    if (m.state === TxnState.PrepareCommit || m.state === TxnState.PrepareAbort) {
      return ErrorCode.CONCURRENT_TRANSACTIONS;
    }
    if (m.state === TxnState.Dead || m.state === TxnState.PrepareEpochFence) return ErrorCode.INVALID_TXN_STATE;
    return ErrorCode.NONE;
  }

  /** Adds partitions to the producer's transaction (it becomes Ongoing). NONE or the error for all. */
  addPartitions(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
    nowMs: number,
  ): Op<number> {
    const m = this.txns.get(transactionalId);
    const check = this.checkProducer(m, producerId, producerEpoch);
    if (check !== 0) return { records: [], response: check };
    const next = m!.state === TxnState.Ongoing ? clonePartitions(m!.partitions) : new Map<string, Set<number>>();
    let added = m!.state !== TxnState.Ongoing;
    for (const { topic, partition } of partitions) {
      let set = next.get(topic);
      if (set === undefined) {
        set = new Set();
        next.set(topic, set);
      }
      if (!set.has(partition)) {
        set.add(partition);
        added = true;
      }
    }
    if (!added) return { records: [], response: ErrorCode.NONE };
    return {
      records: [
        this.record(
          transactionalId,
          {
            ...m!,
            state: TxnState.Ongoing,
            partitions: next,
            txnStartTimestampMs: m!.state === TxnState.Ongoing ? m!.txnStartTimestampMs : nowMs,
          },
          nowMs,
        ),
      ],
      response: ErrorCode.NONE,
    };
  }

  /** AddPartitionsToTxn v4+ verifyOnly (KIP-890): per partition, is it in the producer's ongoing transaction? */
  verifyPartitions(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): number[] {
    const m = this.txns.get(transactionalId);
    const check = this.checkProducer(m, producerId, producerEpoch);
    return partitions.map(({ topic, partition }) => {
      if (check !== 0) return check;
      if (m!.state !== TxnState.Ongoing || !m!.partitions.get(topic)?.has(partition)) {
        return ErrorCode.INVALID_TXN_STATE;
      }
      return ErrorCode.NONE;
    });
  }

  // ---- EndTxn ---------------------------------------------------------------------------

  endTxn(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    committed: boolean,
    nowMs: number,
  ): Op<number> {
    const m = this.txns.get(transactionalId);
    if (m === undefined || m.producerId !== producerId) {
      return { records: [], response: ErrorCode.INVALID_PRODUCER_ID_MAPPING };
    }
    if (producerEpoch !== m.producerEpoch) return { records: [], response: ErrorCode.PRODUCER_FENCED };
    switch (m.state) {
      case TxnState.Ongoing: {
        const prepared: TxnMetadata = { ...m, state: committed ? TxnState.PrepareCommit : TxnState.PrepareAbort };
        return {
          records: [this.record(transactionalId, prepared, nowMs)],
          response: ErrorCode.NONE,
          onAppended: (code) => {
            if (code === 0) this.hooks.sendMarkers(this.ctx.partition, this.prepared(prepared));
          },
        };
      }
      case TxnState.CompleteCommit:
        return { records: [], response: committed ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE };
      case TxnState.CompleteAbort:
        return { records: [], response: committed ? ErrorCode.INVALID_TXN_STATE : ErrorCode.NONE };
      case TxnState.PrepareCommit:
        return {
          records: [],
          response: committed ? ErrorCode.CONCURRENT_TRANSACTIONS : ErrorCode.INVALID_TXN_STATE,
        };
      case TxnState.PrepareAbort:
        return {
          records: [],
          response: committed ? ErrorCode.INVALID_TXN_STATE : ErrorCode.CONCURRENT_TRANSACTIONS,
        };
      default:
        return { records: [], response: ErrorCode.INVALID_TXN_STATE };
    }
  }

  /** Every marker is written: Prepare* -> Complete* (no-op if the transaction moved on). */
  completeTransaction(txn: PreparedTxn, nowMs: number): Op<number> {
    const m = this.txns.get(txn.transactionalId);
    const expected = txn.committed ? TxnState.PrepareCommit : TxnState.PrepareAbort;
    if (m === undefined || m.state !== expected || m.producerId !== txn.producerId) {
      return { records: [], response: ErrorCode.INVALID_TXN_STATE };
    }
    if (m.producerEpoch !== txn.producerEpoch) return { records: [], response: ErrorCode.INVALID_TXN_STATE };
    return {
      records: [
        this.record(
          txn.transactionalId,
          {
            ...m,
            state: txn.committed ? TxnState.CompleteCommit : TxnState.CompleteAbort,
            partitions: new Map(),
          },
          nowMs,
        ),
      ],
      response: ErrorCode.NONE,
    };
  }

  // ---- timers ---------------------------------------------------------------------------

  private scheduleAbortTimedOut(): void {
    this.ctx.schedule('abort-timed-out', this.config.abortIntervalMs, (shard, nowMs) => {
      const op = shard.abortTimedOut(nowMs);
      shard.scheduleAbortTimedOut();
      return op;
    });
  }

  private scheduleRemoveExpired(): void {
    this.ctx.schedule('remove-expired', this.config.removeExpiredIntervalMs, (shard, nowMs) => {
      const op = shard.removeExpired(nowMs);
      shard.scheduleRemoveExpired();
      return op;
    });
  }

  /**
   * Ongoing transactions older than their timeout are aborted, with the epoch bumped so
   * that the producer that let it time out is fenced.
   */
  abortTimedOut(nowMs: number): Op<string[]> {
    const records: TxnRecord[] = [];
    const prepared: PreparedTxn[] = [];
    for (const m of this.txns.values()) {
      if (m.state !== TxnState.Ongoing || m.txnStartTimestampMs + m.txnTimeoutMs > nowMs) continue;
      const epoch = m.producerEpoch < MAX_PRODUCER_EPOCH - 1 ? m.producerEpoch + 1 : m.producerEpoch;
      const next: TxnMetadata = { ...m, producerEpoch: epoch, state: TxnState.PrepareAbort };
      records.push(this.record(m.transactionalId, next, nowMs));
      prepared.push(this.prepared(next));
    }
    return {
      records,
      response: prepared.map((p) => p.transactionalId),
      onAppended: (code) => {
        if (code === 0) for (const p of prepared) this.hooks.sendMarkers(this.ctx.partition, p);
      },
    };
  }

  /** Transactional ids idle (no transaction) for transactional.id.expiration.ms are removed. */
  removeExpired(nowMs: number): Op<string[]> {
    const records: TxnRecord[] = [];
    for (const m of this.txns.values()) {
      const idle =
        m.state === TxnState.Empty || m.state === TxnState.CompleteCommit || m.state === TxnState.CompleteAbort;
      if (idle && m.txnLastUpdateTimestampMs + this.config.idExpirationMs <= nowMs) {
        records.push({ transactionalId: m.transactionalId, value: null });
      }
    }
    return { records, response: records.map((r) => r.transactionalId) };
  }

  // ---- describe / list ------------------------------------------------------------------

  describe(transactionalId: string): DescribedTxn {
    const m = this.txns.get(transactionalId);
    if (m === undefined) {
      return {
        errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND,
        transactionalId,
        transactionState: '',
        transactionTimeoutMs: 0,
        transactionStartTimeMs: -1n,
        producerId: -1n,
        producerEpoch: -1,
        topics: [],
      };
    }
    return {
      errorCode: ErrorCode.NONE,
      transactionalId,
      transactionState: TXN_STATE_NAMES[m.state] ?? 'Unknown',
      transactionTimeoutMs: m.txnTimeoutMs,
      transactionStartTimeMs: BigInt(m.txnStartTimestampMs),
      producerId: m.producerId,
      producerEpoch: m.producerEpoch,
      topics: [...m.partitions].map(([topic, p]) => ({ topic, partitions: [...p].sort((a, b) => a - b) })),
    };
  }

  /** ListTransactions: filters are ANDed; an empty filter matches everything. durationMs < 0: no duration filter. */
  list(states: ReadonlySet<string>, producerIds: ReadonlySet<bigint>, durationMs: number, nowMs: number): ListedTxn[] {
    const out: ListedTxn[] = [];
    for (const m of this.txns.values()) {
      const name = TXN_STATE_NAMES[m.state] ?? 'Unknown';
      if (states.size > 0 && !states.has(name)) continue;
      if (producerIds.size > 0 && !producerIds.has(m.producerId)) continue;
      if (durationMs >= 0 && (m.txnStartTimestampMs < 0 || nowMs - m.txnStartTimestampMs < durationMs)) continue;
      out.push({ transactionalId: m.transactionalId, producerId: m.producerId, transactionState: name });
    }
    return out;
  }
}
