/**
 * The records that rebuild an image: what a metadata snapshot holds (KIP-630). Replaying
 * imageToRecords(image) on an empty image with the same cluster id gives an image equal to
 * `image` in everything but `offset` (the snapshot's own end offset says where it stands).
 *
 *   imageToRecords(image) -> MetadataMessage[]
 *     feature levels (metadata.version first), broker registrations (with their epochs,
 *     fencing and controlled-shutdown state), topics with their partitions (epochs, ISR,
 *     reassignment and ELR state), dynamic configs, then the producer id block.
 *
 * Only what the image models is written: records replay skips today (ACLs, quotas, SCRAM,
 * delegation tokens) are not in the image, so a snapshot cannot carry them yet.
 */
import { MetadataRecordType } from '../protocol/generated/metadata-records.ts';
import { type MetadataImage, sortedPartitions } from './image.ts';
import type { MetadataMessage } from './metadata-log.ts';

export function imageToRecords(image: MetadataImage): MetadataMessage[] {
  const out: MetadataMessage[] = [];
  const features = [...image.features.entries()].sort(([a], [b]) =>
    a === 'metadata.version' ? -1 : b === 'metadata.version' ? 1 : compare(a, b),
  );
  for (const [name, featureLevel] of features) {
    out.push({ typeId: MetadataRecordType.FeatureLevelRecord, version: 0, record: { name, featureLevel } });
  }
  for (const b of [...image.brokers.values()].sort((x, y) => x.nodeId - y.nodeId)) {
    out.push({
      typeId: MetadataRecordType.RegisterBrokerRecord,
      version: 3,
      record: {
        brokerId: b.nodeId,
        isMigratingZkBroker: false,
        incarnationId: b.incarnationId,
        brokerEpoch: BigInt(b.brokerEpoch),
        endPoints: b.endpoints.map((e) => ({ ...e })),
        features: (b.supportedFeatures ?? []).map((f) => ({ ...f })),
        rack: b.rack,
        fenced: b.fenced,
        inControlledShutdown: b.inControlledShutdown,
        logDirs: [...b.logDirs],
      },
    });
  }
  for (const topic of [...image.topicsByName.values()].sort((x, y) => compare(x.name, y.name))) {
    out.push({
      typeId: MetadataRecordType.TopicRecord,
      version: 0,
      record: { name: topic.name, topicId: topic.topicId },
    });
    for (const p of sortedPartitions(topic)) {
      const elr = p.elr ?? [];
      const lastKnownElr = p.lastKnownElr ?? [];
      out.push({
        typeId: MetadataRecordType.PartitionRecord,
        // v2 carries ELR; older versions suffice otherwise.
        version: elr.length > 0 || lastKnownElr.length > 0 ? 2 : 0,
        record: {
          partitionId: p.partitionId,
          topicId: topic.topicId,
          replicas: [...p.replicas],
          isr: [...p.isr],
          removingReplicas: [...p.removingReplicas],
          addingReplicas: [...p.addingReplicas],
          leader: p.leader,
          leaderRecoveryState: p.leaderRecoveryState,
          leaderEpoch: p.leaderEpoch,
          partitionEpoch: p.partitionEpoch,
          directories: [],
          eligibleLeaderReplicas: [...elr],
          lastKnownElr: [...lastKnownElr],
        },
      });
    }
  }
  for (const key of [...image.configs.keys()].sort(compare)) {
    const colon = key.indexOf(':');
    const resourceType = Number(key.slice(0, colon));
    const resourceName = key.slice(colon + 1);
    for (const [name, value] of [...image.configs.get(key)!.entries()].sort(([a], [b]) => compare(a, b))) {
      out.push({
        typeId: MetadataRecordType.ConfigRecord,
        version: 0,
        record: { resourceType, resourceName, name, value },
      });
    }
  }
  const { nextProducerId, lastBrokerId } = image.producerIds;
  if (nextProducerId !== 0 || lastBrokerId !== -1) {
    out.push({
      typeId: MetadataRecordType.ProducerIdsRecord,
      version: 0,
      record: { brokerId: lastBrokerId, brokerEpoch: -1n, nextProducerId: BigInt(nextProducerId) },
    });
  }
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
