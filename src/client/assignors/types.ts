/**
 * Shared shapes of the client-side partition assignors of the classic consumer group protocol
 * (the Java client's ConsumerPartitionAssignor): the group leader gets every member's
 * subscription and the topics' partition counts, and returns each member's partitions.
 * Plain objects in and out; the ConsumerProtocolSubscription/Assignment bytes are the codecs' job.
 */

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface MemberSubscription {
  memberId: string;
  /** `group.instance.id` of a static member; orders members before the member id, as Kafka does. */
  groupInstanceId?: string | null;
  /** Subscribed topics. */
  topics: readonly string[];
  /** Partitions the member owns now (sticky and cooperative-sticky keep them where balance allows). */
  ownedPartitions?: readonly TopicPartition[];
  /** Generation in which `ownedPartitions` were assigned; a higher generation wins a conflicting claim. */
  generationId?: number;
}

export interface AssignmentInput {
  members: readonly MemberSubscription[];
  /** Partition count per topic; subscribed topics missing here (unknown to metadata) are skipped. */
  partitionsPerTopic: ReadonlyMap<string, number>;
}

/** Partitions per member id; every member of the input has an entry, sorted by topic then partition. */
export type GroupAssignment = Map<string, TopicPartition[]>;

export type RebalanceProtocol = 'EAGER' | 'COOPERATIVE';

export interface Assignor {
  /** The protocol name members advertise in JoinGroup (`partition.assignment.strategy`). */
  readonly name: string;
  /** Rebalance protocols this assignor supports, preferred first. */
  readonly supportedProtocols: readonly RebalanceProtocol[];
  assign(input: AssignmentInput): GroupAssignment;
}

/** Generation of owned partitions when the member did not say (Kafka's DEFAULT_GENERATION). */
export const DEFAULT_GENERATION = -1;

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  return compareStrings(a.topic, b.topic) || a.partition - b.partition;
}

/**
 * Kafka's member order for range and round robin: static members (with a group instance id)
 * first, by instance id; then dynamic members by member id.
 */
export function compareMembers(a: MemberSubscription, b: MemberSubscription): number {
  const ai = a.groupInstanceId ?? null;
  const bi = b.groupInstanceId ?? null;
  if (ai !== null && bi !== null) return compareStrings(ai, bi) || compareStrings(a.memberId, b.memberId);
  if (ai !== null) return -1;
  if (bi !== null) return 1;
  return compareStrings(a.memberId, b.memberId);
}

/** An empty assignment with an entry per member, in member id order. */
export function emptyAssignment(members: readonly MemberSubscription[]): GroupAssignment {
  const out: GroupAssignment = new Map();
  for (const m of [...members].sort((a, b) => compareStrings(a.memberId, b.memberId))) {
    if (out.has(m.memberId)) throw new RangeError(`duplicate member id ${m.memberId}`);
    out.set(m.memberId, []);
  }
  return out;
}

/** Sorts every member's list in place by topic then partition, and returns the assignment. */
export function sortAssignment(assignment: GroupAssignment): GroupAssignment {
  for (const partitions of assignment.values()) partitions.sort(compareTopicPartitions);
  return assignment;
}

/** Partition count of a topic, or 0 when unknown. */
export function partitionCount(input: AssignmentInput, topic: string): number {
  const n = input.partitionsPerTopic.get(topic);
  return n !== undefined && n > 0 ? n : 0;
}
