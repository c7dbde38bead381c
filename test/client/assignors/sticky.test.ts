/**
 * sticky and cooperative-sticky: scenarios from the Java client's AbstractStickyAssignorTest and
 * CooperativeStickyAssignorTest as vectors, and property tests over random groups and rebalance
 * sequences: validity, balance, stickiness, generation handling, the cooperative "never assign
 * before revoked" rule, convergence, determinism.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cooperativeStickyAssignor, stickyAssignor } from '../../../src/client/assignors/sticky.ts';
import {
  type AssignmentInput,
  type Assignor,
  DEFAULT_GENERATION,
  type GroupAssignment,
  type MemberSubscription,
  type TopicPartition,
} from '../../../src/client/assignors/types.ts';
import {
  assertEvenlyBalanced,
  assertLocallyBalanced,
  assertValid,
  groupArb,
  key,
  show,
  shuffled,
  TOPICS,
  tp,
  withOwned,
} from './helpers.ts';

const T = 'topic';
const T1 = 'topic1';
const T2 = 'topic2';
const T3 = 'topic3';

function member(
  memberId: string,
  topics: string[],
  owned: TopicPartition[] = [],
  generationId?: number,
): MemberSubscription {
  return generationId === undefined
    ? { memberId, topics, ownedPartitions: owned }
    : { memberId, topics, ownedPartitions: owned, generationId };
}

function group(members: MemberSubscription[], counts: Record<string, number>): AssignmentInput {
  return { members, partitionsPerTopic: new Map(Object.entries(counts)) };
}

function sortedKeys(partitions: readonly TopicPartition[] | undefined): string[] {
  return (partitions ?? []).map(key).sort();
}

function assertAssigned(assignment: GroupAssignment, expected: Record<string, readonly TopicPartition[]>): void {
  for (const [memberId, partitions] of Object.entries(expected)) {
    assert.deepEqual(sortedKeys(assignment.get(memberId)), sortedKeys(partitions), memberId);
  }
}

const BOTH: Assignor[] = [stickyAssignor, cooperativeStickyAssignor];

void describe('sticky assignors: Kafka scenarios', () => {
  for (const assignor of BOTH) {
    void it(`${assignor.name}: one consumer, no or unknown topic`, () => {
      assertAssigned(assignor.assign(group([member('c1', [])], {})), { c1: [] });
      assertAssigned(assignor.assign(group([member('c1', [T])], {})), { c1: [] });
    });

    void it(`${assignor.name}: consumer owning min quota when max quota is expected`, () => {
      const a = assignor.assign(
        group([member('c1', [T1, T2], [tp(T1, 0), tp(T2, 1)], 1), member('c2', [T1, T2], [tp(T1, 1), tp(T2, 2)], 1)], {
          [T1]: 2,
          [T2]: 3,
        }),
      );
      assertAssigned(a, { c1: [tp(T1, 0), tp(T2, 1), tp(T2, 0)], c2: [tp(T1, 1), tp(T2, 2)] });
    });

    void it(`${assignor.name}: all consumers under min quota`, () => {
      const a = assignor.assign(
        group(
          [
            member('c1', [T1, T2], [tp(T1, 0)], 1),
            member('c2', [T1, T2], [tp(T1, 1)], 1),
            member('c3', [T1, T2], [], 1),
          ],
          {
            [T1]: 2,
            [T2]: 3,
          },
        ),
      );
      assertAssigned(a, { c1: [tp(T1, 0), tp(T2, 1)], c2: [tp(T1, 1), tp(T2, 2)], c3: [tp(T2, 0)] });
    });

    void it(`${assignor.name}: stale generation loses its claims to the current one`, () => {
      const owned = [tp(T, 0), tp(T, 2), tp(T2, 1)];
      for (const stale of [9, DEFAULT_GENERATION]) {
        const a = assignor.assign(
          group([member('c1', [T, T2], owned, 10), member('c2', [T, T2], owned, stale)], { [T]: 3, [T2]: 3 }),
        );
        assertAssigned(a, { c1: owned, c2: [tp(T, 1), tp(T2, 0), tp(T2, 2)] });
      }
    });

    void it(`${assignor.name}: partitions go to the highest generation claiming them`, () => {
      const topics = [T, T2, T3];
      const a = assignor.assign(
        group(
          [
            member('c1', topics, [tp(T, 0), tp(T2, 0), tp(T3, 0)], 10),
            member('c2', topics, [tp(T, 1), tp(T2, 1), tp(T3, 1)], 9),
            member('c3', topics, [tp(T2, 1), tp(T3, 0), tp(T3, 2)], 8),
          ],
          { [T]: 3, [T2]: 3, [T3]: 3 },
        ),
      );
      assertAssigned(a, {
        c1: [tp(T, 0), tp(T2, 0), tp(T3, 0)],
        c2: [tp(T, 1), tp(T2, 1), tp(T3, 1)],
        c3: [tp(T, 2), tp(T2, 2), tp(T3, 2)],
      });
    });

    void it(`${assignor.name}: no reassignment of current members' partitions`, () => {
      const topics = [T, T1, T2, T3];
      const a = assignor.assign(
        group(
          [
            member('c1', topics, [], DEFAULT_GENERATION),
            member('c2', topics, [tp(T, 0), tp(T2, 0), tp(T1, 0)], 9),
            member('c3', topics, [tp(T3, 2), tp(T2, 2), tp(T1, 1)], 8),
            member('c4', topics, [tp(T3, 1), tp(T, 1), tp(T, 2)], 7),
          ],
          { [T]: 3, [T1]: 3, [T2]: 3, [T3]: 3 },
        ),
      );
      assertAssigned(a, { c1: [tp(T1, 2), tp(T2, 1), tp(T3, 0)] });
    });

    void it(`${assignor.name}: a member with several generations keeps what it won`, () => {
      const a = assignor.assign(
        group(
          [
            member('c1', [T, T2], [tp(T, 0), tp(T2, 1), tp(T, 1)], 10),
            member('c2', [T, T2], [tp(T, 0), tp(T2, 1), tp(T2, 2)], 8),
          ],
          { [T]: 3, [T2]: 3 },
        ),
      );
      assertAssigned(a, { c1: [tp(T, 0), tp(T2, 1), tp(T, 1)], c2: [tp(T, 2), tp(T2, 2), tp(T2, 0)] });
    });

    void it(`${assignor.name}: drops owned partitions of a deleted topic`, () => {
      const a = assignor.assign(group([member('c1', [T, T2], [tp(T, 0), tp(T2, 0)], 1)], { [T]: 1 }));
      assertAssigned(a, { c1: [tp(T, 0)] });
    });
  }

  void it('sticky: more max-quota owners than slots gives up the last listed partition', () => {
    const a = stickyAssignor.assign(
      group(
        [
          member('c1', [T1, T2], [tp(T1, 0), tp(T2, 0)], 1),
          member('c2', [T1, T2], [tp(T1, 1), tp(T2, 1)], 1),
          member('c3', [T1, T2], [], 1),
        ],
        { [T1]: 2, [T2]: 2 },
      ),
    );
    assertAssigned(a, { c1: [tp(T1, 0)], c2: [tp(T1, 1), tp(T2, 1)], c3: [tp(T2, 0)] });
  });

  void it('cooperative-sticky: the moving partition is left out until revoked', () => {
    const input = group(
      [
        member('c1', [T1, T2], [tp(T1, 0), tp(T2, 0)], 1),
        member('c2', [T1, T2], [tp(T1, 1), tp(T2, 1)], 1),
        member('c3', [T1, T2], [], 1),
      ],
      { [T1]: 2, [T2]: 2 },
    );
    const first = cooperativeStickyAssignor.assign(input);
    assertAssigned(first, { c1: [tp(T1, 0)], c2: [tp(T1, 1), tp(T2, 1)], c3: [] });
    const second = cooperativeStickyAssignor.assign(withOwned(input, first, 2));
    assertAssigned(second, { c1: [tp(T1, 0)], c2: [tp(T1, 1), tp(T2, 1)], c3: [tp(T2, 0)] });
  });

  void it('claims of the same partition in the same generation: sticky frees it, cooperative waits', () => {
    for (const [n, expected] of [
      [3, { c1: [tp(T, 1)], c2: [tp(T, 2)] }],
      [4, { c1: [tp(T, 1), tp(T, 3)], c2: [tp(T, 2)] }],
    ] as const) {
      const input = group(
        [
          member('c1', [T], [tp(T, 0), tp(T, 1)], 5),
          member('c2', [T], [tp(T, 0), tp(T, 2)], 5),
          member('c3', [T], [], 5),
        ],
        { [T]: n },
      );
      assertAssigned(stickyAssignor.assign(input), { ...expected, c3: [tp(T, 0)] });
      assertAssigned(cooperativeStickyAssignor.assign(input), { ...expected, c3: [] });
    }
  });
});

/** Claims of a partition in the input: member id -> generation. */
function claims(input: AssignmentInput): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const m of input.members) {
    for (const p of m.ownedPartitions ?? []) {
      let c = out.get(key(p));
      if (c === undefined) out.set(key(p), (c = new Map()));
      c.set(m.memberId, m.generationId ?? DEFAULT_GENERATION);
    }
  }
  return out;
}

