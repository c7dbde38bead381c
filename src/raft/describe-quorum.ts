/**
 * DescribeQuorum (KIP-595) data from the leader's RaftNode: the voters' and observers'
 * log end offsets and fetch times. A node that is not the leader answers
 * NOT_LEADER_OR_FOLLOWER with what it knows of the leader.
 */
import { ZERO_UUID } from '../protocol/codec/uuid.ts';
import type {
  DescribeQuorumResponse,
  DescribeQuorumResponseReplicaState,
} from '../protocol/generated/describe-quorum-response.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { RaftNode } from './raft.ts';
import { RAFT_PARTITION, RAFT_TOPIC } from './types.ts';

/**
 * `toWallMs` turns the node's monotonic times into wall-clock timestamps (the wire's
 * lastFetchTimestamp and lastCaughtUpTimestamp); -1 stays -1.
 */
export function describeQuorum(
  node: RaftNode,
  nowMs: number,
  toWallMs: (ms: number) => number,
): DescribeQuorumResponse {
  const le = node.leaderAndEpoch();
  const isLeader = node.stateName() === 'leader';
  const progress = node.replicaProgress();
  const wall = (ms: number): bigint => BigInt(ms < 0 ? -1 : Math.round(toWallMs(ms)));
  const state = (id: number): DescribeQuorumResponseReplicaState => {
    if (id === node.config.nodeId) {
      return {
        replicaId: id,
        replicaDirectoryId: ZERO_UUID,
        logEndOffset: BigInt(node.log.endOffset()),
        lastFetchTimestamp: wall(nowMs),
        lastCaughtUpTimestamp: wall(nowMs),
      };
    }
    const p = progress.get(id);
    return {
      replicaId: id,
      replicaDirectoryId: ZERO_UUID,
      logEndOffset: BigInt(p?.endOffset ?? -1),
      lastFetchTimestamp: wall(p?.lastFetchMs ?? -1),
      lastCaughtUpTimestamp: wall(p?.lastCaughtUpMs ?? -1),
    };
  };
  const voters = node.config.voters;
  const observers = [...progress.keys()].filter((id) => !voters.includes(id) && id >= 0).sort((a, b) => a - b);
  return {
    errorCode: 0,
    errorMessage: null,
    topics: [
      {
        topicName: RAFT_TOPIC,
        partitions: [
          {
            partitionIndex: RAFT_PARTITION,
            errorCode: isLeader ? 0 : ErrorCode.NOT_LEADER_OR_FOLLOWER,
            errorMessage: null,
            leaderId: le.leaderId,
            leaderEpoch: le.epoch,
            highWatermark: BigInt(node.highWatermark()),
            currentVoters: isLeader ? voters.map(state) : [],
            observers: isLeader ? observers.map(state) : [],
          },
        ],
      },
    ],
    nodes: [],
  };
}
