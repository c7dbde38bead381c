/**
 * Partition reassignment (KIP-455). Pure.
 *
 *   alterPartitionReassignments(image, request, settings) -> { records, response }
 *     Per partition: replicas = target starts (or replaces) a reassignment: the assignment
 *     becomes target followed by the original replicas not in it, adding = target - original,
 *     removing = original - target. It completes at once when nothing needs to catch up (a
 *     reorder, or only removals with an in-sync kept replica); otherwise AlterPartition
 *     completes it once every adding replica is in the ISR (election.ts). replicas = null
 *     cancels: back to the original replicas, adding replicas leave the ISR
 *     (NO_REASSIGNMENT_IN_PROGRESS when none runs; INVALID_REPLICA_ASSIGNMENT when no original
 *     replica is in sync and unclean election is off for the topic). A target that is empty,
 *     names a broker twice or an unregistered broker: INVALID_REPLICA_ASSIGNMENT. Unknown topic
 *     or partition: UNKNOWN_TOPIC_OR_PARTITION. Append the records, then respond.
 *   listPartitionReassignments(image, request) -> response
 *     every partition with a reassignment in progress (topics null), or those of the named
 *     topics and partitions; unknown names are skipped.
 */

import type { AlterPartitionReassignmentsRequest } from '../../protocol/generated/alter-partition-reassignments-request.ts';
import type {
  AlterPartitionReassignmentsResponse,
  AlterPartitionReassignmentsResponseReassignableTopicResponse,
} from '../../protocol/generated/alter-partition-reassignments-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { ListPartitionReassignmentsRequest } from '../../protocol/generated/list-partition-reassignments-request.ts';
import type {
  ListPartitionReassignmentsResponse,
  ListPartitionReassignmentsResponseOngoingTopicReassignment,
} from '../../protocol/generated/list-partition-reassignments-response.ts';
import { type MetadataImage, type PartitionImage, sortedPartitions } from '../image.ts';
import type { MetadataMessage } from '../metadata-log.ts';
import type { ControllerResult } from './brokers.ts';
import {
  acceptableLeaders,
  buildPartitionChange,
  type ElectionSettings,
  partitionChangeMessage,
  sortedTopics,
  uncleanElectionEnabled,
} from './election.ts';
import { validateAssignment } from './placement.ts';

export function isReassigning(p: PartitionImage): boolean {
  return p.addingReplicas.length > 0 || p.removingReplicas.length > 0;
}

export function alterPartitionReassignments(
  image: MetadataImage,
  request: AlterPartitionReassignmentsRequest,
  settings: ElectionSettings,
): ControllerResult<AlterPartitionReassignmentsResponse> {
  const records: MetadataMessage[] = [];
  const responses: AlterPartitionReassignmentsResponseReassignableTopicResponse[] = [];
  const acceptable = acceptableLeaders(image);
  for (const t of request.topics) {
    const topic = image.topicsByName.get(t.name);
    const partitions: AlterPartitionReassignmentsResponseReassignableTopicResponse['partitions'] = [];
    responses.push({ name: t.name, partitions });
    for (const target of t.partitions) {
      const done = (errorCode: number, errorMessage: string | null) =>
        partitions.push({ partitionIndex: target.partitionIndex, errorCode, errorMessage });
      const p = topic?.partitions.get(target.partitionIndex);
      if (topic === undefined || p === undefined) {
        done(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Unable to find partition ${t.name}:${target.partitionIndex}.`);
        continue;
      }
      const unclean = uncleanElectionEnabled(image, topic.name, settings.uncleanLeaderElectionEnable, settings.nodeId);
      // The assignment before any reassignment in progress.
      const original = p.replicas.filter((r) => !p.addingReplicas.includes(r));
      if (target.replicas === null) {
        if (!isReassigning(p)) {
          done(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, 'No partition reassignment is in progress.');
          continue;
        }
        const isr = p.isr.filter((r) => original.includes(r));
        if (isr.length === 0 && !unclean) {
          done(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            `Unable to revert partition assignment for ${t.name}:${target.partitionIndex} because it would require an unclean leader election.`,
          );
          continue;
        }
        const record = buildPartitionChange(topic.topicId, p, acceptable, {
          replicas: original,
          isr,
          addingReplicas: [],
          removingReplicas: [],
          election: unclean ? 'unclean' : 'clean',
        });
        if (record !== null) records.push(partitionChangeMessage(record));
        done(ErrorCode.NONE, null);
        continue;
      }
      const invalid = validateAssignment(image, target.replicas);
      if (invalid !== undefined) {
        done(invalid.errorCode, invalid.errorMessage);
        continue;
      }
      const wanted = target.replicas;
      const merged = [...wanted, ...original.filter((r) => !wanted.includes(r))];
      const record = buildPartitionChange(topic.topicId, p, acceptable, {
        replicas: merged,
        // Replicas added by a replaced reassignment and not wanted now leave the ISR.
        isr: p.isr.filter((r) => merged.includes(r)),
        addingReplicas: wanted.filter((r) => !original.includes(r)),
        removingReplicas: original.filter((r) => !wanted.includes(r)),
        election: unclean ? 'unclean' : 'clean',
      });
      if (record !== null) records.push(partitionChangeMessage(record));
      done(ErrorCode.NONE, null);
    }
  }
  return {
    records,
    response: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, responses },
  };
}

export function listPartitionReassignments(
  image: MetadataImage,
  request: ListPartitionReassignmentsRequest,
): ListPartitionReassignmentsResponse {
  const topics: ListPartitionReassignmentsResponseOngoingTopicReassignment[] = [];
  const wanted =
    request.topics === null
      ? sortedTopics(image).map((t) => ({ topic: t, ids: sortedPartitions(t).map((p) => p.partitionId) }))
      : request.topics.flatMap((t) => {
          const topic = image.topicsByName.get(t.name);
          return topic === undefined ? [] : [{ topic, ids: t.partitionIndexes }];
        });
  for (const { topic, ids } of wanted) {
    const partitions: ListPartitionReassignmentsResponseOngoingTopicReassignment['partitions'] = [];
    for (const id of ids) {
      const p = topic.partitions.get(id);
      if (p === undefined || !isReassigning(p)) continue;
      partitions.push({
        partitionIndex: id,
        replicas: [...p.replicas],
        addingReplicas: [...p.addingReplicas],
        removingReplicas: [...p.removingReplicas],
      });
    }
    if (partitions.length > 0) topics.push({ name: topic.name, partitions });
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, topics };
}