/** Cooperative safety: a partition goes to M only if nobody else claims it, or M's own claim beats every other. */
function assertNoAssignmentBeforeRevocation(input: AssignmentInput, assignment: GroupAssignment): void {
  // Kafka's own check: nothing is added to one member in the rebalance that revokes it from another.
  const added = new Set<string>();
  const revoked = new Set<string>();
  for (const m of input.members) {
    const owned = new Set((m.ownedPartitions ?? []).map(key));
    const now = new Set(assignment.get(m.memberId)!.map(key));
    for (const k of owned) if (!now.has(k)) revoked.add(k);
    for (const k of now) if (!owned.has(k)) added.add(k);
  }
  for (const k of added) assert.ok(!revoked.has(k), `${k} added and revoked in the same rebalance`);
  // Stronger: a partition goes to M only if M's claim beats every other member's claim.
  const byPartition = claims(input);
  for (const [memberId, partitions] of assignment) {
    for (const p of partitions) {
      const c = byPartition.get(key(p));
      if (c === undefined) continue;
      const others = [...c].filter(([id]) => id !== memberId);
      if (others.length === 0) continue;
      const own = c.get(memberId);
      assert.ok(own !== undefined, `${key(p)} given to ${memberId} while ${others[0]![0]} still owns it`);
      for (const [id, generation] of others) {
        assert.ok(
          own > generation,
          `${key(p)} given to ${memberId} (gen ${own}) while ${id} owns it (gen ${generation})`,
        );
      }
    }
  }
}

