/**
 * Builders and readers for the Raft RPC bodies (generated wire types) of the one
 * partition Raft replicates, `__cluster_metadata-0`. The core speaks in plain numbers;
 * this file is where they become the int64 `bigint`s and nested topic/partition arrays
 * of the wire types, and back.
 */
import { ZERO_UUID } from '../protocol/codec/uuid.ts';
import type { BeginQuorumEpochRequest } from '../protocol/generated/begin-quorum-epoch-request.ts';
import type { BeginQuorumEpochResponse } from '../protocol/generated/begin-quorum-epoch-response.ts';
import type { EndQuorumEpochRequest } from '../protocol/generated/end-quorum-epoch-request.ts';
import type { EndQuorumEpochResponse } from '../protocol/generated/end-quorum-epoch-response.ts';
import type { FetchRequest } from '../protocol/generated/fetch-request.ts';
import type { FetchResponse } from '../protocol/generated/fetch-response.ts';
import type { FetchSnapshotRequest } from '../protocol/generated/fetch-snapshot-request.ts';
import type { FetchSnapshotResponse } from '../protocol/generated/fetch-snapshot-response.ts';
import type { VoteRequest } from '../protocol/generated/vote-request.ts';
import type { VoteResponse } from '../protocol/generated/vote-response.ts';
import type { SnapshotId } from './types.ts';
import { RAFT_PARTITION, RAFT_TOPIC, RAFT_TOPIC_ID } from './types.ts';

export interface VoteArgs {
  clusterId: string;
  candidateEpoch: number;
  candidateId: number;
  lastOffsetEpoch: number;
  lastOffset: number;
}

export function voteRequest(a: VoteArgs): VoteRequest {
  return {
    clusterId: a.clusterId,
    voterId: -1,
    topics: [
      {
        topicName: RAFT_TOPIC,
        partitions: [
          {
            partitionIndex: RAFT_PARTITION,
            candidateEpoch: a.candidateEpoch,
            candidateId: a.candidateId,
            candidateDirectoryId: ZERO_UUID,
            voterDirectoryId: ZERO_UUID,
            lastOffsetEpoch: a.lastOffsetEpoch,
            lastOffset: BigInt(a.lastOffset),
          },
        ],
      },
    ],
  };
}

export function readVoteRequest(body: VoteRequest): VoteArgs | undefined {
  const p = body.topics[0]?.partitions[0];
  if (!p) return undefined;
  return {
    clusterId: body.clusterId ?? '',
    candidateEpoch: p.candidateEpoch,
    candidateId: p.candidateId,
    lastOffsetEpoch: p.lastOffsetEpoch,
    lastOffset: Number(p.lastOffset),
  };
}

/** The answer part shared by Vote, BeginQuorumEpoch and EndQuorumEpoch responses. */
export interface QuorumAnswer {
  errorCode: number;
  leaderId: number;
  leaderEpoch: number;
}

export function voteResponse(a: QuorumAnswer & { voteGranted: boolean }): VoteResponse {
  return {
    errorCode: 0,
    topics: [
      {
        topicName: RAFT_TOPIC,
        partitions: [
          {
            partitionIndex: RAFT_PARTITION,
            errorCode: a.errorCode,
            leaderId: a.leaderId,
            leaderEpoch: a.leaderEpoch,
            voteGranted: a.voteGranted,
          },
        ],
      },
    ],
    nodeEndpoints: [],
  };
}

export function readVoteResponse(body: VoteResponse): (QuorumAnswer & { voteGranted: boolean }) | undefined {
  const p = body.topics[0]?.partitions[0];
  if (!p) return undefined;
  return {
    errorCode: body.errorCode || p.errorCode,
    leaderId: p.leaderId,
    leaderEpoch: p.leaderEpoch,
    voteGranted: p.voteGranted,
  };
}

export function beginQuorumEpochRequest(
  clusterId: string,
  leaderId: number,
  leaderEpoch: number,
): BeginQuorumEpochRequest {
  return {
    clusterId,
    voterId: -1,
    topics: [
      {
        topicName: RAFT_TOPIC,
        partitions: [{ partitionIndex: RAFT_PARTITION, voterDirectoryId: ZERO_UUID, leaderId, leaderEpoch }],
      },
    ],
    leaderEndpoints: [],
  };
}

