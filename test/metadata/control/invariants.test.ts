/**
 * Property: any sequence of registrations, heartbeats, session expiries, topic creations,
 * AlterPartition, elections and reassignments, each replayed into the image, keeps:
 * every leader in its ISR and a live replica (or -1); ISR non-empty and within the replicas;
 * leader and partition epochs never decrease; a fenced or shutting-down broker leads nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../../../src/env/random.ts';
import { alterPartition } from '../../../src/metadata/control/alter-partition.ts';
import { fenceExpiredBrokers, registerBroker } from '../../../src/metadata/control/brokers.ts';
import { autoLeaderRebalance, electLeaders } from '../../../src/metadata/control/elect-leaders.ts';
import { isPlacementError, placeReplicas, usableBrokers } from '../../../src/metadata/control/placement.ts';
import { alterPartitionReassignments } from '../../../src/metadata/control/reassignment.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { allPartitions, checkInvariants, SESSION_MS, settings, TestCluster } from './helpers.ts';

const brokerId = fc.integer({ min: 1, max: 5 });
/** True one time in eight. */
const rarely = fc.nat(7).map((n) => n === 0);
const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const op = fc.oneof(
  weighted(
    1,
    fc.record({
      kind: fc.constant('register' as const),
      id: brokerId,
      gen: fc.nat(2),
      rack: fc.constantFrom('r1', 'r2', null),
    }),
  ),
  weighted(
    4,
    fc.record({
      kind: fc.constant('heartbeat' as const),
      id: brokerId,
      wantFence: rarely,
      wantShutDown: rarely,
      behind: rarely,
    }),
  ),
  weighted(1, fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: SESSION_MS + 1000 }) })),
  weighted(
    2,
    fc.record({
      kind: fc.constant('topic' as const),
      partitions: fc.integer({ min: 1, max: 4 }),
      rf: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer(),
    }),
  ),
  weighted(
    4,
    fc.record({
      kind: fc.constant('alterIsr' as const),
      pick: fc.nat(),
      members: fc.array(brokerId, { maxLength: 4 }),
      stale: rarely,
    }),
  ),
  weighted(1, fc.record({ kind: fc.constant('elect' as const), type: fc.constantFrom(0, 1) })),
  weighted(
    2,
    fc.record({
      kind: fc.constant('reassign' as const),
      pick: fc.nat(),
      target: fc.option(fc.uniqueArray(brokerId, { minLength: 1, maxLength: 3 }), { nil: null }),
    }),
  ),
  weighted(1, fc.record({ kind: fc.constant('rebalance' as const) })),
  weighted(1, fc.record({ kind: fc.constant('unclean' as const), on: fc.boolean() })),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

