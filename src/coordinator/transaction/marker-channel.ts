/**
 * Sends a finished transaction's COMMIT/ABORT markers to the leaders of its partitions
 * (Kafka's TransactionMarkerChannelManager): the partitions are grouped by leader from
 * the current metadata image and each leader gets one WriteTxnMarkers request over the
 * network, this broker included (through its own listener), so the same path works
 * alone and in a cluster. Partitions answering an error (NOT_LEADER_OR_FOLLOWER, a
 * broker down, ...) are sent again after `retryBackoffMs`, to whoever leads them then;
 * partitions of a topic that no longer exists are dropped, as Kafka does.
 *
 * Bounded: at most `maxPendingTxns` transactions are in the channel; beyond that `send`
 * answers false at once and the coordinator tries again later.
 */
import { BrokerConnection } from '../../client/connection.ts';
import type { Clock } from '../../env/clock.ts';
import type { MetadataCache } from '../../metadata/cache.ts';
import type { AddPartitionsToTxnRequest } from '../../protocol/generated/add-partitions-to-txn-request.ts';
import type { AddPartitionsToTxnResponse } from '../../protocol/generated/add-partitions-to-txn-response.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { WriteTxnMarkersRequest } from '../../protocol/generated/write-txn-markers-request.ts';
import type { WriteTxnMarkersResponse } from '../../protocol/generated/write-txn-markers-response.ts';
import type { PreparedTxn, TopicPartitionRef } from './shard.ts';

/**
 * One broker's end of the channel (a BrokerConnection in production, a fake in tests).
 * The same connection carries the KIP-890 verification requests (verification-channel.ts).
 */
