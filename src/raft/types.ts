/**
 * The Raft layer's data: log batches, snapshot ids, the persisted quorum state, and the
 * messages nodes exchange. Message bodies are the generated wire types (Vote,
 * BeginQuorumEpoch, EndQuorumEpoch, Fetch, FetchSnapshot), so the same objects go
 * on the wire once a network transport is plugged in; the envelope adds routing and
 * the two things the wire carries elsewhere (see RaftMessage).
 */
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

/** The metadata log's topic and partition. */
export const RAFT_TOPIC = '__cluster_metadata';
export const RAFT_PARTITION = 0;
/** Kafka's fixed topic id of __cluster_metadata (Uuid 0:1); Fetch v13+ names topics by id. */
export const RAFT_TOPIC_ID = 'AAAAAAAAAAAAAAAAAAAAAQ';

/**
 * One batch of the Raft log: the unit of append, replication, commit and replay. Its
 * records take offsets baseOffset .. baseOffset + records.length - 1. A control batch
 * holds one encoded LeaderChangeMessage (the first batch of every leader's epoch).
 */
export interface LogBatch {
  baseOffset: number;
  epoch: number;
  records: readonly Buffer[];
  control: boolean;
}

export function batchEnd(batch: LogBatch): number {
  return batch.baseOffset + batch.records.length;
}

/** A snapshot covers offsets below endOffset; epoch is the epoch of the batch before it. */
export interface SnapshotId {
  endOffset: number;
  epoch: number;
}

/** What the quorum-state file holds (Kafka's QuorumStateData, without the voters field). */
export interface QuorumState {
  epoch: number;
  /** -1: no known leader in this epoch. */
  leaderId: number;
  /** -1: no vote cast in this epoch. */
  votedId: number;
}

export const NO_ID = -1;

export type RaftState = 'unattached' | 'prospective' | 'candidate' | 'leader' | 'follower' | 'resigned';

export interface LeaderAndEpoch {
  /** -1 when unknown. */
  leaderId: number;
  epoch: number;
}

interface Envelope {
  from: number;
  to: number;
  /** Pairs a response with its request; unique per sender. */
  correlationId: number;
}

/**
 * A Raft RPC between two nodes.
 *
 * Two fields live outside the generated body: `preVote` (KIP-996's PreVote flag, which
 * Vote v2 carries; our spec snapshot stops at Vote v1) and, on Fetch responses, `batches`
 * (the wire encodes them as record batches in `records`; the in-process path keeps
 * objects so the simulator does not spend its time on CRCs).
 */
export type RaftMessage = Envelope &
  (
    | { type: 'vote-request'; preVote: boolean; body: VoteRequest }
    | { type: 'vote-response'; preVote: boolean; body: VoteResponse }
    | { type: 'begin-quorum-epoch-request'; body: BeginQuorumEpochRequest }
    | { type: 'begin-quorum-epoch-response'; body: BeginQuorumEpochResponse }
    | { type: 'end-quorum-epoch-request'; body: EndQuorumEpochRequest }
    | { type: 'end-quorum-epoch-response'; body: EndQuorumEpochResponse }
    | { type: 'fetch-request'; body: FetchRequest }
    | { type: 'fetch-response'; body: FetchResponse; batches: LogBatch[] }
    | { type: 'fetch-snapshot-request'; body: FetchSnapshotRequest }
    | { type: 'fetch-snapshot-response'; body: FetchSnapshotResponse }
  );

export type RaftMessageType = RaftMessage['type'];
