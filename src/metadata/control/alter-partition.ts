/**
 * AlterPartition (KIP-497, KIP-841 broker epochs in the ISR, KIP-704 leader recovery): a
 * partition leader asks the controller to change its ISR. Pure.
 *
 *   alterPartition(image, request, version, settings) -> { records, response }
 *     version is the request's API version (0-3): v0/v1 name topics, v2+ use topic ids;
 *     v3 carries newIsrWithEpochs (broker epochs), older versions newIsr (epochs skipped).
 *     The caller (controller.ts) checks it is the active controller first (NOT_CONTROLLER is
 *     its answer), appends `records` as one batch and sends `response` once they commit.
 *
 * Per partition, in Kafka's order: UNKNOWN_TOPIC_ID (v2+) / UNKNOWN_TOPIC_OR_PARTITION;
 * NOT_CONTROLLER when the request's leader or partition epoch is ahead of ours (we are stale);
 * FENCED_LEADER_EPOCH when its leader epoch is behind; INVALID_REQUEST when the sender is not
 * the leader (Kafka answers INVALID_REQUEST here, not NOT_LEADER_OR_FOLLOWER); INVALID_UPDATE_VERSION
 * when the partition epoch is behind; INVALID_REQUEST for an ISR naming non-replicas or
 * duplicates, leaving out the leader, more than one replica while RECOVERING, or going
 * RECOVERED -> RECOVERING; INELIGIBLE_REPLICA (OPERATION_NOT_ATTEMPTED before v2) when a new
 * member is unregistered, fenced, shutting down or has another broker epoch. A whole request
 * from a broker whose epoch is stale gets STALE_BROKER_EPOCH.
 *
 * On success the ISR changes (a reassignment whose adding replicas are now all in sync
 * completes; if that removes the leader a new one is elected and the partition answers
 * NEW_LEADER_ELECTED, as Kafka does), and the response carries the state after the change.
 */

import type {
  AlterPartitionRequest,
  AlterPartitionRequestPartitionData,
} from '../../protocol/generated/alter-partition-request.ts';
import type {
  AlterPartitionResponse,
  AlterPartitionResponsePartitionData,
  AlterPartitionResponseTopicData,
} from '../../protocol/generated/alter-partition-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import {
  LeaderRecoveryState,
  type MetadataImage,
  NO_LEADER_CHANGE,
  type PartitionImage,
  type TopicImage,
} from '../image.ts';
import type { MetadataMessage } from '../metadata-log.ts';
import type { ControllerResult } from './brokers.ts';
import {
  acceptableLeaders,
  buildPartitionChange,
  type ElectionSettings,
  partitionAfter,
  partitionChangeMessage,
  uncleanElectionEnabled,
} from './election.ts';

export function alterPartition(
  image: MetadataImage,
  request: AlterPartitionRequest,
  version: number,
  settings: ElectionSettings,
): ControllerResult<AlterPartitionResponse> {
  const sender = image.brokers.get(request.brokerId);
  if (request.brokerEpoch !== -1n && (sender === undefined || BigInt(sender.brokerEpoch) !== request.brokerEpoch)) {
    return { records: [], response: { throttleTimeMs: 0, errorCode: ErrorCode.STALE_BROKER_EPOCH, topics: [] } };
  }
  const records: MetadataMessage[] = [];
  const topics: AlterPartitionResponseTopicData[] = [];
  const byId = version >= 2;
  for (const t of request.topics) {
    const topic = byId ? image.topicsById.get(t.topicId) : image.topicsByName.get(t.topicName);
    const partitions: AlterPartitionResponsePartitionData[] = [];
    topics.push({ topicName: t.topicName, topicId: t.topicId, partitions });
    for (const pd of t.partitions) {
      if (topic === undefined) {
        partitions.push(
          failed(pd.partitionIndex, byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        );
        continue;
      }
      const p = topic.partitions.get(pd.partitionIndex);
      const error = validate(image, request.brokerId, p, pd, version);
      if (p === undefined || error !== ErrorCode.NONE) {
        partitions.push(failed(pd.partitionIndex, error));
        continue;
      }
      const newIsr = isrOf(pd, version).map((s) => s.brokerId);
      const record = buildPartitionChange(topic.topicId, p, acceptableLeaders(image), {
        isr: newIsr,
        leaderRecoveryState: pd.leaderRecoveryState,
        election: uncleanElection(image, topic, settings),
      });
      const after = record === null ? p : partitionAfter(p, record);
      if (record !== null) records.push(partitionChangeMessage(record));
      const leaderMoved = record !== null && record.leader !== NO_LEADER_CHANGE && after.leader !== p.leader;
      partitions.push({
        partitionIndex: pd.partitionIndex,
        errorCode: leaderMoved ? ErrorCode.NEW_LEADER_ELECTED : ErrorCode.NONE,
        leaderId: after.leader,
        leaderEpoch: after.leaderEpoch,
        isr: [...after.isr],
        leaderRecoveryState: after.leaderRecoveryState,
        partitionEpoch: after.partitionEpoch,
      });
    }
  }
  return { records, response: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, topics } };
}

