/**
 * Server-side assignors of the consumer protocol (KIP-848): `uniform` (balanced and
 * sticky: a member keeps what it had as long as the balance allows) and `range`
 * (per topic, contiguous ranges over the members subscribed to it, sorted by id).
 * Pure functions: members' subscriptions and previous target in, new target out.
 */

export interface AssignorMember {
  memberId: string;
  /** Topic ids the member subscribes to (that exist). */
  topics: ReadonlySet<string>;
  /** The member's previous target: topic id -> partitions. */
  previous: ReadonlyMap<string, ReadonlySet<number>>;
}

export type Assignment = Map<string, Map<string, Set<number>>>;

export interface Assignor {
  readonly name: string;
  assign(members: readonly AssignorMember[], partitionCounts: ReadonlyMap<string, number>): Assignment;
}

function emptyAssignment(members: readonly AssignorMember[]): Assignment {
  const out: Assignment = new Map();
  for (const m of members) out.set(m.memberId, new Map());
  return out;
}

function add(a: Map<string, Set<number>>, topicId: string, partition: number): void {
  let s = a.get(topicId);
  if (s === undefined) {
    s = new Set();
    a.set(topicId, s);
  }
  s.add(partition);
}

function count(a: Map<string, Set<number>>): number {
  let n = 0;
  for (const s of a.values()) n += s.size;
  return n;
}

export const rangeAssignor: Assignor = {
  name: 'range',
  assign(members, partitionCounts) {
    const out = emptyAssignment(members);
    const topics = [...partitionCounts.keys()].sort();
    for (const topicId of topics) {
      const subscribed = members
        .filter((m) => m.topics.has(topicId))
        .sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
      if (subscribed.length === 0) continue;
      const n = partitionCounts.get(topicId)!;
      const per = Math.floor(n / subscribed.length);
      const extra = n % subscribed.length;
      let next = 0;
      subscribed.forEach((m, i) => {
        const take = per + (i < extra ? 1 : 0);
        for (let k = 0; k < take; k++) add(out.get(m.memberId)!, topicId, next++);
      });
    }
    return out;
  },
};

export const uniformAssignor: Assignor = {
  name: 'uniform',
  assign(members, partitionCounts) {
    const out = emptyAssignment(members);
    const owner = new Map<string, string>();
    const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
    // 1. Keep previous partitions that still exist and are still subscribed (first owner wins).
    for (const m of sorted) {
      for (const [topicId, parts] of m.previous) {
        const n = partitionCounts.get(topicId);
        if (n === undefined || !m.topics.has(topicId)) continue;
        for (const p of parts) {
          const k = `${topicId}:${p}`;
          if (p >= n || owner.has(k)) continue;
          owner.set(k, m.memberId);
          add(out.get(m.memberId)!, topicId, p);
        }
      }
    }
    const counts = new Map(sorted.map((m) => [m.memberId, count(out.get(m.memberId)!)] as const));
    // 2. Give every unowned partition to the eligible member with the fewest.
    for (const topicId of [...partitionCounts.keys()].sort()) {
      const eligible = sorted.filter((m) => m.topics.has(topicId));
      if (eligible.length === 0) continue;
      for (let p = 0; p < partitionCounts.get(topicId)!; p++) {
        const k = `${topicId}:${p}`;
        if (owner.has(k)) continue;
        let best = eligible[0]!;
        for (const m of eligible) if (counts.get(m.memberId)! < counts.get(best.memberId)!) best = m;
        owner.set(k, best.memberId);
        add(out.get(best.memberId)!, topicId, p);
        counts.set(best.memberId, counts.get(best.memberId)! + 1);
      }
    }
    // 3. Balance: move partitions from the fullest to eligible members with two fewer or more.
    for (let moved = true; moved; ) {
      moved = false;
      for (const from of sorted) {
        const fromParts = out.get(from.memberId)!;
        for (const [topicId, parts] of fromParts) {
          for (const p of [...parts].sort((a, b) => b - a)) {
            let target: AssignorMember | undefined;
            for (const m of sorted) {
              if (m === from || !m.topics.has(topicId)) continue;
              if (counts.get(m.memberId)! + 1 < counts.get(from.memberId)!) {
                if (target === undefined || counts.get(m.memberId)! < counts.get(target.memberId)!) target = m;
              }
            }
            if (target === undefined) continue;
            parts.delete(p);
            if (parts.size === 0) fromParts.delete(topicId);
            add(out.get(target.memberId)!, topicId, p);
            counts.set(from.memberId, counts.get(from.memberId)! - 1);
            counts.set(target.memberId, counts.get(target.memberId)! + 1);
            moved = true;
          }
        }
      }
    }
    return out;
  },
};

export const ASSIGNORS: ReadonlyMap<string, Assignor> = new Map([
  [uniformAssignor.name, uniformAssignor],
  [rangeAssignor.name, rangeAssignor],
]);
