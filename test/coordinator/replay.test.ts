/**
 * Replay: whatever sequence of operations ran, a coordinator rebuilt from the log (a
 * restart) answers the same as the one that wrote it: groups, states, generations,
 * members, assignments and committed offsets. Also after the log is compacted (last
 * record per key, tombstones dropped), as __consumer_offsets is. Plus the rebalance
 * timeout: a member that does not rejoin in time is dropped from the generation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { GroupCoordinator } from '../../src/coordinator/group/coordinator.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { harness, subscription } from './helpers.ts';

const GROUPS = ['g0', 'g1', 'g2'];

async function snapshot(c: GroupCoordinator): Promise<unknown> {
  const described = await c.describeGroups(GROUPS);
  const offsets = await Promise.all(GROUPS.map((g) => c.fetchOffsets(g, null)));
  const listed = (await c.listGroups([], [])).groups.sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  const consumer = await c.consumerGroupDescribe(['cg']);
  return JSON.parse(JSON.stringify({ described, offsets, listed, consumer }));
}

type Step =
  | { kind: 'commit'; group: number; partition: number; offset: number }
  | { kind: 'member'; group: number }
  | { kind: 'leave'; group: number }
  | { kind: 'delete-offsets'; group: number; partition: number }
  | { kind: 'delete-group'; group: number }
  | { kind: 'cg'; leave: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('commit' as const), group: fc.nat(2), partition: fc.nat(3), offset: fc.nat(1000) }),
  fc.record({ kind: fc.constant('member' as const), group: fc.nat(2) }),
  fc.record({ kind: fc.constant('leave' as const), group: fc.nat(2) }),
  fc.record({ kind: fc.constant('delete-offsets' as const), group: fc.nat(2), partition: fc.nat(3) }),
  fc.record({ kind: fc.constant('delete-group' as const), group: fc.nat(2) }),
  fc.record({ kind: fc.constant('cg' as const), leave: fc.boolean() }),
);

void describe('replay', () => {
  void it('property: a restarted coordinator (also after compaction) answers as the one that wrote the log', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const h = await harness({}, { t: 4 });
        const c = () => h.coordinator;
        const members = new Map<string, { memberId: string; generation: number }>();
        const cgMembers: { memberId: string; epoch: number }[] = [];
        for (const s of steps) {
          if (s.kind === 'cg') {
            const m = cgMembers.pop();
            if (m !== undefined && s.leave) {
              await c().consumerGroupHeartbeat(
                {
                  groupId: 'cg',
                  memberId: m.memberId,
                  memberEpoch: -1,
                  instanceId: null,
                  rackId: null,
                  rebalanceTimeoutMs: -1,
                  subscribedTopicNames: null,
                  subscribedTopicRegex: null,
                  serverAssignor: null,
                  topicPartitions: null,
                },
                'c',
                'h',
                0,
              );
              continue;
            }
            if (m !== undefined) cgMembers.push(m);
            const r = await c().consumerGroupHeartbeat(
              {
                groupId: 'cg',
                memberId: '',
                memberEpoch: 0,
                instanceId: null,
                rackId: null,
                rebalanceTimeoutMs: 1000,
                subscribedTopicNames: ['t'],
                subscribedTopicRegex: null,
                serverAssignor: null,
                topicPartitions: [],
              },
              'c',
              'h',
              0,
            );
            if (r.errorCode === 0) cgMembers.push({ memberId: r.memberId!, epoch: r.memberEpoch });
            continue;
          }
          const groupId = GROUPS[s.group]!;
          const m = members.get(groupId);
          switch (s.kind) {
            case 'commit':
              await c().commitOffsets({
                groupId,
                generationIdOrMemberEpoch: m?.generation ?? -1,
                memberId: m?.memberId ?? '',
                groupInstanceId: null,
                retentionTimeMs: -1,
                apiVersion: 8,
                topics: [
                  {
                    name: 't',
                    partitions: [
                      {
                        partitionIndex: s.partition,
                        committedOffset: s.offset,
                        committedLeaderEpoch: 1,
                        commitTimestampMs: -1,
                        committedMetadata: `m${s.offset}`,
                      },
                    ],
                  },
                ],
              });
              break;
            case 'member': {
              if (m !== undefined) break;
              const j = await c().joinGroup({
                groupId,
                memberId: '',
                groupInstanceId: null,
                sessionTimeoutMs: 10_000,
                rebalanceTimeoutMs: 10_000,
                protocolType: 'consumer',
                protocols: [{ name: 'range', metadata: subscription(['t']) }],
                clientId: 'c',
                clientHost: 'h',
                apiVersion: 3,
              });
              if (j.errorCode !== 0) break;
              const sync = await c().syncGroup({
                groupId,
                generationId: j.generationId,
                memberId: j.memberId,
                groupInstanceId: null,
                protocolType: 'consumer',
                protocolName: 'range',
                assignments: [{ memberId: j.memberId, assignment: Buffer.from('x') }],
              });
              assert.equal(sync.errorCode, 0);
              members.set(groupId, { memberId: j.memberId, generation: j.generationId });
              break;
            }
            case 'leave':
              if (m === undefined) break;
              await c().leaveGroup(groupId, [{ memberId: m.memberId, groupInstanceId: null }]);
              members.delete(groupId);
              break;
            case 'delete-offsets':
              await c().deleteOffsets(groupId, [{ name: 't', partitions: [s.partition] }]);
              break;
            case 'delete-group': {
              const [r] = await c().deleteGroups([groupId]);
              if (r!.errorCode === 0) members.delete(groupId);
              break;
            }
          }
        }
        const before = await snapshot(c());
        await h.restart();
        assert.deepEqual(await snapshot(c()), before);
        for (let p = 0; p < h.config.numPartitions; p++) h.log.compact(p);
        await h.restart();
        assert.deepEqual(await snapshot(c()), before);
      }),
      { numRuns: 60 },
    );
  });

  void it('a member that does not rejoin within the rebalance timeout is left out of the generation', async () => {
    const h = await harness();
    const c = h.coordinator;
    const base = {
      groupId: 'g',
      groupInstanceId: null,
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: 5000,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: subscription(['t']) }],
      clientId: 'c',
      clientHost: 'h',
      apiVersion: 3,
    };
    const a = await c.joinGroup({ ...base, memberId: '' });
    await c.syncGroup({
      groupId: 'g',
      generationId: 1,
      memberId: a.memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    const bJoin = c.joinGroup({ ...base, memberId: '' }); // starts a rebalance; a never rejoins
    await h.clock.advance(4000);
    assert.equal(await c.heartbeat('g', a.memberId, null, 1), ErrorCode.REBALANCE_IN_PROGRESS);
    await h.clock.advance(2000);
    const b = await bJoin;
    assert.equal(b.errorCode, 0);
    assert.equal(b.generationId, 2);
    assert.deepEqual(
      b.members.map((m) => m.memberId),
      [b.memberId],
    );
    assert.equal(await c.heartbeat('g', a.memberId, null, 1), ErrorCode.UNKNOWN_MEMBER_ID);
  });
});
