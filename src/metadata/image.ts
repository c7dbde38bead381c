/**
 * The metadata image: what the cluster's metadata log says, at one offset, as an
 * immutable value. The broker reads it (Metadata, DescribeConfigs, the replica manager);
 * it changes only by replaying metadata records (replay.ts), which yields a new image
 * and a delta naming what changed. Nothing here is ever mutated after it is published:
 * treat every member as read-only and share it freely.
 *
 * Numbers, not bigints: broker epochs and producer ids stay far below 2^53.
 */

/** Kafka's ConfigResource.Type bytes, as written in ConfigRecord.resourceType. */
export const ConfigResourceType = {
  UNKNOWN: 0,
  TOPIC: 2,
  BROKER: 4,
  BROKER_LOGGER: 8,
  CLIENT_METRICS: 16,
  GROUP: 32,
} as const;
export type ConfigResourceType = (typeof ConfigResourceType)[keyof typeof ConfigResourceType];

/** Kafka's SecurityProtocol ids, as written in RegisterBrokerRecord endpoints. */
export const SecurityProtocol = {
  PLAINTEXT: 0,
  SSL: 1,
  SASL_PLAINTEXT: 2,
  SASL_SSL: 3,
} as const;

/** A partition without a leader (Kafka's LeaderConstants.NO_LEADER). */
export const NO_LEADER = -1;

/** PartitionChangeRecord.leader when the leader did not change (Kafka's LeaderConstants.NO_LEADER_CHANGE). */
export const NO_LEADER_CHANGE = -2;

/** Kafka's LeaderRecoveryState (KIP-704): RECOVERING after an unclean election until the leader recovers. */
export const LeaderRecoveryState = {
  RECOVERED: 0,
  RECOVERING: 1,
  /** PartitionChangeRecord.leaderRecoveryState when unchanged. */
  NO_CHANGE: -1,
} as const;

/** A feature version range a broker supports (RegisterBrokerRecord.features). */
export interface SupportedFeature {
  readonly name: string;
  readonly minSupportedVersion: number;
  readonly maxSupportedVersion: number;
}

export interface BrokerEndpoint {
  /** Listener name, e.g. "PLAINTEXT". */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly securityProtocol: number;
}

export interface BrokerImage {
  readonly nodeId: number;
  /** Kafka's display form of the incarnation uuid. */
  readonly incarnationId: string;
  /** The offset of the broker's RegisterBrokerRecord (Kafka uses that as the broker epoch). */
  readonly brokerEpoch: number;
  readonly endpoints: readonly BrokerEndpoint[];
  readonly rack: string | null;
  readonly fenced: boolean;
  readonly inControlledShutdown: boolean;
  readonly logDirs: readonly string[];
  /** Feature ranges from the registration (absent on images built by hand: treat as none). */
  readonly supportedFeatures?: readonly SupportedFeature[];
}

export interface PartitionImage {
  readonly partitionId: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly removingReplicas: readonly number[];
  readonly addingReplicas: readonly number[];
  /** NO_LEADER (-1) when the partition has none. */
  readonly leader: number;
  readonly leaderEpoch: number;
  /** Bumped on every change of the partition's state. */
  readonly partitionEpoch: number;
  /** LeaderRecoveryState.RECOVERED or RECOVERING. */
  readonly leaderRecoveryState: number;
  /**
   * Eligible leader replicas and last known ELR (KIP-966), replayed as written. The controller's
   * decisions here do not write ELR yet (it is optional); absent on images built by hand.
   */
  readonly elr?: readonly number[];
  readonly lastKnownElr?: readonly number[];
}

export interface TopicImage {
  readonly name: string;
  /** Kafka's display form (base64url, 22 chars). */
  readonly topicId: string;
  /** By partition id; ids are 0..count-1 once a topic's records are applied. */
  readonly partitions: ReadonlyMap<number, PartitionImage>;
}

/** The producer id block state (ProducerIdsRecord): the next id to hand out. */
export interface ProducerIdsImage {
  readonly nextProducerId: number;
  /** Broker that got the last block, -1 before any. */
  readonly lastBrokerId: number;
}

export interface MetadataImage {
  readonly clusterId: string;
  /** Offset of the last record replayed into this image, -1 for the empty image. */
  readonly offset: number;
  readonly brokers: ReadonlyMap<number, BrokerImage>;
  readonly topicsByName: ReadonlyMap<string, TopicImage>;
  readonly topicsById: ReadonlyMap<string, TopicImage>;
  /**
   * Dynamic configs set through the metadata log, by resource: key configKey(type, name)
   * (a broker's own is name = its id as a string; cluster-wide defaults have name "").
   * Only explicitly set values; defaults come from src/config.
   */
  readonly configs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Finalized feature levels, e.g. "metadata.version" -> 21. */
  readonly features: ReadonlyMap<string, number>;
  readonly producerIds: ProducerIdsImage;
}

export function configKey(resourceType: number, resourceName: string): string {
  return `${resourceType}:${resourceName}`;
}

/** Explicitly set configs of a resource (empty when none). */
export function resourceConfigs(
  image: MetadataImage,
  resourceType: number,
  resourceName: string,
): ReadonlyMap<string, string> {
  return image.configs.get(configKey(resourceType, resourceName)) ?? EMPTY_CONFIGS;
}

/** Explicitly set configs of a topic. */
export function topicConfigs(image: MetadataImage, topic: string): ReadonlyMap<string, string> {
  return resourceConfigs(image, ConfigResourceType.TOPIC, topic);
}

const EMPTY_CONFIGS: ReadonlyMap<string, string> = new Map();

export function emptyImage(clusterId: string): MetadataImage {
  return {
    clusterId,
    offset: -1,
    brokers: new Map(),
    topicsByName: new Map(),
    topicsById: new Map(),
    configs: new Map(),
    features: new Map(),
    producerIds: { nextProducerId: 0, lastBrokerId: -1 },
  };
}

/** Partitions of a topic ordered by id. */
export function sortedPartitions(topic: TopicImage): PartitionImage[] {
  return [...topic.partitions.values()].sort((a, b) => a.partitionId - b.partitionId);
}

/**
 * What one replay step changed, for subscribers (the replica manager): topics created,
 * topics whose partitions changed (new partitions or a changed leader/ISR/replicas),
 * topics deleted (with their last image), and resources whose configs changed.
 */
export interface MetadataDelta {
  /** Topics that did not exist before, by id. */
  readonly createdTopics: ReadonlySet<string>;
  /** Topic id -> ids of partitions added or changed (includes created topics). */
  readonly changedPartitions: ReadonlyMap<string, ReadonlySet<number>>;
  /** Deleted topics, with their image before deletion. */
  readonly deletedTopics: readonly TopicImage[];
  /** configKey(type, name) of resources whose configs changed. */
  readonly changedConfigs: ReadonlySet<string>;
  readonly changedBrokers: ReadonlySet<number>;
  readonly changedFeatures: boolean;
}

export function isEmptyDelta(delta: MetadataDelta): boolean {
  return (
    delta.createdTopics.size === 0 &&
    delta.changedPartitions.size === 0 &&
    delta.deletedTopics.length === 0 &&
    delta.changedConfigs.size === 0 &&
    delta.changedBrokers.size === 0 &&
    !delta.changedFeatures
  );
}
