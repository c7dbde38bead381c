/**
 * A small cluster for controller-decision tests: an image built only by replaying the records
 * the decisions return, as the controller would commit them.
 */
import { BrokerHeartbeats, brokerHeartbeat, registerBroker } from '../../../src/metadata/control/brokers.ts';
import type { ElectionSettings } from '../../../src/metadata/control/election.ts';
import { emptyImage, type MetadataImage, type PartitionImage, type TopicImage } from '../../../src/metadata/image.ts';
import type { MetadataMessage } from '../../../src/metadata/metadata-log.ts';
import { replay } from '../../../src/metadata/replay.ts';
import { MetadataRecordType as R } from '../../../src/protocol/generated/metadata-records.ts';

export const CLUSTER_ID = 'q1AnwE3WRDWpVXbGxKdX_w';
export const SESSION_MS = 9_000;
export const settings: ElectionSettings = { uncleanLeaderElectionEnable: false };

/** A deterministic topic id from a name (22 chars, base64url). */
export function topicIdOf(name: string): string {
  return Buffer.from(`topic:${name}`.padEnd(16, '.').slice(0, 16)).toString('base64url');
}

export function incarnation(id: number, generation = 0): string {
  return Buffer.from(`broker${id}-${generation}`.padEnd(16, '.').slice(0, 16)).toString('base64url');
}

export class TestCluster {
  image: MetadataImage;
  readonly heartbeats = new BrokerHeartbeats();
  nowMs = 1_000;

  constructor(features = true) {
    this.image = emptyImage(CLUSTER_ID);
    if (features) {
      this.apply([
        { typeId: R.FeatureLevelRecord, version: 0, record: { name: 'metadata.version', featureLevel: 21 } },
      ]);
    }
  }

  get nextOffset(): number {
    return this.image.offset + 1;
  }

  apply(records: readonly MetadataMessage[]): MetadataImage {
    const from = this.nextOffset;
    this.image = replay(
      this.image,
      records.map((message, i) => ({ offset: from + i, message })),
    ).image;
    return this.image;
  }

  registrationRequest(id: number, rack: string | null = null, generation = 0) {
    return {
      brokerId: id,
      clusterId: CLUSTER_ID,
      incarnationId: incarnation(id, generation),
      listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9000 + id, securityProtocol: 0 }],
      features: [{ name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: 21 }],
      rack,
      isMigratingZkBroker: false,
      logDirs: [],
      previousBrokerEpoch: -1n,
    };
  }

  /** Registers and unfences a broker; returns its epoch. */
  addBroker(id: number, rack: string | null = null, generation = 0): number {
    const { records, response } = registerBroker(this.image, this.registrationRequest(id, rack, generation), {
      nextOffset: this.nextOffset,
      nowMs: this.nowMs,
      heartbeats: this.heartbeats,
      sessionTimeoutMs: SESSION_MS,
      settings,
    });
    if (response.errorCode !== 0) throw new Error(`registration failed: ${response.errorCode}`);
    this.apply(records);
    const epoch = Number(response.brokerEpoch);
    this.heartbeat(id, {});
    return epoch;
  }

  heartbeat(id: number, opts: { wantFence?: boolean; wantShutDown?: boolean; offset?: number }) {
    const broker = this.image.brokers.get(id);
    const result = brokerHeartbeat(
      this.image,
      {
        brokerId: id,
        brokerEpoch: BigInt(broker?.brokerEpoch ?? -1),
        currentMetadataOffset: BigInt(opts.offset ?? this.image.offset),
        wantFence: opts.wantFence ?? false,
        wantShutDown: opts.wantShutDown ?? false,
        offlineLogDirs: [],
      },
      this.heartbeats,
      this.nowMs,
      settings,
      this.nextOffset,
    );
    this.apply(result.records);
    return result.response;
  }

  /** A topic whose partitions have these replicas; ISR = live replicas, leader = first live. */
  addTopic(name: string, assignment: number[][]): TopicImage {
    const topicId = topicIdOf(name);
    const live = (r: number) => {
      const b = this.image.brokers.get(r);
      return b !== undefined && !b.fenced && !b.inControlledShutdown;
    };
    this.apply([
      { typeId: R.TopicRecord, version: 0, record: { name, topicId } },
      ...assignment.map((replicas, partitionId) => {
        const isr = replicas.filter(live);
        return {
          typeId: R.PartitionRecord,
          version: 0,
          record: {
            partitionId,
            topicId,
            replicas,
            isr: isr.length > 0 ? isr : replicas.slice(0, 1),
            removingReplicas: [],
            addingReplicas: [],
            leader: isr[0] ?? -1,
            leaderRecoveryState: 0,
            leaderEpoch: 0,
            partitionEpoch: 0,
            directories: [],
            eligibleLeaderReplicas: null,
            lastKnownElr: null,
          },
        };
      }),
    ]);
    return this.image.topicsByName.get(name)!;
  }

  partition(name: string, id = 0): PartitionImage {
    return this.image.topicsByName.get(name)!.partitions.get(id)!;
  }

  setTopicConfig(topic: string, name: string, value: string | null): void {
    this.apply([{ typeId: R.ConfigRecord, version: 0, record: { resourceType: 2, resourceName: topic, name, value } }]);
  }
}

/** Every partition of the image, with its topic. */
export function allPartitions(image: MetadataImage): { topic: TopicImage; p: PartitionImage }[] {
  const out: { topic: TopicImage; p: PartitionImage }[] = [];
  for (const topic of image.topicsById.values()) for (const p of topic.partitions.values()) out.push({ topic, p });
  return out;
}

/** The invariants every decision keeps; returns the first violation or undefined. */
export function checkInvariants(image: MetadataImage): string | undefined {
  for (const { topic, p } of allPartitions(image)) {
    const where = `${topic.name}-${p.partitionId}`;
    if (p.isr.length === 0) return `${where}: empty ISR`;
    if (new Set(p.replicas).size !== p.replicas.length) return `${where}: duplicate replicas ${p.replicas}`;
    if (p.isr.some((r) => !p.replicas.includes(r))) return `${where}: ISR ${p.isr} not within replicas ${p.replicas}`;
    if (p.leader !== -1) {
      if (!p.isr.includes(p.leader)) return `${where}: leader ${p.leader} outside ISR ${p.isr}`;
      if (!p.replicas.includes(p.leader)) return `${where}: leader ${p.leader} not a replica`;
      const b = image.brokers.get(p.leader);
      if (b === undefined || b.fenced) return `${where}: leader ${p.leader} is fenced or unknown`;
      if (b.inControlledShutdown) return `${where}: leader ${p.leader} is shutting down`;
    }
    if (p.addingReplicas.some((r) => !p.replicas.includes(r))) return `${where}: adding not within replicas`;
    if (p.removingReplicas.some((r) => !p.replicas.includes(r))) return `${where}: removing not within replicas`;
  }
  return undefined;
}
