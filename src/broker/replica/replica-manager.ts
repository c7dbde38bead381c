/**
 * ReplicaManager: the partitions this node hosts, kept in step with the metadata image.
 *
 * It subscribes to the metadata cache; every published image creates the logs of
 * partitions newly assigned here, applies role changes (leader, epoch, replicas, ISR) and
 * config changes, and deletes the logs of partitions removed from this node or of deleted
 * topics. The cache awaits the listener, so once CreateTopics has answered, the logs exist.
 * Image changes are applied one at a time (a queue), never interleaved.
 *
 * Handlers find partitions through lookup(), which answers with Kafka's error codes:
 * UNKNOWN_TOPIC_OR_PARTITION for what the image does not have, NOT_LEADER_OR_FOLLOWER
 * for partitions led elsewhere (or not yet open here), FENCED_LEADER_EPOCH /
 * UNKNOWN_LEADER_EPOCH when the client's epoch is older / newer than ours.
 *
 * Replication: a partition led here gets a LeaderState (src/replication/leader.ts); one
 * where this node is another replica gets a FollowerState and joins the fetcher of its
 * leader's broker (fetcher.ts, one per source broker). ISR changes the leaders propose
 * go to the controller through `alterPartition` (one request in flight, every pending
 * partition in it); the ISR expiration task runs every replica.lag.time.max.ms / 2. High
 * watermarks are checkpointed to replication-offset-checkpoint (hw-checkpoint.ts) every
 * replica.high.watermark.checkpoint.interval.ms and on close, and read back when a
 * partition opens.
 *
 * Stray logs (on disk, absent from the image) are left alone and not served.
 */
import { posix } from 'node:path';
import type { Clock } from '../../env/clock.ts';
import { type Disk, nodeDisk } from '../../env/disk.ts';
import type { MetadataCache, MetadataUpdate } from '../../metadata/cache.ts';
import {
  ConfigResourceType,
  type MetadataImage,
  type PartitionImage,
  type TopicImage,
  topicConfigs,
} from '../../metadata/image.ts';
import type { AlterPartitionRequest } from '../../protocol/generated/alter-partition-request.ts';
import type { AlterPartitionResponse } from '../../protocol/generated/alter-partition-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { FetchRequest } from '../../protocol/generated/fetch-request.ts';
import type { FetchResponse } from '../../protocol/generated/fetch-response.ts';
import { REPLICA_FETCH_DEFAULTS } from '../../replication/fetch-request.ts';
import type { LogConfig } from '../../storage/config.ts';
import { partitionDirName } from '../../storage/log-manager.ts';
import type { PartitionLog } from '../../storage/partition-log.ts';
import { FetchPurgatory } from '../fetch/purgatory.ts';
import { ProducerSnapshotStore } from '../producer-state/snapshot.ts';
import { partitionConfigFrom } from './config.ts';
import { ReplicaFetcher } from './fetcher.ts';
import { readHighWatermarks, serializeHighWatermarks, writeHighWatermarks } from './hw-checkpoint.ts';
import { statfsUsage } from './log-dir-usage.ts';
import { Partition } from './partition.ts';

/** Where partition logs come from: LogManager (files) or an in-memory provider (tests). */
export interface LogProvider {
  getOrCreateLog(topic: string, partition: number, config: LogConfig): Promise<PartitionLog>;
  deleteLog(topic: string, partition: number): Promise<void>;
}

export interface LogDirUsage {
  totalBytes: number;
  usableBytes: number;
}