export interface MarkerSender {
  writeTxnMarkers(request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse>;
  addPartitionsToTxn?(request: AddPartitionsToTxnRequest): Promise<AddPartitionsToTxnResponse>;
  close(): void;
}

export interface TxnMarkerChannelOptions {
  clock: Clock;
  metadata: MetadataCache;
  /** The listener brokers reach each other on (inter.broker.listener.name); undefined: a broker's first. */
  listenerName?: string | undefined;
  retryBackoffMs?: number;
  requestTimeoutMs?: number;
  maxPendingTxns?: number;
  /** Opens a sender to a broker; default a BrokerConnection. */
  connect?: (node: { nodeId: number; host: string; port: number }) => MarkerSender;
  onError?: (err: unknown, task: string) => void;
}

interface SenderEntry {
  address: string;
  sender: MarkerSender;
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export class TxnMarkerChannel {
  private readonly senders = new Map<number, SenderEntry>();
  private pending = 0;
  private closed = false;
  private readonly sleepers = new Set<() => void>();
  readonly retryBackoffMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxPendingTxns: number;

  constructor(private readonly options: TxnMarkerChannelOptions) {
    this.retryBackoffMs = options.retryBackoffMs ?? 100;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxPendingTxns = options.maxPendingTxns ?? 10_000;
  }

  get pendingTxns(): number {
    return this.pending;
  }

  /**
   * Writes the markers of `txn` to every partition; resolves true once all are written
   * (or their topics deleted), false when the channel is full, closed, or `stillWanted`
   * says to stop (the coordinator lost the transaction's partition).
   */
  async send(txn: PreparedTxn, coordinatorEpoch: number, stillWanted: () => boolean = () => true): Promise<boolean> {
    if (this.closed || this.pending >= this.maxPendingTxns) return false;
    this.pending++;
    try {
      const remaining = new Map<string, TopicPartitionRef>();
      for (const tp of txn.partitions) remaining.set(key(tp.topic, tp.partition), tp);
      while (remaining.size > 0) {
        if (this.closed || !stillWanted()) return false;
        await this.round(txn, coordinatorEpoch, remaining);
        if (remaining.size > 0) await this.sleep(this.retryBackoffMs);
      }
      return !this.closed;
    } finally {
      this.pending--;
    }
  }

  /** One attempt: a request per current leader; written partitions leave `remaining`. */
  private async round(
    txn: PreparedTxn,
    coordinatorEpoch: number,
    remaining: Map<string, TopicPartitionRef>,
  ): Promise<void> {
    const image = this.options.metadata.image();
    const byLeader = new Map<number, TopicPartitionRef[]>();
    for (const [k, tp] of remaining) {
      const topic = image.topicsByName.get(tp.topic);
      const p = topic?.partitions.get(tp.partition);
      if (topic === undefined || p === undefined) {
        remaining.delete(k); // deleted topic: nothing to mark
        continue;
      }
      if (p.leader < 0) continue;
      let list = byLeader.get(p.leader);
      if (list === undefined) {
        list = [];
        byLeader.set(p.leader, list);
      }
      list.push(tp);
    }
    await Promise.all(
      [...byLeader].map(async ([leader, tps]) => {
        const sender = this.senderFor(leader);
        if (sender === undefined) return;
        const topics = new Map<string, number[]>();
        for (const tp of tps) {
          let list = topics.get(tp.topic);
          if (list === undefined) {
            list = [];
            topics.set(tp.topic, list);
          }
          list.push(tp.partition);
        }
        let response: WriteTxnMarkersResponse;
        try {
          response = await sender.writeTxnMarkers({
            markers: [
              {
                producerId: txn.producerId,
                producerEpoch: txn.producerEpoch,
                transactionResult: txn.committed,
                coordinatorEpoch,
                topics: [...topics].map(([name, partitionIndexes]) => ({ name, partitionIndexes })),
              },
            ],
          });
        } catch {
          this.dropSender(leader);
          return;
        }
        for (const m of response.markers) {
          for (const t of m.topics) {
            for (const p of t.partitions) {
              if (p.errorCode === ErrorCode.NONE) remaining.delete(key(t.name, p.partitionIndex));
            }
          }
        }
      }),
    );
  }

  /** The sender to a broker of the image (reused while its address stays), or undefined. */
  senderFor(nodeId: number): MarkerSender | undefined {
    if (this.closed) return undefined;
    const broker = this.options.metadata.image().brokers.get(nodeId);
    if (broker === undefined) return undefined;
    const endpoint =
      (this.options.listenerName !== undefined
        ? broker.endpoints.find((e) => e.name === this.options.listenerName)
        : undefined) ?? broker.endpoints[0];
    if (endpoint === undefined) return undefined;
    const address = `${endpoint.host}:${endpoint.port}`;
    const existing = this.senders.get(nodeId);
    if (existing !== undefined && existing.address === address) return existing.sender;
    existing?.sender.close();
    const node = { nodeId, host: endpoint.host, port: endpoint.port };
    const sender = this.options.connect?.(node) ?? this.connectionSender(node);
    this.senders.set(nodeId, { address, sender });
    return sender;
  }

  private connectionSender(node: { nodeId: number; host: string; port: number }): MarkerSender {
    const conn = new BrokerConnection({
      host: node.host,
      port: node.port,
      nodeId: node.nodeId,
      clientId: 'runnel-txn-markers',
      requestTimeoutMs: this.requestTimeoutMs,
      maxInFlight: 5,
      connectTimeoutMs: 10_000,
      clock: this.options.clock,
    });
    return {
      writeTxnMarkers: async (request) => {
        await conn.connect();
        return conn.request(ApiKey.WriteTxnMarkers, request);
      },
      addPartitionsToTxn: async (request) => {
        await conn.connect();
        // Broker to broker, batched: v4 and later only.
        if (conn.versionFor(ApiKey.AddPartitionsToTxn) < 4) throw new Error('AddPartitionsToTxn v4 unsupported');
        return conn.request(ApiKey.AddPartitionsToTxn, request);
      },
      close: () => conn.close(),
    };
  }

  /** Closes the connection to a broker (a request on it failed); the next use opens a new one. */
  dropSender(nodeId: number): void {
    const entry = this.senders.get(nodeId);
    if (entry === undefined) return;
    this.senders.delete(nodeId);
    entry.sender.close();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        cancel();
        resolve();
      };
      const cancel = this.options.clock.schedule(ms, wake);
      this.sleepers.add(wake);
    });
  }

  close(): void {
    this.closed = true;
    for (const wake of [...this.sleepers]) wake();
    for (const { sender } of this.senders.values()) sender.close();
    this.senders.clear();
  }
}
