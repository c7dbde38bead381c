/**
 * The client's view of the cluster: connections per broker (reconnecting with
 * `reconnect.backoff.ms` .. `reconnect.backoff.max.ms`), and metadata (brokers, topics,
 * partition leaders) from Metadata requests, refreshed when older than `metadata.max.age.ms`,
 * when a caller reports a stale leader (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION)
 * and when a broker connection is lost.
 */

import { randomInt } from 'node:crypto';
import type { Clock } from '../env/clock.ts';
import { systemClock } from '../env/clock.ts';
import type { Random } from '../env/random.ts';
import { systemRandom } from '../env/random.ts';
import { ZERO_UUID } from '../protocol/codec/uuid.ts';
import type { RequestBody, ResponseBody } from '../protocol/frame.ts';
import { ApiKey } from '../protocol/generated/api-keys.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { MetadataResponse } from '../protocol/generated/metadata-response.ts';
import { BrokerConnection, type RequestOptions } from './connection.ts';
import { backoffMs, isRetriable, KafkaConnectionError, KafkaProtocolError, type RetryOptions } from './errors.ts';
import { parseHostPort, sleep } from './util.ts';

/** Options shared by the producer, consumer and admin (Kafka's common client configs). */
export interface CommonClientOptions {
  /** `bootstrap.servers`: `host:port` addresses to learn the cluster from. Required. */
  bootstrapServers: string[] | string;
  /** `client.id`, sent with every request. Default `"runnel"`. */
  clientId?: string;
  /** `request.timeout.ms`: how long to wait for a response. Default 30000. */
  requestTimeoutMs?: number;
  /** `socket.connection.setup.timeout.ms`. Default 10000. */
  connectionSetupTimeoutMs?: number;
  /** `metadata.max.age.ms`: metadata older than this is refreshed. Default 300000. */
  metadataMaxAgeMs?: number;
  /** `reconnect.backoff.ms`: first wait before reconnecting to a broker. Default 50. */
  reconnectBackoffMs?: number;
  /** `reconnect.backoff.max.ms`: cap of the exponential reconnect wait. Default 1000. */
  reconnectBackoffMaxMs?: number;
  /** `retries`: attempts after the first for retriable failures. Default 2147483647 (bounded by timeouts). */
  retries?: number;
  /** `retry.backoff.ms`. Default 100. */
  retryBackoffMs?: number;
  /** `retry.backoff.max.ms`. Default 1000. */
  retryBackoffMaxMs?: number;
  /** `allow.auto.create.topics`: metadata requests may create missing topics (if the broker allows). Default true. */
  allowAutoCreateTopics?: boolean;
  /** `default.api.timeout.ms`: bound on retrying one operation (metadata, admin, offsets). Default 60000. */
  defaultApiTimeoutMs?: number;
  /** Time source (tests inject one). Default the system clock. */
  clock?: Clock;
  /** Randomness (jitter, sticky partitions). Default crypto randomness. */
  random?: Random;
}

export interface PartitionMetadata {
  partition: number;
  /** Leader node id, -1 when there is none. */
  leaderId: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  errorCode: number;
}

export interface TopicMetadata {
  name: string;
  topicId: string;
  isInternal: boolean;
  /** Indexed by partition number. */
  partitions: PartitionMetadata[];
  /** `{ partition, leaderId }` per partition, for the partitioner (same order). */
  leaders: { partition: number; leaderId: number }[];
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

interface NodeState {
  conn: BrokerConnection | null;
  connecting: Promise<BrokerConnection> | null;
  failures: number;
  nextAttemptMs: number;
}

export class Cluster {
  readonly clock: Clock;
  readonly random: Random;
  readonly clientId: string;
  readonly requestTimeoutMs: number;
  readonly retry: RetryOptions;
  readonly defaultApiTimeoutMs: number;
  private readonly bootstrap: { host: string; port: number }[];
  private readonly connectTimeoutMs: number;
  private readonly metadataMaxAgeMs: number;
  private readonly reconnectBackoffMs: number;
  private readonly reconnectBackoffMaxMs: number;
  private readonly maxInFlight: number;
  private readonly nodes = new Map<number, NodeState>();
  /** Bootstrap connections get negative ids (-1, -2, ...). */
  private readonly bootstrapNodes = new Map<number, { host: string; port: number }>();
  brokers = new Map<number, BrokerInfo>();
  topics = new Map<string, TopicMetadata>();
  controllerId = -1;
  clusterId: string | null = null;
  private lastRefreshMs = Number.NEGATIVE_INFINITY;
  private stale = true;
  /** Topics the owner wants metadata for; null = every topic. */
  private readonly interest = new Set<string>();
  private wantAllTopics = false;
  private refreshing: Promise<void> | null = null;
  private closed = false;
  allowAutoTopicCreation: boolean;

