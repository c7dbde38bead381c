/**
 * The sticky assignors of the classic protocol, with the targets of the Java client's
 * StickyAssignor (`sticky`, eager) and CooperativeStickyAssignor (`cooperative-sticky`):
 *
 * - balance: when no more partitions can move, no partition sits on a member that has more than
 *   one partition more than another member subscribed to its topic (so max - min <= 1 when all
 *   members subscribe to the same topics; Kafka's `isBalanced` criterion);
 * - stickiness: partitions stay with their current owner unless balance requires moving them;
 * - conflicting claims (two members own the same partition) are settled by generation: the
 *   highest generation keeps it; equal generations both lose it, as in Kafka.
 *
 * The algorithm is ours: keep every valid owned partition, deal the free partitions to the least
 * loaded subscribed members (partitions with the fewest possible members first), then move
 * partitions one at a time from the most loaded member to the least loaded member that can take
 * them, until no such move exists. A member gives up partitions it did not own before first, then
 * the owned ones it listed last (as Kafka keeps the first listed). Each move lowers the sum of
 * squared member loads, so the loop ends; it costs O(members + one member's partitions).
 *
 * The caller supplies owned partitions and generation: for cooperative-sticky from the
 * subscription's owned partitions and generation id; for eager sticky from the previous
 * assignment the member reports in its subscription user data (eager members revoke everything
 * before joining).
 *
 * cooperative-sticky (KIP-429) computes the same target, then leaves out of this round every
 * partition that goes to a member other than the one still owning it: the owner sees it missing,
 * revokes it and rejoins, and the next rebalance hands it over. So a partition is never assigned
 * to a member while another member may still own it.
 */
import {
  type AssignmentInput,
  type Assignor,
  compareStrings,
  DEFAULT_GENERATION,
  emptyAssignment,
  type GroupAssignment,
  partitionCount,
  sortAssignment,
  type TopicPartition,
} from './types.ts';

/** Nobody owns the partition (no claim, or a tie between claims of the same generation). */
const NO_OWNER = -1;

