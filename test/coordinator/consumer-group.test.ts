/**
 * KIP-848 consumer groups on the coordinator with injected time and an in-memory log:
 * epochs, assignors, incremental reconciliation (a partition is never owned by two
 * members at once: it is revoked before it is assigned elsewhere), fencing, session
 * expiry, and replay giving the same state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { rangeAssignor, uniformAssignor } from '../../src/coordinator/group/assignors.ts';
import type { GroupCoordinator } from '../../src/coordinator/group/coordinator.ts';
import type { ConsumerGroupHeartbeatRequest } from '../../src/protocol/generated/consumer-group-heartbeat-request.ts';
import type { ConsumerGroupHeartbeatResponse } from '../../src/protocol/generated/consumer-group-heartbeat-response.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { harness } from './helpers.ts';

function hb(overrides: Partial<ConsumerGroupHeartbeatRequest>): ConsumerGroupHeartbeatRequest {
  return {
    groupId: 'cg',
    memberId: '',
    memberEpoch: 0,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: 30_000,
    subscribedTopicNames: ['t'],
    subscribedTopicRegex: null,
    serverAssignor: null,
    topicPartitions: [],
    ...overrides,
  };
}

type Owned = { topicId: string; partitions: number[] }[];

/** A client that follows the protocol: it owns what the last response assigned. */
class Client {
  memberId = '';
  epoch = 0;
  owned: Owned = [];
  constructor(
    readonly c: () => GroupCoordinator,
    readonly topics: string[] = ['t'],
  ) {}
  async beat(extra: Partial<ConsumerGroupHeartbeatRequest> = {}): Promise<ConsumerGroupHeartbeatResponse> {
    const r = await this.c().consumerGroupHeartbeat(
      hb({
        memberId: this.memberId,
        memberEpoch: this.epoch,
        subscribedTopicNames: this.epoch === 0 ? this.topics : null,
        topicPartitions: this.owned,
        ...extra,
      }),
      'client',
      '/127.0.0.1',
      0,
    );
    if (r.errorCode === 0) {
      this.memberId = r.memberId!;
      this.epoch = r.memberEpoch;
      if (r.assignment !== null) this.owned = r.assignment.topicPartitions.map((t) => ({ ...t }));
    }
    return r;
  }
  count(): number {
    return this.owned.reduce((n, t) => n + t.partitions.length, 0);
  }
}

function ownedKeys(clients: Client[]): string[] {
  return clients.flatMap((c) => c.owned.flatMap((t) => t.partitions.map((p) => `${t.topicId}:${p}`)));
}

