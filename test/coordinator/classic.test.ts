import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GroupCoordinator } from '../../src/coordinator/group/coordinator.ts';
import type { JoinParams } from '../../src/coordinator/group/shard.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import type { JoinGroupResponse } from '../../src/protocol/generated/join-group-response.ts';
import { type Harness, harness as makeHarness, settle, subscription } from './helpers.ts';

const harness = (o: Parameters<typeof makeHarness>[0] = {}) => makeHarness({ initialRebalanceDelayMs: 3000, ...o });

function joinParams(overrides: Partial<JoinParams> = {}): JoinParams {
  return {
    groupId: 'g',
    memberId: '',
    groupInstanceId: null,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscription(['t']) }],
    clientId: 'c',
    clientHost: '/127.0.0.1',
    apiVersion: 5,
    ...overrides,
  };
}

/** Joins with KIP-394 (MEMBER_ID_REQUIRED, then the real join); returns the pending join. */
async function join(
  c: GroupCoordinator,
  overrides: Partial<JoinParams> = {},
): Promise<{ pending: Promise<JoinGroupResponse> }> {
  const p = joinParams(overrides);
  if (p.memberId === '' && p.groupInstanceId === null && p.apiVersion >= 4) {
    const first = await c.joinGroup(p);
    assert.equal(first.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
    p.memberId = first.memberId;
  }
  const pending = c.joinGroup(p);
  await settle();
  return { pending };
}

async function stableGroup(h: Harness, n: number, overrides: Partial<JoinParams>[] = []) {
  const c = h.coordinator;
  const joins = [];
  for (let i = 0; i < n; i++) joins.push((await join(c, { clientId: `c${i}`, ...overrides[i] })).pending);
  // The initial delay, extended once because a second member arrived during it.
  await h.clock.advance(6000);
  const responses = await Promise.all(joins);
  const leader = responses.find((r) => r.memberId === r.leader)!;
  assert.equal(leader.members.length, n);
  const assignments = responses.map((r, i) => ({ memberId: r.memberId, assignment: Buffer.from(`a${i}`) }));
  const syncs = responses.map((r) =>
    c.syncGroup({
      groupId: 'g',
      generationId: r.generationId,
      memberId: r.memberId,
      groupInstanceId: overrides[responses.indexOf(r)]?.groupInstanceId ?? null,
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: r.memberId === r.leader ? assignments : [],
    }),
  );
  const synced = await Promise.all(syncs);
  for (const [i, s] of synced.entries()) {
    assert.equal(s.errorCode, 0);
    assert.equal(s.assignment.toString(), `a${i}`);
  }
  return responses;
}

void describe('classic group coordinator', () => {
  void it('joins two members, elects a leader, distributes the leader assignment', async () => {
    const h = await harness();
    const [a, b] = await stableGroup(h, 2);
    assert.equal(a!.generationId, 1);
    assert.equal(b!.generationId, 1);
    assert.equal(a!.protocolName, 'range');
    assert.equal(await h.coordinator.heartbeat('g', a!.memberId, null, 1), ErrorCode.NONE);
    assert.equal(await h.coordinator.heartbeat('g', b!.memberId, null, 0), ErrorCode.ILLEGAL_GENERATION);
    assert.equal(await h.coordinator.heartbeat('g', 'nobody', null, 1), ErrorCode.UNKNOWN_MEMBER_ID);
    const [desc] = await h.coordinator.describeGroups(['g']);
    assert.equal(desc!.groupState, 'Stable');
    assert.equal(desc!.members.length, 2);
  });

  void it('checks session timeouts and protocols', async () => {
    const h = await harness();
    const bad = await h.coordinator.joinGroup(joinParams({ sessionTimeoutMs: 10 }));
    assert.equal(bad.errorCode, ErrorCode.INVALID_SESSION_TIMEOUT);
    await stableGroup(h, 1);
    const other = await h.coordinator.joinGroup(
      joinParams({ protocols: [{ name: 'roundrobin', metadata: Buffer.alloc(0) }], apiVersion: 3 }),
    );
    assert.equal(other.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  });

  void it('removes a member after its session timeout and rebalances the rest', async () => {
    const h = await harness();
    const [a, b] = await stableGroup(h, 2);
    // Only a heartbeats; b goes silent.
    for (let t = 0; t < 12; t++) {
      await h.clock.advance(1000);
      const code = await h.coordinator.heartbeat('g', a!.memberId, null, 1);
      if (code === ErrorCode.REBALANCE_IN_PROGRESS) break;
      assert.equal(code, ErrorCode.NONE);
    }
    assert.equal(await h.coordinator.heartbeat('g', a!.memberId, null, 1), ErrorCode.REBALANCE_IN_PROGRESS);
    const rejoin = await h.coordinator.joinGroup(joinParams({ memberId: a!.memberId }));
    assert.equal(rejoin.generationId, 2);
    assert.deepEqual(
      rejoin.members.map((m) => m.memberId),
      [a!.memberId],
    );
    assert.equal(await h.coordinator.heartbeat('g', b!.memberId, null, 1), ErrorCode.UNKNOWN_MEMBER_ID);
  });

  void it('group.max.size refuses extra members', async () => {
    const h = await harness({ maxGroupSize: 1 });
    await stableGroup(h, 1);
    const r = await h.coordinator.joinGroup(joinParams());
    assert.equal(r.errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED);
  });

  void it('a static member rejoining within its session gets its assignment back without a rebalance', async () => {
    const h = await harness();
    const [a, b] = await stableGroup(h, 2, [{ groupInstanceId: 'i0' }, { groupInstanceId: 'i1' }]);
    const follower = a!.memberId === a!.leader ? b! : a!;
    const instance = follower === a ? 'i0' : 'i1';
    // Restarted process: unknown member id, same instance id and subscription.
    const again = await h.coordinator.joinGroup(joinParams({ groupInstanceId: instance }));
    assert.equal(again.errorCode, 0);
    assert.equal(again.generationId, 1);
    assert.notEqual(again.memberId, follower.memberId);
    const sync = await h.coordinator.syncGroup({
      groupId: 'g',
      generationId: 1,
      memberId: again.memberId,
      groupInstanceId: instance,
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [],
    });
    assert.equal(sync.errorCode, 0);
    assert.equal(sync.assignment.toString(), follower === a ? 'a0' : 'a1');
    // The old incarnation is fenced.
    assert.equal(await h.coordinator.heartbeat('g', follower.memberId, instance, 1), ErrorCode.FENCED_INSTANCE_ID);
    const [desc] = await h.coordinator.describeGroups(['g']);
    assert.equal(desc!.groupState, 'Stable');
    // And the replacement is durable.
    await h.restart();
    assert.equal(await h.coordinator.heartbeat('g', again.memberId, instance, 1), ErrorCode.NONE);
  });

  void it('leaves (batched, KIP-345) and empties the group', async () => {
    const h = await harness();
    const [a, b] = await stableGroup(h, 2);
    const out = await h.coordinator.leaveGroup('g', [
      { memberId: a!.memberId, groupInstanceId: null },
      { memberId: b!.memberId, groupInstanceId: null },
      { memberId: 'x', groupInstanceId: null },
    ]);
    assert.deepEqual(
      out.members.map((m) => m.errorCode),
      [0, 0, ErrorCode.UNKNOWN_MEMBER_ID],
    );
    await settle();
    const [desc] = await h.coordinator.describeGroups(['g']);
    assert.equal(desc!.groupState, 'Empty');
  });

  void it('commits and fetches offsets; they survive a restart; generation checks apply', async () => {
    const h = await harness();
    const [a] = await stableGroup(h, 1);
    const commit = (generation: number, memberId: string, offset: number) =>
      h.coordinator.commitOffsets({
        groupId: 'g',
        generationIdOrMemberEpoch: generation,
        memberId,
        groupInstanceId: null,
        retentionTimeMs: -1,
        apiVersion: 8,
        topics: [
          {
            name: 't',
            partitions: [
              {
                partitionIndex: 0,
                committedOffset: offset,
                committedLeaderEpoch: 3,
                commitTimestampMs: -1,
                committedMetadata: 'm',
              },
            ],
          },
        ],
      });
    assert.equal((await commit(1, a!.memberId, 42)).topics[0]!.partitions[0]!.errorCode, 0);
    assert.equal((await commit(7, a!.memberId, 43)).topics[0]!.partitions[0]!.errorCode, ErrorCode.ILLEGAL_GENERATION);
    assert.equal((await commit(1, 'who', 43)).topics[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
    const fetched = await h.coordinator.fetchOffsets('g', [{ name: 't', partitionIndexes: [0, 1] }]);
    assert.deepEqual(
      fetched.topics[0]!.partitions.map((p) => [p.committedOffset, p.committedLeaderEpoch, p.metadata]),
      [
        [42, 3, 'm'],
        [-1, -1, ''],
      ],
    );
    await h.restart();
    const after = await h.coordinator.fetchOffsets('g', null);
    assert.equal(after.topics[0]!.partitions[0]!.committedOffset, 42);
    const [desc] = await h.coordinator.describeGroups(['g']);
    assert.equal(desc!.groupState, 'Stable');
    assert.equal(desc!.members[0]!.memberId, a!.memberId);
    assert.equal(await h.coordinator.heartbeat('g', a!.memberId, null, 1), ErrorCode.NONE);
  });

  void it('a failed append leaves the state unchanged and answers with a coordinator error', async () => {
    const h = await harness();
    h.log.failAppendsWith = ErrorCode.NOT_LEADER_OR_FOLLOWER;
    const out = await h.coordinator.commitOffsets({
      groupId: 'g',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      apiVersion: 8,
      topics: [
        {
          name: 't',
          partitions: [
            {
              partitionIndex: 0,
              committedOffset: 5,
              committedLeaderEpoch: -1,
              commitTimestampMs: -1,
              committedMetadata: null,
            },
          ],
        },
      ],
    });
    assert.equal(out.errorCode, ErrorCode.NOT_COORDINATOR);
    h.log.failAppendsWith = undefined;
    const fetched = await h.coordinator.fetchOffsets('g', [{ name: 't', partitionIndexes: [0] }]);
    assert.equal(fetched.topics[0]!.partitions[0]!.committedOffset, -1);
    const listed = await h.coordinator.listGroups([], []);
    assert.equal(listed.groups.length, 0);
  });

  void it('expires offsets of empty groups after offsets.retention.minutes and deletes the group', async () => {
    const h = await harness({ offsetsRetentionMs: 60_000, offsetsRetentionCheckIntervalMs: 10_000 });
    await h.coordinator.commitOffsets({
      groupId: 'g',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1,
      apiVersion: 8,
      topics: [
        {
          name: 't',
          partitions: [
            {
              partitionIndex: 0,
              committedOffset: 5,
              committedLeaderEpoch: -1,
              commitTimestampMs: -1,
              committedMetadata: null,
            },
          ],
        },
      ],
    });
    assert.equal((await h.coordinator.listGroups([], [])).groups.length, 1);
    await h.clock.advance(30_000);
    assert.equal((await h.coordinator.fetchOffsets('g', null)).topics.length, 1);
    await h.clock.advance(40_000);
    assert.equal((await h.coordinator.fetchOffsets('g', null)).topics.length, 0);
    assert.equal((await h.coordinator.listGroups([], [])).groups.length, 0);
    await h.restart();
    assert.equal((await h.coordinator.fetchOffsets('g', null)).topics.length, 0);
  });

  void it('DeleteGroups: NON_EMPTY_GROUP while members are there, GROUP_ID_NOT_FOUND for unknown', async () => {
    const h = await harness();
    const [a] = await stableGroup(h, 1);
    assert.deepEqual(await h.coordinator.deleteGroups(['g', 'nope']), [
      { groupId: 'g', errorCode: ErrorCode.NON_EMPTY_GROUP },
      { groupId: 'nope', errorCode: ErrorCode.GROUP_ID_NOT_FOUND },
    ]);
    await h.coordinator.leaveGroup('g', [{ memberId: a!.memberId, groupInstanceId: null }]);
    assert.deepEqual(await h.coordinator.deleteGroups(['g']), [{ groupId: 'g', errorCode: 0 }]);
    await h.restart();
    assert.equal((await h.coordinator.listGroups([], [])).groups.length, 0);
  });

  void it('rebalances when a third member joins; followers learn it from heartbeats', async () => {
    const h = await harness();
    const [a, b] = await stableGroup(h, 2);
    const third = (await join(h.coordinator, { clientId: 'c2' })).pending;
    assert.equal(await h.coordinator.heartbeat('g', a!.memberId, null, 1), ErrorCode.REBALANCE_IN_PROGRESS);
    const ja = h.coordinator.joinGroup(joinParams({ memberId: a!.memberId }));
    const jb = h.coordinator.joinGroup(joinParams({ memberId: b!.memberId }));
    const all = await Promise.all([ja, jb, third]);
    for (const r of all) assert.equal(r.generationId, 2);
    const leader = all.find((r) => r.leader === r.memberId)!;
    assert.equal(leader.members.length, 3);
    const listed = await h.coordinator.listGroups(['CompletingRebalance'], ['classic']);
    assert.equal(listed.groups.length, 1);
  });
});