export function readLeaderAndEpoch(
  body: BeginQuorumEpochRequest | EndQuorumEpochRequest,
): { leaderId: number; leaderEpoch: number; preferredSuccessors: number[] } | undefined {
  const p = body.topics[0]?.partitions[0];
  if (!p) return undefined;
  return {
    leaderId: p.leaderId,
    leaderEpoch: p.leaderEpoch,
    // EndQuorumEpoch v0 names successors by id, v1+ as PreferredCandidates.
    preferredSuccessors:
      'preferredCandidates' in p && p.preferredCandidates.length > 0
        ? p.preferredCandidates.map((c) => c.candidateId)
        : 'preferredSuccessors' in p
          ? p.preferredSuccessors
          : [],
  };
}

export function quorumResponse(a: QuorumAnswer): BeginQuorumEpochResponse & EndQuorumEpochResponse {
  return {
    errorCode: 0,
    topics: [
      {
        topicName: RAFT_TOPIC,
        partitions: [
          { partitionIndex: RAFT_PARTITION, errorCode: a.errorCode, leaderId: a.leaderId, leaderEpoch: a.leaderEpoch },
        ],
      },
    ],
    nodeEndpoints: [],
  };
}

export function readQuorumResponse(body: BeginQuorumEpochResponse | EndQuorumEpochResponse): QuorumAnswer | undefined {
  const p = body.topics[0]?.partitions[0];
  if (!p) return undefined;
  return { errorCode: body.errorCode || p.errorCode, leaderId: p.leaderId, leaderEpoch: p.leaderEpoch };
}

export function endQuorumEpochRequest(
  clusterId: string,
  leaderId: number,
  leaderEpoch: number,
  preferredSuccessors: number[],
): EndQuorumEpochRequest {
  return {
    clusterId,
    topics: [
      {
        topicName: RAFT_TOPIC,
        partitions: [
          {
            partitionIndex: RAFT_PARTITION,
            leaderId,
            leaderEpoch,
            preferredSuccessors,
            preferredCandidates: preferredSuccessors.map((id) => ({
              candidateId: id,
              candidateDirectoryId: ZERO_UUID,
            })),
          },
        ],
      },
    ],
    leaderEndpoints: [],
  };
}

export interface FetchArgs {
  clusterId: string;
  replicaId: number;
  currentLeaderEpoch: number;
  fetchOffset: number;
  lastFetchedEpoch: number;
  logStartOffset: number;
  maxWaitMs: number;
}

export function fetchRequest(a: FetchArgs): FetchRequest {
  return {
    clusterId: a.clusterId,
    replicaId: a.replicaId,
    replicaState: { replicaId: a.replicaId, replicaEpoch: -1n },
    maxWaitMs: a.maxWaitMs,
    minBytes: 1,
    maxBytes: 8 * 1024 * 1024,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic: RAFT_TOPIC,
        topicId: RAFT_TOPIC_ID,
        partitions: [
          {
            partition: RAFT_PARTITION,
            currentLeaderEpoch: a.currentLeaderEpoch,
            fetchOffset: BigInt(a.fetchOffset),
            lastFetchedEpoch: a.lastFetchedEpoch,
            logStartOffset: BigInt(a.logStartOffset),
            partitionMaxBytes: 8 * 1024 * 1024,
            replicaDirectoryId: ZERO_UUID,
          },
        ],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}

export function readFetchRequest(body: FetchRequest): FetchArgs | undefined {
  const p = body.topics[0]?.partitions[0];
  if (!p) return undefined;
  const replicaId = body.replicaState.replicaId >= 0 ? body.replicaState.replicaId : body.replicaId;
  return {
    clusterId: body.clusterId ?? '',
    replicaId,
    currentLeaderEpoch: p.currentLeaderEpoch,
    fetchOffset: Number(p.fetchOffset),
    lastFetchedEpoch: p.lastFetchedEpoch,
    logStartOffset: Number(p.logStartOffset),
    maxWaitMs: body.maxWaitMs,
  };
}

export interface FetchAnswer {
  errorCode: number;
  highWatermark: number;
  logStartOffset: number;
  leaderId: number;
  leaderEpoch: number;
  /** Set when the follower's log diverges: truncate to (at most) this epoch's end. */
  diverging?: { epoch: number; endOffset: number };
  /** Set when the fetch offset is below the log start: fetch this snapshot. */
  snapshotId?: SnapshotId;
}

export function fetchResponse(a: FetchAnswer): FetchResponse {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topic: RAFT_TOPIC,
        topicId: RAFT_TOPIC_ID,
        partitions: [
          {
            partitionIndex: RAFT_PARTITION,
            errorCode: a.errorCode,
            highWatermark: BigInt(a.highWatermark),
            lastStableOffset: BigInt(a.highWatermark),
            logStartOffset: BigInt(a.logStartOffset),
            divergingEpoch: a.diverging
              ? { epoch: a.diverging.epoch, endOffset: BigInt(a.diverging.endOffset) }
              : { epoch: -1, endOffset: -1n },
            currentLeader: { leaderId: a.leaderId, leaderEpoch: a.leaderEpoch },
            snapshotId: a.snapshotId
              ? { endOffset: BigInt(a.snapshotId.endOffset), epoch: a.snapshotId.epoch }
              : { endOffset: -1n, epoch: -1 },
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: null,
          },
        ],
      },
    ],
    nodeEndpoints: [],
  };
}

