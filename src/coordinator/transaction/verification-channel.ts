/**
 * The partition leader's side of KIP-890 part 1 (Kafka's AddPartitionsToTxnManager): asks
 * the transaction coordinator of a transactional id whether partitions are in the
 * producer's ongoing transaction, with AddPartitionsToTxn v4+ `verifyOnly` requests sent
 * broker to broker.
 *
 * The coordinator is the leader of the id's `__transaction_state` partition in the
 * current metadata image (COORDINATOR_NOT_AVAILABLE when there is none). Requests are
 * batched per coordinator node: at most one request per node is in flight; what arrives
 * meanwhile (and what arrives in the same tick, so the partitions of one Produce request
 * travel together) waits in that node's queue and goes out in the next request.
 *
 * One entry per transactional id in a queue. A second ask for the same id joins the
 * entry when producer id and epoch match; otherwise the lower epoch is answered
 * INVALID_PRODUCER_EPOCH (it is fenced) and a same-epoch mismatch the older one
 * NETWORK_EXCEPTION (retriable), as Kafka does.
 *
 * Answers are per partition, the coordinator's codes with Kafka's adjustments:
 * PRODUCER_FENCED -> INVALID_PRODUCER_EPOCH (what producers expect on produce),
 * TRANSACTION_ABORTABLE and CLUSTER_AUTHORIZATION_FAILED -> INVALID_TXN_STATE, a lost
 * connection or a timeout -> NETWORK_EXCEPTION. Mapping those to produce errors is the
 * caller's (broker/txn-verification.ts).
 *
 * Bounded: `maxQueuedTxns` transactional ids per node queue (NETWORK_EXCEPTION beyond);
 * each request is bounded by the sender's request timeout.
 */
import type { MetadataCache } from '../../metadata/cache.ts';
import type { AddPartitionsToTxnRequest } from '../../protocol/generated/add-partitions-to-txn-request.ts';
import type { AddPartitionsToTxnResponse } from '../../protocol/generated/add-partitions-to-txn-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { TopicPartitionRef } from './shard.ts';

/** One coordinator node's end: sends AddPartitionsToTxn (v4+) and resolves with its answer. */
export interface VerificationSender {
  addPartitionsToTxn(request: AddPartitionsToTxnRequest): Promise<AddPartitionsToTxnResponse>;
}

export interface TxnVerificationChannelOptions {
  metadata: MetadataCache;
  /** The `__transaction_state` topic name and the partition of a transactional id. */
  topic: string;
  partitionFor: (transactionalId: string) => number;
  /** A sender to a node (undefined: the node is unknown or has no endpoint). */
  senderFor: (nodeId: number) => VerificationSender | undefined;
  /** Called when a request to a node failed on the network (the caller may drop its connection). */
  onNetworkError?: (nodeId: number) => void;
  /** Transactional ids waiting per node before new ones are refused (default 10,000). */
  maxQueuedTxns?: number;
}

interface Waiter {
  keys: string[];
  resolve: (codes: number[]) => void;
}

interface PendingTxn {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  partitions: Map<string, TopicPartitionRef>;
  waiters: Waiter[];
}

function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function answer(txn: PendingTxn, codeOf: (key: string) => number): void {
  for (const w of txn.waiters) w.resolve(w.keys.map(codeOf));
}

export class TxnVerificationChannel {
  private readonly queues = new Map<number, Map<string, PendingTxn>>();
  private readonly inFlight = new Set<number>();
  private readonly flushScheduled = new Set<number>();
  private readonly maxQueuedTxns: number;
  private closed = false;

  constructor(private readonly options: TxnVerificationChannelOptions) {
    this.maxQueuedTxns = options.maxQueuedTxns ?? 10_000;
  }

  /** Transactional ids waiting or in flight (tests, bounds). */
  get queuedTxns(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.size;
    return n;
  }

