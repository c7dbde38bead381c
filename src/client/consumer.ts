/**
 * The consumer: `subscribe` (a group: classic or KIP-848) or `assign` (no group), then
 * `for await (const record of consumer)`, `poll()` or `batches()`.
 *
 * Fetching is pipelined: one Fetch in flight per leader (as in the Java client), sent again as
 * soon as the previous answer is buffered, before any of it is decoded, while the buffered
 * bytes are below `fetchBufferMaxBytes` (default 32 MiB); at the bound fetching waits for the
 * application. A Fetch asks for Kafka's sizes as configured (`fetch.max.bytes`,
 * `max.partition.fetch.bytes`); the bound is separate, so buffered bytes stay below it plus
 * one answer per broker. Buffered partition data is decoded lazily, batch by batch, as records
 * are handed out (see completed-fetch.ts); keys and values are views of the answer's bytes.
 *
 * Positions: `fetchPosition` is the next offset to fetch, `position` the next offset to hand
 * out; auto-commit (at least once) commits the offsets after records the application has
 * finished with: records returned by an earlier `poll()`, or, for the iterators, records
 * before the one being handed out now.
 */
import { ApiKey } from '../protocol/generated/api-keys.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { FetchRequest, FetchRequestFetchTopic } from '../protocol/generated/fetch-request.ts';
import type { FetchResponse } from '../protocol/generated/fetch-response.ts';
import { type Assignor, BUILT_IN_ASSIGNORS, type TopicPartition } from './assignors/index.ts';
import { Cluster, type CommonClientOptions, isStaleMetadataError } from './cluster.ts';
import { CompletedFetch, type ConsumerRecord } from './completed-fetch.ts';
import { backoffMs, isRetriable, KafkaAbortError, KafkaConfigError, KafkaProtocolError } from './errors.ts';
import {
  FetchSessionHandler,
  type FetchSessionRequest,
  MIN_SESSION_FETCH_VERSION,
  type SessionPartitionState,
} from './fetch-session.ts';
import {
  ClassicGroup,
  ConsumerProtocolGroup,
  type GroupHost,
  type GroupMembership,
  isCoordinatorError,
} from './group.ts';
import { bufferDeserializer, type Deserializer } from './serde.ts';
import type { ConsumerGroupMetadata } from './transactions.ts';
import { offsetCommitTopics, tpKey } from './util.ts';

export type { TopicPartition } from './assignors/index.ts';
export type { ConsumerRecord } from './completed-fetch.ts';

export interface RebalanceListener {
  /** After a rebalance, with the partitions added to this member. */
  onPartitionsAssigned?(partitions: TopicPartition[]): void | Promise<void>;
  /** Before partitions leave this member (offsets are committed first when auto-committing). */
  onPartitionsRevoked?(partitions: TopicPartition[]): void | Promise<void>;
  /** Partitions already owned by someone else (the member was fenced): nothing can be committed. */
  onPartitionsLost?(partitions: TopicPartition[]): void | Promise<void>;
}

export interface ConsumerOptions<K = Buffer | null, V = Buffer | null> extends CommonClientOptions {
  /** `group.id`: needed for subscribe() and commits. */
  groupId?: string;
  /** `group.instance.id`: static membership (no rebalance on restart within the session timeout). */
  groupInstanceId?: string;
  /** `group.protocol`: `'classic'` (default) or `'consumer'` (KIP-848). */
  groupProtocol?: 'classic' | 'consumer';
  /** `group.remote.assignor` (KIP-848 only): the broker-side assignor. Default: the broker's. */
  groupRemoteAssignor?: string;
  /** `client.rack`. Default none. */
  clientRack?: string;
  /** `session.timeout.ms`. Default 45000. */
  sessionTimeoutMs?: number;
  /** `heartbeat.interval.ms`. Default 3000. */
  heartbeatIntervalMs?: number;
  /**
   * `max.poll.interval.ms`: a member that does not poll (or ask its iterator for the next record)
   * for this long leaves the group; also the rebalance timeout. Default 300000.
   */
  maxPollIntervalMs?: number;
  /** `partition.assignment.strategy`: assignor names or objects. Default `['range', 'cooperative-sticky']`. */
  partitionAssignmentStrategy?: (string | Assignor)[];
  /** `enable.auto.commit`. Default true (when a group.id is set). */
  enableAutoCommit?: boolean;
  /** `auto.commit.interval.ms`. Default 5000. */
  autoCommitIntervalMs?: number;
  /** `auto.offset.reset`: where to start without a committed offset. Default `'latest'`. */
  autoOffsetReset?: 'latest' | 'earliest' | 'none';
  /** `isolation.level`. Default `'read_uncommitted'`. */
  isolationLevel?: 'read_uncommitted' | 'read_committed';
  /** `fetch.min.bytes`. Default 1. */
  fetchMinBytes?: number;
  /** `fetch.max.bytes`. Default 52428800. */
  fetchMaxBytes?: number;
  /** `fetch.max.wait.ms`. Default 500. */
  fetchMaxWaitMs?: number;
  /** `max.partition.fetch.bytes`. Default 1048576. */
  maxPartitionFetchBytes?: number;
  /** `max.poll.records`: most records one poll() returns. Default 500. */
  maxPollRecords?: number;
  /**
   * Buffered fetched bytes at which fetching pauses until the application catches up (not a
   * Kafka setting; the Java client keeps one answer per partition instead). Buffered bytes stay
   * below this plus one answer per broker. Default 32 MiB.
   */
  fetchBufferMaxBytes?: number;
  /** `check.crcs`. Default true. */
  checkCrcs?: boolean;
  /** `key.deserializer`. Default: the Buffer as fetched (or null). */
  keyDeserializer?: Deserializer<K>;
  /** `value.deserializer`. Default: the Buffer as fetched (or null). */
  valueDeserializer?: Deserializer<V>;
  /** Rebalance callbacks. */
  rebalanceListener?: RebalanceListener;
}

interface PartitionState {
  topic: string;
  partition: number;
  /** Next offset to hand to the application; -1 until initialized. */
  position: number;
  /** Next offset to fetch. */
  fetchPosition: number;
  /** Bumped by seeks; fetches from an older epoch are dropped. */
  epoch: number;
  paused: boolean;
  /** Offset to commit (after records the application is done with); -1 none yet. */
  consumed: number;
  committed: number;
  fetching: boolean;
  highWatermark: number;
  /** Backoff after a partition-level fetch error. */
  retryAtMs: number;
  resetTo: 'latest' | 'earliest' | 'none' | null;
}