interface StickyPlan {
  memberIds: string[];
  partitions: TopicPartition[];
  /** Member index per partition index (every partition here has a subscriber). */
  assignedTo: Int32Array;
  /** The member each partition is validly claimed by (highest generation, no tie), or NO_OWNER. */
  claimOwner: Int32Array;
  /** Number of members claiming each partition in their owned partitions. */
  claimCount: Int32Array;
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function plan(input: AssignmentInput): StickyPlan {
  const members = [...input.members].sort((a, b) => compareStrings(a.memberId, b.memberId));
  const memberIds = members.map((m) => m.memberId);
  const numMembers = members.length;

  // Subscribers of every topic that has partitions, in member order.
  const subscribersOfTopic = new Map<string, number[]>();
  members.forEach((member, m) => {
    for (const topic of new Set(member.topics)) {
      if (partitionCount(input, topic) === 0) continue;
      let subscribers = subscribersOfTopic.get(topic);
      if (subscribers === undefined) subscribersOfTopic.set(topic, (subscribers = []));
      subscribers.push(m);
    }
  });
  const topics = [...subscribersOfTopic.keys()].sort(compareStrings);
  const partitions: TopicPartition[] = [];
  const partitionIndex = new Map<string, number>();
  const subscribersOf: number[][] = [];
  for (const topic of topics) {
    const subscribers = subscribersOfTopic.get(topic)!;
    for (let partition = 0; partition < partitionCount(input, topic); partition++) {
      partitionIndex.set(partitionKey(topic, partition), partitions.length);
      partitions.push({ topic, partition });
      subscribersOf.push(subscribers);
    }
  }
  const numPartitions = partitions.length;

  // Settle claims by generation.
  const claimOwner = new Int32Array(numPartitions).fill(NO_OWNER);
  const claimGeneration = new Float64Array(numPartitions).fill(Number.NEGATIVE_INFINITY);
  const claimCount = new Int32Array(numPartitions);
  // Position of each claimed partition in the member's owned list: a member gives up the last listed first.
  const ownedRank = members.map(() => new Map<number, number>());
  members.forEach((member, m) => {
    const generation = member.generationId ?? DEFAULT_GENERATION;
    for (const tp of member.ownedPartitions ?? []) {
      const p = partitionIndex.get(partitionKey(tp.topic, tp.partition));
      if (p === undefined || ownedRank[m]!.has(p)) continue;
      ownedRank[m]!.set(p, ownedRank[m]!.size);
      claimCount[p]!++;
      if (generation > claimGeneration[p]!) {
        claimGeneration[p] = generation;
        claimOwner[p] = m;
      } else if (generation === claimGeneration[p]) {
        claimOwner[p] = NO_OWNER;
      }
    }
  });

  const assignedTo = new Int32Array(numPartitions).fill(NO_OWNER);
  const load = new Array<number>(numMembers).fill(0);
  const held = members.map(() => new Set<number>());
  const give = (p: number, m: number): void => {
    assignedTo[p] = m;
    held[m]!.add(p);
    load[m]!++;
  };

  // 1. Keep what is validly owned and still subscribed.
  for (let p = 0; p < numPartitions; p++) {
    const m = claimOwner[p]!;
    if (m !== NO_OWNER && subscribersOf[p]!.includes(m)) {
      give(p, m);
    }
  }

  // The least loaded subscriber of partition p other than `except`, lowest member index on ties.
  const leastLoaded = (p: number, except: number): number => {
    let best = NO_OWNER;
    for (const m of subscribersOf[p]!) {
      if (m !== except && (best === NO_OWNER || load[m]! < load[best]!)) best = m;
    }
    return best;
  };

  // 2. Deal free partitions, hardest to place first.
  const free: number[] = [];
  for (let p = 0; p < numPartitions; p++) if (assignedTo[p] === NO_OWNER) free.push(p);
  free.sort((a, b) => subscribersOf[a]!.length - subscribersOf[b]!.length || a - b);
  for (const p of free) give(p, leastLoaded(p, NO_OWNER));

  // 3. Move from the most loaded to the least loaded eligible member until none can move.
  // Each member gives up partitions it did not own first, then owned ones, the last listed first;
  // partitions it receives while balancing go before all of those.
  const giveUpOrder = held.map((partitionsHeld, m) => {
    const rank = ownedRank[m]!;
    const ownedRankOf = (p: number): number => (claimOwner[p] === m ? rank.get(p)! : -1);
    return [...partitionsHeld].sort((a, b) => {
      const ra = ownedRankOf(a);
      const rb = ownedRankOf(b);
      if (ra === -1 || rb === -1) return ra === rb ? a - b : ra === -1 ? -1 : 1;
      return rb - ra;
    });
  });
  const received = members.map((): number[] => []);
  const giveUpStart = new Array<number>(numMembers).fill(0);

  const tryMove = (p: number, from: number): boolean => {
    const to = leastLoaded(p, from);
    if (to === NO_OWNER || load[from]! <= load[to]! + 1) return false;
    held[from]!.delete(p);
    load[from]!--;
    give(p, to);
    received[to]!.push(p);
    return true;
  };
  const tryMoveFrom = (from: number): boolean => {
    const recent = received[from]!;
    while (recent.length > 0 && assignedTo[recent[recent.length - 1]!] !== from) recent.pop();
    for (let i = recent.length - 1; i >= 0; i--) {
      if (assignedTo[recent[i]!] === from && tryMove(recent[i]!, from)) return true;
    }
    const order = giveUpOrder[from]!;
    while (giveUpStart[from]! < order.length && assignedTo[order[giveUpStart[from]!]!] !== from) giveUpStart[from]!++;
    for (let i = giveUpStart[from]!; i < order.length; i++) {
      if (assignedTo[order[i]!] === from && tryMove(order[i]!, from)) return true;
    }
    return false;
  };

  const byLoad = memberIds.map((_, m) => m);
  for (;;) {
    let minLoad = Number.POSITIVE_INFINITY;
    let mostLoaded = NO_OWNER;
    for (let m = 0; m < numMembers; m++) {
      if (load[m]! < minLoad) minLoad = load[m]!;
      if (mostLoaded === NO_OWNER || load[m]! > load[mostLoaded]!) mostLoaded = m;
    }
    if (mostLoaded === NO_OWNER || load[mostLoaded]! <= minLoad + 1) break;
    if (tryMoveFrom(mostLoaded)) continue;
    // The most loaded member cannot give anything away: try the others, most loaded first.
    byLoad.sort((a, b) => load[b]! - load[a]! || a - b);
    let moved = false;
    for (const from of byLoad) {
      if (load[from]! <= minLoad + 1) break;
      if (from !== mostLoaded && tryMoveFrom(from)) {
        moved = true;
        break;
      }
    }
    if (!moved) break;
  }

  return { memberIds, partitions, assignedTo, claimOwner, claimCount };
}

function toAssignment(
  input: AssignmentInput,
  result: StickyPlan,
  keep: (p: number, m: number) => boolean,
): GroupAssignment {
  const assignment = emptyAssignment(input.members);
  result.assignedTo.forEach((m, p) => {
    if (m !== NO_OWNER && keep(p, m)) assignment.get(result.memberIds[m]!)!.push({ ...result.partitions[p]! });
  });
  return sortAssignment(assignment);
}

export const stickyAssignor: Assignor = {
  name: 'sticky',
  supportedProtocols: ['EAGER'],
  assign(input: AssignmentInput): GroupAssignment {
    return toAssignment(input, plan(input), () => true);
  },
};

export const cooperativeStickyAssignor: Assignor = {
  name: 'cooperative-sticky',
  supportedProtocols: ['COOPERATIVE', 'EAGER'],
  assign(input: AssignmentInput): GroupAssignment {
    const result = plan(input);
    // A member keeps a partition another member also claims only if its own claim wins; any other
    // claimed partition changing hands waits one rebalance, until its owners have revoked it.
    return toAssignment(input, result, (p, m) => result.claimCount[p] === 0 || result.claimOwner[p] === m);
  },
};
