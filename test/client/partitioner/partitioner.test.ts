/**
 * The built-in partitioner: keyed records by murmur2, unkeyed ones sticky (KIP-480/KIP-794).
 * Scenarios follow the Java client's BuiltInPartitionerTest (sticky switching, unavailable
 * partitions, adaptive frequencies with a sequential "random"), plus availability timeout,
 * batch-boundary switching and partitioner.ignore.keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { partitionForKey } from '../../../src/client/partitioner/murmur2.ts';
import {
  BuiltInPartitioner,
  type ClusterView,
  type PartitionLeader,
} from '../../../src/client/partitioner/partitioner.ts';
import { TopicStickyPartitioner } from '../../../src/client/partitioner/sticky.ts';
import type { Random } from '../../../src/env/random.ts';
import { seededRandom } from '../../../src/env/random.ts';

/** A "random" that returns 0, 1, 2, ...: makes every switch predictable (Kafka's SequentialPartitioner). */
function sequentialRandom(): Random {
  let n = 0;
  return {
    next: () => 0,
    int: () => n++,
    bytes: (len) => Buffer.alloc(len),
  };
}

function leaders(...leaderIds: number[]): PartitionLeader[] {
  return leaderIds.map((leaderId, partition) => ({ partition, leaderId }));
}

