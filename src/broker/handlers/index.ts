/**
 * Every request handler the broker serves, one per API (files named by API key).
 * The dispatcher takes this list; ApiVersions is computed from it.
 */
import type { ApiHandler } from '../handler.ts';
import { produceHandler } from './00-produce.ts';
import { fetchHandler } from './01-fetch.ts';
import { listOffsetsHandler } from './02-list-offsets.ts';
import { metadataHandler } from './03-metadata.ts';
import { offsetCommitHandler } from './08-offset-commit.ts';
import { offsetFetchHandler } from './09-offset-fetch.ts';
import { findCoordinatorHandler } from './10-find-coordinator.ts';
import { joinGroupHandler } from './11-join-group.ts';
import { heartbeatHandler } from './12-heartbeat.ts';
import { leaveGroupHandler } from './13-leave-group.ts';
import { syncGroupHandler } from './14-sync-group.ts';
import { describeGroupsHandler } from './15-describe-groups.ts';
import { listGroupsHandler } from './16-list-groups.ts';
import { apiVersionsHandler } from './18-api-versions.ts';
import { createTopicsHandler } from './19-create-topics.ts';
import { deleteTopicsHandler } from './20-delete-topics.ts';
import { deleteRecordsHandler } from './21-delete-records.ts';
import { initProducerIdHandler } from './22-init-producer-id.ts';
import { offsetForLeaderEpochHandler } from './23-offset-for-leader-epoch.ts';
import { addPartitionsToTxnHandler } from './24-add-partitions-to-txn.ts';
import { addOffsetsToTxnHandler } from './25-add-offsets-to-txn.ts';
import { endTxnHandler } from './26-end-txn.ts';
import { writeTxnMarkersHandler } from './27-write-txn-markers.ts';
import { txnOffsetCommitHandler } from './28-txn-offset-commit.ts';
import { describeConfigsHandler } from './32-describe-configs.ts';
import { alterConfigsHandler } from './33-alter-configs.ts';
import { describeLogDirsHandler } from './35-describe-log-dirs.ts';
import { createPartitionsHandler } from './37-create-partitions.ts';
import { deleteGroupsHandler } from './42-delete-groups.ts';
import { electLeadersHandler } from './43-elect-leaders.ts';
import { incrementalAlterConfigsHandler } from './44-incremental-alter-configs.ts';
import { alterPartitionReassignmentsHandler } from './45-alter-partition-reassignments.ts';
import { listPartitionReassignmentsHandler } from './46-list-partition-reassignments.ts';
import { offsetDeleteHandler } from './47-offset-delete.ts';
import { describeQuorumHandler } from './55-describe-quorum.ts';
import { describeClusterHandler } from './60-describe-cluster.ts';
import { describeProducersHandler } from './61-describe-producers.ts';
import { describeTransactionsHandler } from './65-describe-transactions.ts';
import { listTransactionsHandler } from './66-list-transactions.ts';
import { consumerGroupHeartbeatHandler } from './68-consumer-group-heartbeat.ts';
import { consumerGroupDescribeHandler } from './69-consumer-group-describe.ts';
import { describeTopicPartitionsHandler } from './75-describe-topic-partitions.ts';

export const allHandlers: readonly ApiHandler[] = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  offsetCommitHandler,
  offsetFetchHandler,
  findCoordinatorHandler,
  joinGroupHandler,
  heartbeatHandler,
  leaveGroupHandler,
  syncGroupHandler,
  describeGroupsHandler,
  listGroupsHandler,
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  deleteRecordsHandler,
  initProducerIdHandler,
  offsetForLeaderEpochHandler,
  addPartitionsToTxnHandler,
  addOffsetsToTxnHandler,
  endTxnHandler,
  writeTxnMarkersHandler,
  txnOffsetCommitHandler,
  describeConfigsHandler,
  alterConfigsHandler,
  describeLogDirsHandler,
  createPartitionsHandler,
  deleteGroupsHandler,
  electLeadersHandler,
  incrementalAlterConfigsHandler,
  alterPartitionReassignmentsHandler,
  listPartitionReassignmentsHandler,
  offsetDeleteHandler,
  describeQuorumHandler,
  describeClusterHandler,
  describeProducersHandler,
  describeTransactionsHandler,
  listTransactionsHandler,
  consumerGroupHeartbeatHandler,
  consumerGroupDescribeHandler,
  describeTopicPartitionsHandler,
] as readonly ApiHandler[];
