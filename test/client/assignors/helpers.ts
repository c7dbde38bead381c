/**
 * Checks and generators shared by the assignor tests: validity of an assignment, balance, and
 * fast-check arbitraries for groups.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type {
  AssignmentInput,
  GroupAssignment,
  MemberSubscription,
  TopicPartition,
} from '../../../src/client/assignors/types.ts';
import { seededRandom } from '../../../src/env/random.ts';

export const key = (tp: TopicPartition): string => `${tp.topic}-${tp.partition}`;

export function tp(topic: string, partition: number): TopicPartition {
  return { topic, partition };
}

/** Every partition of every subscribed, known topic. */
export function subscribedPartitions(input: AssignmentInput): Set<string> {
  const out = new Set<string>();
  for (const m of input.members) {
    for (const topic of m.topics) {
      const n = input.partitionsPerTopic.get(topic) ?? 0;
      for (let p = 0; p < n; p++) out.add(key(tp(topic, p)));
    }
  }
  return out;
}

/**
 * Every member has an entry; nothing goes to a member not subscribed to its topic; nothing is
 * assigned twice; with `complete`, every subscribed partition is assigned.
 */
export function assertValid(input: AssignmentInput, assignment: GroupAssignment, complete: boolean): void {
  assert.deepEqual([...assignment.keys()].sort(), input.members.map((m) => m.memberId).sort());
  const expected = subscribedPartitions(input);
  const seen = new Set<string>();
  for (const member of input.members) {
    const topics = new Set(member.topics);
    for (const p of assignment.get(member.memberId)!) {
      assert.ok(topics.has(p.topic), `${member.memberId} got ${key(p)} without subscribing to ${p.topic}`);
      assert.ok(expected.has(key(p)), `${key(p)} does not exist`);
      assert.ok(!seen.has(key(p)), `${key(p)} assigned twice`);
      seen.add(key(p));
    }
  }
  if (complete) assert.equal(seen.size, expected.size, 'some partitions are unassigned');
}

export function loads(assignment: GroupAssignment): number[] {
  return [...assignment.values()].map((ps) => ps.length);
}

/** max - min over members <= 1. */
export function assertEvenlyBalanced(assignment: GroupAssignment): void {
  const l = loads(assignment);
  if (l.length === 0) return;
  assert.ok(Math.max(...l) - Math.min(...l) <= 1, `unbalanced loads ${l.join(',')}`);
}

/**
 * Kafka's balance criterion for any subscriptions: no partition sits on a member with more than
 * one partition more than another member subscribed to its topic.
 */
export function assertLocallyBalanced(input: AssignmentInput, assignment: GroupAssignment): void {
  for (const a of input.members) {
    const aLoad = assignment.get(a.memberId)!.length;
    for (const p of assignment.get(a.memberId)!) {
      for (const b of input.members) {
        if (b === a || !b.topics.includes(p.topic)) continue;
        const bLoad = assignment.get(b.memberId)!.length;
        assert.ok(aLoad <= bLoad + 1, `${key(p)} on ${a.memberId} (${aLoad}) could move to ${b.memberId} (${bLoad})`);
      }
    }
  }
}

/** Stable text form, for comparing assignments. */
export function show(assignment: GroupAssignment): string {
  return JSON.stringify([...assignment.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

export const TOPICS = ['alpha', 'beta', 'gamma', 'delta'];

/** Topic partition counts: some topics may be unknown (absent) or have 0..maxPartitions partitions. */
export const partitionsPerTopicArb = (maxPartitions: number): fc.Arbitrary<Map<string, number>> =>
  fc.tuple(...TOPICS.map(() => fc.option(fc.integer({ min: 1, max: maxPartitions }), { freq: 6 }))).map((counts) => {
    const out = new Map<string, number>();
    counts.forEach((n, i) => {
      if (n !== null) out.set(TOPICS[i]!, n);
    });
    return out;
  });

const topicSubsetArb = fc.subarray(TOPICS, { minLength: 1 });

/** Member ids m00..m(n-1), subscriptions identical or each its own. */
export const membersArb = (maxMembers: number, identical: boolean): fc.Arbitrary<MemberSubscription[]> =>
  fc
    .integer({ min: 1, max: maxMembers })
    .chain((n) =>
      (identical
        ? topicSubsetArb.map((t) => Array.from({ length: n }, () => t))
        : fc.array(topicSubsetArb, { minLength: n, maxLength: n })
      ).map((subs) => subs.map((topics, i) => ({ memberId: `m${String(i).padStart(2, '0')}`, topics }))),
    );

export const groupArb = (identical: boolean, maxMembers = 8, maxPartitions = 10): fc.Arbitrary<AssignmentInput> =>
  fc.record({ members: membersArb(maxMembers, identical), partitionsPerTopic: partitionsPerTopicArb(maxPartitions) });

/** The input with each member owning what `assignment` gave it, in `generationId`. */
export function withOwned(input: AssignmentInput, assignment: GroupAssignment, generationId: number): AssignmentInput {
  return {
    partitionsPerTopic: input.partitionsPerTopic,
    members: input.members.map((m) => ({
      ...m,
      ownedPartitions: assignment.get(m.memberId) ?? [],
      generationId,
    })),
  };
}

/** A copy of `items` in an order drawn from `seed` (Fisher-Yates over the seeded generator). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