export interface PollOptions {
  /** Most records to return (default `max.poll.records`). */
  maxRecords?: number;
  /** How long to wait for records. Default 1000 for poll(); the iterators wait indefinitely. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RecordBatchView<K, V> {
  topic: string;
  partition: number;
  records: ConsumerRecord<K, V>[];
  highWatermark: number;
}

const EARLIEST = -2n;
const LATEST = -1n;

export class Consumer<K = Buffer | null, V = Buffer | null> implements AsyncIterable<ConsumerRecord<K, V>> {
  readonly cluster: Cluster;
  private readonly opts: Required<
    Pick<
      ConsumerOptions<K, V>,
      | 'fetchMinBytes'
      | 'fetchMaxBytes'
      | 'fetchMaxWaitMs'
      | 'maxPartitionFetchBytes'
      | 'maxPollRecords'
      | 'autoOffsetReset'
      | 'autoCommitIntervalMs'
      | 'checkCrcs'
    >
  >;
  private readonly groupId: string | null;
  private readonly groupInstanceId: string | null;
  private readonly group: GroupMembership | null;
  private readonly autoCommit: boolean;
  private readonly isolationLevel: number;
  private readonly fetchBufferMaxBytes: number;
  private readonly keyDeserializer: Deserializer<K>;
  private readonly valueDeserializer: Deserializer<V>;
  private readonly listener: RebalanceListener;
  private readonly partitions = new Map<string, PartitionState>();
  private subscribedTopics: string[] = [];
  private pattern: RegExp | null = null;
  private mode: 'none' | 'subscribe' | 'assign' = 'none';
  private readonly buffered: CompletedFetch[] = [];
  private bufferedBytes = 0;
  private readonly fetchingNodes = new Set<number>();
  /** Answered fetches since the start: count, wait for the answer (total, max), record bytes. */
  private readonly fetchStats = { fetches: 0, latencyTotalMs: 0, latencyMaxMs: 0, bytes: 0 };
  /** Per broker: the fetch session (KIP-227). */
  private readonly fetchSessions = new Map<number, FetchSessionHandler>();
  private waiters: (() => void)[] = [];
  private nextAutoCommitMs = 0;
  private fetchError: Error | null = null;
  private closed = false;
  private initializing: Promise<void> | null = null;
  private lastPatternCheckMs = Number.NEGATIVE_INFINITY;
  /** When the application last asked for records (max.poll.interval.ms). */
  private lastPollMs = 0;

  constructor(opts: ConsumerOptions<K, V>) {
    this.cluster = new Cluster(opts);
    this.groupId = opts.groupId ?? null;
    this.groupInstanceId = opts.groupInstanceId ?? null;
    this.opts = {
      fetchMinBytes: opts.fetchMinBytes ?? 1,
      fetchMaxBytes: opts.fetchMaxBytes ?? 52428800,
      fetchMaxWaitMs: opts.fetchMaxWaitMs ?? 500,
      maxPartitionFetchBytes: opts.maxPartitionFetchBytes ?? 1048576,
      maxPollRecords: opts.maxPollRecords ?? 500,
      autoOffsetReset: opts.autoOffsetReset ?? 'latest',
      autoCommitIntervalMs: opts.autoCommitIntervalMs ?? 5000,
      checkCrcs: opts.checkCrcs ?? true,
    };
    this.autoCommit = this.groupId !== null && (opts.enableAutoCommit ?? true);
    this.isolationLevel = opts.isolationLevel === 'read_committed' ? 1 : 0;
    this.fetchBufferMaxBytes = opts.fetchBufferMaxBytes ?? DEFAULT_FETCH_BUFFER_BYTES;
    this.keyDeserializer = opts.keyDeserializer ?? (bufferDeserializer as Deserializer<K>);
    this.valueDeserializer = opts.valueDeserializer ?? (bufferDeserializer as Deserializer<V>);
    this.listener = opts.rebalanceListener ?? {};
    if (this.groupId === null) {
      this.group = null;
    } else {
      const assignors = (opts.partitionAssignmentStrategy ?? ['range', 'cooperative-sticky']).map((a) => {
        if (typeof a !== 'string') return a;
        const found = BUILT_IN_ASSIGNORS.get(a);
        if (found === undefined) throw new KafkaConfigError(`unknown partition.assignment.strategy ${a}`);
        return found;
      });
      const config = {
        groupId: this.groupId,
        groupInstanceId: opts.groupInstanceId ?? null,
        sessionTimeoutMs: opts.sessionTimeoutMs ?? 45000,
        rebalanceTimeoutMs: opts.maxPollIntervalMs ?? 300000,
        heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 3000,
        assignors,
        remoteAssignor: opts.groupRemoteAssignor ?? null,
        rackId: opts.clientRack ?? null,
      };
      const host: GroupHost = {
        subscribedTopics: () => this.resolvedTopics(),
        owned: () => this.assignment(),
        onAssigned: (tps) => this.onAssigned(tps),
        onRevoked: (tps) => this.onRevoked(tps),
        onLost: (tps) => this.onLost(tps),
        wake: () => this.wake(),
        msSinceLastPoll: () => this.cluster.clock.monotonicMs() - this.lastPollMs,
      };
      this.group =
        opts.groupProtocol === 'consumer'
          ? new ConsumerProtocolGroup(this.cluster, config, host)
          : new ClassicGroup(this.cluster, config, host);
    }
  }

  // ---- subscription ---------------------------------------------------------------------

  /** Subscribes to topics (a list, or every topic matching a RegExp) as a member of `group.id`. */
  subscribe(topics: string[] | string | RegExp, listener?: RebalanceListener): void {
    if (this.group === null) throw new KafkaConfigError('subscribe() needs a group.id; use assign() without one');
    if (this.mode === 'assign') throw new KafkaConfigError('assign() and subscribe() cannot be mixed');
    if (listener !== undefined) Object.assign(this.listener, listener);
    this.mode = 'subscribe';
    if (topics instanceof RegExp) {
      this.pattern = topics;
      this.subscribedTopics = [];
      this.cluster.watchAllTopics();
    } else {
      this.pattern = null;
      this.subscribedTopics = typeof topics === 'string' ? [topics] : [...topics];
      this.cluster.addTopics(this.subscribedTopics);
    }
    this.group.requestRejoin();
  }

