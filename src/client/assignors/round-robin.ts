/**
 * The round robin assignor (`roundrobin`), as the Java client's RoundRobinAssignor: all
 * partitions of all subscribed topics, sorted by topic then partition, are dealt one by one to
 * the members in a circle (static members by group instance id first, then by member id),
 * skipping members not subscribed to the partition's topic.
 */
import {
  type AssignmentInput,
  type Assignor,
  compareMembers,
  compareStrings,
  emptyAssignment,
  type GroupAssignment,
  partitionCount,
  sortAssignment,
} from './types.ts';

export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  supportedProtocols: ['EAGER'],
  assign(input: AssignmentInput): GroupAssignment {
    const assignment = emptyAssignment(input.members);
    const members = [...input.members].sort(compareMembers);
    const subscribed = members.map((m) => new Set(m.topics));
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort(compareStrings);
    let next = 0;
    for (const topic of topics) {
      const numPartitions = partitionCount(input, topic);
      for (let partition = 0; partition < numPartitions; partition++) {
        // Some member subscribes to this topic (it came from a subscription), so this ends.
        while (!subscribed[next]!.has(topic)) next = (next + 1) % members.length;
        assignment.get(members[next]!.memberId)!.push({ topic, partition });
        next = (next + 1) % members.length;
      }
    }
    return sortAssignment(assignment);
  },
};
