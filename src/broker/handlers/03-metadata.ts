/**
 * Metadata (key 3): brokers (with the endpoint of the listener the request came in on),
 * this node as controller, the cluster id, and topics with their partitions' leaders,
 * replicas and ISR. v0 asks for all topics with an empty list; v1+ with null.
 *
 * Unknown topics: an illegal name gets INVALID_TOPIC_EXCEPTION; otherwise, when the
 * request allows it (always before v4) and auto.create.topics.enable is true, the topic
 * is created with the broker's defaults and described as created; else
 * UNKNOWN_TOPIC_OR_PARTITION. A topic asked by id that does not exist gets UNKNOWN_TOPIC_ID.
 */

import { controllerErrorCode, isInternalTopic, validateTopicName } from '../../metadata/controller.ts';
import { type MetadataImage, NO_LEADER, sortedPartitions, type TopicImage } from '../../metadata/image.ts';
import { ZERO_UUID } from '../../protocol/codec/uuid.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type {
  MetadataResponseBroker,
  MetadataResponsePartition,
  MetadataResponseTopic,
} from '../../protocol/generated/metadata-response.ts';
import { defineHandler } from '../handler.ts';
import type { BrokerServices } from '../services.ts';

/** Kafka's "authorized operations not requested" marker (Integer.MIN_VALUE). */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;
/** No authorizer: every topic operation (READ..ALTER_CONFIGS as Kafka's AclOperation bits). */
export const ALL_TOPIC_OPERATIONS =
  (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/** No authorizer: every cluster operation. */
export const ALL_CLUSTER_OPERATIONS =
  (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14);

export function brokersFor(image: MetadataImage, listenerName: string): MetadataResponseBroker[] {
  const out: MetadataResponseBroker[] = [];
  for (const broker of image.brokers.values()) {
    if (broker.fenced) continue;
    const endpoint = broker.endpoints.find((e) => e.name === listenerName);
    if (endpoint === undefined) continue;
    out.push({ nodeId: broker.nodeId, host: endpoint.host, port: endpoint.port, rack: broker.rack });
  }
  return out.sort((a, b) => a.nodeId - b.nodeId);
}

function isAlive(image: MetadataImage, id: number): boolean {
  const b = image.brokers.get(id);
  return b !== undefined && !b.fenced;
}

export function describePartitions(image: MetadataImage, topic: TopicImage, listenerName: string) {
  const out: MetadataResponsePartition[] = [];
  for (const p of sortedPartitions(topic)) {
    const leaderAlive =
      p.leader !== NO_LEADER &&
      isAlive(image, p.leader) &&
      image.brokers.get(p.leader)!.endpoints.some((e) => e.name === listenerName);
    const offline = p.replicas.filter((id) => !isAlive(image, id));
    out.push({
      errorCode: leaderAlive ? ErrorCode.NONE : ErrorCode.LEADER_NOT_AVAILABLE,
      partitionIndex: p.partitionId,
      leaderId: leaderAlive ? p.leader : NO_LEADER,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: [...p.replicas],
      isrNodes: [...p.isr],
      offlineReplicas: offline,
    });
  }
  return out;
}

function describeTopic(
  image: MetadataImage,
  topic: TopicImage,
  listenerName: string,
  authorizedOperations: number,
): MetadataResponseTopic {
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    topicId: topic.topicId,
    isInternal: isInternalTopic(topic.name),
    partitions: describePartitions(image, topic, listenerName),
    topicAuthorizedOperations: authorizedOperations,
  };
}

function topicError(errorCode: number, name: string | null, topicId = ZERO_UUID): MetadataResponseTopic {
  return {
    errorCode,
    name,
    topicId,
    isInternal: false,
    partitions: [],
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

/**
 * Creates the topics with the broker's defaults. Returns the error of each topic that could
 * not be created (e.g. INVALID_REPLICATION_FACTOR when default.replication.factor exceeds the
 * live brokers); a controller that cannot run the operation gives LEADER_NOT_AVAILABLE
 * (retriable) for all of them.
 */
async function autoCreate(services: BrokerServices, names: string[]): Promise<Map<string, number>> {
  const failed = new Map<string, number>();
  if (names.length === 0) return failed;
  try {
    const results = await services.controller.createTopics(
      names.map((name) => ({ name, numPartitions: -1, replicationFactor: -1, assignments: [], configs: [] })),
      false,
    );
    for (const r of results) {
      if (r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
        failed.set(r.name, r.errorCode);
      }
    }
  } catch (err) {
    controllerErrorCode(err); // rethrows bugs
    for (const name of names) failed.set(name, ErrorCode.LEADER_NOT_AVAILABLE);
  }
  return failed;
}

export const metadataHandler = defineHandler({
  apiKey: ApiKey.Metadata,
  minVersion: 0,
  maxVersion: 12,
  async handle(request, ctx, services) {
    const v = ctx.apiVersion;
    const topicOps = request.includeTopicAuthorizedOperations ? ALL_TOPIC_OPERATIONS : AUTHORIZED_OPERATIONS_OMITTED;
    const clusterOps = request.includeClusterAuthorizedOperations
      ? ALL_CLUSTER_OPERATIONS
      : AUTHORIZED_OPERATIONS_OMITTED;
    const allTopics = request.topics === null || (v === 0 && request.topics.length === 0);
    let topics: MetadataResponseTopic[];
    if (allTopics) {
      const image = services.metadata.image();
      topics = [...image.topicsByName.values()]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((t) => describeTopic(image, t, ctx.listenerName, topicOps));
    } else {
      const allowAutoCreate =
        (v < 4 || request.allowAutoTopicCreation) && services.config.get('auto.create.topics.enable') !== 'false';
      const wanted = request.topics ?? [];
      // Auto-create first (one controller operation), then describe everything from one image.
      const toCreate = new Set<string>();
      let failed = new Map<string, number>();
      if (allowAutoCreate) {
        const image = services.metadata.image();
        for (const t of wanted) {
          if (t.name === null || image.topicsByName.has(t.name)) continue;
          if (validateTopicName(t.name) !== undefined || isInternalTopic(t.name)) continue;
          toCreate.add(t.name);
        }
        failed = await autoCreate(services, [...toCreate]);
      }
      const image = services.metadata.image();
      topics = wanted.map((t) => {
        if (t.name === null) {
          const byId = image.topicsById.get(t.topicId);
          return byId === undefined
            ? topicError(ErrorCode.UNKNOWN_TOPIC_ID, null, t.topicId)
            : describeTopic(image, byId, ctx.listenerName, topicOps);
        }
        const topic = image.topicsByName.get(t.name);
        if (topic !== undefined) return describeTopic(image, topic, ctx.listenerName, topicOps);
        if (validateTopicName(t.name) !== undefined) return topicError(ErrorCode.INVALID_TOPIC_EXCEPTION, t.name);
        const createError = failed.get(t.name);
        if (createError !== undefined) return topicError(createError, t.name);
        if (toCreate.has(t.name)) return topicError(ErrorCode.LEADER_NOT_AVAILABLE, t.name);
        return topicError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, t.name);
      });
    }
    const image = services.metadata.image();
    return {
      throttleTimeMs: 0,
      brokers: brokersFor(image, ctx.listenerName),
      clusterId: image.clusterId,
      controllerId: services.nodeId,
      topics,
      clusterAuthorizedOperations: clusterOps,
    };
  },
});