/** The member changes between two rebalances. */
type Change =
  | { kind: 'join'; topics: string[] }
  | { kind: 'leave'; index: number }
  | { kind: 'grow'; topic: string; by: number };

const changeArb = (identical: boolean): fc.Arbitrary<Change> =>
  fc.oneof(
    fc.record({
      kind: fc.constant('join' as const),
      topics: identical ? fc.constant<string[]>([]) : fc.subarray(TOPICS, { minLength: 1 }),
    }),
    fc.record({ kind: fc.constant('leave' as const), index: fc.nat() }),
    fc.record({
      kind: fc.constant('grow' as const),
      topic: fc.constantFrom(...TOPICS),
      by: fc.integer({ min: 1, max: 4 }),
    }),
  );

/** The next group after `change`; joining members get fresh ids, identical groups keep one subscription. */
function applyChange(input: AssignmentInput, change: Change, nextId: number): AssignmentInput {
  const members = [...input.members];
  const counts = new Map(input.partitionsPerTopic);
  if (change.kind === 'join') {
    const topics = change.topics.length > 0 ? change.topics : [...(members[0]?.topics ?? [TOPICS[0]!])];
    members.push({ memberId: `n${String(nextId).padStart(3, '0')}`, topics });
  } else if (change.kind === 'leave') {
    if (members.length > 1) members.splice(change.index % members.length, 1);
  } else {
    counts.set(change.topic, (counts.get(change.topic) ?? 0) + change.by);
  }
  return { members, partitionsPerTopic: counts };
}

function ownedBy(input: AssignmentInput, memberId: string): Set<string> {
  const m = input.members.find((x) => x.memberId === memberId);
  return new Set((m?.ownedPartitions ?? []).map(key));
}

function totalSubscribed(input: AssignmentInput): number {
  const topics = new Set(input.members.flatMap((m) => m.topics));
  let n = 0;
  for (const t of topics) n += input.partitionsPerTopic.get(t) ?? 0;
  return n;
}