  /** Takes these partitions with no group management. */
  assign(partitions: TopicPartition[]): void {
    if (this.mode === 'subscribe') throw new KafkaConfigError('assign() and subscribe() cannot be mixed');
    this.mode = 'assign';
    const keep = new Set(partitions.map((tp) => tpKey(tp.topic, tp.partition)));
    for (const [k] of this.partitions) if (!keep.has(k)) this.dropPartition(k);
    for (const tp of partitions) this.addPartition(tp);
    this.cluster.addTopics(partitions.map((tp) => tp.topic));
  }

  /** Leaves the subscription (or clears a manual assignment). */
  async unsubscribe(): Promise<void> {
    if (this.mode === 'subscribe' && this.group !== null) {
      const owned = this.assignment();
      if (owned.length > 0) await this.onRevoked(owned);
      await this.group.leave();
    }
    for (const k of [...this.partitions.keys()]) this.dropPartition(k);
    this.mode = 'none';
  }

  /**
   * The member's identity in its group, for a transactional producer's
   * `sendOffsetsToTransaction(offsets, consumer.groupMetadata())` (the group coordinator fences
   * commits from a member that is no longer current).
   */
  groupMetadata(): ConsumerGroupMetadata {
    if (this.groupId === null || this.group === null) throw new KafkaConfigError('groupMetadata() needs a group.id');
    return {
      groupId: this.groupId,
      generationId: this.group.generation,
      memberId: this.group.memberId,
      groupInstanceId: this.groupInstanceId,
    };
  }