export interface ReplicaManagerOptions {
  nodeId: number;
  clock: Clock;
  metadata: MetadataCache;
  logs: LogProvider;
  /** The log directory (DescribeLogDirs) and, with `disk`, where producer snapshots go. */
  logDir: string;
  /** When given, producer state snapshots are written under logDir/<topic>-<partition>/. */
  disk?: Disk;
  /**
   * Broker-level topic defaults (topic config names: "max.message.bytes", ...); a function
   * is asked again whenever broker configs change in the image (dynamic defaults).
   */
  topicDefaults?: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>>);
  /** Total and usable bytes of the log directory (DescribeLogDirs v4); statfs(2) by default on nodeDisk. */
  logDirUsage?: () => Promise<LogDirUsage>;
  /** Bound on parked fetches (see FetchPurgatory). */
  maxWaitingFetches?: number;
  /** producer.id.expiration.ms (default 1 day). */
  producerIdExpirationMs?: number;
  /**
   * producer.id.expiration.check.interval.ms (default 10 minutes); snapshots are written on
   * the same tick, which runs after an append once the interval has passed (no timer).
   */
  producerStateCheckIntervalMs?: number;
  onError?: (err: unknown, task: string) => void;
  /**
   * Sends an AlterPartition request to the active controller. Absent (a single node with
   * no controller listener): ISR changes are not proposed to anyone and stay pending.
   */
  alterPartition?: (request: AlterPartitionRequest) => Promise<AlterPartitionResponse>;
  /** This broker's epoch from its registration (-1 / absent when unknown). */
  brokerEpoch?: () => bigint;
  /** The replica.* broker settings; Kafka's defaults for what is absent. */
  replication?: Partial<ReplicationSettings>;
  /**
   * Sends replica fetches without sockets (in-process tests, the simulator); by default
   * the fetchers connect to the leaders' endpoints in the image.
   */
  fetchTransport?: (sourceId: number, request: FetchRequest, version: number) => Promise<FetchResponse>;
}

/** Kafka's replica.* settings used by replication (defaults in DEFAULT_REPLICATION_SETTINGS). */
export interface ReplicationSettings {
  /** replica.lag.time.max.ms */
  replicaLagTimeMaxMs: number;
  /** replica.fetch.max.bytes */
  replicaFetchMaxBytes: number;
  /** replica.fetch.min.bytes */
  replicaFetchMinBytes: number;
  /** replica.fetch.wait.max.ms */
  replicaFetchWaitMaxMs: number;
  /** replica.fetch.response.max.bytes */
  replicaFetchResponseMaxBytes: number;
  /** replica.fetch.backoff.ms */
  replicaFetchBackoffMs: number;
  /** replica.high.watermark.checkpoint.interval.ms */
  replicaHighWatermarkCheckpointIntervalMs: number;
  /** replica.socket.timeout.ms (the fetchers' request timeout, plus the wait). */
  replicaSocketTimeoutMs: number;
  /** inter.broker.listener.name; the broker's first listener when absent. */
  interBrokerListenerName?: string;
  /** replica.selector.class (KIP-392); RackAwareReplicaSelector enables rack-local reads. */
  replicaSelectorClass?: string;
}

export const DEFAULT_REPLICATION_SETTINGS: ReplicationSettings = {
  replicaLagTimeMaxMs: 30_000,
  replicaFetchMaxBytes: REPLICA_FETCH_DEFAULTS.maxBytes,
  replicaFetchMinBytes: REPLICA_FETCH_DEFAULTS.minBytes,
  replicaFetchWaitMaxMs: REPLICA_FETCH_DEFAULTS.waitMaxMs,
  replicaFetchResponseMaxBytes: REPLICA_FETCH_DEFAULTS.responseMaxBytes,
  replicaFetchBackoffMs: REPLICA_FETCH_DEFAULTS.backoffMs,
  replicaHighWatermarkCheckpointIntervalMs: 5000,
  replicaSocketTimeoutMs: 30_000,
};

export const RACK_AWARE_REPLICA_SELECTOR = 'org.apache.kafka.common.replica.RackAwareReplicaSelector';

export type PartitionLookup =
  | { partition: Partition; errorCode?: undefined }
  | { partition?: undefined; errorCode: number };

export class ReplicaManager {
  readonly nodeId: number;
  readonly fetchPurgatory: FetchPurgatory;
  private readonly partitions = new Map<string, Partition>();
  private queue: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private lastTickMs: number;
  private ticking = false;
  private closed = false;
  readonly replication: ReplicationSettings;
  private readonly fetchers = new Map<number, ReplicaFetcher>();
  private checkpointedHw = new Map<string, number>();
  private alterInFlight = false;
  private replicationTimersStarted = false;
  private alterQueued = false;
  private cancelTimers: (() => void)[] = [];
  private checkpointing: Promise<void> = Promise.resolve();

