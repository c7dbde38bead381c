/**
 * Leader elections on request (ElectLeaders, KIP-460) and the periodic preferred-leader
 * rebalance. Pure.
 *
 *   electLeaders(image, request) -> { records, response }
 *     electionType 0 PREFERRED: make replicas[0] the leader when it is live and in the ISR
 *     (ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise).
 *     electionType 1 UNCLEAN: only for leaderless partitions (ELECTION_NOT_NEEDED when one
 *     leads); elects from the ISR, else any live replica (RECOVERING), else
 *     ELIGIBLE_LEADERS_NOT_AVAILABLE. topicPartitions null means every partition, and then
 *     partitions that needed nothing are left out of the response (as Kafka does).
 *     Unknown topics or partitions: UNKNOWN_TOPIC_OR_PARTITION. Append records, then respond.
 *   autoLeaderRebalance(image, settings) -> { records, elected }
 *     for each broker whose share of preferred partitions it does not lead exceeds
 *     leader.imbalance.per.broker.percentage (default 10), elects it back where it is live and
 *     in the ISR; at most maxElections per call (default 1000). Call it from a timer every
 *     leader.imbalance.check.interval.seconds (default 300) when
 *     auto.leader.rebalance.enable (default true); append the records as one operation.
 */

import type { ElectLeadersRequest } from '../../protocol/generated/elect-leaders-request.ts';
import type {
  ElectLeadersResponse,
  ElectLeadersResponsePartitionResult,
  ElectLeadersResponseReplicaElectionResult,
} from '../../protocol/generated/elect-leaders-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { type MetadataImage, NO_LEADER, type PartitionImage, sortedPartitions, type TopicImage } from '../image.ts';
import type { MetadataMessage } from '../metadata-log.ts';
import type { ControllerResult } from './brokers.ts';
import {
  acceptableLeaders,
  buildPartitionChange,
  type LeaderAcceptor,
  partitionAfter,
  partitionChangeMessage,
  sortedTopics,
} from './election.ts';

/** Kafka's ElectionType ids. */
export const ElectionType = { PREFERRED: 0, UNCLEAN: 1 } as const;

export function electLeaders(
  image: MetadataImage,
  request: ElectLeadersRequest,
): ControllerResult<ElectLeadersResponse> {
  const records: MetadataMessage[] = [];
  const results: ElectLeadersResponseReplicaElectionResult[] = [];
  const acceptable = acceptableLeaders(image);
  const all = request.topicPartitions === null;
  const wanted: { topic: string; partitions: number[] }[] = all
    ? sortedTopics(image).map((t) => ({ topic: t.name, partitions: sortedPartitions(t).map((p) => p.partitionId) }))
    : request.topicPartitions!.map((t) => ({ topic: t.topic, partitions: t.partitions }));
  for (const w of wanted) {
    const topic = image.topicsByName.get(w.topic);
    const partitionResult: ElectLeadersResponsePartitionResult[] = [];
    for (const partitionId of w.partitions) {
      const result = electOne(topic, partitionId, request.electionType, acceptable, records);
      if (all && result.errorCode === ErrorCode.ELECTION_NOT_NEEDED) continue;
      partitionResult.push({ partitionId, ...result });
    }
    if (!all || partitionResult.length > 0) results.push({ topic: w.topic, partitionResult });
  }
  return {
    records,
    response: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, replicaElectionResults: results },
  };
}

function electOne(
  topic: TopicImage | undefined,
  partitionId: number,
  electionType: number,
  acceptable: LeaderAcceptor,
  records: MetadataMessage[],
): { errorCode: number; errorMessage: string | null } {
  const p = topic?.partitions.get(partitionId);
  if (topic === undefined || p === undefined) {
    return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'The partition does not exist.' };
  }
  if (electionType === ElectionType.PREFERRED) {
    if (p.leader === p.replicas[0]) {
      return {
        errorCode: ErrorCode.ELECTION_NOT_NEEDED,
        errorMessage: 'Leader election not needed for topic partition.',
      };
    }
    const record = buildPartitionChange(topic.topicId, p, acceptable, { election: 'preferred' });
    if (record === null || partitionAfter(p, record).leader !== p.replicas[0]) {
      return {
        errorCode: ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
        errorMessage: `Failed to elect leader for partition ${topic.name}-${partitionId} under strategy PreferredLeaderElectionStrategy`,
      };
    }
    records.push(partitionChangeMessage(record));
    return { errorCode: ErrorCode.NONE, errorMessage: null };
  }
  if (electionType === ElectionType.UNCLEAN) {
    if (p.leader !== NO_LEADER) {
      return {
        errorCode: ErrorCode.ELECTION_NOT_NEEDED,
        errorMessage: 'Leader election not needed for topic partition.',
      };
    }
    const record = buildPartitionChange(topic.topicId, p, acceptable, { election: 'unclean' });
    if (record === null || partitionAfter(p, record).leader === NO_LEADER) {
      return {
        errorCode: ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
        errorMessage: `Failed to elect leader for partition ${topic.name}-${partitionId} under strategy UncleanLeaderElectionStrategy`,
      };
    }
    records.push(partitionChangeMessage(record));
    return { errorCode: ErrorCode.NONE, errorMessage: null };
  }
  return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown election type ${electionType}` };
}

export interface RebalanceSettings {
  /** leader.imbalance.per.broker.percentage (default 10). */
  imbalancePerBrokerPercentage?: number;
  /** Elections written per call at most (default 1000). */
  maxElections?: number;
}

export function autoLeaderRebalance(
  image: MetadataImage,
  settings: RebalanceSettings = {},
): { records: MetadataMessage[]; elected: { topic: string; partition: number }[] } {
  const percentage = settings.imbalancePerBrokerPercentage ?? 10;
  const max = settings.maxElections ?? 1000;
  const preferredCount = new Map<number, number>();
  const notLeading = new Map<number, { topic: TopicImage; p: PartitionImage }[]>();
  for (const topic of sortedTopics(image)) {
    for (const p of sortedPartitions(topic)) {
      const preferred = p.replicas[0];
      if (preferred === undefined) continue;
      preferredCount.set(preferred, (preferredCount.get(preferred) ?? 0) + 1);
      if (p.leader !== preferred) {
        let list = notLeading.get(preferred);
        if (list === undefined) notLeading.set(preferred, (list = []));
        list.push({ topic, p });
      }
    }
  }
  const acceptable = acceptableLeaders(image);
  const records: MetadataMessage[] = [];
  const elected: { topic: string; partition: number }[] = [];
  for (const broker of [...notLeading.keys()].sort((a, b) => a - b)) {
    const list = notLeading.get(broker)!;
    const ratio = (list.length * 100) / preferredCount.get(broker)!;
    if (ratio <= percentage) continue;
    for (const { topic, p } of list) {
      if (records.length >= max) return { records, elected };
      const record = buildPartitionChange(topic.topicId, p, acceptable, { election: 'preferred' });
      if (record === null || partitionAfter(p, record).leader !== broker) continue;
      records.push(partitionChangeMessage(record));
      elected.push({ topic: topic.name, partition: p.partitionId });
    }
  }
  return { records, elected };
}
