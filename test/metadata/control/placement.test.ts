/**
 * Replica placement: distinct brokers, distinct racks where possible, leaders spread.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../../../src/env/random.ts';
import {
  isPlacementError,
  newPartitionRecord,
  type PlacementBroker,
  placeReplicas,
  usableBrokers,
  validateAssignment,
} from '../../../src/metadata/control/placement.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { TestCluster, topicIdOf } from './helpers.ts';

function place(brokers: PlacementBroker[], numPartitions: number, replicationFactor: number, seed = 1): number[][] {
  const out = placeReplicas(brokers, { numPartitions, replicationFactor }, seededRandom(seed));
  if (isPlacementError(out)) throw new Error(out.errorMessage);
  return out;
}

void describe('replica placement', () => {
  void it('puts each replica of a partition on another rack while racks remain', () => {
    const brokers = [1, 2, 3, 4, 5, 6].map((id) => ({ id, rack: `r${id % 3}` }));
    const rackOf = new Map(brokers.map((b) => [b.id, b.rack]));
    for (const replicas of place(brokers, 12, 3)) {
      assert.equal(new Set(replicas.map((r) => rackOf.get(r))).size, 3, `replicas ${replicas}`);
    }
  });

  void it('spreads leaders evenly and starts at a seeded broker', () => {
    const brokers = [1, 2, 3, 4].map((id) => ({ id, rack: null }));
    const leaders = place(brokers, 8, 2).map((r) => r[0]);
    for (const id of [1, 2, 3, 4]) assert.equal(leaders.filter((l) => l === id).length, 2);
    const firstLeaders = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => place(brokers, 1, 1, seed)[0]![0]));
    assert.ok(firstLeaders.size > 1, 'different seeds start on different brokers');
  });

  void it('INVALID_REPLICATION_FACTOR and INVALID_PARTITIONS', () => {
    const brokers = [{ id: 1, rack: null }];
    const tooMany = placeReplicas(brokers, { numPartitions: 1, replicationFactor: 2 }, seededRandom(1));
    assert.ok(isPlacementError(tooMany) && tooMany.errorCode === ErrorCode.INVALID_REPLICATION_FACTOR);
    const zero = placeReplicas(brokers, { numPartitions: 0, replicationFactor: 1 }, seededRandom(1));
    assert.ok(isPlacementError(zero) && zero.errorCode === ErrorCode.INVALID_PARTITIONS);
  });

  void it('uses only unfenced brokers not shutting down', () => {
    const c = new TestCluster();
    for (const id of [1, 2, 3]) c.addBroker(id, `r${id}`);
    c.heartbeat(2, { wantFence: true });
    c.heartbeat(3, { wantShutDown: true });
    assert.deepEqual(usableBrokers(c.image), [{ id: 1, rack: 'r1' }]);
  });

  void it('new partition records: ISR of the live replicas, the first leads; none live is refused', () => {
    const c = new TestCluster();
    for (const id of [1, 2, 3]) c.addBroker(id);
    c.heartbeat(1, { wantFence: true });
    const topicId = topicIdOf('n');
    const made = newPartitionRecord(c.image, topicId, 0, [1, 2, 3]);
    assert.ok(!isPlacementError(made));
    c.apply([{ typeId: 2, version: 0, record: { name: 'n', topicId } }, made]);
    const p = c.partition('n');
    assert.deepEqual([p.replicas, p.isr, p.leader, p.leaderEpoch], [[1, 2, 3], [2, 3], 2, 0]);
    const none = newPartitionRecord(c.image, topicId, 1, [1]);
    assert.ok(isPlacementError(none) && none.errorCode === ErrorCode.INVALID_REPLICATION_FACTOR);
  });

  void it('validates explicit assignments', () => {
    const c = new TestCluster();
    c.addBroker(1);
    c.addBroker(2);
    assert.equal(validateAssignment(c.image, [1, 2], 2), undefined);
    assert.equal(validateAssignment(c.image, [1, 1])?.errorCode, ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    assert.equal(validateAssignment(c.image, [1, 7])?.errorCode, ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    assert.equal(validateAssignment(c.image, [])?.errorCode, ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    assert.equal(validateAssignment(c.image, [1], 2)?.errorCode, ErrorCode.INVALID_REPLICA_ASSIGNMENT);
  });

  void it('property: distinct brokers, racks respected when possible, leaders balanced', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }), { minLength: 1, maxLength: 9 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer(),
        (racks, numPartitions, rfWanted, seed) => {
          const brokers = racks.map((r, i) => ({ id: i + 1, rack: r === null ? null : `rack${r}` }));
          const rf = Math.min(rfWanted, brokers.length);
          const out = place(brokers, numPartitions, rf, seed);
          const rackOf = (id: number) => {
            const b = brokers.find((x) => x.id === id)!;
            return b.rack ?? `none-${id}`;
          };
          const rackCount = new Set(brokers.map((b) => rackOf(b.id))).size;
          const leaders = new Map<number, number>();
          assert.equal(out.length, numPartitions);
          for (const replicas of out) {
            assert.equal(replicas.length, rf);
            assert.equal(new Set(replicas).size, rf, `duplicate broker in ${replicas}`);
            assert.equal(new Set(replicas.map(rackOf)).size, Math.min(rf, rackCount), `racks of ${replicas}`);
            leaders.set(replicas[0]!, (leaders.get(replicas[0]!) ?? 0) + 1);
          }
          const counts = brokers.map((b) => leaders.get(b.id) ?? 0);
          assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `leader counts ${counts}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});
