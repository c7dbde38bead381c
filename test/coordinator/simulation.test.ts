/**
 * A seeded simulation of classic-group members against the coordinator (manual clock,
 * in-memory log): members join, sync, heartbeat, leave, crash and restart while time
 * moves; after every event the invariants hold:
 * - one leader and one protocol per generation, generations only move forward;
 * - a member's SyncGroup answer is exactly what that generation's leader assigned to it;
 * and once the survivors keep heartbeating, the group converges: one Stable generation
 * holding exactly the live members (crashed ones dropped after their session timeout).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { GroupCoordinator } from '../../src/coordinator/group/coordinator.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import type { JoinGroupResponse } from '../../src/protocol/generated/join-group-response.ts';
import type { SyncGroupResponse } from '../../src/protocol/generated/sync-group-response.ts';
import { harness, settle, subscription } from './helpers.ts';

interface Pending<T> {
  done: boolean;
  value?: T;
}

function track<T>(p: Promise<T>): Pending<T> {
  const h: Pending<T> = { done: false };
  void p.then((v) => {
    h.done = true;
    h.value = v;
  });
  return h;
}

class SimMember {
  memberId = '';
  state: 'idle' | 'joining' | 'syncing' | 'stable' | 'dead' | 'gone' = 'idle';
  generation = -1;
  lastGeneration = -1;
  join: Pending<JoinGroupResponse> | undefined;
  sync: Pending<SyncGroupResponse> | undefined;
  constructor(readonly name: string) {}
}

interface World {
  c: GroupCoordinator;
  leaders: Map<number, { leader: string; protocol: string | null }>;
}

function act(w: World, m: SimMember): void {
  const c = w.c;
  switch (m.state) {
    case 'idle':
      m.join = track(
        c.joinGroup({
          groupId: 'sim',
          memberId: m.memberId,
          groupInstanceId: null,
          sessionTimeoutMs: 6000,
          rebalanceTimeoutMs: 8000,
          protocolType: 'consumer',
          protocols: [{ name: 'range', metadata: subscription(['t']) }],
          clientId: m.name,
          clientHost: 'h',
          apiVersion: 5,
        }),
      );
      m.state = 'joining';
      return;
    case 'joining': {
      if (!m.join?.done) return;
      const r = m.join.value!;
      if (r.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
        m.memberId = r.memberId;
        m.state = 'idle';
        return;
      }
      if (r.errorCode !== 0) {
        if (r.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) m.memberId = '';
        m.state = 'idle';
        return;
      }
      const seen = w.leaders.get(r.generationId);
      if (seen === undefined) w.leaders.set(r.generationId, { leader: r.leader, protocol: r.protocolName });
      else assert.deepEqual(seen, { leader: r.leader, protocol: r.protocolName }, `generation ${r.generationId}`);
      assert.ok(r.generationId >= m.lastGeneration, 'generations move forward');
      m.lastGeneration = r.generationId;
      m.generation = r.generationId;
      m.sync = track(
        c.syncGroup({
          groupId: 'sim',
          generationId: r.generationId,
          memberId: m.memberId,
          groupInstanceId: null,
          protocolType: 'consumer',
          protocolName: r.protocolName,
          assignments: r.members.map((x) => ({
            memberId: x.memberId,
            assignment: Buffer.from(`${r.generationId}/${x.memberId}`),
          })),
        }),
      );
      m.state = 'syncing';
      return;
    }
    case 'syncing': {
      if (!m.sync?.done) return;
      const s = m.sync.value!;
      if (s.errorCode !== 0) {
        if (s.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) m.memberId = '';
        m.state = 'idle';
        return;
      }
      assert.equal(
        s.assignment.toString(),
        `${m.generation}/${m.memberId}`,
        'the leader assignment of this generation',
      );
      m.state = 'stable';
      return;
    }
    case 'stable':
      void c.heartbeat('sim', m.memberId, null, m.generation).then((code) => {
        if (m.state !== 'stable') return;
        if (code === ErrorCode.REBALANCE_IN_PROGRESS) m.state = 'idle';
        else if (code !== 0) {
          m.memberId = '';
          m.state = 'idle';
        }
      });
      return;
    default:
      return;
  }
}

type Event = { kind: 'act' | 'crash' | 'leave'; who: number } | { kind: 'start' } | { kind: 'tick'; ms: number };

const event: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('act' as const), who: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), who: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), who: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('start' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3000 }) }) },
);

void describe('classic group simulation', () => {
  void it('property: invariants after every event, and convergence to one Stable generation of the live members', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 5, maxLength: 80 }), async (events) => {
        const h = await harness({ initialRebalanceDelayMs: 0 });
        const w: World = { c: h.coordinator, leaders: new Map() };
        const members: SimMember[] = [new SimMember('m0')];
        for (const e of events) {
          if (e.kind === 'start') members.push(new SimMember(`m${members.length}`));
          else if (e.kind === 'tick') await h.clock.advance(e.ms);
          else {
            const m = members[e.who % members.length]!;
            if (e.kind === 'act') act(w, m);
            else if (e.kind === 'crash' && m.state !== 'gone') m.state = 'dead';
            else if (e.kind === 'leave' && m.state !== 'dead' && m.state !== 'gone' && m.memberId !== '') {
              await h.coordinator.leaveGroup('sim', [{ memberId: m.memberId, groupInstanceId: null }]);
              m.state = 'gone';
            }
          }
          await settle(3);
        }
        const live = () => members.filter((m) => m.state !== 'dead' && m.state !== 'gone');
        for (let round = 0; round < 60; round++) {
          for (const m of live()) act(w, m);
          await h.clock.advance(500);
          const l = live();
          if (l.length > 0 && l.every((m) => m.state === 'stable' && m.generation === l[0]!.generation)) {
            const [d] = await h.coordinator.describeGroups(['sim']);
            if (d!.groupState === 'Stable' && d!.members.length === l.length) return;
          }
          if (l.length === 0) {
            const [d] = await h.coordinator.describeGroups(['sim']);
            if (d!.members.length === 0) return;
          }
        }
        const [d] = await h.coordinator.describeGroups(['sim']);
        assert.fail(
          `no convergence: ${JSON.stringify(live().map((m) => [m.name, m.state, m.generation]))} group ${d!.groupState} ${d!.members.length}`,
        );
      }),
      { numRuns: 40 },
    );
  });
});