function uncleanElection(image: MetadataImage, topic: TopicImage, settings: ElectionSettings) {
  return uncleanElectionEnabled(image, topic.name, settings.uncleanLeaderElectionEnable, settings.nodeId)
    ? ('unclean' as const)
    : ('clean' as const);
}

/** The new ISR with broker epochs (v3), or the plain list with epochs unchecked (-1). */
function isrOf(pd: AlterPartitionRequestPartitionData, version: number): { brokerId: number; brokerEpoch: bigint }[] {
  if (version >= 3) return pd.newIsrWithEpochs;
  return pd.newIsr.map((brokerId) => ({ brokerId, brokerEpoch: -1n }));
}

function validate(
  image: MetadataImage,
  brokerId: number,
  p: PartitionImage | undefined,
  pd: AlterPartitionRequestPartitionData,
  version: number,
): number {
  if (p === undefined) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  // Ahead of us: this controller is behind, another one is likely active.
  if (pd.leaderEpoch > p.leaderEpoch || pd.partitionEpoch > p.partitionEpoch) return ErrorCode.NOT_CONTROLLER;
  if (pd.leaderEpoch < p.leaderEpoch) return ErrorCode.FENCED_LEADER_EPOCH;
  if (brokerId !== p.leader) return ErrorCode.INVALID_REQUEST;
  if (pd.partitionEpoch < p.partitionEpoch) return ErrorCode.INVALID_UPDATE_VERSION;
  const isr = isrOf(pd, version);
  const ids = isr.map((s) => s.brokerId);
  if (ids.length === 0 || new Set(ids).size !== ids.length || ids.some((r) => !p.replicas.includes(r))) {
    return ErrorCode.INVALID_REQUEST;
  }
  if (!ids.includes(p.leader)) return ErrorCode.INVALID_REQUEST;
  if (pd.leaderRecoveryState === LeaderRecoveryState.RECOVERING && ids.length > 1) return ErrorCode.INVALID_REQUEST;
  if (
    p.leaderRecoveryState === LeaderRecoveryState.RECOVERED &&
    pd.leaderRecoveryState === LeaderRecoveryState.RECOVERING
  ) {
    return ErrorCode.INVALID_REQUEST;
  }
  for (const s of isr) {
    const b = image.brokers.get(s.brokerId);
    const ineligible =
      b === undefined ||
      b.inControlledShutdown ||
      b.fenced ||
      (s.brokerEpoch !== -1n && BigInt(b.brokerEpoch) !== s.brokerEpoch);
    // Members already in the ISR stay eligible only if live too: Kafka checks every member.
    if (ineligible) return version >= 2 ? ErrorCode.INELIGIBLE_REPLICA : ErrorCode.OPERATION_NOT_ATTEMPTED;
  }
  return ErrorCode.NONE;
}

function failed(partitionIndex: number, errorCode: number): AlterPartitionResponsePartitionData {
  return {
    partitionIndex,
    errorCode,
    leaderId: -1,
    leaderEpoch: -1,
    isr: [],
    leaderRecoveryState: 0,
    partitionEpoch: -1,
  };
}
