/**
 * The group APIs over the wire at their old and new versions (raw requests with the
 * generated codecs): FindCoordinator v0/v3/v4 (batched, group and transaction keys),
 * JoinGroup v0 (no member id round trip) and v4+ (MEMBER_ID_REQUIRED), SyncGroup,
 * Heartbeat, OffsetCommit v0-v9 and OffsetFetch v1/v5/v8 (several groups), OffsetDelete,
 * ListGroups filters, DescribeGroups, DeleteGroups, LeaveGroup v0 and v3+, and the
 * KIP-848 ConsumerGroupHeartbeat/ConsumerGroupDescribe.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { RawClient } from './helpers/raw-client.ts';

const TIMEOUT = { timeout: 60_000 };
const SUBSCRIPTION = Buffer.from([0, 0, 0, 0, 0, 1, 0, 5, 112, 114, 111, 116, 111, 255, 255, 255, 255]); // ["proto"]

void describe('group APIs at every version', TIMEOUT, () => {
  let broker: TestBroker;
  let raw: RawClient;

  before(async () => {
    broker = await startTestBroker();
    raw = await RawClient.connect(broker.bootstrap);
    const created = await raw.send(ApiKey.CreateTopics, 5, {
      topics: [{ name: 'proto', numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 10_000,
      validateOnly: false,
    });
    assert.equal(created.topics[0]!.errorCode, 0);
  });
  after(async () => {
    raw?.close();
    await broker?.stop();
  });

  void it('FindCoordinator v0, v3 and v4 (batched keys, transaction keys, bad key type)', async () => {
    let v0 = await raw.send(ApiKey.FindCoordinator, 0, { key: 'g-old', keyType: 0, coordinatorKeys: [] });
    for (let i = 0; v0.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE && i < 50; i++) {
      v0 = await raw.send(ApiKey.FindCoordinator, 0, { key: 'g-old', keyType: 0, coordinatorKeys: [] });
    }
    assert.equal(v0.errorCode, 0);
    assert.equal(v0.nodeId, broker.nodeId);
    assert.equal(v0.port, broker.port);
    const v3 = await raw.send(ApiKey.FindCoordinator, 3, { key: 'txn-1', keyType: 1, coordinatorKeys: [] });
    assert.equal(v3.errorCode, 0);
    const v4 = await raw.send(ApiKey.FindCoordinator, 4, { key: '', keyType: 0, coordinatorKeys: ['a', 'b', 'c'] });
    assert.deepEqual(
      v4.coordinators.map((c) => [c.key, c.errorCode, c.nodeId]),
      [
        ['a', 0, broker.nodeId],
        ['b', 0, broker.nodeId],
        ['c', 0, broker.nodeId],
      ],
    );
    const bad = await raw.send(ApiKey.FindCoordinator, 4, { key: '', keyType: 7, coordinatorKeys: ['a'] });
    assert.equal(bad.coordinators[0]!.errorCode, ErrorCode.INVALID_REQUEST);
  });

  void it('JoinGroup v0 joins directly; v4+ hands out a member id first; SyncGroup, Heartbeat, LeaveGroup v0', async () => {
    const protocols = [{ name: 'range', metadata: SUBSCRIPTION }];
    const v0 = await raw.send(ApiKey.JoinGroup, 0, {
      groupId: 'old',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: -1,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols,
      reason: null,
    });
    assert.equal(v0.errorCode, 0);
    assert.equal(v0.generationId, 1);
    assert.equal(v0.leader, v0.memberId);
    const sync = await raw.send(ApiKey.SyncGroup, 0, {
      groupId: 'old',
      generationId: 1,
      memberId: v0.memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [{ memberId: v0.memberId, assignment: Buffer.from('mine') }],
    });
    assert.equal(sync.assignment.toString(), 'mine');
    const hb = await raw.send(ApiKey.Heartbeat, 0, {
      groupId: 'old',
      generationId: 1,
      memberId: v0.memberId,
      groupInstanceId: null,
    });
    assert.equal(hb.errorCode, 0);
    const leave = await raw.send(ApiKey.LeaveGroup, 0, { groupId: 'old', memberId: v0.memberId, members: [] });
    assert.equal(leave.errorCode, 0);

    const v9 = await raw.send(ApiKey.JoinGroup, 9, {
      groupId: 'new',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols,
      reason: 'test',
    });
    assert.equal(v9.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
    assert.ok(v9.memberId.length > 0);
    const joined = await raw.send(ApiKey.JoinGroup, 9, {
      groupId: 'new',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: v9.memberId,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols,
      reason: null,
    });
    assert.equal(joined.errorCode, 0);
    assert.equal(joined.protocolType, 'consumer');
    assert.equal(joined.protocolName, 'range');
    const badSync = await raw.send(ApiKey.SyncGroup, 5, {
      groupId: 'new',
      generationId: joined.generationId,
      memberId: joined.memberId,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocolName: 'roundrobin',
      assignments: [],
    });
    assert.equal(badSync.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const left = await raw.send(ApiKey.LeaveGroup, 5, {
      groupId: 'new',
      memberId: '',
      members: [
        { memberId: joined.memberId, groupInstanceId: null, reason: 'done' },
        { memberId: 'ghost', groupInstanceId: null, reason: null },
      ],
    });
    assert.deepEqual(
      left.members.map((m) => m.errorCode),
      [0, ErrorCode.UNKNOWN_MEMBER_ID],
    );
  });

  void it('OffsetCommit v0-v9 and OffsetFetch v1, v5 and v8 (several groups)', async () => {
    for (let v = 0; v <= 9; v++) {
      const out = await raw.send(ApiKey.OffsetCommit, v, {
        groupId: `oc-${v}`,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1n,
        topics: [
          {
            name: 'proto',
            partitions: [
              {
                partitionIndex: 0,
                committedOffset: BigInt(10 + v),
                committedLeaderEpoch: -1,
                commitTimestamp: -1n,
                committedMetadata: `v${v}`,
              },
              {
                partitionIndex: 9,
                committedOffset: 1n,
                committedLeaderEpoch: -1,
                commitTimestamp: -1n,
                committedMetadata: null,
              },
            ],
          },
          {
            name: 'nope',
            partitions: [
              {
                partitionIndex: 0,
                committedOffset: 1n,
                committedLeaderEpoch: -1,
                commitTimestamp: -1n,
                committedMetadata: null,
              },
            ],
          },
        ],
      });
      assert.deepEqual(
        out.topics.map((t) => t.partitions.map((p) => p.errorCode)),
        [[0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION], [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]],
        `v${v}`,
      );
    }
    const v1 = await raw.send(ApiKey.OffsetFetch, 1, {
      groupId: 'oc-1',
      topics: [{ name: 'proto', partitionIndexes: [0, 1] }],
      groups: [],
      requireStable: false,
    });
    assert.deepEqual(
      v1.topics[0]!.partitions.map((p) => [p.committedOffset, p.metadata]),
      [
        [11n, 'v1'],
        [-1n, ''],
      ],
    );
    const v5 = await raw.send(ApiKey.OffsetFetch, 5, {
      groupId: 'oc-7',
      topics: null,
      groups: [],
      requireStable: false,
    });
    assert.equal(v5.errorCode, 0);
    assert.equal(v5.topics[0]!.partitions[0]!.committedOffset, 17n);
    const v8 = await raw.send(ApiKey.OffsetFetch, 8, {
      groupId: '',
      topics: [],
      requireStable: true,
      groups: [
        { groupId: 'oc-8', memberId: null, memberEpoch: -1, topics: null },
        { groupId: 'oc-9', memberId: null, memberEpoch: -1, topics: [{ name: 'proto', partitionIndexes: [0] }] },
        { groupId: 'unknown', memberId: null, memberEpoch: -1, topics: [{ name: 'proto', partitionIndexes: [0] }] },
      ],
    });
    assert.deepEqual(
      v8.groups.map((g) => [g.groupId, g.errorCode, g.topics[0]?.partitions[0]?.committedOffset]),
      [
        ['oc-8', 0, 18n],
        ['oc-9', 0, 19n],
        ['unknown', 0, -1n],
      ],
    );
  });

  void it('OffsetDelete, ListGroups filters, DescribeGroups, DeleteGroups', async () => {
    const del = await raw.send(ApiKey.OffsetDelete, 0, {
      groupId: 'oc-2',
      topics: [{ name: 'proto', partitions: [{ partitionIndex: 0 }] }],
    });
    assert.equal(del.errorCode, 0);
    assert.equal(del.topics[0]!.partitions[0]!.errorCode, 0);
    const missing = await raw.send(ApiKey.OffsetDelete, 0, { groupId: 'no-such', topics: [] });
    assert.equal(missing.errorCode, ErrorCode.GROUP_ID_NOT_FOUND);
    const listed = await raw.send(ApiKey.ListGroups, 5, { statesFilter: ['Empty'], typesFilter: ['classic'] });
    const ids = listed.groups.map((g) => g.groupId);
    assert.ok(ids.includes('oc-3') && ids.includes('old'), ids.join(','));
    assert.ok(listed.groups.every((g) => g.groupState === 'Empty' && g.groupType === 'classic'));
    const none = await raw.send(ApiKey.ListGroups, 4, { statesFilter: ['Stable'], typesFilter: [] });
    assert.deepEqual(none.groups, []);
    const described = await raw.send(ApiKey.DescribeGroups, 5, {
      groups: ['old', 'never'],
      includeAuthorizedOperations: true,
    });
    assert.deepEqual(
      described.groups.map((g) => [g.groupId, g.groupState, g.protocolType]),
      [
        ['old', 'Empty', 'consumer'],
        ['never', 'Dead', ''],
      ],
    );
    const deleted = await raw.send(ApiKey.DeleteGroups, 2, { groupsNames: ['old', 'oc-3', 'never'] });
    assert.deepEqual(
      deleted.results.map((r) => [r.groupId, r.errorCode]),
      [
        ['old', 0],
        ['oc-3', 0],
        ['never', ErrorCode.GROUP_ID_NOT_FOUND],
      ],
    );
  });

  void it('ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848)', async () => {
    const joined = await raw.send(ApiKey.ConsumerGroupHeartbeat, 0, {
      groupId: 'kip848',
      memberId: '',
      memberEpoch: 0,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: 30_000,
      subscribedTopicNames: ['proto'],
      subscribedTopicRegex: null,
      serverAssignor: 'range',
      topicPartitions: [],
    });
    assert.equal(joined.errorCode, 0);
    assert.equal(joined.memberEpoch, 1);
    assert.deepEqual(joined.assignment!.topicPartitions[0]!.partitions, [0, 1, 2]);
    const described = await raw.send(ApiKey.ConsumerGroupDescribe, 0, {
      groupIds: ['kip848'],
      includeAuthorizedOperations: false,
    });
    const g = described.groups[0]!;
    assert.equal(g.errorCode, 0);
    assert.equal(g.groupEpoch, 1);
    assert.equal(g.assignorName, 'range');
    assert.equal(g.members[0]!.assignment.topicPartitions[0]!.topicName, 'proto');
    const left = await raw.send(ApiKey.ConsumerGroupHeartbeat, 0, {
      groupId: 'kip848',
      memberId: joined.memberId!,
      memberEpoch: -1,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: -1,
      subscribedTopicNames: null,
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: null,
    });
    assert.equal(left.memberEpoch, -1);
  });
});