  private constructor(private readonly options: ReplicaManagerOptions) {
    this.nodeId = options.nodeId;
    this.fetchPurgatory = new FetchPurgatory(options.clock, options.maxWaitingFetches);
    this.lastTickMs = options.clock.monotonicMs();
    this.replication = { ...DEFAULT_REPLICATION_SETTINGS, ...options.replication };
  }

  /** Creates the manager, opens the partitions of the current image, subscribes to later ones. */
  static async start(options: ReplicaManagerOptions): Promise<ReplicaManager> {
    const manager = new ReplicaManager(options);
    if (options.disk !== undefined) {
      manager.checkpointedHw = await readHighWatermarks(options.disk, options.logDir).catch(() => new Map());
    }
    manager.unsubscribe = options.metadata.subscribe((update) => manager.enqueue(() => manager.applyUpdate(update)));
    // A held cache (a restarting broker catching up) delivers its caught-up image as the first update.
    if (options.metadata.held?.() !== true) {
      await manager.enqueue(() => manager.applyImage(options.metadata.image(), undefined));
    }
    return manager;
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn);
    this.queue = run.catch((err: unknown) => this.options.onError?.(err, 'metadata'));
    return run;
  }

  private image(): MetadataImage {
    return this.options.metadata.image();
  }

  // ---- lookups ------------------------------------------------------------------------

  getPartition(topic: string, partition: number): Partition | undefined {
    return this.partitions.get(key(topic, partition));
  }

  allPartitions(): Partition[] {
    return [...this.partitions.values()];
  }

  topicId(topic: string): string | undefined {
    return this.image().topicsByName.get(topic)?.topicId;
  }

  topicName(topicId: string): string | undefined {
    return this.image().topicsById.get(topicId)?.name;
  }

  /** The image's leader and epoch of a partition (NOT_LEADER answers carry them). */
  currentLeader(topic: string, partition: number): { leaderId: number; leaderEpoch: number } {
    const p = this.image().topicsByName.get(topic)?.partitions.get(partition);
    return p === undefined ? { leaderId: -1, leaderEpoch: -1 } : { leaderId: p.leader, leaderEpoch: p.leaderEpoch };
  }

  /**
   * Endpoints of the given brokers on a listener (KIP-951: NOT_LEADER_OR_FOLLOWER answers
   * of Produce v10+ and Fetch v16+ tell the client where the new leader is).
   */
  nodeEndpoints(
    nodeIds: Iterable<number>,
    listenerName: string,
  ): { nodeId: number; host: string; port: number; rack: string | null }[] {
    const image = this.image();
    const out = [];
    for (const id of new Set(nodeIds)) {
      const broker = image.brokers.get(id);
      const endpoint = broker?.endpoints.find((e) => e.name === listenerName);
      if (broker !== undefined && endpoint !== undefined) {
        out.push({ nodeId: id, host: endpoint.host, port: endpoint.port, rack: broker.rack });
      }
    }
    return out.sort((a, b) => a.nodeId - b.nodeId);
  }

  /**
   * The partition when this node leads it (and `currentLeaderEpoch`, when not -1, matches),
   * else the error code Kafka answers with.
   */
  lookupLeader(topic: string, partition: number, currentLeaderEpoch = -1): PartitionLookup {
    const p = this.partitions.get(key(topic, partition));
    if (p === undefined || !p.isLeader()) {
      const t = this.image().topicsByName.get(topic);
      if (t === undefined || !t.partitions.has(partition)) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
      return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
    }
    if (currentLeaderEpoch >= 0) {
      if (currentLeaderEpoch < p.leaderEpoch) return { errorCode: ErrorCode.FENCED_LEADER_EPOCH };
      if (currentLeaderEpoch > p.leaderEpoch) return { errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH };
    }
    return { partition: p };
  }

  /**
   * For a consumer fetch (Fetch v11+, KIP-392): the partition when this node leads or
   * follows it (the epoch checked as in lookupLeader), else the error code.
   */
  lookupReplica(topic: string, partition: number, currentLeaderEpoch = -1): PartitionLookup {
    const p = this.partitions.get(key(topic, partition));
    if (p === undefined || (!p.isLeader() && !p.isFollower()))
      return this.lookupLeader(topic, partition, currentLeaderEpoch);
    if (currentLeaderEpoch >= 0) {
      if (currentLeaderEpoch < p.leaderEpoch) return { errorCode: ErrorCode.FENCED_LEADER_EPOCH };
      if (currentLeaderEpoch > p.leaderEpoch) return { errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH };
    }
    return { partition: p };
  }

  /** The broker epoch the image has for a broker (-1 when unknown). */
  registeredBrokerEpoch(brokerId: number): number {
    return this.image().brokers.get(brokerId)?.brokerEpoch ?? -1;
  }

  /**
   * KIP-392 with RackAwareReplicaSelector: an in-sync replica in the consumer's rack other
   * than this leader (the one with the largest log end offset), or -1.
   */
  preferredReadReplica(partition: Partition, clientRack: string): number {
    if (this.replication.replicaSelectorClass !== RACK_AWARE_REPLICA_SELECTOR || clientRack === '') return -1;
    const leader = partition.leaderState;
    if (leader === undefined) return -1;
    const brokers = this.image().brokers;
    if (brokers.get(this.nodeId)?.rack === clientRack) return -1;
    let best = -1;
    let bestEnd = -1;
    for (const id of leader.isr) {
      if (id === this.nodeId) continue;
      const b = brokers.get(id);
      if (b === undefined || b.fenced || b.rack !== clientRack) continue;
      const end = leader.follower(id)?.logEndOffset ?? -1;
      if (end > bestEnd) {
        best = id;
        bestEnd = end;
      }
    }
    return best;
  }

  // ---- log dirs -----------------------------------------------------------------------

  get logDir(): string {
    return this.options.logDir;
  }

  async logDirUsage(): Promise<LogDirUsage | undefined> {
    if (this.options.logDirUsage !== undefined) return this.options.logDirUsage();
    if (this.options.disk === nodeDisk) return statfsUsage(this.options.logDir);
    return undefined;
  }

  // ---- metadata -----------------------------------------------------------------------

  private async applyUpdate(update: MetadataUpdate): Promise<void> {
    if (this.closed) return;
    this.noteApplied(update.image);
    const { image, delta } = update;
    for (const topic of delta.deletedTopics) {
      for (const partitionId of topic.partitions.keys()) await this.removePartition(topic.name, partitionId, true);
    }
    const touched = new Set<string>(delta.changedPartitions.keys());
    for (const changed of delta.changedConfigs) {
      const colon = changed.indexOf(':');
      const type = Number(changed.slice(0, colon));
      if (type === ConfigResourceType.BROKER) {
        // Broker-level defaults may have changed: every topic's effective config.
        for (const t of image.topicsByName.values()) touched.add(t.topicId);
      } else if (type === ConfigResourceType.TOPIC) {
        const t = image.topicsByName.get(changed.slice(colon + 1));
        if (t !== undefined) touched.add(t.topicId);
      }
    }
    if (touched.size === 0) return;
    for (const topicId of touched) {
      const topic = image.topicsById.get(topicId);
      if (topic !== undefined) await this.applyTopic(image, topic, update.previous);
    }
  }

  /** The first image this manager acted on (tests: a restarting broker's is already caught up). */
  firstAppliedImage: MetadataImage | undefined;
  /** How many images this manager acted on. */
  appliedImages = 0;

  private noteApplied(image: MetadataImage): void {
    this.firstAppliedImage ??= image;
    this.appliedImages++;
  }

  private async applyImage(image: MetadataImage, previous: MetadataImage | undefined): Promise<void> {
    this.noteApplied(image);
    for (const topic of image.topicsByName.values()) await this.applyTopic(image, topic, previous);
  }

  private async applyTopic(
    image: MetadataImage,
    topic: TopicImage,
    previous: MetadataImage | undefined,
  ): Promise<void> {
    const defaults = this.options.topicDefaults;
    const config = partitionConfigFrom(
      topicConfigs(image, topic.name),
      typeof defaults === 'function' ? defaults() : defaults,
    );
    for (const p of topic.partitions.values()) {
      if (p.replicas.includes(this.nodeId)) {
        try {
          await this.ensurePartition(topic, p, config);
        } catch (err) {
          // One partition failing to open (a storage error) must not stop the others.
          this.options.onError?.(err, `open ${topic.name}-${p.partitionId}`);
        }
      } else if (
        previous?.topicsByName.get(topic.name)?.partitions.get(p.partitionId)?.replicas.includes(this.nodeId)
      ) {
        await this.removePartition(topic.name, p.partitionId, true);
      }
    }
  }

  private async ensurePartition(
    topic: TopicImage,
    image: PartitionImage,
    config: ReturnType<typeof partitionConfigFrom>,
  ): Promise<void> {
    const k = key(topic.name, image.partitionId);
    let partition = this.partitions.get(k);
    if (partition !== undefined && partition.topicId !== topic.topicId) {
      // Same name, new topic (deleted and re-created): start from an empty log.
      await this.removePartition(topic.name, image.partitionId, true);
      partition = undefined;
    }
    if (partition === undefined) {
      const log = await this.options.logs.getOrCreateLog(topic.name, image.partitionId, config.log);
      const snapshots =
        this.options.disk === undefined
          ? undefined
          : new ProducerSnapshotStore(
              this.options.disk,
              posix.join(this.options.logDir, partitionDirName(topic.name, image.partitionId)),
            );
      partition = new Partition(
        this.nodeId,
        topic.name,
        image.partitionId,
        topic.topicId,
        log,
        config,
        this.options.clock,
        snapshots,
      );
      await partition.loadProducerState();
      const checkpointed = this.checkpointedHw.get(k);
      if (checkpointed !== undefined && checkpointed > log.highWatermark()) log.updateHighWatermark(checkpointed);
      partition.replication = {
        replicaLagTimeMaxMs: this.replication.replicaLagTimeMaxMs,
        replicaFetchBackoffMs: this.replication.replicaFetchBackoffMs,
        isReplicaEligible: (id, epoch) => {
          const b = this.image().brokers.get(id);
          if (b === undefined) return this.image().brokers.size === 0;
          return !b.fenced && !b.inControlledShutdown && (epoch < 0 || b.brokerEpoch === epoch);
        },
      };
      partition.onHighWatermarkAdvanced = (p) => {
        this.fetchPurgatory.checkAndComplete(key(p.topic, p.partition));
        this.maybeTick();
      };
      partition.onIsrChangePending = () => this.sendAlterPartitions();
      // Followers long-poll for new data: wake them on every append, not only when the HW moves.
      partition.onAppendedBelowHighWatermark = (p) => this.fetchPurgatory.checkAndComplete(key(p.topic, p.partition));
      this.partitions.set(k, partition);
    } else {
      partition.applyConfig(config);
      partition.log.updateConfig(config.log);
    }
    if (image.replicas.length > 1 && !this.replicationTimersStarted) {
      // Timers only once something is replicated: a single-node broker runs none.
      this.replicationTimersStarted = true;
      this.scheduleIsrExpiration();
      this.scheduleHwCheckpoint();
    }
    const wasLeader = partition.isLeader();
    const wasFollowing = partition.followerState !== undefined ? partition.leader : -1;
    if (image.leader === this.nodeId && !wasLeader) {
      // Becoming leader: stop fetching first, and let a follower append in flight finish.
      if (wasFollowing >= 0) this.fetchers.get(wasFollowing)?.remove(partition);
      partition.followerState = undefined;
      await partition.whenIdle();
    }
    partition.updateRole({
      leader: image.leader,
      leaderEpoch: image.leaderEpoch,
      replicas: image.replicas,
      isr: image.isr,
      partitionEpoch: image.partitionEpoch,
    });
    // A parked fetch on a partition that changed role answers now (with the new error).
    if (wasLeader && !partition.isLeader()) this.fetchPurgatory.checkAndComplete(k, true);
    const following = partition.followerState !== undefined ? partition.leader : -1;
    if (wasFollowing !== following) {
      if (wasFollowing >= 0) this.fetchers.get(wasFollowing)?.remove(partition);
      if (following >= 0) this.fetcherFor(following).add(partition);
    }
    if (partition.isLeader()) partition.checkIsrChange();
  }

  // ---- replication --------------------------------------------------------------------

  private fetcherFor(sourceId: number): ReplicaFetcher {
    let fetcher = this.fetchers.get(sourceId);
    if (fetcher === undefined) {
      const r = this.replication;
      fetcher = new ReplicaFetcher(sourceId, {
        nodeId: this.nodeId,
        clock: this.options.clock,
        settings: {
          maxBytes: r.replicaFetchMaxBytes,
          minBytes: r.replicaFetchMinBytes,
          waitMaxMs: r.replicaFetchWaitMaxMs,
          responseMaxBytes: r.replicaFetchResponseMaxBytes,
          backoffMs: r.replicaFetchBackoffMs,
        },
        brokerEpoch: () => Number(this.options.brokerEpoch?.() ?? -1n),
        endpointOf: (id) => {
          const broker = this.image().brokers.get(id);
          if (broker === undefined) return undefined;
          const name = r.interBrokerListenerName;
          const endpoint = name === undefined ? broker.endpoints[0] : broker.endpoints.find((e) => e.name === name);
          return endpoint === undefined ? undefined : { host: endpoint.host, port: endpoint.port };
        },
        requestTimeoutMs: r.replicaSocketTimeoutMs,
        onProgress: (p) => this.fetchPurgatory.checkAndComplete(key(p.topic, p.partition)),
        onError: this.options.onError,
        transport: this.options.fetchTransport,
      });
      this.fetchers.set(sourceId, fetcher);
    }
    return fetcher;
  }

  private scheduleIsrExpiration(): void {
    if (this.closed) return;
    const interval = Math.max(1, Math.floor(this.replication.replicaLagTimeMaxMs / 2));
    const cancel = this.options.clock.schedule(interval, () => {
      this.cancelTimers = this.cancelTimers.filter((c) => c !== cancel);
      for (const p of this.partitions.values()) {
        if (p.isLeader()) {
          p.maybeShrinkIsr();
          p.maybeIncrementHighWatermark();
        }
      }
      this.scheduleIsrExpiration();
    });
    this.cancelTimers.push(cancel);
  }

  private scheduleHwCheckpoint(): void {
    if (this.closed || this.options.disk === undefined) return;
    const cancel = this.options.clock.schedule(this.replication.replicaHighWatermarkCheckpointIntervalMs, () => {
      this.cancelTimers = this.cancelTimers.filter((c) => c !== cancel);
      this.checkpointHighWatermarks().catch((err: unknown) => this.options.onError?.(err, 'hw-checkpoint'));
      this.scheduleHwCheckpoint();
    });
    this.cancelTimers.push(cancel);
  }

  /** Writes every hosted partition's high watermark to replication-offset-checkpoint. */
  checkpointHighWatermarks(): Promise<void> {
    const disk = this.options.disk;
    if (disk === undefined) return Promise.resolve();
    const run = this.checkpointing.then(async () => {
      const entries = new Map<string, { topic: string; partition: number; hw: number }>();
      for (const [k, p] of this.partitions)
        entries.set(k, { topic: p.topic, partition: p.partition, hw: p.highWatermark() });
      await writeHighWatermarks(disk, this.options.logDir, serializeHighWatermarks(entries));
    });
    this.checkpointing = run.catch(() => {});
    return run;
  }

  /**
   * Sends one AlterPartition with every leader's pending ISR change (one request in
   * flight; changes proposed meanwhile go in the next one).
   */
  private sendAlterPartitions(): void {
    const send = this.options.alterPartition;
    if (send === undefined || this.closed) return;
    if (this.alterInFlight) {
      this.alterQueued = true;
      return;
    }
    const sent: Partition[] = [];
    const topics = new Map<string, AlterPartitionRequest['topics'][number]>();
    for (const p of this.partitions.values()) {
      const data = p.isLeader() ? p.leaderState?.takeAlterPartition() : undefined;
      if (data === undefined) continue;
      data.partitionIndex = p.partition;
      let t = topics.get(p.topicId);
      if (t === undefined) {
        t = { topicName: p.topic, topicId: p.topicId, partitions: [] };
        topics.set(p.topicId, t);
      }
      t.partitions.push(data);
      sent.push(p);
    }
    if (sent.length === 0) return;
    this.alterInFlight = true;
    this.alterQueued = false;
    const request: AlterPartitionRequest = {
      brokerId: this.nodeId,
      brokerEpoch: this.options.brokerEpoch?.() ?? -1n,
      topics: [...topics.values()],
    };
    const done = (): void => {
      this.alterInFlight = false;
      if (this.alterQueued) this.sendAlterPartitions();
    };
    send(request).then(
      (response) => {
        const now = this.options.clock.monotonicMs();
        const answered = new Set<Partition>();
        for (const t of response.topics) {
          const name = t.topicName !== '' ? t.topicName : this.topicName(t.topicId);
          for (const pd of t.partitions) {
            const p = name === undefined ? undefined : this.partitions.get(key(name, pd.partitionIndex));
            if (p === undefined || !sent.includes(p)) continue;
            answered.add(p);
            const errorCode = response.errorCode !== ErrorCode.NONE ? response.errorCode : pd.errorCode;
            if (p.leaderState?.onAlterPartitionResponse({ ...pd, errorCode }, now)) p.highWatermarkAdvanced();
          }
        }
        for (const p of sent) if (!answered.has(p)) p.leaderState?.onAlterPartitionFailed();
        done();
        if (sent.some((p) => p.leaderState?.hasSendableAlterPartition())) this.retryAlterLater();
      },
      () => {
        for (const p of sent) p.leaderState?.onAlterPartitionFailed();
        done();
        this.retryAlterLater();
      },
    );
  }

  private retryAlterLater(): void {
    const cancel = this.options.clock.schedule(this.replication.replicaFetchBackoffMs, () => {
      this.cancelTimers = this.cancelTimers.filter((c) => c !== cancel);
      this.sendAlterPartitions();
    });
    this.cancelTimers.push(cancel);
  }

  private async removePartition(topic: string, partitionId: number, deleteLog: boolean): Promise<void> {
    const k = key(topic, partitionId);
    const partition = this.partitions.get(k);
    if (partition === undefined) return;
    this.partitions.delete(k);
    if (partition.followerState !== undefined) this.fetchers.get(partition.leader)?.remove(partition);
    partition.abandon();
    this.fetchPurgatory.checkAndComplete(k, true);
    if (deleteLog) await this.options.logs.deleteLog(topic, partitionId);
  }

  // ---- background ---------------------------------------------------------------------

  /**
   * Runs tick() in the background when producerStateCheckIntervalMs has passed since the
   * last one. Called after appends rather than from a timer: producer state only changes
   * (and the log only grows) through appends, and no timer outlives the broker.
   */
  private maybeTick(): void {
    const now = this.options.clock.monotonicMs();
    const interval = this.options.producerStateCheckIntervalMs ?? 600_000;
    if (this.closed || this.ticking || now - this.lastTickMs < interval) return;
    this.ticking = true;
    this.lastTickMs = now;
    this.tick()
      .catch((err: unknown) => this.options.onError?.(err, 'producer-state'))
      .finally(() => {
        this.ticking = false;
      });
  }

  /** Expires idle producers, forgets those below the log start, snapshots changed producer state. */
  async tick(): Promise<void> {
    const now = this.options.clock.nowMs();
    const expiration = this.options.producerIdExpirationMs ?? 86_400_000;
    for (const p of this.partitions.values()) {
      p.producers.removeExpired(now, expiration);
      // Retention may have moved the log start: producers whose batches all went are forgotten.
      p.producers.removeBelow(p.log.logStartOffset());
      await p.snapshotProducerState();
    }
  }

  /**
   * Stops everything without writing anything (a simulated crash: the broker's kill()):
   * no more metadata, parked fetches answered, appends refused.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    for (const cancel of this.cancelTimers) cancel();
    for (const f of this.fetchers.values()) f.abandon();
    this.fetchPurgatory.completeAll();
    for (const p of this.partitions.values()) p.abandon();
  }

  /** Stops following metadata, answers parked fetches, closes partitions (snapshots written). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    for (const cancel of this.cancelTimers) cancel();
    await this.queue;
    await Promise.all([...this.fetchers.values()].map((f) => f.stop()));
    this.fetchPurgatory.completeAll();
    await Promise.all([...this.partitions.values()].map((p) => p.close()));
    await this.checkpointHighWatermarks().catch((err: unknown) => this.options.onError?.(err, 'hw-checkpoint'));
  }
}

function key(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export { key as partitionKey };
