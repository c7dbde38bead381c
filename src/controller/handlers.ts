/**
 * The controller listener's handler set (Kafka's ControllerApis): the Raft RPCs between
 * voters and observers (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch and FetchSnapshot of
 * __cluster_metadata-0), DescribeQuorum, and the operations brokers send to the active
 * controller (BrokerRegistration, BrokerHeartbeat, AllocateProducerIds, CreateTopics,
 * DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs).
 *
 * A node that is not the active controller answers NOT_CONTROLLER to the operations (the
 * QuorumController refuses them), so brokers move on to the leader. ApiVersions is
 * computed from these declarations by the same Dispatcher the broker listeners use.
 */

import type { ApiVersionRange, DispatchedHandler } from '../broker/dispatcher.ts';
import type { RequestContext } from '../broker/handler.ts';
import { createTopicsHandler } from '../broker/handlers/19-create-topics.ts';
import { deleteTopicsHandler } from '../broker/handlers/20-delete-topics.ts';
import { alterConfigsHandler } from '../broker/handlers/33-alter-configs.ts';
import { createPartitionsHandler } from '../broker/handlers/37-create-partitions.ts';
import { incrementalAlterConfigsHandler } from '../broker/handlers/44-incremental-alter-configs.ts';
import type { NetworkLogger } from '../broker/network/index.ts';
import type { BrokerServices } from '../broker/services.ts';
import type { Clock } from '../env/clock.ts';
import type { Random } from '../env/random.ts';
import type { MetadataCache } from '../metadata/cache.ts';
import type { BrokerConfigView } from '../metadata/config-view.ts';
import { controllerErrorCode, METADATA_VERSION_LEVEL, type QuorumController } from '../metadata/controller.ts';
import { ApiKey, type RequestTypes, type ResponseTypes } from '../protocol/generated/api-keys.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { RaftDriver } from '../raft/client.ts';
import type { VoterEndpoint } from '../raft/config.ts';
import { describeQuorum } from '../raft/describe-quorum.ts';
import type { RaftMessage } from '../raft/types.ts';
import { errorResponse, PREVOTE_CLIENT_ID, type RaftNetwork, responseBody } from './raft-network.ts';

export interface ControllerServices {
  readonly nodeId: number;
  readonly clusterId: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: NetworkLogger;
  apiVersions(): ApiVersionRange[];
  readonly raft: RaftDriver;
  readonly network: RaftNetwork;
  /** This node's controller (every controller node has one; it acts while active). */
  readonly controller: QuorumController;
  readonly metadata: MetadataCache;
  readonly config: BrokerConfigView;
  readonly voters: readonly VoterEndpoint[];
  /** Name of the controller listener (DescribeQuorum's node endpoints). */
  readonly listenerName: string;
  /** controller.quorum.request.timeout.ms. */
  readonly requestTimeoutMs: number;
}

type Key = keyof RequestTypes & keyof ResponseTypes;

interface ControllerHandler<K extends Key> extends DispatchedHandler<ControllerServices> {
  readonly apiKey: K;
  handle(
    request: RequestTypes[K],
    ctx: RequestContext,
    services: ControllerServices,
  ): Promise<ResponseTypes[K]> | ResponseTypes[K];
}

function define<K extends Key>(handler: ControllerHandler<K>): ControllerHandler<K> {
  return handler;
}

/** Into the Raft driver, then the driver's answer (or an error code when it gives none in time). */
async function raftCall(
  services: ControllerServices,
  apiKey: number,
  request: Omit<RaftMessage, 'to' | 'correlationId'>,
  waitMs = 0,
): Promise<unknown> {
  const response = await services.network.handleRequest(
    request as never,
    (m) => void services.raft.receive(m),
    services.requestTimeoutMs + waitMs,
  );
  if (response === undefined) return errorResponse(apiKey);
  return responseBody(response, services.clock.nowMs());
}

const apiVersions = define({
  apiKey: ApiKey.ApiVersions,
  minVersion: 0,
  maxVersion: 4,
  handle(_request, _ctx, services) {
    const features = [...services.metadata.image().features].map(([name, level]) => ({
      name,
      maxVersionLevel: level,
      minVersionLevel: level,
    }));
    return {
      errorCode: ErrorCode.NONE,
      apiKeys: services.apiVersions(),
      throttleTimeMs: 0,
      supportedFeatures: [{ name: 'metadata.version', minVersion: 1, maxVersion: METADATA_VERSION_LEVEL }],
      finalizedFeaturesEpoch: BigInt(services.metadata.image().offset),
      finalizedFeatures: features,
      zkMigrationReady: false,
    };
  },
});

const vote = define({
  apiKey: ApiKey.Vote,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, ctx, services) {
    const from = request.topics[0]?.partitions[0]?.candidateId ?? -1;
    const preVote = ctx.clientId === PREVOTE_CLIENT_ID;
    return (await raftCall(services, ApiKey.Vote, {
      type: 'vote-request',
      preVote,
      from,
      body: request,
    } as never)) as ResponseTypes[typeof ApiKey.Vote];
  },
});

const beginQuorumEpoch = define({
  apiKey: ApiKey.BeginQuorumEpoch,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, _ctx, services) {
    const from = request.topics[0]?.partitions[0]?.leaderId ?? -1;
    return (await raftCall(services, ApiKey.BeginQuorumEpoch, {
      type: 'begin-quorum-epoch-request',
      from,
      body: request,
    } as never)) as ResponseTypes[typeof ApiKey.BeginQuorumEpoch];
  },
});