void describe('sticky assignor: properties', () => {
  void it('fresh groups: complete, valid, balanced (evenly when subscriptions are identical)', () => {
    fc.assert(
      fc.property(
        fc.boolean().chain((identical) => fc.tuple(fc.constant(identical), groupArb(identical))),
        ([identical, input]) => {
          const a = stickyAssignor.assign(input);
          assertValid(input, a, true);
          assertLocallyBalanced(input, a);
          if (identical) assertEvenlyBalanced(a);
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('stable: re-assigning a group that owns its last assignment changes nothing', () => {
    fc.assert(
      fc.property(groupArb(false), (input) => {
        const a = stickyAssignor.assign(input);
        assert.equal(show(stickyAssignor.assign(withOwned(input, a, 1))), show(a));
      }),
      { numRuns: 200 },
    );
  });

  void it('deterministic: member order in the input does not matter', () => {
    fc.assert(
      fc.property(groupArb(false), fc.integer(), fc.integer(), (input, seed1, seed2) => {
        const owned = withOwned(
          input,
          stickyAssignor.assign({ ...input, members: shuffled(input.members, seed1).slice(1) }),
          3,
        );
        const a = stickyAssignor.assign(owned);
        assert.equal(show(stickyAssignor.assign({ ...owned, members: shuffled(owned.members, seed2) })), show(a));
        assert.equal(show(stickyAssignor.assign(owned)), show(a));
      }),
      { numRuns: 200 },
    );
  });

  void it('members join and leave: identical subscriptions keep min(owned, floor(P/N)) and never swap', () => {
    fc.assert(
      fc.property(
        groupArb(true, 6, 12),
        fc.array(changeArb(true), { minLength: 1, maxLength: 8 }),
        (start, changes) => {
          let input = start;
          let assignment = stickyAssignor.assign(input);
          let generation = 1;
          for (const [i, change] of changes.entries()) {
            input = applyChange(withOwned(input, assignment, generation), change, i);
            generation++;
            assignment = stickyAssignor.assign(input);
            assertValid(input, assignment, true);
            assertEvenlyBalanced(assignment);
            const floor = Math.floor(totalSubscribed(input) / input.members.length);
            for (const m of input.members) {
              const owned = ownedBy(input, m.memberId);
              const now = assignment.get(m.memberId)!.map(key);
              const kept = now.filter((k) => owned.has(k)).length;
              assert.ok(
                kept >= Math.min(owned.size, floor),
                `${m.memberId} kept ${kept} of ${owned.size}, floor ${floor}`,
              );
              if (kept < owned.size)
                assert.equal(kept, now.length, `${m.memberId} gave up owned partitions but got others`);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('members join and leave with different subscriptions: complete, valid, balanced', () => {
    fc.assert(
      fc.property(
        groupArb(false, 6, 8),
        fc.array(changeArb(false), { minLength: 1, maxLength: 6 }),
        (start, changes) => {
          let input = start;
          let assignment = stickyAssignor.assign(input);
          for (const [i, change] of changes.entries()) {
            input = applyChange(withOwned(input, assignment, i + 1), change, i);
            assignment = stickyAssignor.assign(input);
            assertValid(input, assignment, true);
            assertLocallyBalanced(input, assignment);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('conflicting and stale claims still give a valid, balanced assignment', () => {
    const claimsArb = fc.array(
      fc.record({
        topic: fc.constantFrom(...TOPICS),
        partition: fc.nat({ max: 12 }),
      }),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(
        groupArb(false),
        fc.array(fc.tuple(claimsArb, fc.integer({ min: -1, max: 3 })), { minLength: 8, maxLength: 8 }),
        (input, owned) => {
          const withClaims: AssignmentInput = {
            ...input,
            members: input.members.map((m, i) => ({ ...m, ownedPartitions: owned[i]![0], generationId: owned[i]![1] })),
          };
          const a = stickyAssignor.assign(withClaims);
          assertValid(withClaims, a, true);
          assertLocallyBalanced(withClaims, a);
          const c = cooperativeStickyAssignor.assign(withClaims);
          assertValid(withClaims, c, false);
          assertNoAssignmentBeforeRevocation(withClaims, c);
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('spreads a large group that one member owned entirely', () => {
    const topics = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const counts = new Map(topics.map((t) => [t, 300]));
    const all = topics.flatMap((topic) => Array.from({ length: 300 }, (_, partition) => ({ topic, partition })));
    const members = Array.from({ length: 300 }, (_, i) => ({
      memberId: `m${String(i).padStart(3, '0')}`,
      topics,
      ownedPartitions: i === 0 ? all : [],
      generationId: 4,
    }));
    const input: AssignmentInput = { members, partitionsPerTopic: counts };
    const started = performance.now();
    const a = stickyAssignor.assign(input);
    const elapsedMs = performance.now() - started;
    assertValid(input, a, true);
    assertEvenlyBalanced(a);
    assert.equal(a.get('m000')!.length, 20);
    assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
  });

  void it('handles a large group quickly', () => {
    const topics = ['a', 'b', 'c', 'd', 'e'];
    const counts = new Map(topics.map((t) => [t, 400]));
    const members = Array.from({ length: 100 }, (_, i) => ({
      memberId: `member-${String(i).padStart(3, '0')}`,
      topics,
    }));
    let input: AssignmentInput = { members, partitionsPerTopic: counts };
    const first = stickyAssignor.assign(input);
    assertEvenlyBalanced(first);
    input = withOwned(input, first, 1);
    input = {
      ...input,
      members: [
        ...input.members.slice(10),
        ...Array.from({ length: 20 }, (_, i) => ({ memberId: `joiner-${String(i).padStart(2, '0')}`, topics })),
      ],
    };
    const started = performance.now();
    const second = stickyAssignor.assign(input);
    const elapsedMs = performance.now() - started;
    assertValid(input, second, true);
    assertEvenlyBalanced(second);
    assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
  });
});

void describe('cooperative-sticky assignor: properties', () => {
  void it('never assigns a partition before its owner revoked it, and converges in one more round (identical subscriptions)', () => {
    fc.assert(
      fc.property(
        groupArb(true, 6, 12),
        fc.array(changeArb(true), { minLength: 1, maxLength: 6 }),
        (start, changes) => {
          let input = start;
          let assignment = cooperativeStickyAssignor.assign(input);
          assertValid(input, assignment, true); // nothing owned yet: nothing to wait for
          assertEvenlyBalanced(assignment);
          let generation = 1;
          for (const [i, change] of changes.entries()) {
            input = applyChange(withOwned(input, assignment, generation++), change, i);
            assignment = cooperativeStickyAssignor.assign(input);
            assertValid(input, assignment, false);
            assertNoAssignmentBeforeRevocation(input, assignment);
            // Owners revoke what they lost and rejoin: the follow-up rebalance completes the move.
            const followUp = withOwned(input, assignment, generation++);
            assignment = cooperativeStickyAssignor.assign(followUp);
            assertNoAssignmentBeforeRevocation(followUp, assignment);
            assertValid(followUp, assignment, true);
            assertEvenlyBalanced(assignment);
            input = followUp;
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('with different subscriptions: safe every round, and complete and balanced within a few rounds', () => {
    fc.assert(
      fc.property(
        groupArb(false, 6, 8),
        fc.array(changeArb(false), { minLength: 1, maxLength: 5 }),
        (start, changes) => {
          let input = start;
          let assignment = cooperativeStickyAssignor.assign(input);
          let generation = 1;
          for (const [i, change] of changes.entries()) {
            input = applyChange(withOwned(input, assignment, generation++), change, i);
            for (let round = 0; ; round++) {
              assignment = cooperativeStickyAssignor.assign(input);
              assertValid(input, assignment, false);
              assertNoAssignmentBeforeRevocation(input, assignment);
              const assigned = [...assignment.values()].reduce((n, ps) => n + ps.length, 0);
              if (assigned === totalSubscribed(input)) break;
              assert.ok(round < 3, 'no convergence after 3 follow-up rounds');
              input = withOwned(input, assignment, generation++);
            }
            assertLocallyBalanced(input, assignment);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('assigns a subset of what sticky assigns: sticky minus the partitions changing hands', () => {
    const claimsArb = fc.array(fc.record({ topic: fc.constantFrom(...TOPICS), partition: fc.nat({ max: 10 }) }), {
      maxLength: 10,
    });
    fc.assert(
      fc.property(
        groupArb(false),
        fc.array(fc.tuple(claimsArb, fc.integer({ min: -1, max: 2 })), { minLength: 8, maxLength: 8 }),
        (base, owned) => {
          const input: AssignmentInput = {
            ...base,
            members: base.members.map((m, i) => ({ ...m, ownedPartitions: owned[i]![0], generationId: owned[i]![1] })),
          };
          const sticky = stickyAssignor.assign(input);
          const cooperative = cooperativeStickyAssignor.assign(input);
          const byPartition = claims(input);
          for (const [memberId, partitions] of sticky) {
            const kept = new Set(cooperative.get(memberId)!.map(key));
            for (const p of partitions) {
              const c = byPartition.get(key(p));
              const othersClaim = c !== undefined && [...c.keys()].some((id) => id !== memberId);
              if (!othersClaim) assert.ok(kept.has(key(p)), `${key(p)} should go to ${memberId} now`);
            }
            for (const k of kept) assert.ok(partitions.some((p) => key(p) === k));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('gives the same target as sticky when nothing has to change hands', () => {
    fc.assert(
      fc.property(groupArb(false), (input) => {
        assert.equal(show(cooperativeStickyAssignor.assign(input)), show(stickyAssignor.assign(input)));
      }),
      { numRuns: 100 },
    );
  });
});
