/**
 * The partition change builder, ElectLeaders, the auto leader rebalance and reassignments.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alterPartition } from '../../../src/metadata/control/alter-partition.ts';
import { autoLeaderRebalance, ElectionType, electLeaders } from '../../../src/metadata/control/elect-leaders.ts';
import {
  acceptableLeaders,
  buildPartitionChange,
  uncleanElectionEnabled,
} from '../../../src/metadata/control/election.ts';
import { alterPartitionReassignments, listPartitionReassignments } from '../../../src/metadata/control/reassignment.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { checkInvariants, settings, TestCluster } from './helpers.ts';

function cluster(brokers: number[], topics: Record<string, number[][]>) {
  const c = new TestCluster();
  for (const id of brokers) c.addBroker(id);
  for (const [name, assignment] of Object.entries(topics)) c.addTopic(name, assignment);
  return c;
}

function elect(
  c: TestCluster,
  electionType: number,
  topicPartitions: { topic: string; partitions: number[] }[] | null,
) {
  const { records, response } = electLeaders(c.image, { electionType, topicPartitions, timeoutMs: 1000 });
  c.apply(records);
  return response.replicaElectionResults.map((t) => ({
    topic: t.topic,
    codes: t.partitionResult.map((p) => [p.partitionId, p.errorCode]),
  }));
}

void describe('partition change builder', () => {
  void it('writes only changed fields and nothing when nothing changes', () => {
    const c = cluster([1, 2], { t: [[1, 2]] });
    const topicId = c.image.topicsByName.get('t')!.topicId;
    const p = c.partition('t');
    assert.equal(buildPartitionChange(topicId, p, acceptableLeaders(c.image), {}), null);
    const shrink = buildPartitionChange(topicId, p, acceptableLeaders(c.image), { isr: [1] })!;
    assert.deepEqual(shrink.isr, [1]);
    assert.equal(shrink.leader, -2);
    assert.equal(shrink.replicas, null);
    assert.equal(shrink.leaderRecoveryState, -1);
    // The leader leaves the ISR: the next in replica order within the ISR takes over.
    const moved = buildPartitionChange(topicId, p, acceptableLeaders(c.image, { remove: 1 }), { isr: [2] })!;
    assert.equal(moved.leader, 2);
  });
});

void describe('unclean.leader.election.enable', () => {
  void it("topic config, then this node's config, then the cluster default, then the static value", () => {
    const c = cluster([1], { t: [[1]] });
    const broker = (name: string, value: string | null) =>
      c.apply([
        {
          typeId: 4,
          version: 0,
          record: { resourceType: 4, resourceName: name, name: 'unclean.leader.election.enable', value },
        },
      ]);
    assert.equal(uncleanElectionEnabled(c.image, 't', false), false);
    assert.equal(uncleanElectionEnabled(c.image, 't', true), true);
    broker('1', 'true');
    assert.equal(uncleanElectionEnabled(c.image, 't', false, 1), true);
    assert.equal(uncleanElectionEnabled(c.image, 't', false), false);
    broker('', 'false');
    assert.equal(uncleanElectionEnabled(c.image, 't', true, 1), true);
    assert.equal(uncleanElectionEnabled(c.image, 't', true, 2), false);
    c.setTopicConfig('t', 'unclean.leader.election.enable', 'TRUE');
    assert.equal(uncleanElectionEnabled(c.image, 't', false, 1), true);
  });
});

void describe('ElectLeaders', () => {
  void it('PREFERRED: elects replicas[0] back, or says why not', () => {
    const c = cluster([1, 2, 3], {
      t: [
        [1, 2],
        [2, 3],
        [3, 1],
      ],
    });
    c.heartbeat(1, { wantFence: true });
    c.heartbeat(1, {});
    // Partition 0 is led by 2 now and 1 is out of its ISR; partition 2's ISR lost 1 too.
    assert.equal(c.partition('t', 0).leader, 2);
    assert.deepEqual(elect(c, ElectionType.PREFERRED, [{ topic: 't', partitions: [0, 1, 9] }]), [
      {
        topic: 't',
        codes: [
          [0, ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE],
          [1, ErrorCode.ELECTION_NOT_NEEDED],
          [9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
        ],
      },
    ]);
    // 1 back in the ISR (its leader says so): now it can lead again.
    const topic = c.image.topicsByName.get('t')!;
    const p = c.partition('t', 0);
    c.apply(
      alterPartition(
        c.image,
        {
          brokerId: 2,
          brokerEpoch: -1n,
          topics: [
            {
              topicName: 't',
              topicId: topic.topicId,
              partitions: [
                {
                  partitionIndex: 0,
                  leaderEpoch: p.leaderEpoch,
                  newIsr: [2, 1],
                  newIsrWithEpochs: [],
                  leaderRecoveryState: 0,
                  partitionEpoch: p.partitionEpoch,
                },
              ],
            },
          ],
        },
        2,
        settings,
      ).records,
    );
    assert.deepEqual(elect(c, ElectionType.PREFERRED, null), [{ topic: 't', codes: [[0, ErrorCode.NONE]] }]);
    assert.equal(c.partition('t', 0).leader, 1);
    assert.deepEqual(elect(c, ElectionType.PREFERRED, [{ topic: 'nope', partitions: [0] }]), [
      { topic: 'nope', codes: [[0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]] },
    ]);
  });

  void it('UNCLEAN: only leaderless partitions; a live out-of-sync replica leads, RECOVERING', () => {
    const c = cluster([1, 2], { t: [[1, 2]], u: [[1]] });
    const topic = c.image.topicsByName.get('t')!;
    c.apply(
      alterPartition(
        c.image,
        {
          brokerId: 1,
          brokerEpoch: -1n,
          topics: [
            {
              topicName: 't',
              topicId: topic.topicId,
              partitions: [
                {
                  partitionIndex: 0,
                  leaderEpoch: 0,
                  newIsr: [1],
                  newIsrWithEpochs: [],
                  leaderRecoveryState: 0,
                  partitionEpoch: 0,
                },
              ],
            },
          ],
        },
        2,
        settings,
      ).records,
    );
    assert.deepEqual(elect(c, ElectionType.UNCLEAN, [{ topic: 't', partitions: [0] }]), [
      { topic: 't', codes: [[0, ErrorCode.ELECTION_NOT_NEEDED]] },
    ]);
    c.heartbeat(1, { wantFence: true });
    assert.equal(c.partition('t').leader, -1);
    assert.deepEqual(elect(c, ElectionType.UNCLEAN, null), [
      { topic: 't', codes: [[0, ErrorCode.NONE]] },
      { topic: 'u', codes: [[0, ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE]] },
    ]);
    const p = c.partition('t');
    assert.equal(p.leader, 2);
    assert.deepEqual(p.isr, [2]);
    assert.equal(p.leaderRecoveryState, 1);
    assert.equal(checkInvariants(c.image), undefined);
    // The recovered leader reports RECOVERED with an ISR of one; then may grow it.
    const report = (isr: number[], state: number) => {
      const q = c.partition('t');
      return alterPartition(
        c.image,
        {
          brokerId: 2,
          brokerEpoch: -1n,
          topics: [
            {
              topicName: 't',
              topicId: topic.topicId,
              partitions: [
                {
                  partitionIndex: 0,
                  leaderEpoch: q.leaderEpoch,
                  newIsr: isr,
                  newIsrWithEpochs: [],
                  leaderRecoveryState: state,
                  partitionEpoch: q.partitionEpoch,
                },
              ],
            },
          ],
        },
        2,
        settings,
      );
    };
    const recovered = report([2], 0);
    assert.equal(recovered.response.topics[0]!.partitions[0]!.errorCode, ErrorCode.NONE);
    c.apply(recovered.records);
    assert.equal(c.partition('t').leaderRecoveryState, 0);
  });

  void it('autoLeaderRebalance elects preferred leaders of brokers above the imbalance ratio', () => {
    const c = cluster([1, 2], {
      t: [
        [1, 2],
        [1, 2],
        [2, 1],
      ],
    });
    c.heartbeat(1, { wantFence: true });
    c.heartbeat(1, {});
    // 1 is back but not in any ISR yet: nothing to do.
    assert.deepEqual(autoLeaderRebalance(c.image).elected, []);
    const topic = c.image.topicsByName.get('t')!;
    for (const id of [0, 1]) {
      const p = c.partition('t', id);
      c.apply(
        alterPartition(
          c.image,
          {
            brokerId: 2,
            brokerEpoch: -1n,
            topics: [
              {
                topicName: 't',
                topicId: topic.topicId,
                partitions: [
                  {
                    partitionIndex: id,
                    leaderEpoch: p.leaderEpoch,
                    newIsr: [2, 1],
                    newIsrWithEpochs: [],
                    leaderRecoveryState: 0,
                    partitionEpoch: p.partitionEpoch,
                  },
                ],
              },
            ],
          },
          2,
          settings,
        ).records,
      );
    }
    // 100% of broker 1's preferred partitions are led elsewhere: above 10%, both move back.
    assert.equal(autoLeaderRebalance(c.image, { imbalancePerBrokerPercentage: 100 }).elected.length, 0);
    assert.equal(autoLeaderRebalance(c.image, { maxElections: 1 }).records.length, 1);
    const { records, elected } = autoLeaderRebalance(c.image);
    assert.deepEqual(elected, [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
    ]);
    c.apply(records);
    assert.equal(c.partition('t', 0).leader, 1);
    assert.equal(c.partition('t', 2).leader, 2);
    assert.deepEqual(autoLeaderRebalance(c.image).elected, []);
  });
});

void describe('partition reassignment', () => {
  const reassign = (c: TestCluster, name: string, partitionIndex: number, replicas: number[] | null) => {
    const { records, response } = alterPartitionReassignments(
      c.image,
      { timeoutMs: 1000, topics: [{ name, partitions: [{ partitionIndex, replicas }] }] },
      settings,
    );
    c.apply(records);
    return response.responses[0]!.partitions[0]!.errorCode;
  };

  void it('starts, lists and cancels', () => {
    const c = cluster([1, 2, 3, 4], { t: [[1, 2]] });
    assert.equal(reassign(c, 't', 0, null), ErrorCode.NO_REASSIGNMENT_IN_PROGRESS);
    assert.equal(reassign(c, 't', 0, [2, 3]), ErrorCode.NONE);
    const p = c.partition('t');
    assert.deepEqual(p.replicas, [2, 3, 1]);
    assert.deepEqual(p.addingReplicas, [3]);
    assert.deepEqual(p.removingReplicas, [1]);
    const listed = listPartitionReassignments(c.image, { timeoutMs: 1000, topics: null });
    assert.deepEqual(listed.topics, [
      {
        name: 't',
        partitions: [{ partitionIndex: 0, replicas: [2, 3, 1], addingReplicas: [3], removingReplicas: [1] }],
      },
    ]);
    assert.deepEqual(
      listPartitionReassignments(c.image, { timeoutMs: 1000, topics: [{ name: 'nope', partitionIndexes: [0] }] })
        .topics,
      [],
    );
    // Replacing the target keeps the original replicas as the base.
    assert.equal(reassign(c, 't', 0, [4, 2]), ErrorCode.NONE);
    assert.deepEqual(c.partition('t').replicas, [4, 2, 1]);
    assert.deepEqual(c.partition('t').addingReplicas, [4]);
    assert.equal(reassign(c, 't', 0, null), ErrorCode.NONE);
    const back = c.partition('t');
    // Back to the original replica set; the order is the reassignment's (as in Kafka's revert).
    assert.deepEqual(back.replicas, [2, 1]);
    assert.equal(back.leader, 1);
    assert.deepEqual(back.isr, [1, 2]);
    assert.deepEqual(back.addingReplicas, []);
    assert.deepEqual(back.removingReplicas, []);
    assert.equal(checkInvariants(c.image), undefined);
  });

  void it('completes at once when nothing must catch up; fences removed replicas with a new leader epoch', () => {
    const c = cluster([1, 2, 3], { t: [[1, 2, 3]] });
    assert.equal(reassign(c, 't', 0, [3, 1, 2]), ErrorCode.NONE);
    assert.deepEqual(c.partition('t').replicas, [3, 1, 2]);
    assert.equal(c.partition('t').leaderEpoch, 0);
    assert.equal(reassign(c, 't', 0, [3, 1]), ErrorCode.NONE);
    const p = c.partition('t');
    assert.deepEqual(p.replicas, [3, 1]);
    assert.deepEqual(p.isr, [1, 3]);
    assert.equal(p.leader, 1);
    assert.equal(p.leaderEpoch, 1);
    assert.deepEqual(p.removingReplicas, []);
  });

  void it('refuses bad targets and unknown partitions', () => {
    const c = cluster([1, 2], { t: [[1, 2]] });
    assert.equal(reassign(c, 't', 0, [1, 1]), ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    assert.equal(reassign(c, 't', 0, [1, 9]), ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    assert.equal(reassign(c, 't', 0, []), ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    assert.equal(reassign(c, 't', 5, [1]), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    assert.equal(reassign(c, 'nope', 0, [1]), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});