  /**
   * Whether each partition is in the producer's ongoing transaction, by the coordinator:
   * one code per partition, in order (see the file comment).
   */
  verify(
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly TopicPartitionRef[],
  ): Promise<number[]> {
    const every = (code: number): Promise<number[]> => Promise.resolve(partitions.map(() => code));
    if (this.closed) return every(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    const node = this.coordinatorNode(transactionalId);
    if (node < 0) return every(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    let queue = this.queues.get(node);
    if (queue === undefined) {
      queue = new Map();
      this.queues.set(node, queue);
    }
    let txn = queue.get(transactionalId);
    if (txn !== undefined && (txn.producerId !== producerId || txn.producerEpoch !== producerEpoch)) {
      if (producerEpoch < txn.producerEpoch) return every(ErrorCode.INVALID_PRODUCER_EPOCH);
      const older = txn;
      answer(
        older,
        older.producerEpoch < producerEpoch
          ? () => ErrorCode.INVALID_PRODUCER_EPOCH
          : () => ErrorCode.NETWORK_EXCEPTION,
      );
      queue.delete(transactionalId);
      txn = undefined;
    }
    if (txn === undefined) {
      if (queue.size >= this.maxQueuedTxns) return every(ErrorCode.NETWORK_EXCEPTION);
      txn = { transactionalId, producerId, producerEpoch, partitions: new Map(), waiters: [] };
      queue.set(transactionalId, txn);
    }
    const keys: string[] = [];
    for (const tp of partitions) {
      const k = keyOf(tp.topic, tp.partition);
      txn.partitions.set(k, tp);
      keys.push(k);
    }
    const pending = txn;
    const result = new Promise<number[]>((resolve) => {
      pending.waiters.push({ keys, resolve });
    });
    this.scheduleFlush(node);
    return result;
  }

  /** The leader of the id's `__transaction_state` partition, or -1. */
  private coordinatorNode(transactionalId: string): number {
    const image = this.options.metadata.image();
    const p = image.topicsByName.get(this.options.topic)?.partitions.get(this.options.partitionFor(transactionalId));
    if (p === undefined || p.leader < 0 || !image.brokers.has(p.leader)) return -1;
    return p.leader;
  }

  private scheduleFlush(node: number): void {
    if (this.inFlight.has(node) || this.flushScheduled.has(node)) return;
    this.flushScheduled.add(node);
    // After the current tick: the partitions of one Produce request go in one request.
    queueMicrotask(() => {
      this.flushScheduled.delete(node);
      this.flush(node);
    });
  }

  private flush(node: number): void {
    if (this.inFlight.has(node)) return;
    const queue = this.queues.get(node);
    if (queue === undefined || queue.size === 0) return;
    this.queues.delete(node);
    const txns = [...queue.values()];
    if (this.closed) {
      for (const t of txns) answer(t, () => ErrorCode.COORDINATOR_NOT_AVAILABLE);
      return;
    }
    const sender = this.options.senderFor(node);
    if (sender === undefined) {
      for (const t of txns) answer(t, () => ErrorCode.COORDINATOR_NOT_AVAILABLE);
      return;
    }
    this.inFlight.add(node);
    const request: AddPartitionsToTxnRequest = {
      transactions: txns.map((t) => {
        const topics = new Map<string, number[]>();
        for (const tp of t.partitions.values()) {
          let list = topics.get(tp.topic);
          if (list === undefined) {
            list = [];
            topics.set(tp.topic, list);
          }
          list.push(tp.partition);
        }
        return {
          transactionalId: t.transactionalId,
          producerId: t.producerId,
          producerEpoch: t.producerEpoch,
          verifyOnly: true,
          topics: [...topics].map(([name, ps]) => ({ name, partitions: ps })),
        };
      }),
      v3AndBelowTransactionalId: '',
      v3AndBelowProducerId: -1n,
      v3AndBelowProducerEpoch: -1,
      v3AndBelowTopics: [],
    };
    sender
      .addPartitionsToTxn(request)
      .then(
        (response) => this.complete(txns, response),
        () => {
          this.options.onNetworkError?.(node);
          for (const t of txns) answer(t, () => ErrorCode.NETWORK_EXCEPTION);
        },
      )
      .finally(() => {
        this.inFlight.delete(node);
        this.scheduleFlush(node);
      });
  }

  private complete(txns: readonly PendingTxn[], response: AddPartitionsToTxnResponse): void {
    if (response.errorCode !== ErrorCode.NONE) {
      // A broker must not pass CLUSTER_AUTHORIZATION_FAILED on to a producer: not verified.
      const code =
        response.errorCode === ErrorCode.CLUSTER_AUTHORIZATION_FAILED
          ? ErrorCode.INVALID_TXN_STATE
          : response.errorCode;
      for (const t of txns) answer(t, () => code);
      return;
    }
    const byTxn = new Map(response.resultsByTransaction.map((r) => [r.transactionalId, r]));
    for (const t of txns) {
      const codes = new Map<string, number>();
      for (const topic of byTxn.get(t.transactionalId)?.topicResults ?? []) {
        for (const p of topic.resultsByPartition) {
          codes.set(keyOf(topic.name, p.partitionIndex), p.partitionErrorCode);
        }
      }
      answer(t, (k) => {
        // A partition the coordinator did not answer for is not verified.
        const code = codes.get(k) ?? ErrorCode.INVALID_TXN_STATE;
        if (code === ErrorCode.PRODUCER_FENCED) return ErrorCode.INVALID_PRODUCER_EPOCH;
        if (code === ErrorCode.TRANSACTION_ABORTABLE) return ErrorCode.INVALID_TXN_STATE;
        return code;
      });
    }
  }

  /** Answers everything waiting COORDINATOR_NOT_AVAILABLE; later asks get it at once. */
  close(): void {
    this.closed = true;
    for (const [node, queue] of this.queues) {
      if (this.inFlight.has(node)) continue; // answered when the request ends
      for (const t of queue.values()) answer(t, () => ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    for (const node of [...this.queues.keys()]) if (!this.inFlight.has(node)) this.queues.delete(node);
  }
}
