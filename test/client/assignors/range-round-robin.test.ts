/**
 * range and roundrobin: the Java client's RangeAssignorTest / RoundRobinAssignorTest scenarios as
 * vectors, and property tests (validity, balance, determinism).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BUILT_IN_ASSIGNORS } from '../../../src/client/assignors/index.ts';
import { rangeAssignor } from '../../../src/client/assignors/range.ts';
import { roundRobinAssignor } from '../../../src/client/assignors/round-robin.ts';
import type { AssignmentInput, MemberSubscription } from '../../../src/client/assignors/types.ts';
import { assertEvenlyBalanced, assertValid, groupArb, show, shuffled, tp } from './helpers.ts';

const T1 = 'topic1';
const T2 = 'topic2';

function input(members: MemberSubscription[], counts: Record<string, number>): AssignmentInput {
  return { members, partitionsPerTopic: new Map(Object.entries(counts)) };
}

void describe('range assignor', () => {
  void it('gives nothing for no or unknown topics', () => {
    assert.deepEqual(rangeAssignor.assign(input([{ memberId: 'c', topics: [] }], {})), new Map([['c', []]]));
    assert.deepEqual(rangeAssignor.assign(input([{ memberId: 'c', topics: [T1] }], {})), new Map([['c', []]]));
  });

  void it('assigns only subscribed topics', () => {
    const a = rangeAssignor.assign(input([{ memberId: 'c', topics: [T1] }], { [T1]: 3, other: 1 }));
    assert.deepEqual(a.get('c'), [tp(T1, 0), tp(T1, 1), tp(T1, 2)]);
  });

  void it('multiple consumers, mixed topics', () => {
    const a = rangeAssignor.assign(
      input(
        [
          { memberId: 'consumer1', topics: [T1] },
          { memberId: 'consumer2', topics: [T1, T2] },
          { memberId: 'consumer3', topics: [T1] },
        ],
        { [T1]: 3, [T2]: 2 },
      ),
    );
    assert.deepEqual(a.get('consumer1'), [tp(T1, 0)]);
    assert.deepEqual(a.get('consumer2'), [tp(T1, 1), tp(T2, 0), tp(T2, 1)]);
    assert.deepEqual(a.get('consumer3'), [tp(T1, 2)]);
  });

  void it('two consumers, two topics, six partitions: first gets the extra of each topic', () => {
    const a = rangeAssignor.assign(
      input(
        [
          { memberId: 'consumer1', topics: [T1, T2] },
          { memberId: 'consumer2', topics: [T1, T2] },
        ],
        { [T1]: 3, [T2]: 3 },
      ),
    );
    assert.deepEqual(a.get('consumer1'), [tp(T1, 0), tp(T1, 1), tp(T2, 0), tp(T2, 1)]);
    assert.deepEqual(a.get('consumer2'), [tp(T1, 2), tp(T2, 2)]);
  });

  void it('orders static members by group instance id, before dynamic members', () => {
    const counts = { [T1]: 3, [T2]: 3 };
    const statics = rangeAssignor.assign(
      input(
        [
          { memberId: 'consumer-b', groupInstanceId: 'instance1', topics: [T1, T2] },
          { memberId: 'consumer-a', groupInstanceId: 'instance2', topics: [T1, T2] },
        ],
        counts,
      ),
    );
    assert.deepEqual(statics.get('consumer-b'), [tp(T1, 0), tp(T1, 1), tp(T2, 0), tp(T2, 1)]);
    const mixed = rangeAssignor.assign(
      input(
        [
          { memberId: 'consumer-b', groupInstanceId: 'instance1', topics: [T1, T2] },
          { memberId: 'consumer-a', topics: [T1, T2] },
        ],
        counts,
      ),
    );
    assert.deepEqual(mixed.get('consumer-b'), [tp(T1, 0), tp(T1, 1), tp(T2, 0), tp(T2, 1)]);
    assert.deepEqual(mixed.get('consumer-a'), [tp(T1, 2), tp(T2, 2)]);
  });

  void it('static members keep their ranges when a dynamic member is replaced', () => {
    const statics = [1, 2, 3].map((i) => ({
      memberId: `consumer${i}`,
      groupInstanceId: `instance${i}`,
      topics: [T1, T2],
    }));
    const counts = { [T1]: 5, [T2]: 4 };
    const expected = (dynamic: string) =>
      new Map([
        ['consumer1', [tp(T1, 0), tp(T1, 1), tp(T2, 0)]],
        ['consumer2', [tp(T1, 2), tp(T2, 1)]],
        ['consumer3', [tp(T1, 3), tp(T2, 2)]],
        [dynamic, [tp(T1, 4), tp(T2, 3)]],
      ]);
    for (const dynamic of ['consumer4', 'consumer5']) {
      const a = rangeAssignor.assign(input([...statics, { memberId: dynamic, topics: [T1, T2] }], counts));
      assert.equal(show(a), show(expected(dynamic)));
    }
  });

  void it('property: valid, complete, balanced per topic, deterministic', () => {
    fc.assert(
      fc.property(groupArb(false), fc.integer(), (group, seed) => {
        const a = rangeAssignor.assign(group);
        assertValid(group, a, true);
        for (const [topic, n] of group.partitionsPerTopic) {
          const subscribers = group.members.filter((m) => m.topics.includes(topic));
          if (subscribers.length === 0) continue;
          const perTopic = subscribers.map((m) => a.get(m.memberId)!.filter((p) => p.topic === topic).length);
          assert.ok(Math.max(...perTopic) - Math.min(...perTopic) <= 1);
          assert.equal(
            perTopic.reduce((x, y) => x + y, 0),
            n,
          );
        }
        const reordered = { ...group, members: shuffled(group.members, seed) };
        assert.equal(show(rangeAssignor.assign(reordered)), show(a));
      }),
      { numRuns: 300 },
    );
  });
});

void describe('round robin assignor', () => {
  void it('multiple consumers, mixed topics', () => {
    const a = roundRobinAssignor.assign(
      input(
        [
          { memberId: 'consumer1', topics: [T1] },
          { memberId: 'consumer2', topics: [T1, T2] },
          { memberId: 'consumer3', topics: [T1] },
        ],
        { [T1]: 3, [T2]: 2 },
      ),
    );
    assert.deepEqual(a.get('consumer1'), [tp(T1, 0)]);
    assert.deepEqual(a.get('consumer2'), [tp(T1, 1), tp(T2, 0), tp(T2, 1)]);
    assert.deepEqual(a.get('consumer3'), [tp(T1, 2)]);
  });

  void it('two dynamic consumers, two topics, six partitions', () => {
    const a = roundRobinAssignor.assign(
      input(
        [
          { memberId: 'consumer1', topics: [T1, T2] },
          { memberId: 'consumer2', topics: [T1, T2] },
        ],
        { [T1]: 3, [T2]: 3 },
      ),
    );
    assert.deepEqual(a.get('consumer1'), [tp(T1, 0), tp(T1, 2), tp(T2, 1)]);
    assert.deepEqual(a.get('consumer2'), [tp(T1, 1), tp(T2, 0), tp(T2, 2)]);
  });

  void it('orders static members by group instance id', () => {
    const a = roundRobinAssignor.assign(
      input(
        [
          { memberId: 'consumer-b', groupInstanceId: 'instance1', topics: [T1, T2] },
          { memberId: 'consumer-a', topics: [T1, T2] },
        ],
        { [T1]: 3, [T2]: 3 },
      ),
    );
    assert.deepEqual(a.get('consumer-b'), [tp(T1, 0), tp(T1, 2), tp(T2, 1)]);
    assert.deepEqual(a.get('consumer-a'), [tp(T1, 1), tp(T2, 0), tp(T2, 2)]);
  });

  void it('static members keep their partitions when a dynamic member is replaced', () => {
    const statics = [1, 2, 3].map((i) => ({
      memberId: `consumer${i}`,
      groupInstanceId: `instance${i}`,
      topics: [T1, T2],
    }));
    for (const dynamic of ['consumer4', 'consumer5']) {
      const a = roundRobinAssignor.assign(
        input([...statics, { memberId: dynamic, topics: [T1, T2] }], { [T1]: 3, [T2]: 3 }),
      );
      const expected = new Map([
        ['consumer1', [tp(T1, 0), tp(T2, 1)]],
        ['consumer2', [tp(T1, 1), tp(T2, 2)]],
        ['consumer3', [tp(T1, 2)]],
        [dynamic, [tp(T2, 0)]],
      ]);
      assert.equal(show(a), show(expected));
    }
  });

  void it('property: valid, complete, balanced for identical subscriptions, deterministic', () => {
    fc.assert(
      fc.property(
        fc.boolean().chain((identical) => fc.tuple(fc.constant(identical), groupArb(identical))),
        fc.integer(),
        ([identical, group], seed) => {
          const a = roundRobinAssignor.assign(group);
          assertValid(group, a, true);
          if (identical) assertEvenlyBalanced(a);
          const reordered = { ...group, members: shuffled(group.members, seed) };
          assert.equal(show(roundRobinAssignor.assign(reordered)), show(a));
        },
      ),
      { numRuns: 300 },
    );
  });
});

void describe('built-in assignor registry', () => {
  void it('has the Java client names and protocols', () => {
    assert.deepEqual([...BUILT_IN_ASSIGNORS.keys()], ['range', 'roundrobin', 'sticky', 'cooperative-sticky']);
    assert.deepEqual(BUILT_IN_ASSIGNORS.get('cooperative-sticky')!.supportedProtocols, ['COOPERATIVE', 'EAGER']);
    assert.deepEqual(BUILT_IN_ASSIGNORS.get('range')!.supportedProtocols, ['EAGER']);
  });

  void it('rejects duplicate member ids', () => {
    for (const assignor of BUILT_IN_ASSIGNORS.values()) {
      assert.throws(() =>
        assignor.assign(
          input(
            [
              { memberId: 'x', topics: [T1] },
              { memberId: 'x', topics: [T1] },
            ],
            { [T1]: 1 },
          ),
        ),
      );
    }
  });
});