void describe('KIP-848 consumer groups', () => {
  void it('assignors: uniform balances and is sticky; range gives contiguous ranges', () => {
    const counts = new Map([['t', 7]]);
    const members = ['a', 'b', 'c'].map((memberId) => ({ memberId, topics: new Set(['t']), previous: new Map() }));
    const u = uniformAssignor.assign(members, counts);
    const sizes = [...u.values()].map((m) => m.get('t')?.size ?? 0).sort();
    assert.deepEqual(sizes, [2, 2, 3]);
    // Sticky: a fourth member takes from the others, who keep the rest.
    const withPrev = [
      ...members.map((m) => ({ ...m, previous: u.get(m.memberId)! })),
      { memberId: 'd', topics: new Set(['t']), previous: new Map() },
    ];
    const u2 = uniformAssignor.assign(withPrev, counts);
    for (const m of members)
      for (const p of u2.get(m.memberId)!.get('t') ?? []) assert.ok(u.get(m.memberId)!.get('t')!.has(p));
    const r = rangeAssignor.assign(members, counts);
    assert.deepEqual([...r.get('a')!.get('t')!], [0, 1, 2]);
    assert.deepEqual([...r.get('b')!.get('t')!], [3, 4]);
    assert.deepEqual([...r.get('c')!.get('t')!], [5, 6]);
  });

  void it('joins, gets everything; a second member gets half only after the first revoked it', async () => {
    const h = await harness({}, { t: 4 });
    const a = new Client(() => h.coordinator);
    const b = new Client(() => h.coordinator);
    const r1 = await a.beat();
    assert.equal(r1.errorCode, 0);
    assert.equal(r1.memberEpoch, 1);
    assert.equal(a.count(), 4);
    const r2 = await b.beat();
    assert.equal(r2.memberEpoch, 2);
    assert.equal(b.count(), 0, 'nothing before a revokes');
    // a is told to give up two partitions (epoch stays until it does).
    await a.beat();
    assert.equal(a.count(), 2);
    assert.equal(a.epoch, 1);
    await a.beat(); // acknowledges the revocation by no longer reporting them
    assert.equal(a.epoch, 2);
    await b.beat();
    assert.equal(b.count(), 2);
    assert.equal(new Set(ownedKeys([a, b])).size, 4);
    const [d] = await h.coordinator.consumerGroupDescribe(['cg']);
    assert.equal(d!.groupEpoch, 2);
    assert.equal(d!.members.length, 2);
    assert.equal(d!.groupState, 'Stable');
    // Same state after a restart.
    await h.restart();
    const [d2] = await h.coordinator.consumerGroupDescribe(['cg']);
    assert.deepEqual(d2, d);
  });

  void it('fences stale epochs and unknown members; leaves with -1; session timeout removes a member', async () => {
    const h = await harness({ consumerSessionTimeoutMs: 10_000 }, { t: 2 });
    const a = new Client(() => h.coordinator);
    await a.beat();
    const stale = await h.coordinator.consumerGroupHeartbeat(
      hb({ memberId: a.memberId, memberEpoch: 7, topicPartitions: null }),
      'c',
      'h',
      0,
    );
    assert.equal(stale.errorCode, ErrorCode.FENCED_MEMBER_EPOCH);
    const unknown = await h.coordinator.consumerGroupHeartbeat(hb({ memberId: 'zzz', memberEpoch: 1 }), 'c', 'h', 0);
    assert.equal(unknown.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
    const b = new Client(() => h.coordinator);
    await b.beat();
    await h.clock.advance(6000);
    await a.beat();
    await a.beat();
    await h.clock.advance(6000); // b silent for 12 s > 10 s
    await a.beat();
    await a.beat();
    const [d] = await h.coordinator.consumerGroupDescribe(['cg']);
    assert.equal(d!.members.length, 1);
    assert.equal(a.count(), 2);
    const left = await a.beat({ memberEpoch: -1 });
    assert.equal(left.memberEpoch, -1);
    const [e] = await h.coordinator.consumerGroupDescribe(['cg']);
    assert.equal(e!.groupState, 'Empty');
  });

  void it('a static member that left with -2 is replaced by its next incarnation without a rebalance', async () => {
    const h = await harness({}, { t: 4 });
    const a = new Client(() => h.coordinator);
    const b = new Client(() => h.coordinator);
    await a.beat({ instanceId: 'ia' });
    await b.beat({ instanceId: 'ib' });
    for (let i = 0; i < 3; i++) {
      await a.beat();
      await b.beat();
    }
    assert.equal(a.count(), 2);
    assert.equal(b.count(), 2);
    const [before] = await h.coordinator.consumerGroupDescribe(['cg']);
    const live = await h.coordinator.consumerGroupHeartbeat(hb({ instanceId: 'ib' }), 'c', 'h', 0);
    assert.equal(live.errorCode, ErrorCode.UNRELEASED_INSTANCE_ID);
    const left = await b.beat({ memberEpoch: -2 });
    assert.equal(left.memberEpoch, -2);
    const b2 = new Client(() => h.coordinator);
    await b2.beat({ instanceId: 'ib' });
    assert.deepEqual(b2.owned, b.owned);
    const [after] = await h.coordinator.consumerGroupDescribe(['cg']);
    assert.equal(after!.groupEpoch, before!.groupEpoch, 'no new group epoch');
    assert.equal(after!.members.length, 2);
    await h.restart();
    const [replayed] = await h.coordinator.consumerGroupDescribe(['cg']);
    assert.deepEqual(replayed, after);
  });

  void it('regex subscriptions pick up matching topics', async () => {
    const h = await harness({}, { 'orders-1': 2, 'orders-2': 2, other: 3 });
    const a = new Client(() => h.coordinator, []);
    await a.beat({ subscribedTopicNames: null, subscribedTopicRegex: 'orders-.*' });
    assert.equal(a.count(), 4);
    const bad = await h.coordinator.consumerGroupHeartbeat(hb({ subscribedTopicRegex: '(' }), 'c', 'h', 0);
    assert.equal(bad.errorCode, ErrorCode.INVALID_REGULAR_EXPRESSION);
  });

  void it('property: under random joins, leaves and heartbeats no partition is ever owned twice, and it converges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('join', 'beat', 'leave'), fc.nat(5)), { minLength: 5, maxLength: 60 }),
        fc.constantFrom('uniform', 'range'),
        async (steps, assignor) => {
          const h = await harness({}, { t: 7, u: 3 });
          const clients: Client[] = [];
          for (const [kind, i] of steps) {
            if (kind === 'join' || clients.length === 0) {
              const c = new Client(() => h.coordinator, i % 2 === 0 ? ['t', 'u'] : ['t']);
              await c.beat({ serverAssignor: assignor });
              clients.push(c);
            } else if (kind === 'beat') {
              await clients[i % clients.length]!.beat();
            } else {
              const [c] = clients.splice(i % clients.length, 1);
              await c!.beat({ memberEpoch: -1 });
            }
            const keys = ownedKeys(clients);
            assert.equal(new Set(keys).size, keys.length, `owned twice: ${keys.join(',')}`);
          }
          // Everyone heartbeats until stable: all 10 partitions owned, once each.
          for (let round = 0; round < 6; round++) for (const c of clients) await c.beat();
          if (clients.length > 0) {
            const keys = ownedKeys(clients);
            assert.equal(new Set(keys).size, keys.length);
            const subscribed = new Set(clients.flatMap((c) => c.topics));
            assert.equal(keys.length, (subscribed.has('t') ? 7 : 0) + (subscribed.has('u') ? 3 : 0));
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