/** A cluster of `brokers` registered and unfenced brokers on two racks, then the ops. */
function run(ops: Op[], brokers = 0): void {
  const c = new TestCluster();
  for (let id = 1; id <= brokers; id++) c.addBroker(id, id % 2 === 0 ? 'r2' : 'r1');
  const epochs = new Map<string, { leaderEpoch: number; partitionEpoch: number }>();
  let topics = 0;
  for (const o of ops) {
    switch (o.kind) {
      case 'register': {
        const { records, response } = registerBroker(c.image, c.registrationRequest(o.id, o.rack, o.gen), {
          nextOffset: c.nextOffset,
          nowMs: c.nowMs,
          heartbeats: c.heartbeats,
          sessionTimeoutMs: SESSION_MS,
          settings,
        });
        c.apply(records);
        if (response.errorCode === ErrorCode.NONE) {
          assert.equal(c.image.brokers.get(o.id)!.brokerEpoch, Number(response.brokerEpoch));
          assert.equal(c.image.brokers.get(o.id)!.fenced, true);
        }
        break;
      }
      case 'heartbeat': {
        if (!c.image.brokers.has(o.id)) break;
        const r = c.heartbeat(o.id, {
          wantFence: o.wantFence,
          wantShutDown: o.wantShutDown,
          offset: o.behind ? c.image.brokers.get(o.id)!.brokerEpoch - 1 : c.image.offset,
        });
        assert.equal(r.isFenced, c.image.brokers.get(o.id)!.fenced);
        if (r.shouldShutDown) {
          for (const { p } of allPartitions(c.image)) assert.notEqual(p.leader, o.id, 'leads after shouldShutDown');
        }
        break;
      }
      case 'tick':
        c.nowMs += o.ms;
        c.apply(fenceExpiredBrokers(c.image, c.heartbeats, c.nowMs, SESSION_MS, settings));
        break;
      case 'topic': {
        const placed = placeReplicas(
          usableBrokers(c.image),
          { numPartitions: o.partitions, replicationFactor: o.rf },
          seededRandom(o.seed),
        );
        if (isPlacementError(placed)) break;
        c.addTopic(`t${topics++}`, placed);
        break;
      }
      case 'alterIsr': {
        const all = allPartitions(c.image).filter(({ p }) => p.leader !== -1);
        if (all.length === 0) break;
        const { topic, p } = all[o.pick % all.length]!;
        const isr = [...new Set([p.leader, ...o.members.filter((m) => p.replicas.includes(m))])];
        const { records, response } = alterPartition(
          c.image,
          {
            brokerId: p.leader,
            brokerEpoch: BigInt(c.image.brokers.get(p.leader)!.brokerEpoch),
            topics: [
              {
                topicName: topic.name,
                topicId: topic.topicId,
                partitions: [
                  {
                    partitionIndex: p.partitionId,
                    leaderEpoch: p.leaderEpoch,
                    newIsr: [],
                    newIsrWithEpochs: isr.map((id) => ({
                      brokerId: id,
                      brokerEpoch: BigInt(c.image.brokers.get(id)?.brokerEpoch ?? -1),
                    })),
                    leaderRecoveryState: p.leaderRecoveryState,
                    partitionEpoch: o.stale ? p.partitionEpoch - 1 : p.partitionEpoch,
                  },
                ],
              },
            ],
          },
          3,
          settings,
        );
        c.apply(records);
        const r = response.topics[0]!.partitions[0]!;
        if (r.errorCode === ErrorCode.NONE || r.errorCode === ErrorCode.NEW_LEADER_ELECTED) {
          const after = c.partition(topic.name, p.partitionId);
          assert.equal(r.partitionEpoch, after.partitionEpoch);
          assert.equal(r.leaderEpoch, after.leaderEpoch);
          assert.equal(r.leaderId, after.leader);
        } else {
          assert.equal(records.length, 0);
        }
        break;
      }
      case 'elect':
        c.apply(electLeaders(c.image, { electionType: o.type, topicPartitions: null, timeoutMs: 0 }).records);
        break;
      case 'reassign': {
        const all = allPartitions(c.image);
        if (all.length === 0) break;
        const { topic, p } = all[o.pick % all.length]!;
        const { records } = alterPartitionReassignments(
          c.image,
          {
            timeoutMs: 0,
            topics: [{ name: topic.name, partitions: [{ partitionIndex: p.partitionId, replicas: o.target }] }],
          },
          settings,
        );
        c.apply(records);
        break;
      }
      case 'rebalance':
        c.apply(autoLeaderRebalance(c.image).records);
        break;
      case 'unclean':
        for (let i = 0; i < topics; i++) c.setTopicConfig(`t${i}`, 'unclean.leader.election.enable', String(o.on));
        break;
    }
    const violation = checkInvariants(c.image);
    assert.equal(violation, undefined, `after ${JSON.stringify(o)}: ${violation}`);
    for (const { topic, p } of allPartitions(c.image)) {
      const key = `${topic.topicId}-${p.partitionId}`;
      const prev = epochs.get(key);
      if (prev !== undefined) {
        assert.ok(p.leaderEpoch >= prev.leaderEpoch, `${key} leader epoch went back`);
        assert.ok(p.partitionEpoch >= prev.partitionEpoch, `${key} partition epoch went back`);
      }
      epochs.set(key, { leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch });
    }
  }
}

void describe('controller decisions keep the partition invariants', () => {
  void it('property: random operation sequences', () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 10, maxLength: 60, size: 'max' }),
        fc.integer({ min: 0, max: 5 }),
        (ops, brokers) => run(ops, brokers),
      ),
      { numRuns: 300 },
    );
  });

  void it('a scripted storm: brokers fail and return while topics are reassigned', () => {
    const ops: Op[] = [];
    for (const id of [1, 2, 3, 4, 5]) ops.push({ kind: 'register', id, gen: 0, rack: id % 2 ? 'r1' : 'r2' });
    for (const id of [1, 2, 3, 4, 5])
      ops.push({ kind: 'heartbeat', id, wantFence: false, wantShutDown: false, behind: false });
    ops.push({ kind: 'topic', partitions: 4, rf: 3, seed: 7 });
    ops.push({ kind: 'reassign', pick: 1, target: [5, 4, 3] });
    ops.push({ kind: 'tick', ms: SESSION_MS });
    ops.push({ kind: 'heartbeat', id: 1, wantFence: false, wantShutDown: false, behind: false });
    ops.push({ kind: 'tick', ms: SESSION_MS });
    ops.push({ kind: 'elect', type: 1 });
    ops.push({ kind: 'unclean', on: true });
    ops.push({ kind: 'elect', type: 1 });
    run(ops);
  });
});