const endQuorumEpoch = define({
  apiKey: ApiKey.EndQuorumEpoch,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, _ctx, services) {
    const from = request.topics[0]?.partitions[0]?.leaderId ?? -1;
    return (await raftCall(services, ApiKey.EndQuorumEpoch, {
      type: 'end-quorum-epoch-request',
      from,
      body: request,
    } as never)) as ResponseTypes[typeof ApiKey.EndQuorumEpoch];
  },
});

const fetch = define({
  apiKey: ApiKey.Fetch,
  // Raft's Fetch needs the cluster id (v12+).
  minVersion: 12,
  maxVersion: 16,
  async handle(request, _ctx, services) {
    const from = request.replicaState.replicaId >= 0 ? request.replicaState.replicaId : request.replicaId;
    return (await raftCall(
      services,
      ApiKey.Fetch,
      { type: 'fetch-request', from, body: request } as never,
      request.maxWaitMs,
    )) as ResponseTypes[typeof ApiKey.Fetch];
  },
});

const fetchSnapshot = define({
  apiKey: ApiKey.FetchSnapshot,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, _ctx, services) {
    return (await raftCall(services, ApiKey.FetchSnapshot, {
      type: 'fetch-snapshot-request',
      from: request.replicaId,
      body: request,
    } as never)) as ResponseTypes[typeof ApiKey.FetchSnapshot];
  },
});

const describeQuorumHandler = define({
  apiKey: ApiKey.DescribeQuorum,
  minVersion: 0,
  maxVersion: 2,
  handle(_request, _ctx, services) {
    const offset = services.clock.nowMs() - services.clock.monotonicMs();
    const response = describeQuorum(services.raft.node, services.clock.monotonicMs(), (ms) => ms + offset);
    response.nodes = services.voters.map((v) => ({
      nodeId: v.id,
      listeners: [{ name: services.listenerName, host: v.host, port: v.port }],
    }));
    return response;
  },
});

const brokerRegistration = define({
  apiKey: ApiKey.BrokerRegistration,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, _ctx, services) {
    try {
      return await services.controller.brokerRegistration(request);
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: controllerErrorCode(err), brokerEpoch: -1n };
    }
  },
});

const brokerHeartbeat = define({
  apiKey: ApiKey.BrokerHeartbeat,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, _ctx, services) {
    try {
      return await services.controller.brokerHeartbeat(request);
    } catch (err) {
      return {
        throttleTimeMs: 0,
        errorCode: controllerErrorCode(err),
        isCaughtUp: false,
        isFenced: true,
        shouldShutDown: false,
      };
    }
  },
});

const allocateProducerIds = define({
  apiKey: ApiKey.AllocateProducerIds,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, _ctx, services) {
    try {
      const block = await services.controller.allocateProducerIds(request.brokerId);
      return {
        throttleTimeMs: 0,
        errorCode: ErrorCode.NONE,
        producerIdStart: BigInt(block.firstProducerId),
        producerIdLen: block.size,
      };
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: controllerErrorCode(err), producerIdStart: -1n, producerIdLen: 0 };
    }
  },
});

/** The controller's answer, or the error body NOT_CONTROLLER (etc.) when it cannot run the operation. */
async function orError<T>(apiKey: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    return errorResponse(apiKey, controllerErrorCode(err)) as T;
  }
}

const alterPartition = define({
  apiKey: ApiKey.AlterPartition,
  minVersion: 0,
  maxVersion: 3,
  handle(request, ctx, services) {
    return orError(ApiKey.AlterPartition, () => services.controller.alterPartition(request, ctx.apiVersion));
  },
});

const electLeaders = define({
  apiKey: ApiKey.ElectLeaders,
  minVersion: 0,
  maxVersion: 2,
  handle(request, _ctx, services) {
    return orError(ApiKey.ElectLeaders, () => services.controller.electLeaders(request));
  },
});

const alterPartitionReassignments = define({
  apiKey: ApiKey.AlterPartitionReassignments,
  minVersion: 0,
  maxVersion: 0,
  handle(request, _ctx, services) {
    return orError(ApiKey.AlterPartitionReassignments, () => services.controller.alterPartitionReassignments(request));
  },
});

const listPartitionReassignments = define({
  apiKey: ApiKey.ListPartitionReassignments,
  minVersion: 0,
  maxVersion: 0,
  handle(request, _ctx, services) {
    return orError(ApiKey.ListPartitionReassignments, () => services.controller.listPartitionReassignments(request));
  },
});

/**
 * The broker's admin handlers run here against the local controller: they only use
 * services.controller, metadata, config and nodeId, which the controller services have.
 */
function onController<K extends Key>(handler: {
  apiKey: K;
  minVersion: number;
  maxVersion: number;
  handle(request: RequestTypes[K], ctx: RequestContext, services: BrokerServices): unknown;
}): DispatchedHandler<ControllerServices> {
  return {
    apiKey: handler.apiKey,
    minVersion: handler.minVersion,
    maxVersion: handler.maxVersion,
    handle: (request: never, ctx: RequestContext, services: ControllerServices) =>
      handler.handle(request, ctx, services as unknown as BrokerServices),
  };
}

export const controllerHandlers: readonly DispatchedHandler<ControllerServices>[] = [
  apiVersions,
  vote,
  beginQuorumEpoch,
  endQuorumEpoch,
  fetch,
  fetchSnapshot,
  describeQuorumHandler,
  brokerRegistration,
  brokerHeartbeat,
  allocateProducerIds,
  alterPartition,
  electLeaders,
  alterPartitionReassignments,
  listPartitionReassignments,
  onController(createTopicsHandler),
  onController(deleteTopicsHandler),
  onController(createPartitionsHandler),
  onController(alterConfigsHandler),
  onController(incrementalAlterConfigsHandler),
] as readonly DispatchedHandler<ControllerServices>[];