  constructor(opts: CommonClientOptions, maxInFlight = 5) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? clientRandom;
    this.clientId = opts.clientId ?? 'runnel';
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30000;
    this.connectTimeoutMs = opts.connectionSetupTimeoutMs ?? 10000;
    this.metadataMaxAgeMs = opts.metadataMaxAgeMs ?? 300000;
    this.reconnectBackoffMs = opts.reconnectBackoffMs ?? 50;
    this.reconnectBackoffMaxMs = opts.reconnectBackoffMaxMs ?? 1000;
    this.retry = {
      retries: opts.retries ?? 2147483647,
      retryBackoffMs: opts.retryBackoffMs ?? 100,
      retryBackoffMaxMs: opts.retryBackoffMaxMs ?? 1000,
    };
    this.defaultApiTimeoutMs = opts.defaultApiTimeoutMs ?? 60000;
    this.allowAutoTopicCreation = opts.allowAutoCreateTopics ?? true;
    this.maxInFlight = maxInFlight;
    const servers =
      typeof opts.bootstrapServers === 'string' ? opts.bootstrapServers.split(',') : opts.bootstrapServers;
    if (servers.length === 0) throw new RangeError('bootstrap.servers is empty');
    this.bootstrap = servers.map(parseHostPort);
    this.bootstrap.forEach((b, i) => {
      this.bootstrapNodes.set(-1 - i, b);
    });
  }

  /** Adds topics to those whose metadata is kept. */
  addTopics(topics: Iterable<string>): boolean {
    let added = false;
    for (const t of topics) {
      if (!this.interest.has(t)) {
        this.interest.add(t);
        added = true;
      }
    }
    if (added) this.stale = true;
    return added;
  }

  /** Keep metadata for every topic (regex subscriptions, admin). */
  watchAllTopics(): void {
    if (!this.wantAllTopics) this.stale = true;
    this.wantAllTopics = true;
  }

  /** True when metadata should be fetched again (stale or older than `metadata.max.age.ms`). */
  get needsUpdate(): boolean {
    return this.stale || this.clock.monotonicMs() - this.lastRefreshMs >= this.metadataMaxAgeMs;
  }

  /** Marks the metadata stale: the next `ensureMetadata` refreshes it. */
  requestUpdate(): void {
    this.stale = true;
  }

  /** Refreshes metadata when stale, older than `metadata.max.age.ms`, or missing one of `topics`. */
  async ensureMetadata(topics?: Iterable<string>): Promise<void> {
    if (topics !== undefined) this.addTopics(topics);
    if (this.refreshing !== null) await this.refreshing;
    const age = this.clock.monotonicMs() - this.lastRefreshMs;
    if (this.stale || age >= this.metadataMaxAgeMs) await this.refreshMetadata();
  }

  /** Fetches metadata now (concurrent callers share one request). */
  refreshMetadata(): Promise<void> {
    if (this.refreshing !== null) {
      // A refresh in flight may have been asked before our topics were added: chain one more if stale.
      return this.refreshing.then(() => (this.stale ? this.refreshMetadata() : undefined));
    }
    this.stale = false;
    this.refreshing = this.withRetries(() => this.doRefresh()).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const conn = await this.anyConnection();
    const topics = this.wantAllTopics
      ? null
      : [...this.interest].map((name) => ({ topicId: ZERO_UUID, name }) as { topicId: string; name: string | null });
    const version = conn.versionFor(ApiKey.Metadata);
    const res = (await conn.request(ApiKey.Metadata, {
      topics: topics === null && version < 1 ? [] : topics,
      allowAutoTopicCreation: this.allowAutoTopicCreation,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    })) as MetadataResponse;
    this.applyMetadata(res);
  }

