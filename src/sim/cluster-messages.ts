/**
 * What travels over the simulated network of the cluster simulation (cluster-run.ts):
 * broker <-> controller (registration, heartbeats, metadata log fetches, AlterPartition),
 * broker <-> broker (replica Fetch, the generated request and response types) and
 * client <-> broker (produce with acks=-1, consumer fetch up to the high watermark,
 * metadata). The bodies are the generated protocol types where one exists, so the core
 * code under test sees what the real broker hands it; messages stay objects (no bytes).
 */
import type { CommittedRecord } from '../metadata/replay.ts';
import type { AlterPartitionRequest } from '../protocol/generated/alter-partition-request.ts';
import type { AlterPartitionResponse } from '../protocol/generated/alter-partition-response.ts';
import type { BrokerHeartbeatRequest } from '../protocol/generated/broker-heartbeat-request.ts';
import type { BrokerHeartbeatResponse } from '../protocol/generated/broker-heartbeat-response.ts';
import type { BrokerRegistrationRequest } from '../protocol/generated/broker-registration-request.ts';
import type { BrokerRegistrationResponse } from '../protocol/generated/broker-registration-response.ts';
import type { FetchRequest } from '../protocol/generated/fetch-request.ts';
import type { FetchResponsePartitionData } from '../protocol/generated/fetch-response.ts';
import type { RaftMessage } from '../raft/types.ts';

/**
 * Node ids on the simulated network: brokers are 1..n; the controller is 100, or with a
 * controller quorum (cluster-quorum.ts) the voters are 100, 101, 102.
 */
export const CONTROLLER_ID = 100;
export const PRODUCER_ID = 200;
export const CONSUMER_ID = 201;

/** Transactional client <-> transaction coordinator (cluster-txn.ts); objects, not bytes. */
export type TxnBody =
  | { kind: 'init'; correlationId: number; transactionalId: string; timeoutMs: number }
  | {
      kind: 'add';
      correlationId: number;
      transactionalId: string;
      producerId: bigint;
      producerEpoch: number;
      partitions: number[];
    }
  | {
      kind: 'end';
      correlationId: number;
      transactionalId: string;
      producerId: bigint;
      producerEpoch: number;
      commit: boolean;
    }
  | { kind: 'response'; correlationId: number; errorCode: number; producerId: bigint; producerEpoch: number };

interface Base {
  from: number;
  to: number;
}

export type ClusterMessage = Base &
  (
    | { type: 'register'; request: BrokerRegistrationRequest }
    | { type: 'registerResponse'; incarnationId: string; response: BrokerRegistrationResponse }
    | { type: 'heartbeat'; request: BrokerHeartbeatRequest }
    | { type: 'heartbeatResponse'; brokerEpoch: number; response: BrokerHeartbeatResponse }
    /** The broker's metadata log fetch: records from `fromOffset` on. */
    | { type: 'metadataFetch'; fromOffset: number }
    | {
        type: 'metadataFetchResponse';
        fromOffset: number;
        records: CommittedRecord[];
        /** With a controller quorum: the Raft leader and epoch the answering node knows. */
        leaderHint?: { leaderId: number; epoch: number };
      }
    /** Controller quorum: a Raft RPC between controller nodes. */
    | { type: 'raft'; raft: RaftMessage }
    | { type: 'alterPartition'; request: AlterPartitionRequest; correlationId: number }
    | { type: 'alterPartitionResponse'; response: AlterPartitionResponse; correlationId: number }
    /** A follower's Fetch; fetchOffsets by partition (what each entry asked from). */
    | { type: 'replicaFetch'; request: FetchRequest; correlationId: number }
    | {
        type: 'replicaFetchResponse';
        correlationId: number;
        /** By partition: the answer, and the leader epoch the request named. */
        partitions: { data: FetchResponsePartitionData; currentLeaderEpoch: number }[];
      }
    | { type: 'produce'; partition: number; batch: Buffer; correlationId: number }
    | { type: 'produceResponse'; partition: number; errorCode: number; baseOffset: number; correlationId: number }
    | { type: 'consumerFetch'; partition: number; offset: number; correlationId: number }
    | {
        type: 'consumerFetchResponse';
        partition: number;
        offset: number;
        errorCode: number;
        records: Buffer;
        highWatermark: number;
        logStartOffset: number;
        correlationId: number;
      }
    | { type: 'clientMetadata'; correlationId: number }
    | { type: 'txn'; body: TxnBody }
    | {
        type: 'clientMetadataResponse';
        correlationId: number;
        /** By partition: leader id (-1 none) and leader epoch, from the broker's image. */
        leaders: { leader: number; leaderEpoch: number }[];
      }
  );

export type MessageOf<T extends ClusterMessage['type']> = Extract<ClusterMessage, { type: T }>;
