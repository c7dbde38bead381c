/**
 * Choosing the partition of a produced record, as the Java producer does when no
 * `partitioner.class` is configured (3.3+, KIP-794):
 *
 * 1. an explicit partition on the record wins (the producer checks that before asking us);
 * 2. a record with key bytes goes to `toPositive(murmur2(key)) % numPartitions`, counted over all
 *    partitions, available or not, unless `partitioner.ignore.keys` is set;
 * 3. any other record goes to the topic's sticky partition (see sticky.ts), switched after
 *    `batch.size` bytes, adaptively weighted by queue sizes when
 *    `partitioner.adaptive.partitioning.enable`, and skipping brokers that have not drained for
 *    `partitioner.availability.timeout.ms` (0 disables that check).
 *
 * A user partitioner implements `Partitioner`; returning `UNKNOWN_PARTITION` hands the record to
 * the built-in sticky logic (the Java client's `RecordMetadata.UNKNOWN_PARTITION`).
 */
import type { Random } from '../../env/random.ts';
import { partitionForKey } from './murmur2.ts';
import { type PartitionLeader, type PartitionQueue, type StickyPartition, TopicStickyPartitioner } from './sticky.ts';

export type { PartitionLeader, PartitionQueue, StickyPartition } from './sticky.ts';

/** "No partition chosen": let the built-in sticky partitioner decide. */
export const UNKNOWN_PARTITION = -1;

/** What a partitioner may read of the cluster: the topic's partitions and their leaders. */
export interface ClusterView {
  partitionsForTopic(topic: string): readonly PartitionLeader[];
}

export interface Partitioner {
  /** A partition in [0, numPartitions), or UNKNOWN_PARTITION. */
  partition(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    numPartitions: number,
    cluster: ClusterView,
  ): number;
}

export interface PartitionerConfig {
  /** `batch.size`: bytes produced to the sticky partition before switching. */
  batchSize: number;
  /** `partitioner.adaptive.partitioning.enable` */
  adaptivePartitioningEnable: boolean;
  /** `partitioner.availability.timeout.ms`; 0 never treats a broker as unavailable. */
  availabilityTimeoutMs: number;
  /** `partitioner.ignore.keys`: keyed records are spread like unkeyed ones. */
  ignoreKeys: boolean;
}

/** The Java producer's defaults. */
export const DEFAULT_PARTITIONER_CONFIG: Readonly<PartitionerConfig> = {
  batchSize: 16384,
  adaptivePartitioningEnable: true,
  availabilityTimeoutMs: 0,
  ignoreKeys: false,
};

/** The outcome of `choose`: `sticky` is set when the sticky partitioner chose, to pass back to `onAppend`. */
export interface PartitionChoice {
  partition: number;
  sticky: StickyPartition | null;
}

/** Per broker: the last time it had batches ready, and the last time it could take them. */
interface NodeLatency {
  readyTimeMs: number;
  drainTimeMs: number;
}

export class BuiltInPartitioner implements Partitioner {
  private readonly config: PartitionerConfig;
  /** One entry per topic produced to; `forgetTopic` drops one when the producer drops the topic. */
  private readonly topics = new Map<string, TopicStickyPartitioner>();
  /** One entry per broker that had batches ready: bounded by the cluster's size. */
  private readonly nodeLatency = new Map<number, NodeLatency>();

  constructor(
    config: Partial<PartitionerConfig>,
    private readonly random: Random,
  ) {
    this.config = { ...DEFAULT_PARTITIONER_CONFIG, ...config };
    if (!Number.isInteger(this.config.batchSize) || this.config.batchSize < 1) {
      throw new RangeError(`batchSize must be >= 1, got ${this.config.batchSize}`);
    }
    if (this.config.availabilityTimeoutMs < 0) {
      throw new RangeError(`availabilityTimeoutMs must be >= 0, got ${this.config.availabilityTimeoutMs}`);
    }
  }

  partition(
    topic: string,
    key: Buffer | null,
    _value: Buffer | null,
    numPartitions: number,
    cluster: ClusterView,
  ): number {
    return this.choose(topic, key, numPartitions, cluster.partitionsForTopic(topic)).partition;
  }

  /**
   * Keyed: murmur2 over `numPartitions`. Unkeyed (or keys ignored): the current sticky partition,
   * returned with its handle; after appending, report the bytes through `onAppend`.
   */
  choose(
    topic: string,
    key: Uint8Array | null,
    numPartitions: number,
    partitions: readonly PartitionLeader[],
  ): PartitionChoice {
    if (key !== null && !this.config.ignoreKeys) {
      return { partition: partitionForKey(key, numPartitions), sticky: null };
    }
    const sticky = this.topicState(topic).peek(partitions);
    return { partition: sticky.partition, sticky };
  }

  /**
   * Account `appendedBytes` appended to the sticky partition; may switch. `enableSwitch` is false
   * while the partition's queue has a batch that is not yet full. Returns true if it switched.
   *
   * The accumulator's flow for an unkeyed record, as in the Java client: `choose`; if the chosen
   * queue's batches are all full, `onAppend(topic, sticky, 0, partitions, true)` first and, if that
   * switched, `choose` again (a switch held back earlier completes now); append; then
   * `onAppend(topic, sticky, appendedBytes, partitions, allBatchesFull)`.
   */
  onAppend(
    topic: string,
    sticky: StickyPartition,
    appendedBytes: number,
    partitions: readonly PartitionLeader[],
    enableSwitch = true,
  ): boolean {
    return this.topicState(topic).update(sticky, appendedBytes, partitions, enableSwitch);
  }

  /**
   * The sender's view of a broker in its ready check: it had batches ready at `nowMs`, and
   * `canDrain` tells whether it could send them. Only kept when availabilityTimeoutMs > 0.
   */
  updateNodeLatency(nodeId: number, nowMs: number, canDrain: boolean): void {
    if (this.config.availabilityTimeoutMs <= 0) return;
    let stats = this.nodeLatency.get(nodeId);
    if (stats === undefined) {
      stats = { readyTimeMs: nowMs, drainTimeMs: nowMs };
      this.nodeLatency.set(nodeId, stats);
    }
    if (canDrain) stats.drainTimeMs = nowMs;
    stats.readyTimeMs = nowMs;
  }

  /** True when the broker has had data ready but could not drain it for longer than the availability timeout. */
  isNodeUnavailable(nodeId: number): boolean {
    if (this.config.availabilityTimeoutMs <= 0) return false;
    const stats = this.nodeLatency.get(nodeId);
    return stats !== undefined && stats.readyTimeMs - stats.drainTimeMs > this.config.availabilityTimeoutMs;
  }

  /**
   * The accumulator's queue sizes for `topic`, from its ready check (adaptive partitioning).
   * Ignored when adaptive partitioning is disabled.
   */
  updateLoadStats(topic: string, queues: readonly PartitionQueue[], numPartitions: number): void {
    const state = this.topicState(topic);
    if (!this.config.adaptivePartitioningEnable) {
      state.updateLoadStats(null, numPartitions);
      return;
    }
    state.updateLoadStats(queues, numPartitions, (q) => this.isNodeUnavailable(q.leaderId));
  }

  /** Drop the state of a topic the producer no longer writes to. */
  forgetTopic(topic: string): void {
    this.topics.delete(topic);
  }

  private topicState(topic: string): TopicStickyPartitioner {
    let state = this.topics.get(topic);
    if (state === undefined) {
      state = new TopicStickyPartitioner(topic, this.config.batchSize, this.random);
      this.topics.set(topic, state);
    }
    return state;
  }
}