export function readFetchResponse(body: FetchResponse): FetchAnswer | undefined {
  const p = body.responses[0]?.partitions[0];
  if (!p) return undefined;
  const out: FetchAnswer = {
    errorCode: body.errorCode || p.errorCode,
    highWatermark: Number(p.highWatermark),
    logStartOffset: Number(p.logStartOffset),
    leaderId: p.currentLeader.leaderId,
    leaderEpoch: p.currentLeader.leaderEpoch,
  };
  if (p.divergingEpoch.epoch >= 0 || p.divergingEpoch.endOffset >= 0n) {
    out.diverging = { epoch: p.divergingEpoch.epoch, endOffset: Number(p.divergingEpoch.endOffset) };
  }
  if (p.snapshotId.endOffset >= 0n && p.snapshotId.epoch >= 0) {
    out.snapshotId = { endOffset: Number(p.snapshotId.endOffset), epoch: p.snapshotId.epoch };
  }
  return out;
}

export function fetchSnapshotRequest(
  clusterId: string,
  replicaId: number,
  currentLeaderEpoch: number,
  id: SnapshotId,
  position: number,
  maxBytes: number,
): FetchSnapshotRequest {
  return {
    clusterId,
    replicaId,
    maxBytes,
    topics: [
      {
        name: RAFT_TOPIC,
        partitions: [
          {
            partition: RAFT_PARTITION,
            currentLeaderEpoch,
            snapshotId: { endOffset: BigInt(id.endOffset), epoch: id.epoch },
            position: BigInt(position),
            replicaDirectoryId: ZERO_UUID,
          },
        ],
      },
    ],
  };
}

export function readFetchSnapshotRequest(
  body: FetchSnapshotRequest,
): { replicaId: number; currentLeaderEpoch: number; id: SnapshotId; position: number; maxBytes: number } | undefined {
  const p = body.topics[0]?.partitions[0];
  if (!p) return undefined;
  return {
    replicaId: body.replicaId,
    currentLeaderEpoch: p.currentLeaderEpoch,
    id: { endOffset: Number(p.snapshotId.endOffset), epoch: p.snapshotId.epoch },
    position: Number(p.position),
    maxBytes: body.maxBytes,
  };
}

export interface FetchSnapshotAnswer {
  errorCode: number;
  leaderId: number;
  leaderEpoch: number;
  id: SnapshotId;
  size: number;
  position: number;
  chunk: Buffer | null;
}

export function fetchSnapshotResponse(a: FetchSnapshotAnswer): FetchSnapshotResponse {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    topics: [
      {
        name: RAFT_TOPIC,
        partitions: [
          {
            index: RAFT_PARTITION,
            errorCode: a.errorCode,
            snapshotId: { endOffset: BigInt(a.id.endOffset), epoch: a.id.epoch },
            currentLeader: { leaderId: a.leaderId, leaderEpoch: a.leaderEpoch },
            size: BigInt(a.size),
            position: BigInt(a.position),
            unalignedRecords: a.chunk ?? Buffer.alloc(0),
          },
        ],
      },
    ],
    nodeEndpoints: [],
  };
}

export function readFetchSnapshotResponse(body: FetchSnapshotResponse): FetchSnapshotAnswer | undefined {
  const p = body.topics[0]?.partitions[0];
  if (!p) return undefined;
  return {
    errorCode: body.errorCode || p.errorCode,
    leaderId: p.currentLeader.leaderId,
    leaderEpoch: p.currentLeader.leaderEpoch,
    id: { endOffset: Number(p.snapshotId.endOffset), epoch: p.snapshotId.epoch },
    size: Number(p.size),
    position: Number(p.position),
    chunk: p.unalignedRecords,
  };
}
