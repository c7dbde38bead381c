/**
 * The range assignor (`range`), as the Java client's RangeAssignor without rack awareness:
 * topic by topic, the members subscribed to the topic are put in order (static members by
 * group instance id first, then by member id) and the partitions are cut into contiguous ranges,
 * `numPartitions / numMembers` each, the first `numPartitions % numMembers` members getting one
 * more. Topics with the same partition count are thus co-partitioned: member i gets the same
 * partition numbers of each.
 */
import {
  type AssignmentInput,
  type Assignor,
  compareMembers,
  emptyAssignment,
  type GroupAssignment,
  type MemberSubscription,
  partitionCount,
  sortAssignment,
} from './types.ts';

export const rangeAssignor: Assignor = {
  name: 'range',
  supportedProtocols: ['EAGER'],
  assign(input: AssignmentInput): GroupAssignment {
    const assignment = emptyAssignment(input.members);
    const membersPerTopic = new Map<string, MemberSubscription[]>();
    for (const member of input.members) {
      for (const topic of new Set(member.topics)) {
        let members = membersPerTopic.get(topic);
        if (members === undefined) membersPerTopic.set(topic, (members = []));
        members.push(member);
      }
    }
    for (const [topic, members] of membersPerTopic) {
      const numPartitions = partitionCount(input, topic);
      if (numPartitions === 0) continue;
      members.sort(compareMembers);
      const perMember = Math.floor(numPartitions / members.length);
      const withExtra = numPartitions % members.length;
      members.forEach((member, i) => {
        const start = perMember * i + Math.min(i, withExtra);
        const length = perMember + (i < withExtra ? 1 : 0);
        const out = assignment.get(member.memberId)!;
        for (let p = start; p < start + length; p++) out.push({ topic, partition: p });
      });
    }
    return sortAssignment(assignment);
  },
};
