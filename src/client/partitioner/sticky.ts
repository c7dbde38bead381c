/**
 * The per-topic state of the producer's built-in partitioner for records without a key: the
 * "uniform sticky" partitioner of KIP-480 as revised by KIP-794, matching the Java client's
 * BuiltInPartitioner (3.3+):
 *
 * - stick to one partition until `batch.size` bytes have been appended to it, then switch; the
 *   caller may hold the switch back while the partition's last batch is not yet full (so a switch
 *   lands on a batch boundary), but never beyond 2 x `batch.size` bytes;
 * - a switch picks among partitions that have a leader, uniformly at random, or, when adaptive
 *   partitioning has load stats, with a weight of `maxQueueSize + 1 - queueSize` per partition
 *   (so a partition whose leader drains slowly is picked less often);
 * - load stats come from the accumulator's queue sizes; they are only used once every partition
 *   has a queue, and partitions whose leader has not drained for `partitioner.availability.timeout.ms`
 *   are left out of them;
 * - with no partition available at all, pick among all partitions.
 *
 * Randomness is injected (src/env/random.ts) so tests and the simulator can replay a run.
 */
import type { Random } from '../../env/random.ts';

/** A partition of a topic and its current leader, as the producer's metadata sees it. */
export interface PartitionLeader {
  partition: number;
  /** The leader's node id, or -1 when the partition has no leader (it is unavailable). */
  leaderId: number;
}

/** One accumulator queue, as seen in the producer's ready check. */
export interface PartitionQueue {
  partition: number;
  /** -1 when the partition has no leader: such a queue is left out of the load stats. */
  leaderId: number;
  /** Number of batches queued for the partition. */
  queueSize: number;
}

/** Cumulative frequency table for the weighted choice (KIP-794). */
interface LoadStats {
  /** Running sums of `maxQueueSize + 1 - queueSize`; strictly increasing. */
  cumulativeFrequency: number[];
  partitionIds: number[];
}

/** What the producer learns when it asks for the current sticky partition. */
export interface StickyPartition {
  readonly partition: number;
  /** Bytes appended to this partition since it was chosen. */
  producedBytes: number;
}

/** The Java client's `toPositive(ThreadLocalRandom.nextInt())`: an int in [0, 2^31). */
function randomNonNegativeInt(random: Random): number {
  return random.int(0x80000000);
}

export class TopicStickyPartitioner {
  private current: StickyPartition | null = null;
  private loadStats: LoadStats | null = null;

  constructor(
    readonly topic: string,
    private readonly stickyBatchSize: number,
    private readonly random: Random,
  ) {
    if (!Number.isInteger(stickyBatchSize) || stickyBatchSize < 1) {
      throw new RangeError(`stickyBatchSize must be >= 1, got ${stickyBatchSize}`);
    }
  }

  /** The partition unkeyed records go to now; picks one on first use. */
  peek(partitions: readonly PartitionLeader[]): StickyPartition {
    if (this.current === null) this.current = { partition: this.next(partitions), producedBytes: 0 };
    return this.current;
  }

  /**
   * Record `appendedBytes` appended to `sticky` (the value `peek` returned) and switch partition once
   * enough has been produced. `enableSwitch` is false while the partition's last batch is still
   * open; the switch then waits for the batch, up to 2 x batch size.
   * Returns true when the partition changed.
   */
  update(
    sticky: StickyPartition,
    appendedBytes: number,
    partitions: readonly PartitionLeader[],
    enableSwitch = true,
  ): boolean {
    if (sticky !== this.current) return false; // Someone switched already; nothing to account.
    sticky.producedBytes += appendedBytes;
    const produced = sticky.producedBytes;
    if ((produced >= this.stickyBatchSize && enableSwitch) || produced >= this.stickyBatchSize * 2) {
      this.current = { partition: this.next(partitions), producedBytes: 0 };
      return true;
    }
    return false;
  }

  /**
   * Feed the accumulator's queue sizes (adaptive partitioning). `queues` has the topic's
   * partitions that have a queue; `numPartitions` is the topic's partition count; `excluded` tells
   * whether a partition's leader is unavailable under `partitioner.availability.timeout.ms`.
   * Pass `null` to go back to uniform switching (adaptive partitioning disabled).
   */
  updateLoadStats(
    queues: readonly PartitionQueue[] | null,
    numPartitions: number,
    excluded: (queue: PartitionQueue) => boolean = () => false,
  ): void {
    // Kafka waits until every partition has a queue: a partition missing from the stats would never be chosen.
    if (queues === null || queues.length < numPartitions) {
      this.loadStats = null;
      return;
    }
    const withLeader = queues.filter((q) => q.leaderId >= 0);
    // An empty queue never counts as slow: Kafka skips the latency check for it.
    const kept = withLeader.filter((q) => q.queueSize === 0 || !excluded(q));
    // Fewer than two partitions: nothing to balance, unless some were left out for being slow.
    if (kept.length < 1 || queues.length < 2) {
      this.loadStats = null;
      return;
    }
    let max = 0;
    let allEqual = true;
    for (const q of kept) {
      if (q.queueSize !== kept[0]!.queueSize) allEqual = false;
      if (q.queueSize > max) max = q.queueSize;
    }
    // Uniform unless some queues differ or some partitions are left out (no leader, or slow).
    if (allEqual && kept.length === queues.length) {
      this.loadStats = null;
      return;
    }
    const cumulativeFrequency: number[] = [];
    let sum = 0;
    for (const q of kept) {
      sum += max + 1 - q.queueSize;
      cumulativeFrequency.push(sum);
    }
    this.loadStats = { cumulativeFrequency, partitionIds: kept.map((q) => q.partition) };
  }

  /** End of the range the weighted random draw covers (the sum of all weights), or 0 when not adaptive. */
  loadStatsRangeEnd(): number {
    return this.loadStats?.cumulativeFrequency.at(-1) ?? 0;
  }

  private next(partitions: readonly PartitionLeader[]): number {
    if (partitions.length === 0) throw new RangeError(`topic ${this.topic} has no partitions`);
    const random = randomNonNegativeInt(this.random);
    const stats = this.loadStats;
    if (stats === null) {
      const available = partitions.filter((p) => p.leaderId >= 0);
      if (available.length > 0) return available[random % available.length]!.partition;
      return partitions[random % partitions.length]!.partition;
    }
    const table = stats.cumulativeFrequency;
    const weighted = random % table[table.length - 1]!;
    // First entry strictly greater than the draw.
    let lo = 0;
    let hi = table.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (table[mid]! > weighted) hi = mid;
      else lo = mid + 1;
    }
    return stats.partitionIds[lo]!;
  }
}