void describe('TopicStickyPartitioner', () => {
  void it('sticks to one partition until batch size bytes are produced, then switches', () => {
    const partitions = leaders(0, 1, 2);
    const p = new TopicStickyPartitioner('a', 3, sequentialRandom());
    const first = p.peek(partitions);
    for (let i = 0; i < 2; i++) {
      p.update(p.peek(partitions), 1, partitions);
      assert.equal(p.peek(partitions).partition, first.partition);
    }
    assert.equal(p.update(p.peek(partitions), 1, partitions), true);
    assert.notEqual(p.peek(partitions).partition, first.partition);
  });

  void it('keeps switching on a single-partition topic', () => {
    const partitions = leaders(0);
    const p = new TopicStickyPartitioner('b', 1, sequentialRandom());
    for (let i = 0; i < 10; i++) {
      const sticky = p.peek(partitions);
      assert.equal(sticky.partition, 0);
      p.update(sticky, 1, partitions);
    }
  });

  void it('never picks a partition without a leader, unless none has one', () => {
    const partitionsA = leaders(0, -1, 2);
    const a = new TopicStickyPartitioner('a', 1, seededRandom(7));
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const sticky = a.peek(partitionsA);
      seen.add(sticky.partition);
      a.update(sticky, 1, partitionsA);
    }
    assert.deepEqual([...seen].sort(), [0, 2]);

    const partitionsB = leaders(-1, 0);
    const b = new TopicStickyPartitioner('b', 1, seededRandom(8));
    for (let i = 0; i < 100; i++) {
      const sticky = b.peek(partitionsB);
      assert.equal(sticky.partition, 1);
      b.update(sticky, 1, partitionsB);
    }

    const partitionsC = leaders(-1);
    const c = new TopicStickyPartitioner('c', 1, seededRandom(9));
    const sticky = c.peek(partitionsC);
    assert.equal(sticky.partition, 0);
    c.update(sticky, 1, partitionsC);
    assert.equal(c.peek(partitionsC).partition, 0);
  });

  void it('adaptive: picks partitions with frequencies maxQueue + 1 - queueSize', () => {
    const queueSizes = [5, 0, 3, 0, 1];
    const partitions = leaders(0, 1, 2, 3, 0);
    const p = new TopicStickyPartitioner('a', 1, sequentialRandom());
    p.updateLoadStats(
      queueSizes.map((queueSize, partition) => ({ partition, leaderId: 0, queueSize })),
      queueSizes.length,
    );
    const cycles = 2;
    const rangeEnd = p.loadStatsRangeEnd();
    assert.equal(rangeEnd, 1 + 6 + 3 + 6 + 5);
    const frequencies = queueSizes.map(() => 0);
    for (let i = 0; i < rangeEnd * cycles; i++) {
      const sticky = p.peek(partitions);
      frequencies[sticky.partition]!++;
      p.update(sticky, 1, partitions);
    }
    assert.deepEqual(
      frequencies,
      queueSizes.map((q) => (6 - q) * cycles),
    );
  });

  void it('adaptive: uniform while some partition has no queue yet, or all queues are equal', () => {
    const p = new TopicStickyPartitioner('a', 1, sequentialRandom());
    p.updateLoadStats([{ partition: 0, leaderId: 0, queueSize: 4 }], 2);
    assert.equal(p.loadStatsRangeEnd(), 0);
    p.updateLoadStats(
      [
        { partition: 0, leaderId: 0, queueSize: 2 },
        { partition: 1, leaderId: 1, queueSize: 2 },
      ],
      2,
    );
    assert.equal(p.loadStatsRangeEnd(), 0);
    p.updateLoadStats(null, 2);
    assert.equal(p.loadStatsRangeEnd(), 0);
  });

  void it('holds the switch while the batch is open, but not beyond twice the batch size', () => {
    const partitions = leaders(0, 1, 2, 3);
    const p = new TopicStickyPartitioner('a', 100, sequentialRandom());
    const first = p.peek(partitions);
    assert.equal(p.update(first, 150, partitions, false), false);
    assert.equal(p.peek(partitions), first);
    assert.equal(p.update(first, 49, partitions, false), false);
    assert.equal(p.update(first, 1, partitions, false), true);
    assert.notEqual(p.peek(partitions), first);
  });

  void it('completes a held-back switch once the batch is full (0 bytes, switch enabled)', () => {
    const partitions = leaders(0, 1, 2);
    const p = new TopicStickyPartitioner('a', 100, sequentialRandom());
    const first = p.peek(partitions);
    assert.equal(p.update(first, 120, partitions, false), false);
    assert.equal(p.update(first, 0, partitions, true), true);
    assert.notEqual(p.peek(partitions), first);
  });

  void it('ignores updates for a sticky partition that was already replaced', () => {
    const partitions = leaders(0, 1);
    const p = new TopicStickyPartitioner('a', 10, sequentialRandom());
    const first = p.peek(partitions);
    p.update(first, 10, partitions);
    const second = p.peek(partitions);
    assert.equal(p.update(first, 100, partitions), false);
    assert.equal(p.peek(partitions), second);
    assert.equal(second.producedBytes, 0);
  });

  void it('rejects a batch size below 1', () => {
    assert.throws(() => new TopicStickyPartitioner('a', 0, sequentialRandom()), RangeError);
  });

  void it('property: each stint on a partition covers at least batch.size bytes, at most batch.size plus the last record', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 200 }),
        fc.integer(),
        (batchSize, records, seed) => {
          const partitions = leaders(0, 1, 2, 3, 4, 5);
          const p = new TopicStickyPartitioner('t', batchSize, seededRandom(seed));
          let stint = 0;
          for (const bytes of records) {
            const sticky = p.peek(partitions);
            assert.ok(sticky.partition >= 0 && sticky.partition < partitions.length);
            stint += bytes;
            const switched = p.update(sticky, bytes, partitions);
            assert.equal(switched, stint >= batchSize);
            if (switched) {
              assert.ok(stint - bytes < batchSize);
              stint = 0;
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

void describe('BuiltInPartitioner', () => {
  const cluster: ClusterView = { partitionsForTopic: () => leaders(0, 1, 2, 0, 1, 2) };

  void it('puts keyed records on murmur2(key) % numPartitions, counting unavailable partitions', () => {
    const p = new BuiltInPartitioner({}, seededRandom(1));
    const withUnavailable: ClusterView = { partitionsForTopic: () => leaders(0, -1, -1, 0, 1, 2) };
    for (const key of ['foobar', '21', 'abc', 'order-17']) {
      const buf = Buffer.from(key);
      assert.equal(p.partition('t', buf, null, 6, withUnavailable), partitionForKey(buf, 6));
      assert.equal(p.choose('t', buf, 6, withUnavailable.partitionsForTopic('t')).sticky, null);
    }
  });

  void it('sends unkeyed records to the sticky partition, and keys too with ignoreKeys', () => {
    for (const ignoreKeys of [false, true]) {
      const p = new BuiltInPartitioner({ batchSize: 1000, ignoreKeys }, seededRandom(3));
      const partitions = cluster.partitionsForTopic('t');
      const first = p.choose('t', null, 6, partitions);
      assert.ok(first.sticky !== null);
      for (let i = 0; i < 50; i++) {
        const key = Buffer.from(`key-${i}`);
        const choice = p.choose('t', key, 6, partitions);
        if (ignoreKeys) {
          assert.equal(choice.partition, first.partition);
          assert.equal(choice.sticky, first.sticky);
        } else {
          assert.equal(choice.partition, partitionForKey(key, 6));
        }
      }
    }
  });

  void it('keeps a separate sticky partition per topic', () => {
    const p = new BuiltInPartitioner({ batchSize: 10 }, sequentialRandom());
    const partitions = cluster.partitionsForTopic('a');
    const a = p.choose('a', null, 6, partitions);
    const b = p.choose('b', null, 6, partitions);
    assert.equal(a.partition, 0);
    assert.equal(b.partition, 1);
    assert.equal(p.onAppend('a', a.sticky!, 10, partitions), true);
    assert.equal(p.choose('b', null, 6, partitions).partition, 1);
    assert.equal(p.choose('a', null, 6, partitions).partition, 2);
  });

  void it('leaves out partitions on a broker that has not drained for availabilityTimeoutMs', () => {
    const p = new BuiltInPartitioner({ batchSize: 1, availabilityTimeoutMs: 1000 }, seededRandom(11));
    const partitions = leaders(0, 1, 2, 0, 1, 2);
    const queues = partitions.map((x) => ({ ...x, queueSize: 1 }));
    p.updateNodeLatency(1, 0, true);
    p.updateNodeLatency(1, 1000, false);
    assert.equal(p.isNodeUnavailable(1), false);
    p.updateNodeLatency(1, 1001, false);
    assert.equal(p.isNodeUnavailable(1), true);
    p.updateLoadStats('t', queues, partitions.length);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const choice = p.choose('t', null, 6, partitions);
      seen.add(choice.partition);
      p.onAppend('t', choice.sticky!, 1, partitions);
    }
    assert.deepEqual([...seen].sort(), [0, 2, 3, 5]);
    // Once the broker drains again, its partitions come back.
    p.updateNodeLatency(1, 1002, true);
    p.updateLoadStats('t', queues, partitions.length);
    for (let i = 0; i < 200; i++) {
      const choice = p.choose('t', null, 6, partitions);
      seen.add(choice.partition);
      p.onAppend('t', choice.sticky!, 1, partitions);
    }
    assert.equal(seen.size, 6);
  });

  void it('with adaptive partitioning disabled, ignores queue sizes and latency', () => {
    const p = new BuiltInPartitioner(
      { batchSize: 1, adaptivePartitioningEnable: false, availabilityTimeoutMs: 10 },
      sequentialRandom(),
    );
    const partitions = leaders(0, 1);
    p.updateNodeLatency(1, 0, true);
    p.updateNodeLatency(1, 100, false);
    p.updateLoadStats(
      't',
      partitions.map((x, i) => ({ ...x, queueSize: i * 10 })),
      2,
    );
    const picks: number[] = [];
    for (let i = 0; i < 4; i++) {
      const choice = p.choose('t', null, 2, partitions);
      picks.push(choice.partition);
      p.onAppend('t', choice.sticky!, 1, partitions);
    }
    assert.deepEqual(picks, [0, 1, 0, 1]);
  });

  void it('validates its configuration', () => {
    assert.throws(() => new BuiltInPartitioner({ batchSize: 0 }, seededRandom(1)), RangeError);
    assert.throws(() => new BuiltInPartitioner({ availabilityTimeoutMs: -1 }, seededRandom(1)), RangeError);
  });
});
