/**
 * Replay: metadata records -> a new image and the delta. The only place the metadata
 * state changes. Pure: the same records on the same image give the same result, which is
 * what makes loading after a restart the same code path as applying a fresh commit.
 *
 * A batch of records is applied at once (the maps are copied once per batch, not per
 * record). Records that refer to what does not exist (a PartitionRecord of an unknown
 * topic) are bugs of the writer: replay throws MetadataReplayError.
 */

import type { BrokerRegistrationChangeRecord } from '../protocol/generated/broker-registration-change-record.ts';
import type { ConfigRecord } from '../protocol/generated/config-record.ts';
import type { FeatureLevelRecord } from '../protocol/generated/feature-level-record.ts';
import type { FenceBrokerRecord } from '../protocol/generated/fence-broker-record.ts';
import { MetadataRecordType } from '../protocol/generated/metadata-records.ts';
import type { PartitionChangeRecord } from '../protocol/generated/partition-change-record.ts';
import type { PartitionRecord } from '../protocol/generated/partition-record.ts';
import type { ProducerIdsRecord } from '../protocol/generated/producer-ids-record.ts';
import type { RegisterBrokerRecord } from '../protocol/generated/register-broker-record.ts';
import type { RemoveTopicRecord } from '../protocol/generated/remove-topic-record.ts';
import type { TopicRecord } from '../protocol/generated/topic-record.ts';
import type { UnfenceBrokerRecord } from '../protocol/generated/unfence-broker-record.ts';
import type { UnregisterBrokerRecord } from '../protocol/generated/unregister-broker-record.ts';
import {
  type BrokerImage,
  ConfigResourceType,
  configKey,
  LeaderRecoveryState,
  type MetadataDelta,
  type MetadataImage,
  NO_LEADER_CHANGE,
  type PartitionImage,
  type TopicImage,
} from './image.ts';

/** One metadata record, typed by its type id. */
export type ApiMessage =
  | { typeId: typeof MetadataRecordType.RegisterBrokerRecord; version: number; record: RegisterBrokerRecord }
  | { typeId: typeof MetadataRecordType.UnregisterBrokerRecord; version: number; record: UnregisterBrokerRecord }
  | { typeId: typeof MetadataRecordType.TopicRecord; version: number; record: TopicRecord }
  | { typeId: typeof MetadataRecordType.PartitionRecord; version: number; record: PartitionRecord }
  | { typeId: typeof MetadataRecordType.ConfigRecord; version: number; record: ConfigRecord }
  | { typeId: typeof MetadataRecordType.PartitionChangeRecord; version: number; record: PartitionChangeRecord }
  | { typeId: typeof MetadataRecordType.FenceBrokerRecord; version: number; record: FenceBrokerRecord }
  | { typeId: typeof MetadataRecordType.UnfenceBrokerRecord; version: number; record: UnfenceBrokerRecord }
  | { typeId: typeof MetadataRecordType.RemoveTopicRecord; version: number; record: RemoveTopicRecord }
  | { typeId: typeof MetadataRecordType.FeatureLevelRecord; version: number; record: FeatureLevelRecord }
  | { typeId: typeof MetadataRecordType.ProducerIdsRecord; version: number; record: ProducerIdsRecord }
  | {
      typeId: typeof MetadataRecordType.BrokerRegistrationChangeRecord;
      version: number;
      record: BrokerRegistrationChangeRecord;
    }
  | { typeId: typeof MetadataRecordType.NoOpRecord; version: number; record: Record<string, never> };

/** A record and the offset it was committed at. */
export interface CommittedRecord {
  offset: number;
  message: { typeId: number; version: number; record: unknown };
}

export class MetadataReplayError extends Error {
  override readonly name = 'MetadataReplayError';
}

/** BrokerRegistrationChangeRecord's tri-state booleans. */
const BOOL_NONE = 0;
const BOOL_TRUE = 1;