  /** Partitions this consumer owns now. */
  assignment(): TopicPartition[] {
    return [...this.partitions.values()].map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  private resolvedTopics(): string[] {
    if (this.pattern === null) return this.subscribedTopics;
    const re = this.pattern;
    return [...this.cluster.topics.keys()].filter((t) => {
      re.lastIndex = 0;
      return re.test(t) && !this.cluster.topics.get(t)!.isInternal;
    });
  }

  private addPartition(tp: TopicPartition): void {
    const k = tpKey(tp.topic, tp.partition);
    if (this.partitions.has(k)) return;
    this.partitions.set(k, {
      topic: tp.topic,
      partition: tp.partition,
      position: -1,
      fetchPosition: -1,
      epoch: 0,
      paused: false,
      consumed: -1,
      committed: -1,
      fetching: false,
      highWatermark: -1,
      retryAtMs: 0,
      resetTo: null,
    });
  }

  private dropPartition(k: string): void {
    this.partitions.delete(k);
    this.dropBuffered((cf) => tpKey(cf.topic, cf.partition) === k);
  }

  private dropBuffered(pred: (cf: CompletedFetch) => boolean): void {
    for (let i = this.buffered.length - 1; i >= 0; i--) {
      const cf = this.buffered[i]!;
      if (pred(cf)) {
        this.bufferedBytes -= cf.sizeInBytes;
        this.buffered.splice(i, 1);
      }
    }
  }

  /** Runs a rebalance callback; what it throws comes out of the next poll, as in the Java client. */
  private async callListener(fn: (() => void | Promise<void>) | undefined): Promise<void> {
    if (fn === undefined) return;
    try {
      await fn();
    } catch (e) {
      this.fetchError = e instanceof Error ? e : new Error(String(e));
      this.wake();
    }
  }

  private async onAssigned(tps: TopicPartition[]): Promise<void> {
    for (const tp of tps) this.addPartition(tp);
    this.cluster.addTopics(tps.map((tp) => tp.topic));
    const l = this.listener;
    await this.callListener(l.onPartitionsAssigned && (() => l.onPartitionsAssigned!(tps)));
  }

  private async onRevoked(tps: TopicPartition[]): Promise<void> {
    if (this.autoCommit) {
      try {
        await this.commitConsumed(tps);
      } catch {
        // A failed commit before a revocation means those records are seen again: at least once.
      }
    }
    const l = this.listener;
    await this.callListener(l.onPartitionsRevoked && (() => l.onPartitionsRevoked!(tps)));
    for (const tp of tps) this.dropPartition(tpKey(tp.topic, tp.partition));
  }

  private async onLost(tps: TopicPartition[]): Promise<void> {
    const l = this.listener;
    await this.callListener(l.onPartitionsLost && (() => l.onPartitionsLost!(tps)));
    for (const tp of tps) this.dropPartition(tpKey(tp.topic, tp.partition));
  }

  // ---- pause, seek ----------------------------------------------------------------------

  /** Stops fetching these partitions (no rebalance); buffered records stay until resume. */
  pause(tps: TopicPartition[]): void {
    for (const tp of tps) {
      const s = this.partitions.get(tpKey(tp.topic, tp.partition));
      if (s !== undefined) s.paused = true;
    }
  }

  resume(tps: TopicPartition[]): void {
    for (const tp of tps) {
      const s = this.partitions.get(tpKey(tp.topic, tp.partition));
      if (s !== undefined) s.paused = false;
    }
    this.wake();
  }

  paused(): TopicPartition[] {
    return [...this.partitions.values()]
      .filter((s) => s.paused)
      .map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  /** Next offset that will be returned for the partition (-1 before it is known). */
  position(tp: TopicPartition): number {
    return this.partitions.get(tpKey(tp.topic, tp.partition))?.position ?? -1;
  }

  /** Moves the partition's position; buffered records of the partition are dropped. */
  seek(tp: TopicPartition, offset: number): void {
    const s = this.partitions.get(tpKey(tp.topic, tp.partition));
    if (s === undefined) throw new KafkaConfigError(`${tp.topic}-${tp.partition} is not assigned to this consumer`);
    this.setPosition(s, offset);
  }

  private setPosition(s: PartitionState, offset: number): void {
    s.epoch++;
    s.position = offset;
    s.fetchPosition = offset;
    s.resetTo = null;
    s.fetching = false;
    this.dropBuffered((cf) => cf.topic === s.topic && cf.partition === s.partition);
    this.wake();
  }

  /** Seeks to the log start offset (all assigned partitions when none given). */
  async seekToBeginning(tps?: TopicPartition[]): Promise<void> {
    await this.seekToSpec(tps, EARLIEST);
  }

  /** Seeks to the log end offset (all assigned partitions when none given). */
  async seekToEnd(tps?: TopicPartition[]): Promise<void> {
    await this.seekToSpec(tps, LATEST);
  }

  private async seekToSpec(tps: TopicPartition[] | undefined, spec: bigint): Promise<void> {
    const list = tps ?? this.assignment();
    const offsets = await this.listOffsets(list.map((tp) => ({ ...tp, timestamp: spec })));
    for (const o of offsets) {
      const s = this.partitions.get(tpKey(o.topic, o.partition));
      if (s !== undefined) this.setPosition(s, o.offset);
    }
  }

  /** For each partition, the earliest offset whose timestamp is >= the given one (-1 when none). */
  async offsetsForTimes(
    query: { topic: string; partition: number; timestamp: number }[],
  ): Promise<{ topic: string; partition: number; offset: number; timestamp: number }[]> {
    return this.listOffsets(query.map((q) => ({ ...q, timestamp: BigInt(q.timestamp) })));
  }

  /** Log start offsets. */
  async beginningOffsets(tps: TopicPartition[]): Promise<{ topic: string; partition: number; offset: number }[]> {
    return this.listOffsets(tps.map((tp) => ({ ...tp, timestamp: EARLIEST })));
  }

  /** Log end offsets (the last stable offset under read_committed). */
  async endOffsets(tps: TopicPartition[]): Promise<{ topic: string; partition: number; offset: number }[]> {
    return this.listOffsets(tps.map((tp) => ({ ...tp, timestamp: LATEST })));
  }

  private async listOffsets(
    query: { topic: string; partition: number; timestamp: bigint }[],
  ): Promise<{ topic: string; partition: number; offset: number; timestamp: number }[]> {
    if (query.length === 0) return [];
    await this.cluster.ensureMetadata(query.map((q) => q.topic));
    return this.cluster.withRetries(async () => {
      const byNode = new Map<number, typeof query>();
      for (const q of query) {
        const leader = this.cluster.leaderFor(q.topic, q.partition);
        if (leader < 0) {
          this.cluster.requestUpdate();
          throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `${q.topic}-${q.partition}`);
        }
        let l = byNode.get(leader);
        if (l === undefined) {
          l = [];
          byNode.set(leader, l);
        }
        l.push(q);
      }
      const out: { topic: string; partition: number; offset: number; timestamp: number }[] = [];
      await Promise.all(
        [...byNode].map(async ([node, qs]) => {
          const topics = new Map<
            string,
            { partitionIndex: number; currentLeaderEpoch: number; timestamp: bigint; maxNumOffsets: number }[]
          >();
          for (const q of qs) {
            let l = topics.get(q.topic);
            if (l === undefined) {
              l = [];
              topics.set(q.topic, l);
            }
            l.push({ partitionIndex: q.partition, currentLeaderEpoch: -1, timestamp: q.timestamp, maxNumOffsets: 1 });
          }
          const res = await this.cluster.request(node, ApiKey.ListOffsets, {
            replicaId: -1,
            isolationLevel: this.isolationLevel,
            topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
            timeoutMs: this.cluster.requestTimeoutMs,
          });
          for (const t of res.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== 0) {
                if (isStaleMetadataError(p.errorCode)) this.cluster.requestUpdate();
                throw new KafkaProtocolError(p.errorCode, `ListOffsets ${t.name}-${p.partitionIndex}`);
              }
              out.push({
                topic: t.name,
                partition: p.partitionIndex,
                offset: Number(p.offset),
                timestamp: Number(p.timestamp),
              });
            }
          }
        }),
      );
      return out;
    });
  }

  // ---- commits --------------------------------------------------------------------------

  /**
   * Commits offsets and waits for the answer. Without arguments: the offsets after the records
   * the application has been handed (what auto-commit would commit).
   */
  async commit(offsets?: { topic: string; partition: number; offset: number; metadata?: string }[]): Promise<void> {
    if (this.groupId === null) throw new KafkaConfigError('commit() needs a group.id');
    if (offsets === undefined) {
      await this.commitConsumed(this.assignment());
      return;
    }
    await this.commitOffsets(offsets);
  }

  /** Commits without waiting; errors go to `onError` (default: ignored, the next commit repeats). */
  commitAsync(
    offsets?: { topic: string; partition: number; offset: number; metadata?: string }[],
    onError?: (e: unknown) => void,
  ): void {
    this.commit(offsets).catch((e: unknown) => onError?.(e));
  }

  private async commitConsumed(tps: TopicPartition[]): Promise<void> {
    const offsets: { topic: string; partition: number; offset: number }[] = [];
    for (const tp of tps) {
      const s = this.partitions.get(tpKey(tp.topic, tp.partition));
      if (s !== undefined && s.consumed >= 0 && s.consumed !== s.committed) {
        offsets.push({ topic: s.topic, partition: s.partition, offset: s.consumed });
      }
    }
    if (offsets.length > 0) await this.commitOffsets(offsets);
  }

  private async commitOffsets(
    offsets: { topic: string; partition: number; offset: number; metadata?: string }[],
  ): Promise<void> {
    const group = this.group!;
    await this.cluster.withRetries(async () => {
      const coordinator = await group.coordinator();
      const inGroup = this.mode === 'subscribe';
      let res: Awaited<ReturnType<typeof this.cluster.request<typeof ApiKey.OffsetCommit>>>;
      try {
        res = await this.cluster.request(coordinator, ApiKey.OffsetCommit, {
          groupId: this.groupId!,
          generationIdOrMemberEpoch: inGroup ? group.generation : -1,
          memberId: inGroup ? group.memberId : '',
          groupInstanceId: null,
          retentionTimeMs: -1n,
          topics: offsetCommitTopics(offsets),
        });
      } catch (e) {
        group.coordinatorDead();
        throw e;
      }
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode !== 0) {
            if (isCoordinatorError(p.errorCode)) group.coordinatorDead();
            else group.onCommitError(p.errorCode);
            throw new KafkaProtocolError(p.errorCode, `OffsetCommit ${t.name}-${p.partitionIndex}`);
          }
          const s = this.partitions.get(tpKey(t.name, p.partitionIndex));
          const o = offsets.find((x) => x.topic === t.name && x.partition === p.partitionIndex);
          if (s !== undefined && o !== undefined) s.committed = o.offset;
        }
      }
    });
  }

  /** Committed offsets of the group for these partitions (-1 when none). */
  async committed(tps: TopicPartition[]): Promise<{ topic: string; partition: number; offset: number }[]> {
    if (this.group === null) throw new KafkaConfigError('committed() needs a group.id');
    const group = this.group;
    return this.cluster.withRetries(async () => {
      const coordinator = await group.coordinator();
      const conn = await this.cluster.connection(coordinator);
      const version = conn.versionFor(ApiKey.OffsetFetch);
      const topics = new Map<string, number[]>();
      for (const tp of tps) {
        let l = topics.get(tp.topic);
        if (l === undefined) {
          l = [];
          topics.set(tp.topic, l);
        }
        l.push(tp.partition);
      }
      const list = [...topics].map(([name, partitionIndexes]) => ({ name, partitionIndexes }));
      const res = await conn.request(ApiKey.OffsetFetch, {
        groupId: this.groupId!,
        topics: list,
        groups: [{ groupId: this.groupId!, memberId: null, memberEpoch: -1, topics: list }],
        requireStable: true,
      });
      const g = version >= 8 ? res.groups[0] : { errorCode: res.errorCode, topics: res.topics };
      if (g === undefined) throw new KafkaProtocolError(ErrorCode.UNKNOWN_SERVER_ERROR, 'OffsetFetch: no group');
      if (g.errorCode !== 0) {
        if (isCoordinatorError(g.errorCode)) group.coordinatorDead();
        throw new KafkaProtocolError(g.errorCode, `OffsetFetch ${this.groupId}`);
      }
      const out: { topic: string; partition: number; offset: number }[] = [];
      for (const t of g.topics) {
        for (const p of t.partitions) {
          if (p.errorCode !== 0) throw new KafkaProtocolError(p.errorCode, `OffsetFetch ${t.name}-${p.partitionIndex}`);
          out.push({ topic: t.name, partition: p.partitionIndex, offset: Number(p.committedOffset) });
        }
      }
      return out;
    });
  }

  // ---- the poll loop --------------------------------------------------------------------

  /** Up to `maxRecords` records; waits at most `timeoutMs` (default 1000) for some. */
  async poll(opts: PollOptions = {}): Promise<ConsumerRecord<K, V>[]> {
    const out: ConsumerRecord<unknown, unknown>[] = [];
    await this.pollInto(out, opts.maxRecords ?? this.opts.maxPollRecords, opts.timeoutMs ?? 1000, opts.signal);
    this.markConsumed(out);
    return out as ConsumerRecord<K, V>[];
  }

  /**
   * Records one by one; a record counts as processed (for commits) when the next is asked for.
   *
   * Written as an iterator object rather than an async generator: a record already buffered is
   * handed out with one resolved promise, where a generator's `yield` costs several (about 55
   * against 125 ns per record in a microbenchmark). It behaves as the generator did: calls to
   * `next()` are served in order, `return()` (a `break` out of `for await`) and `throw()` end
   * it and mark the last record handed out as processed, `close()` ends it quietly.
   */
  records(opts: Omit<PollOptions, 'maxRecords'> = {}): AsyncGenerator<ConsumerRecord<K, V>, void, undefined> {
    const buf: ConsumerRecord<unknown, unknown>[] = [];
    let index = 0;
    let last: ConsumerRecord<unknown, unknown> | null = null;
    // The partition state of the record marked last: looked up again only when the partition
    // changes (records come in runs per partition) and after every poll (a rebalance inside it
    // may have replaced the state).
    let state: PartitionState | undefined;
    let finished = false;
    /** The poll under way, if any: later calls to next() wait for it, in order. */
    let polling: Promise<IteratorResult<ConsumerRecord<K, V>, void>> | null = null;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (last !== null) this.markOne(last);
    };
    const take = (): IteratorResult<ConsumerRecord<K, V>, void> => {
      if (last !== null) {
        if (state === undefined || state.partition !== last.partition || state.topic !== last.topic) {
          state = this.partitions.get(tpKey(last.topic, last.partition));
        }
        if (state !== undefined && last.offset + 1 > state.consumed) state.consumed = last.offset + 1;
      }
      last = buf[index++]!;
      return { value: last as ConsumerRecord<K, V>, done: false };
    };
    const poll = async (): Promise<IteratorResult<ConsumerRecord<K, V>, void>> => {
      for (;;) {
        buf.length = 0;
        index = 0;
        state = undefined;
        if (this.closed) {
          finish();
          return DONE;
        }
        try {
          await this.pollInto(buf, this.opts.maxPollRecords, opts.timeoutMs ?? Number.POSITIVE_INFINITY, opts.signal);
        } catch (e) {
          finish();
          if (this.closed && e instanceof KafkaAbortError) return DONE; // close() ends the iteration
          throw e;
        }
        if (finished) return DONE; // return() while polling
        if (buf.length > 0) return take();
        if (opts.timeoutMs !== undefined) {
          finish();
          return DONE;
        }
      }
    };
    const iterator: AsyncGenerator<ConsumerRecord<K, V>, void, undefined> = {
      next: () => {
        if (polling !== null) {
          // After the poll under way: a failed one has ended the iteration, as a generator ends.
          const after = (): Promise<IteratorResult<ConsumerRecord<K, V>, void>> => iterator.next();
          return polling.then(after, after);
        }
        if (finished) return Promise.resolve(DONE);
        if (index < buf.length) return Promise.resolve(take());
        const p = poll().finally(() => {
          polling = null;
        });
        polling = p;
        return p;
      },
      return: () => {
        finish();
        return Promise.resolve(DONE);
      },
      throw: (e: unknown) => {
        finish();
        return Promise.reject(e);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  [Symbol.asyncIterator](): AsyncIterator<ConsumerRecord<K, V>> {
    return this.records();
  }

  /** Per-partition batches of records; a batch counts as processed when the next is asked for. */
  async *batches(opts: PollOptions = {}): AsyncGenerator<RecordBatchView<K, V>, void, undefined> {
    let last: ConsumerRecord<unknown, unknown>[] | null = null;
    try {
      for (;;) {
        const buf: ConsumerRecord<unknown, unknown>[] = [];
        if (this.closed) return;
        try {
          await this.pollInto(
            buf,
            opts.maxRecords ?? this.opts.maxPollRecords,
            opts.timeoutMs ?? Number.POSITIVE_INFINITY,
            opts.signal,
          );
        } catch (e) {
          if (this.closed && e instanceof KafkaAbortError) return;
          throw e;
        }
        if (buf.length === 0 && opts.timeoutMs !== undefined) return;
        let start = 0;
        while (start < buf.length) {
          const first = buf[start]!;
          let end = start + 1;
          while (end < buf.length && buf[end]!.partition === first.partition && buf[end]!.topic === first.topic) end++;
          if (last !== null) this.markConsumed(last);
          last = buf.slice(start, end);
          const s = this.partitions.get(tpKey(first.topic, first.partition));
          yield {
            topic: first.topic,
            partition: first.partition,
            records: last as ConsumerRecord<K, V>[],
            highWatermark: s?.highWatermark ?? -1,
          };
          start = end;
        }
      }
    } finally {
      if (last !== null) this.markConsumed(last);
    }
  }

  private markOne(r: ConsumerRecord<unknown, unknown>): void {
    const s = this.partitions.get(tpKey(r.topic, r.partition));
    if (s !== undefined && r.offset + 1 > s.consumed) s.consumed = r.offset + 1;
  }

  /** markOne for many records: one partition lookup per run of records from the same partition. */
  private markConsumed(records: ConsumerRecord<unknown, unknown>[]): void {
    let i = 0;
    while (i < records.length) {
      const first = records[i]!;
      let next = first.offset + 1;
      let j = i + 1;
      for (; j < records.length; j++) {
        const r = records[j]!;
        if (r.partition !== first.partition || r.topic !== first.topic) break;
        if (r.offset + 1 > next) next = r.offset + 1;
      }
      const s = this.partitions.get(tpKey(first.topic, first.partition));
      if (s !== undefined && next > s.consumed) s.consumed = next;
      i = j;
    }
  }

  private async pollInto(
    out: ConsumerRecord<unknown, unknown>[],
    maxRecords: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const clock = this.cluster.clock;
    const deadline = clock.monotonicMs() + timeoutMs;
    for (;;) {
      this.lastPollMs = clock.monotonicMs();
      if (this.closed) throw new KafkaAbortError('consumer is closed');
      if (signal?.aborted) throw new KafkaAbortError();
      if (this.mode === 'none') throw new KafkaConfigError('subscribe() or assign() first');
      await this.maintain(signal);
      if (this.fetchError !== null) {
        const e = this.fetchError;
        this.fetchError = null;
        throw e;
      }
      this.drain(out, maxRecords);
      this.sendFetches();
      if (out.length > 0) return;
      const left = deadline - clock.monotonicMs();
      if (left <= 0) return;
      await this.waitForData(Math.min(left, this.opts.autoCommitIntervalMs, 1000), signal);
    }
  }

  /** Group membership, metadata, positions and auto-commit: what must hold before fetching. */
  private async maintain(signal?: AbortSignal): Promise<void> {
    const clock = this.cluster.clock;
    if (this.mode === 'subscribe' && this.group !== null) {
      if (this.pattern !== null && clock.monotonicMs() - this.lastPatternCheckMs >= 1000) {
        this.lastPatternCheckMs = clock.monotonicMs();
        const before = this.resolvedTopics().join('\u0000');
        await this.cluster.ensureMetadata();
        if (this.resolvedTopics().join('\u0000') !== before) this.group.requestRejoin();
      }
      await this.group.poll(signal);
    }
    if (this.cluster.needsUpdate) {
      try {
        await this.cluster.ensureMetadata();
      } catch (e) {
        if (!isRetriable(e)) throw e;
      }
    }
    if ([...this.partitions.values()].some((s) => s.position < 0)) {
      this.initializing ??= this.initPositions().finally(() => {
        this.initializing = null;
      });
      await this.initializing;
    }
    if (this.autoCommit && this.mode === 'subscribe' && clock.monotonicMs() >= this.nextAutoCommitMs) {
      this.nextAutoCommitMs = clock.monotonicMs() + this.opts.autoCommitIntervalMs;
      this.commitAsync(undefined);
    }
  }

  /** Committed offsets, else auto.offset.reset, for partitions without a position. */
  private async initPositions(): Promise<void> {
    const need = [...this.partitions.values()].filter((s) => s.position < 0);
    if (need.length === 0) return;
    const tps = need.map((s) => ({ topic: s.topic, partition: s.partition }));
    const committed = this.group !== null && need.some((s) => s.resetTo === null) ? await this.committed(tps) : [];
    const reset: PartitionState[] = [];
    for (const s of need) {
      const c =
        s.resetTo === null ? committed.find((x) => x.topic === s.topic && x.partition === s.partition) : undefined;
      if (c !== undefined && c.offset >= 0) {
        s.position = s.fetchPosition = c.offset;
        s.committed = c.offset;
      } else {
        reset.push(s);
      }
    }
    if (reset.length === 0) return;
    const strategy = (s: PartitionState) => s.resetTo ?? this.opts.autoOffsetReset;
    const bad = reset.find((s) => strategy(s) === 'none');
    if (bad !== undefined) {
      throw new KafkaProtocolError(
        ErrorCode.OFFSET_OUT_OF_RANGE,
        `no committed offset for ${bad.topic}-${bad.partition} and auto.offset.reset=none`,
      );
    }
    const offsets = await this.listOffsets(
      reset.map((s) => ({
        topic: s.topic,
        partition: s.partition,
        timestamp: strategy(s) === 'earliest' ? EARLIEST : LATEST,
      })),
    );
    for (const o of offsets) {
      const s = this.partitions.get(tpKey(o.topic, o.partition));
      if (s !== undefined && s.position < 0) {
        s.position = s.fetchPosition = o.offset;
        s.resetTo = null;
      }
    }
  }

  private drain(out: ConsumerRecord<unknown, unknown>[], maxRecords: number): void {
    let i = 0;
    while (i < this.buffered.length && out.length < maxRecords) {
      const cf = this.buffered[i]!;
      const s = this.partitions.get(tpKey(cf.topic, cf.partition));
      if (s === undefined || s.epoch !== cf.epoch) {
        this.bufferedBytes -= cf.sizeInBytes;
        this.buffered.splice(i, 1);
        continue;
      }
      if (s.paused) {
        i++;
        continue;
      }
      cf.drain(out, maxRecords - out.length);
      s.position = cf.nextOffset;
      if (cf.isDrained) {
        this.bufferedBytes -= cf.sizeInBytes;
        this.buffered.splice(i, 1);
      } else {
        i++;
      }
    }
  }

  private sendFetches(): void {
    if (this.bufferedBytes >= this.fetchBufferMaxBytes || this.closed) return;
    const now = this.cluster.clock.monotonicMs();
    const byNode = new Map<number, PartitionState[]>();
    for (const s of this.partitions.values()) {
      if (s.paused || s.fetching || s.fetchPosition < 0 || s.retryAtMs > now) continue;
      const leader = this.cluster.leaderFor(s.topic, s.partition);
      if (leader < 0) {
        this.cluster.requestUpdate();
        continue;
      }
      if (this.fetchingNodes.has(leader)) continue;
      let l = byNode.get(leader);
      if (l === undefined) {
        l = [];
        byNode.set(leader, l);
      }
      l.push(s);
    }
    for (const [node, states] of byNode) this.fetchFrom(node, states);
  }

  private fetchSession(node: number): FetchSessionHandler {
    let h = this.fetchSessions.get(node);
    if (h === undefined) {
      h = new FetchSessionHandler(node);
      this.fetchSessions.set(node, h);
    }
    return h;
  }

  private fetchFrom(node: number, states: PartitionState[]): void {
    this.fetchingNodes.add(node);
    const epochs = new Map<PartitionState, number>();
    const wanted: SessionPartitionState[] = [];
    for (const s of states) {
      s.fetching = true;
      epochs.set(s, s.epoch);
      wanted.push({
        topic: s.topic,
        partition: s.partition,
        fetchOffset: s.fetchPosition,
        partitionMaxBytes: this.opts.maxPartitionFetchBytes,
        currentLeaderEpoch: -1,
      });
    }
    const session = this.fetchSession(node);
    let sent: FetchSessionRequest | null = null;
    const done = (): void => {
      this.fetchingNodes.delete(node);
      for (const s of states) if (epochs.get(s) === s.epoch) s.fetching = false;
      this.wake();
      this.sendFetches();
    };
    const clock = this.cluster.clock;
    let sentAtMs = 0;
    const send = async (): Promise<FetchResponse> => {
      const conn = await this.cluster.connection(node);
      sent = session.build(wanted, conn.versionFor(ApiKey.Fetch) >= MIN_SESSION_FETCH_VERSION);
      sentAtMs = clock.monotonicMs();
      return conn.request(ApiKey.Fetch, this.fetchRequest(sent), {
        timeoutMs: this.cluster.requestTimeoutMs + this.opts.fetchMaxWaitMs,
      });
    };
    send().then(
      (res) => {
        const latencyMs = clock.monotonicMs() - sentAtMs;
        const f = this.fetchStats;
        f.fetches++;
        f.latencyTotalMs += latencyMs;
        if (latencyMs > f.latencyMaxMs) f.latencyMaxMs = latencyMs;
        try {
          session.onResponse(sent!, res.errorCode, res.sessionId);
          this.onFetchResponse(res, epochs);
        } catch (e) {
          this.fetchError = e instanceof Error ? e : new Error(String(e));
        } finally {
          done();
        }
      },
      (e: unknown) => {
        if (sent !== null) session.onFailure();
        this.cluster.requestUpdate();
        const r = this.cluster.retry;
        const at = this.cluster.clock.monotonicMs() + backoffMs(0, r.retryBackoffMs, r.retryBackoffMaxMs, 0.5);
        for (const s of states) s.retryAtMs = at;
        if (!isRetriable(e) && !(e instanceof KafkaAbortError))
          this.fetchError = e instanceof Error ? e : new Error(String(e));
        done();
      },
    );
  }

  private fetchRequest(sent: {
    sessionId: number;
    sessionEpoch: number;
    toSend: SessionPartitionState[];
    forgotten: { topic: string; partitions: number[] }[];
  }): FetchRequest {
    const topics = new Map<string, FetchRequestFetchTopic>();
    for (const p of sent.toSend) {
      let t = topics.get(p.topic);
      if (t === undefined) {
        t = { topic: p.topic, topicId: this.cluster.topics.get(p.topic)?.topicId ?? ZERO_TOPIC_ID, partitions: [] };
        topics.set(p.topic, t);
      }
      t.partitions.push({
        partition: p.partition,
        currentLeaderEpoch: p.currentLeaderEpoch,
        fetchOffset: BigInt(p.fetchOffset),
        lastFetchedEpoch: -1,
        logStartOffset: -1n,
        partitionMaxBytes: p.partitionMaxBytes,
        replicaDirectoryId: ZERO_TOPIC_ID,
      });
    }
    return {
      clusterId: null,
      replicaId: -1,
      replicaState: { replicaId: -1, replicaEpoch: -1n },
      maxWaitMs: this.opts.fetchMaxWaitMs,
      minBytes: this.opts.fetchMinBytes,
      maxBytes: this.opts.fetchMaxBytes,
      isolationLevel: this.isolationLevel,
      sessionId: sent.sessionId,
      sessionEpoch: sent.sessionEpoch,
      topics: [...topics.values()],
      forgottenTopicsData: sent.forgotten.map((f) => ({
        topic: f.topic,
        topicId: this.cluster.topics.get(f.topic)?.topicId ?? ZERO_TOPIC_ID,
        partitions: f.partitions,
      })),
      rackId: '',
    };
  }

  private onFetchResponse(res: FetchResponse, epochs: Map<PartitionState, number>): void {
    if (res.errorCode !== 0) {
      const e = new KafkaProtocolError(res.errorCode, 'Fetch');
      if (!e.retriable) this.fetchError = e;
      return;
    }
    const now = this.cluster.clock.monotonicMs();
    for (const t of res.responses) {
      for (const p of t.partitions) {
        const s = this.partitions.get(tpKey(t.topic, p.partitionIndex));
        if (s === undefined || epochs.get(s) !== s.epoch) continue;
        if (p.errorCode !== 0) {
          this.onPartitionError(s, p.errorCode, now);
          continue;
        }
        s.highWatermark = Number(this.isolationLevel === 1 ? p.lastStableOffset : p.highWatermark);
        const records = p.records;
        if (records === null || records.length === 0) continue;
        const aborted =
          this.isolationLevel === 1 && p.abortedTransactions !== null
            ? p.abortedTransactions.map((a) => ({ producerId: a.producerId, firstOffset: Number(a.firstOffset) }))
            : null;
        const end = lastCompleteOffset(records);
        if (end < 0) {
          if (records.length >= this.opts.maxPartitionFetchBytes && records.length >= this.opts.fetchMaxBytes) {
            this.fetchError = new KafkaProtocolError(ErrorCode.RECORD_LIST_TOO_LARGE, `${t.topic}-${p.partitionIndex}`);
          }
          continue;
        }
        this.fetchStats.bytes += records.length;
        const cf = new CompletedFetch(
          t.topic,
          p.partitionIndex,
          records,
          s.fetchPosition,
          s.epoch,
          aborted,
          this.keyDeserializer as (b: Buffer | null, topic: string) => unknown,
          this.valueDeserializer as (b: Buffer | null, topic: string) => unknown,
          this.opts.checkCrcs,
        );
        s.fetchPosition = Math.max(s.fetchPosition, end + 1);
        this.buffered.push(cf);
        this.bufferedBytes += cf.sizeInBytes;
      }
    }
  }

  private onPartitionError(s: PartitionState, code: number, now: number): void {
    if (code === ErrorCode.OFFSET_OUT_OF_RANGE) {
      s.resetTo = this.opts.autoOffsetReset;
      s.position = -1;
      s.fetchPosition = -1;
      s.epoch++;
      return;
    }
    const e = new KafkaProtocolError(code, `Fetch ${s.topic}-${s.partition}`);
    if (isStaleMetadataError(code)) this.cluster.requestUpdate();
    if (e.retriable) {
      const r = this.cluster.retry;
      s.retryAtMs = now + backoffMs(0, r.retryBackoffMs, r.retryBackoffMaxMs, 0.5);
      return;
    }
    this.fetchError = e;
  }

  private waitForData(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        cancel();
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const cancel = this.cluster.clock.schedule(ms, finish);
      signal?.addEventListener('abort', finish, { once: true });
      this.waiters.push(finish);
    });
  }

  /** Wakes a waiting poll (data arrived, a rebalance is needed, close). */
  wake(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Commits (auto-commit), leaves the group and closes connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.autoCommit && this.mode === 'subscribe') {
        try {
          await this.commitConsumed(this.assignment());
        } catch {
          // best effort on close
        }
      }
      if (this.group !== null && this.mode === 'subscribe') {
        if (this.group instanceof ConsumerProtocolGroup || this.assignment().length > 0) {
          await this.listener.onPartitionsRevoked?.(this.assignment());
        }
        await this.group.leave();
      }
    } finally {
      this.closed = true;
      this.group?.stop();
      this.wake();
      await this.closeFetchSessions();
      this.cluster.close();
    }
  }

  /**
   * Tells each broker holding a fetch session of ours to drop it (KIP-227's final epoch: the
   * session id with epoch -1 and no partitions), as the Java consumer does on close, rather than
   * leaving it to be evicted when idle. Best effort: only over connections still open, answers
   * awaited for a bounded time (behind a long-polling fetch on the same connection they come
   * after its answer), failures ignored.
   */
  private async closeFetchSessions(): Promise<void> {
    const closing: Promise<unknown>[] = [];
    for (const h of this.fetchSessions.values()) {
      const final = h.closeRequest();
      if (final === null) continue;
      const conn = this.cluster.connectedNode(h.nodeId);
      if (conn === null) continue;
      const request = { ...this.fetchRequest({ ...final, toSend: [], forgotten: [] }), maxWaitMs: 0, minBytes: 0 };
      closing.push(
        conn
          .request(ApiKey.Fetch, request, {
            timeoutMs: Math.min(this.cluster.requestTimeoutMs, CLOSE_SESSION_TIMEOUT_MS) + this.opts.fetchMaxWaitMs,
          })
          .catch(() => undefined),
      );
    }
    await Promise.all(closing);
  }

  /**
   * Buffered fetched data not yet handed out, fetches on the wire, each broker's fetch session,
   * and, since the start, the fetches answered: how many, how long each waited for its answer
   * from the moment it was written (average and max: the Java client's fetch-latency-avg/max),
   * and the record bytes they brought.
   */
  metrics(): {
    bufferedBytes: number;
    bufferedFetches: number;
    fetchesInFlight: number;
    fetchSessions: { nodeId: number; sessionId: number; epoch: number }[];
    fetches: number;
    fetchLatencyAvgMs: number;
    fetchLatencyMaxMs: number;
    fetchedBytes: number;
  } {
    const f = this.fetchStats;
    return {
      fetches: f.fetches,
      fetchLatencyAvgMs: f.fetches === 0 ? 0 : f.latencyTotalMs / f.fetches,
      fetchLatencyMaxMs: f.latencyMaxMs,
      fetchedBytes: f.bytes,
      bufferedBytes: this.bufferedBytes,
      bufferedFetches: this.buffered.length,
      fetchesInFlight: this.fetchingNodes.size,
      fetchSessions: [...this.fetchSessions.values()].map((h) => ({ nodeId: h.nodeId, ...h.state })),
    };
  }

  /** Lag per assigned partition (high watermark - position), from the last fetch. */
  lag(): { topic: string; partition: number; lag: number }[] {
    return [...this.partitions.values()].map((s) => ({
      topic: s.topic,
      partition: s.partition,
      lag: s.highWatermark < 0 || s.position < 0 ? -1 : Math.max(0, s.highWatermark - s.position),
    }));
  }
}

const ZERO_TOPIC_ID = 'AAAAAAAAAAAAAAAAAAAAAA';
/** The end of an iteration (shared: it is never modified). */
const DONE: IteratorReturnResult<void> = Object.freeze({ value: undefined, done: true });
/** How long close() waits for a broker to acknowledge the end of a fetch session (beyond fetch.max.wait.ms). */
const CLOSE_SESSION_TIMEOUT_MS = 5000;
/** Default bound on buffered fetched bytes: two answers of 16 partitions at max.partition.fetch.bytes. */
const DEFAULT_FETCH_BUFFER_BYTES = 32 * 1024 * 1024;

/** Last offset of the last complete batch in a records blob, or -1 when there is none. */
function lastCompleteOffset(buf: Buffer): number {
  let pos = 0;
  let last = -1;
  while (buf.length - pos >= 61) {
    const size = buf.readInt32BE(pos + 8) + 12;
    if (size > buf.length - pos) break;
    last = Number(buf.readBigInt64BE(pos)) + buf.readInt32BE(pos + 23);
    pos += size;
  }
  return last;
}