  private applyMetadata(res: MetadataResponse): void {
    const brokers = new Map<number, BrokerInfo>();
    for (const b of res.brokers) brokers.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack });
    // Brokers that left: close their connections.
    for (const [id, state] of this.nodes) {
      const now = brokers.get(id);
      const old = this.brokers.get(id);
      if (now === undefined || (old !== undefined && (old.host !== now.host || old.port !== now.port))) {
        state.conn?.close();
        this.nodes.delete(id);
      }
    }
    this.brokers = brokers;
    this.controllerId = res.controllerId;
    this.clusterId = res.clusterId;
    let retryLater = false;
    for (const t of res.topics) {
      if (t.name === null) continue;
      if (t.errorCode !== 0) {
        // Unknown or not-yet-ready topics: keep no entry; LEADER_NOT_AVAILABLE etc. ask for another look soon.
        this.topics.delete(t.name);
        if (t.errorCode === ErrorCode.LEADER_NOT_AVAILABLE) retryLater = true;
        continue;
      }
      const partitions: PartitionMetadata[] = [];
      for (const p of t.partitions) {
        partitions[p.partitionIndex] = {
          partition: p.partitionIndex,
          leaderId: p.leaderId,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
          errorCode: p.errorCode,
        };
        if (p.leaderId < 0) retryLater = true;
      }
      const leaders = partitions.map((p) => ({ partition: p.partition, leaderId: p.leaderId }));
      this.topics.set(t.name, { name: t.name, topicId: t.topicId, isInternal: t.isInternal, partitions, leaders });
    }
    if (this.wantAllTopics) {
      const names = new Set(res.topics.map((t) => t.name));
      for (const name of this.topics.keys()) if (!names.has(name)) this.topics.delete(name);
    }
    this.lastRefreshMs = this.clock.monotonicMs();
    if (retryLater) this.stale = true;
  }

  /** Leader node of a partition, or -1 when unknown. */
  leaderFor(topic: string, partition: number): number {
    return this.topics.get(topic)?.partitions[partition]?.leaderId ?? -1;
  }

  /** A connection to `nodeId`, opening one (after the reconnect backoff) if needed. */
  connection(nodeId: number): Promise<BrokerConnection> {
    if (this.closed) return Promise.reject(new KafkaConnectionError('client is closed'));
    let state = this.nodes.get(nodeId);
    if (state === undefined) {
      state = { conn: null, connecting: null, failures: 0, nextAttemptMs: 0 };
      this.nodes.set(nodeId, state);
    }
    if (state.conn !== null && !state.conn.isClosed) return Promise.resolve(state.conn);
    state.connecting ??= this.open(nodeId, state).finally(() => {
      state.connecting = null;
    });
    return state.connecting;
  }

  /** Connected now (no wait), or null. */
  connectedNode(nodeId: number): BrokerConnection | null {
    const c = this.nodes.get(nodeId)?.conn;
    return c?.isConnected ? c : null;
  }

  private async open(nodeId: number, state: NodeState): Promise<BrokerConnection> {
    const addr = nodeId >= 0 ? this.brokers.get(nodeId) : this.bootstrapNodes.get(nodeId);
    if (addr === undefined) throw new KafkaConnectionError(`unknown broker ${nodeId}`);
    const wait = state.nextAttemptMs - this.clock.monotonicMs();
    if (wait > 0) await sleep(this.clock, wait);
    const conn = new BrokerConnection({
      host: addr.host,
      port: addr.port,
      nodeId,
      clientId: this.clientId,
      requestTimeoutMs: this.requestTimeoutMs,
      connectTimeoutMs: this.connectTimeoutMs,
      maxInFlight: this.maxInFlight,
      clock: this.clock,
    });
    try {
      await conn.connect();
    } catch (e) {
      conn.close();
      state.failures++;
      state.nextAttemptMs =
        this.clock.monotonicMs() +
        backoffMs(state.failures - 1, this.reconnectBackoffMs, this.reconnectBackoffMaxMs, this.random.next());
      if (nodeId >= 0) this.stale = true;
      throw e;
    }
    if (this.closed) {
      conn.close();
      throw new KafkaConnectionError('client is closed');
    }
    state.failures = 0;
    state.conn = conn;
    conn.onClose = () => {
      if (state.conn === conn) state.conn = null;
      if (nodeId >= 0 && !this.closed) this.stale = true;
    };
    return conn;
  }

  /** Any usable connection: a connected broker, else known brokers, else the bootstrap list. */
  async anyConnection(): Promise<BrokerConnection> {
    for (const state of this.nodes.values()) if (state.conn?.isConnected) return state.conn;
    const candidates = [...this.brokers.keys(), ...this.bootstrapNodes.keys()];
    const start = candidates.length > 0 ? this.random.int(candidates.length) : 0;
    let last: unknown = new KafkaConnectionError('no broker to connect to');
    for (let i = 0; i < candidates.length; i++) {
      const id = candidates[(start + i) % candidates.length]!;
      try {
        return await this.connection(id);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  /** Sends to a node (connecting first). */
  async request<K extends number>(
    nodeId: number,
    apiKey: K,
    body: RequestBody<K>,
    opts?: RequestOptions,
  ): Promise<ResponseBody<K>> {
    const conn = await this.connection(nodeId);
    return conn.request(apiKey, body, opts);
  }

  /** Sends to any broker (admin requests without a specific target). */
  async requestAny<K extends number>(apiKey: K, body: RequestBody<K>, opts?: RequestOptions): Promise<ResponseBody<K>> {
    const conn = await this.anyConnection();
    return conn.request(apiKey, body, opts);
  }

  /**
   * Runs `fn` again on retriable errors, up to `retries` times with exponential backoff;
   * stale-metadata errors refresh metadata first. Non-retriable and unknown errors go through.
   */
  async withRetries<T>(
    fn: (attempt: number) => Promise<T>,
    signal?: AbortSignal,
    timeoutMs = this.defaultApiTimeoutMs,
  ): Promise<T> {
    const deadline = this.clock.monotonicMs() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (e) {
        if (!isRetriable(e) || attempt >= this.retry.retries || this.closed) throw e;
        if (e instanceof KafkaProtocolError && isStaleMetadataError(e.code)) this.stale = true;
        const wait = backoffMs(attempt, this.retry.retryBackoffMs, this.retry.retryBackoffMaxMs, this.random.next());
        if (this.clock.monotonicMs() + wait > deadline) throw e;
        await sleep(this.clock, wait, signal);
      }
    }
  }

  /** Closes every connection. */
  close(): void {
    this.closed = true;
    for (const state of this.nodes.values()) state.conn?.close();
    this.nodes.clear();
  }
}

/** Errors after which a partition's leader should be looked up again. */
export function isStaleMetadataError(code: number): boolean {
  return (
    code === ErrorCode.NOT_LEADER_OR_FOLLOWER ||
    code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION ||
    code === ErrorCode.LEADER_NOT_AVAILABLE ||
    code === ErrorCode.FENCED_LEADER_EPOCH ||
    code === ErrorCode.UNKNOWN_LEADER_EPOCH ||
    code === ErrorCode.NOT_COORDINATOR ||
    code === ErrorCode.KAFKA_STORAGE_ERROR ||
    code === ErrorCode.UNKNOWN_TOPIC_ID
  );
}

/** systemRandom with a `next()` inside node:crypto's randomInt range (2^48 - 1 at most). */
const clientRandom: Random = {
  next: () => randomInt(0, 2 ** 47) / 2 ** 47,
  int: (maxExclusive) => systemRandom.int(maxExclusive),
  bytes: (n) => systemRandom.bytes(n),
};