/** Applies committed records in order; returns the new image and what changed. */
export function replay(
  image: MetadataImage,
  records: readonly CommittedRecord[],
): { image: MetadataImage; delta: MetadataDelta } {
  if (records.length === 0) return { image, delta: emptyDelta() };
  const brokers = new Map(image.brokers);
  const topicsByName = new Map(image.topicsByName);
  const topicsById = new Map(image.topicsById);
  const configs = new Map(image.configs);
  const features = new Map(image.features);
  let producerIds = image.producerIds;

  const createdTopics = new Set<string>();
  const changedPartitions = new Map<string, Set<number>>();
  const deletedTopics: TopicImage[] = [];
  const changedConfigs = new Set<string>();
  const changedBrokers = new Set<number>();
  let changedFeatures = false;
  // Topics copied in this batch (their partition maps may be mutated in place).
  const ownedPartitions = new Map<string, Map<number, PartitionImage>>();

  const partitionsOf = (topicId: string, what: string): Map<number, PartitionImage> => {
    const topic = topicsById.get(topicId);
    if (topic === undefined) throw new MetadataReplayError(`${what} of unknown topic id ${topicId}`);
    let owned = ownedPartitions.get(topicId);
    if (owned === undefined) {
      owned = new Map(topic.partitions);
      ownedPartitions.set(topicId, owned);
      const copy: TopicImage = { name: topic.name, topicId, partitions: owned };
      topicsById.set(topicId, copy);
      topicsByName.set(topic.name, copy);
    }
    return owned;
  };
  const markPartition = (topicId: string, partitionId: number): void => {
    let set = changedPartitions.get(topicId);
    if (set === undefined) changedPartitions.set(topicId, (set = new Set()));
    set.add(partitionId);
  };
  const updateBroker = (id: number, change: Partial<BrokerImage>): void => {
    const broker = brokers.get(id);
    if (broker === undefined) return; // Kafka ignores changes of unknown brokers on replay too.
    brokers.set(id, { ...broker, ...change });
    changedBrokers.add(id);
  };

  let offset = image.offset;
  for (const { offset: recordOffset, message } of records) {
    offset = recordOffset;
    const m = message as ApiMessage;
    switch (m.typeId) {
      case MetadataRecordType.RegisterBrokerRecord: {
        const r = m.record;
        brokers.set(r.brokerId, {
          nodeId: r.brokerId,
          incarnationId: r.incarnationId,
          brokerEpoch: Number(r.brokerEpoch),
          endpoints: r.endPoints.map((e) => ({
            name: e.name,
            host: e.host,
            port: e.port,
            securityProtocol: e.securityProtocol,
          })),
          rack: r.rack,
          fenced: r.fenced,
          inControlledShutdown: r.inControlledShutdown,
          logDirs: [...r.logDirs],
          supportedFeatures: r.features.map((f) => ({
            name: f.name,
            minSupportedVersion: f.minSupportedVersion,
            maxSupportedVersion: f.maxSupportedVersion,
          })),
        });
        changedBrokers.add(r.brokerId);
        break;
      }
      case MetadataRecordType.UnregisterBrokerRecord:
        if (brokers.delete(m.record.brokerId)) changedBrokers.add(m.record.brokerId);
        break;
      case MetadataRecordType.FenceBrokerRecord:
        updateBroker(m.record.id, { fenced: true });
        break;
      case MetadataRecordType.UnfenceBrokerRecord:
        updateBroker(m.record.id, { fenced: false });
        break;
      case MetadataRecordType.BrokerRegistrationChangeRecord: {
        const r = m.record;
        const change: { -readonly [K in keyof BrokerImage]?: BrokerImage[K] } = {};
        if (r.fenced !== BOOL_NONE) change.fenced = r.fenced === BOOL_TRUE;
        if (r.inControlledShutdown !== BOOL_NONE) change.inControlledShutdown = r.inControlledShutdown === BOOL_TRUE;
        if (r.logDirs.length > 0) change.logDirs = [...r.logDirs];
        updateBroker(r.brokerId, change);
        break;
      }
      case MetadataRecordType.TopicRecord: {
        const { name, topicId } = m.record;
        if (topicsByName.has(name) || topicsById.has(topicId)) {
          throw new MetadataReplayError(`TopicRecord for existing topic ${name} (${topicId})`);
        }
        const partitions = new Map<number, PartitionImage>();
        const topic: TopicImage = { name, topicId, partitions };
        ownedPartitions.set(topicId, partitions);
        topicsByName.set(name, topic);
        topicsById.set(topicId, topic);
        createdTopics.add(topicId);
        changedPartitions.set(topicId, changedPartitions.get(topicId) ?? new Set());
        break;
      }
      case MetadataRecordType.PartitionRecord: {
        const r = m.record;
        partitionsOf(r.topicId, 'PartitionRecord').set(r.partitionId, {
          partitionId: r.partitionId,
          replicas: [...r.replicas],
          isr: [...r.isr],
          removingReplicas: [...r.removingReplicas],
          addingReplicas: [...r.addingReplicas],
          leader: r.leader,
          leaderEpoch: r.leaderEpoch,
          partitionEpoch: r.partitionEpoch,
          leaderRecoveryState: r.leaderRecoveryState,
          elr: copyOr(r.eligibleLeaderReplicas, []),
          lastKnownElr: copyOr(r.lastKnownElr, []),
        });
        markPartition(r.topicId, r.partitionId);
        break;
      }
      case MetadataRecordType.PartitionChangeRecord: {
        const r = m.record;
        const partitions = partitionsOf(r.topicId, 'PartitionChangeRecord');
        const prev = partitions.get(r.partitionId);
        if (prev === undefined) {
          throw new MetadataReplayError(`PartitionChangeRecord of unknown partition ${r.topicId}-${r.partitionId}`);
        }
        // Null/absent fields leave the value as it was. Any leader other than -2 (Kafka's
        // NO_LEADER_CHANGE), even the same one again, bumps the leader epoch: the controller writes
        // the current leader to fence the old epoch (e.g. when a reassignment removes replicas).
        // Every change bumps the partition epoch.
        const leaderWritten = r.leader !== NO_LEADER_CHANGE;
        partitions.set(r.partitionId, {
          ...prev,
          replicas: copyOr(r.replicas, prev.replicas),
          isr: copyOr(r.isr, prev.isr),
          removingReplicas: copyOr(r.removingReplicas, prev.removingReplicas),
          addingReplicas: copyOr(r.addingReplicas, prev.addingReplicas),
          leader: leaderWritten ? r.leader : prev.leader,
          leaderEpoch: leaderWritten ? prev.leaderEpoch + 1 : prev.leaderEpoch,
          partitionEpoch: prev.partitionEpoch + 1,
          leaderRecoveryState:
            r.leaderRecoveryState === LeaderRecoveryState.NO_CHANGE ? prev.leaderRecoveryState : r.leaderRecoveryState,
          elr: copyOr(r.eligibleLeaderReplicas, prev.elr ?? []),
          lastKnownElr: copyOr(r.lastKnownElr, prev.lastKnownElr ?? []),
        });
        markPartition(r.topicId, r.partitionId);
        break;
      }
      case MetadataRecordType.RemoveTopicRecord: {
        const topic = topicsById.get(m.record.topicId);
        if (topic === undefined)
          throw new MetadataReplayError(`RemoveTopicRecord of unknown topic ${m.record.topicId}`);
        topicsById.delete(topic.topicId);
        topicsByName.delete(topic.name);
        ownedPartitions.delete(topic.topicId);
        if (createdTopics.delete(topic.topicId)) {
          changedPartitions.delete(topic.topicId);
        } else {
          changedPartitions.delete(topic.topicId);
          deletedTopics.push(image.topicsById.get(topic.topicId) ?? topic);
        }
        // A deleted topic's configs go with it (Kafka removes them on RemoveTopicRecord).
        const key = configKey(ConfigResourceType.TOPIC, topic.name);
        if (configs.delete(key)) changedConfigs.add(key);
        break;
      }
      case MetadataRecordType.ConfigRecord: {
        const r = m.record;
        const key = configKey(r.resourceType, r.resourceName);
        const next = new Map(configs.get(key));
        if (r.value === null) next.delete(r.name);
        else next.set(r.name, r.value);
        if (next.size === 0) configs.delete(key);
        else configs.set(key, next);
        changedConfigs.add(key);
        break;
      }
      case MetadataRecordType.FeatureLevelRecord:
        if (m.record.featureLevel === 0) features.delete(m.record.name);
        else features.set(m.record.name, m.record.featureLevel);
        changedFeatures = true;
        break;
      case MetadataRecordType.ProducerIdsRecord:
        producerIds = { nextProducerId: Number(m.record.nextProducerId), lastBrokerId: m.record.brokerId };
        break;
      case MetadataRecordType.NoOpRecord:
        break;
      default:
        // Records this broker does not model yet (ACLs, quotas, SCRAM, tokens): kept in the log, skipped here.
        break;
    }
  }

  return {
    image: {
      clusterId: image.clusterId,
      offset,
      brokers,
      topicsByName,
      topicsById,
      configs,
      features,
      producerIds,
    },
    delta: { createdTopics, changedPartitions, deletedTopics, changedConfigs, changedBrokers, changedFeatures },
  };
}

/** A copy of a record's list, or the previous value when the record left it null (unchanged). */
function copyOr(list: readonly number[] | null | undefined, prev: readonly number[]): readonly number[] {
  return list === null || list === undefined ? prev : [...list];
}

export function emptyDelta(): MetadataDelta {
  return {
    createdTopics: new Set(),
    changedPartitions: new Map(),
    deletedTopics: [],
    changedConfigs: new Set(),
    changedBrokers: new Set(),
    changedFeatures: false,
  };
}
