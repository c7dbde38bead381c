/**
 * AlterPartition: Kafka's validation order and error codes, ISR changes, reassignment completion.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alterPartition } from '../../../src/metadata/control/alter-partition.ts';
import { alterPartitionReassignments } from '../../../src/metadata/control/reassignment.ts';
import type { AlterPartitionRequest } from '../../../src/protocol/generated/alter-partition-request.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { checkInvariants, settings, TestCluster } from './helpers.ts';

function setup() {
  const c = new TestCluster();
  for (const id of [1, 2, 3]) c.addBroker(id);
  c.addTopic('t', [[1, 2, 3]]);
  return c;
}

function request(
  c: TestCluster,
  change: { isr: number[]; from?: number; leaderEpoch?: number; partitionEpoch?: number },
): AlterPartitionRequest {
  const topic = c.image.topicsByName.get('t')!;
  const p = c.partition('t');
  const from = change.from ?? p.leader;
  return {
    brokerId: from,
    brokerEpoch: BigInt(c.image.brokers.get(from)?.brokerEpoch ?? -1),
    topics: [
      {
        topicName: 't',
        topicId: topic.topicId,
        partitions: [
          {
            partitionIndex: 0,
            leaderEpoch: change.leaderEpoch ?? p.leaderEpoch,
            newIsr: change.isr,
            newIsrWithEpochs: change.isr.map((brokerId) => ({
              brokerId,
              brokerEpoch: BigInt(c.image.brokers.get(brokerId)?.brokerEpoch ?? -1),
            })),
            leaderRecoveryState: 0,
            partitionEpoch: change.partitionEpoch ?? p.partitionEpoch,
          },
        ],
      },
    ],
  };
}

function errorOf(c: TestCluster, req: AlterPartitionRequest, version = 3): number {
  const { records, response } = alterPartition(c.image, req, version, settings);
  if (response.errorCode !== ErrorCode.NONE) return response.errorCode;
  const code = response.topics[0]!.partitions[0]!.errorCode;
  if (code !== ErrorCode.NONE) assert.equal(records.length, 0);
  return code;
}

void describe('AlterPartition', () => {
  void it('shrinks and expands the ISR, answering the new state', () => {
    const c = setup();
    const { records, response } = alterPartition(c.image, request(c, { isr: [1, 2] }), 3, settings);
    const r = response.topics[0]!.partitions[0]!;
    assert.equal(r.errorCode, ErrorCode.NONE);
    assert.deepEqual(r.isr, [1, 2]);
    assert.equal(r.partitionEpoch, 1);
    assert.equal(r.leaderEpoch, 0);
    c.apply(records);
    assert.deepEqual(c.partition('t').isr, [1, 2]);
    assert.equal(c.partition('t').partitionEpoch, 1);
    c.apply(alterPartition(c.image, request(c, { isr: [1, 2, 3] }), 3, settings).records);
    assert.deepEqual(c.partition('t').isr, [1, 2, 3]);
    assert.equal(c.partition('t').leaderEpoch, 0);
    // The same ISR again: no record, success with the current state.
    const same = alterPartition(c.image, request(c, { isr: [1, 2, 3] }), 3, settings);
    assert.equal(same.records.length, 0);
    assert.equal(same.response.topics[0]!.partitions[0]!.partitionEpoch, 2);
  });

  void it('rejects in Kafka order with Kafka error codes', () => {
    const c = setup();
    const p = c.partition('t');
    assert.equal(errorOf(c, { ...request(c, { isr: [1, 2] }), brokerEpoch: 999n }), ErrorCode.STALE_BROKER_EPOCH);
    assert.equal(errorOf(c, request(c, { isr: [1, 2], leaderEpoch: p.leaderEpoch + 1 })), ErrorCode.NOT_CONTROLLER);
    assert.equal(
      errorOf(c, request(c, { isr: [1, 2], partitionEpoch: p.partitionEpoch + 1 })),
      ErrorCode.NOT_CONTROLLER,
    );
    assert.equal(errorOf(c, request(c, { isr: [2, 3], from: 2 })), ErrorCode.INVALID_REQUEST);
    assert.equal(errorOf(c, request(c, { isr: [1, 4] })), ErrorCode.INVALID_REQUEST);
    assert.equal(errorOf(c, request(c, { isr: [2, 3] })), ErrorCode.INVALID_REQUEST);
    assert.equal(errorOf(c, request(c, { isr: [] })), ErrorCode.INVALID_REQUEST);
    c.apply(alterPartition(c.image, request(c, { isr: [1, 2] }), 3, settings).records);
    // A stale partition epoch (the update raced another) and a stale leader epoch.
    assert.equal(errorOf(c, request(c, { isr: [1], partitionEpoch: 0 })), ErrorCode.INVALID_UPDATE_VERSION);
    c.heartbeat(1, { wantFence: true }); // leader moves to 2 with a new epoch
    assert.equal(errorOf(c, request(c, { isr: [1, 2], from: 1, leaderEpoch: 0 })), ErrorCode.FENCED_LEADER_EPOCH);
    assert.equal(checkInvariants(c.image), undefined);
  });

  void it('INELIGIBLE_REPLICA for fenced, shutting-down or stale-epoch members (OPERATION_NOT_ATTEMPTED before v2)', () => {
    const c = setup();
    c.apply(alterPartition(c.image, request(c, { isr: [1] }), 3, settings).records);
    c.heartbeat(2, { wantFence: true });
    assert.equal(errorOf(c, request(c, { isr: [1, 2] })), ErrorCode.INELIGIBLE_REPLICA);
    assert.equal(errorOf(c, request(c, { isr: [1, 2] }), 1), ErrorCode.OPERATION_NOT_ATTEMPTED);
    c.heartbeat(3, { wantShutDown: true });
    assert.equal(errorOf(c, request(c, { isr: [1, 3] })), ErrorCode.INELIGIBLE_REPLICA);
    c.heartbeat(2, {});
    const stale = request(c, { isr: [1, 2] });
    stale.topics[0]!.partitions[0]!.newIsrWithEpochs[1]!.brokerEpoch = 1n;
    assert.equal(errorOf(c, stale), ErrorCode.INELIGIBLE_REPLICA);
    // v2 and older carry no broker epochs: only liveness counts.
    assert.equal(errorOf(c, request(c, { isr: [1, 2] }), 2), ErrorCode.NONE);
  });

  void it('v0/v1 find topics by name, v2+ by id', () => {
    const c = setup();
    const byName = request(c, { isr: [1, 2] });
    byName.topics[0]!.topicId = 'AAAAAAAAAAAAAAAAAAAAAA';
    assert.equal(errorOf(c, byName, 1), ErrorCode.NONE);
    assert.equal(errorOf(c, byName, 2), ErrorCode.UNKNOWN_TOPIC_ID);
    const unknownName = request(c, { isr: [1, 2] });
    unknownName.topics[0]!.topicName = 'nope';
    assert.equal(errorOf(c, unknownName, 1), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const unknownPartition = request(c, { isr: [1, 2] });
    unknownPartition.topics[0]!.partitions[0]!.partitionIndex = 7;
    assert.equal(errorOf(c, unknownPartition), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  void it('leader recovery: RECOVERING allows an ISR of one; RECOVERED cannot go back', () => {
    const c = setup();
    const req = request(c, { isr: [1, 2] });
    req.topics[0]!.partitions[0]!.leaderRecoveryState = 1;
    assert.equal(errorOf(c, req), ErrorCode.INVALID_REQUEST);
    const one = request(c, { isr: [1] });
    one.topics[0]!.partitions[0]!.leaderRecoveryState = 1;
    assert.equal(errorOf(c, one), ErrorCode.INVALID_REQUEST);
  });

  void it('completes a reassignment once the adding replicas are in sync, electing away from a removed leader', () => {
    const c = new TestCluster();
    for (const id of [1, 2, 3, 4]) c.addBroker(id);
    c.addTopic('t', [[1, 2]]);
    const started = alterPartitionReassignments(
      c.image,
      { timeoutMs: 1000, topics: [{ name: 't', partitions: [{ partitionIndex: 0, replicas: [3, 4] }] }] },
      settings,
    );
    c.apply(started.records);
    let p = c.partition('t');
    assert.deepEqual(p.replicas, [3, 4, 1, 2]);
    assert.deepEqual(p.addingReplicas, [3, 4]);
    assert.deepEqual(p.removingReplicas, [1, 2]);
    assert.equal(p.leader, 1);
    // 3 catches up first: still reassigning.
    c.apply(alterPartition(c.image, request(c, { isr: [1, 2, 3] }), 3, settings).records);
    assert.deepEqual(c.partition('t').addingReplicas, [3, 4]);
    const done = alterPartition(c.image, request(c, { isr: [1, 2, 3, 4] }), 3, settings);
    const r = done.response.topics[0]!.partitions[0]!;
    assert.equal(r.errorCode, ErrorCode.NEW_LEADER_ELECTED);
    assert.equal(r.leaderId, 3);
    c.apply(done.records);
    p = c.partition('t');
    assert.deepEqual(p.replicas, [3, 4]);
    assert.deepEqual(p.isr, [3, 4]);
    assert.deepEqual(p.addingReplicas, []);
    assert.deepEqual(p.removingReplicas, []);
    assert.equal(p.leader, 3);
    assert.equal(r.leaderEpoch, p.leaderEpoch);
    assert.equal(r.partitionEpoch, p.partitionEpoch);
    assert.equal(checkInvariants(c.image), undefined);
  });
});
