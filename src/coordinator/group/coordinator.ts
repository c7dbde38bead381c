/**
 * The group coordinator of a broker: routes each group to its shard (the
 * __consumer_offsets partition `abs(hash(groupId)) % offsets.topic.num.partitions`),
 * creates __consumer_offsets (compacted) on the first FindCoordinator, and loads or
 * unloads shards as this node gains or loses leadership of its partitions.
 *
 * Handlers call it; every call is one operation on one shard's queue (see
 * ../runtime/runtime.ts). Answers are Kafka error codes, never exceptions.
 */
import type { Clock } from '../../env/clock.ts';
import type { Random } from '../../env/random.ts';
import type { MetadataCache, MetadataUpdate } from '../../metadata/cache.ts';
import type { CreateTopicSpec } from '../../metadata/controller.ts';
import type { MetadataImage } from '../../metadata/image.ts';
import type { ConsumerGroupDescribeResponseDescribedGroup } from '../../protocol/generated/consumer-group-describe-response.ts';
import type { ConsumerGroupHeartbeatRequest } from '../../protocol/generated/consumer-group-heartbeat-request.ts';
import type { ConsumerGroupHeartbeatResponse } from '../../protocol/generated/consumer-group-heartbeat-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { JoinGroupResponse } from '../../protocol/generated/join-group-response.ts';
import type { SyncGroupResponse } from '../../protocol/generated/sync-group-response.ts';
import { partitionFor } from '../runtime/hash.ts';
import { type CoordinatorLocation, locateCoordinator } from '../runtime/locate.ts';
import { type CoordinatorLog, CoordinatorRuntime, type TxnMarker } from '../runtime/runtime.ts';
import type { GroupCoordinatorConfig } from './config.ts';
import type { TopicLookup } from './consumer-group.ts';
import { type GroupRecord, groupRecordSerde } from './records.ts';
import {
  type CommitParams,
  type DescribedClassicGroup,
  type FetchedOffsets,
  type GroupListing,
  GroupShard,
  type JoinParams,
  type SyncParams,
  type TopicPartitionErrors,
  type TxnCommitParams,
} from './shard.ts';

export const GROUP_METADATA_TOPIC = '__consumer_offsets';

/** What creating __consumer_offsets needs (the metadata controller). */
export interface TopicCreator {
  createTopics(
    specs: readonly CreateTopicSpec[],
    validateOnly: boolean,
  ): Promise<{ name: string; errorCode: number; errorMessage?: string | null }[]>;
}

export interface GroupCoordinatorOptions {
  nodeId: number;
  clock: Clock;
  random: Random;
  config: GroupCoordinatorConfig;
  log: CoordinatorLog;
  /** Topic metadata for consumer-protocol assignments; with `metadata`, built from the image. */
  topics?: TopicLookup;
  /** The metadata cache: shards load/unload with leadership of __consumer_offsets partitions. */
  metadata?: MetadataCache;
  controller?: TopicCreator;
  /** offsets.topic.replication.factor, offsets.topic.segment.bytes. */
  offsetsTopic?: { replicationFactor: number; segmentBytes: number };
  onError?: (err: unknown, task: string) => void;
}

/** What handlers see (BrokerServices.groups). */
export interface GroupCoordinatorService {
  readonly config: GroupCoordinatorConfig;
  partitionFor(groupId: string): number;
  /**
   * FindCoordinator for a group: this node once its shard is loaded, the leader of the
   * group's __consumer_offsets partition when another broker leads it, else
   * COORDINATOR_NOT_AVAILABLE.
   */
  findCoordinator(groupId: string): Promise<{ errorCode: number; nodeId: number }>;
  joinGroup(p: JoinParams): Promise<JoinGroupResponse>;
  syncGroup(p: SyncParams): Promise<SyncGroupResponse>;
  heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): Promise<number>;
  leaveGroup(
    groupId: string,
    members: { memberId: string; groupInstanceId: string | null }[],
  ): Promise<{ errorCode: number; members: { memberId: string; groupInstanceId: string | null; errorCode: number }[] }>;
  commitOffsets(p: CommitParams): Promise<{ errorCode: number; topics: TopicPartitionErrors[] }>;
  /** TxnOffsetCommit: offsets pending until the producer's transaction marker reaches the group's partition. */
  txnOffsetCommit(p: TxnCommitParams): Promise<{ errorCode: number; topics: TopicPartitionErrors[] }>;
  /**
   * WriteTxnMarkers for a __consumer_offsets partition: writes the marker through the
   * shard, which commits or drops that producer's pending offsets. NONE or an error code.
   */
  writeTxnMarker(partition: number, marker: TxnMarker): Promise<number>;
  fetchOffsets(
    groupId: string,
    topics: { name: string; partitionIndexes: number[] }[] | null,
    memberId?: string | null,
    memberEpoch?: number,
    /** OffsetFetch v7+ require_stable: UNSTABLE_OFFSET_COMMIT for partitions with a pending transactional commit. */
    requireStable?: boolean,
  ): Promise<FetchedOffsets>;
  deleteOffsets(
    groupId: string,
    topics: { name: string; partitions: number[] }[],
  ): Promise<{ errorCode: number; topics: TopicPartitionErrors[] }>;
  deleteGroups(groupIds: string[]): Promise<{ groupId: string; errorCode: number }[]>;
  describeGroups(groupIds: string[]): Promise<DescribedClassicGroup[]>;
  listGroups(statesFilter: string[], typesFilter: string[]): Promise<{ errorCode: number; groups: GroupListing[] }>;
  consumerGroupHeartbeat(
    req: ConsumerGroupHeartbeatRequest,
    clientId: string,
    clientHost: string,
    apiVersion: number,
  ): Promise<ConsumerGroupHeartbeatResponse>;
  consumerGroupDescribe(groupIds: string[]): Promise<ConsumerGroupDescribeResponseDescribedGroup[]>;
  close(): Promise<void>;
}

function uuidString(random: Random): string {
  const b = random.bytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** TopicLookup over the current metadata image. */
export function imageTopics(image: () => MetadataImage): TopicLookup {
  return {
    byName(name) {
      const t = image().topicsByName.get(name);
      return t === undefined ? undefined : { topicId: t.topicId, numPartitions: t.partitions.size };
    },
    nameOf(topicId) {
      return image().topicsById.get(topicId)?.name;
    },
    names() {
      return image().topicsByName.keys();
    },
  };
}

export class GroupCoordinator implements GroupCoordinatorService {
  readonly runtime: CoordinatorRuntime<GroupShard, GroupRecord>;
  readonly config: GroupCoordinatorConfig;
  private readonly loads = new Map<number, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private creating: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: GroupCoordinatorOptions) {
    this.config = options.config;
    const topics =
      options.topics ??
      (options.metadata !== undefined
        ? imageTopics(() => options.metadata!.image())
        : { byName: () => undefined, nameOf: () => undefined, names: () => [] });
    this.runtime = new CoordinatorRuntime<GroupShard, GroupRecord>({
      clock: options.clock,
      log: options.log,
      serde: groupRecordSerde,
      newShard: (ctx) => new GroupShard(ctx, options.config, () => uuidString(options.random), topics),
      ...(options.onError !== undefined ? { onError: options.onError } : {}),
    });
  }

  /** Follows the metadata: loads the partitions of __consumer_offsets this node leads. */
  start(): void {
    const metadata = this.options.metadata;
    if (metadata === undefined) return;
    this.unsubscribe = metadata.subscribe((update: MetadataUpdate) => {
      this.applyImage(update.image);
    });
    this.applyImage(metadata.image());
  }

  private applyImage(image: MetadataImage): void {
    if (this.closed) return;
    const topic = image.topicsByName.get(GROUP_METADATA_TOPIC);
    const led = new Map<number, number>();
    for (const p of topic?.partitions.values() ?? []) {
      if (p.leader === this.options.nodeId) led.set(p.partitionId, p.leaderEpoch);
    }
    for (const [partition, leaderEpoch] of led) {
      if (this.runtime.status(partition) === 'absent' && !this.loads.has(partition)) {
        this.loadShard(partition, leaderEpoch).catch((err: unknown) =>
          this.options.onError?.(err, `load ${partition}`),
        );
      }
    }
    for (const partition of this.runtime.partitions()) {
      if (!led.has(partition)) void this.runtime.unload(partition);
    }
  }

  /**
   * Loads one shard (replay of its partition) once the local replica leads it at
   * `leaderEpoch` (-1: any); also used by tests without metadata.
   */
  loadShard(partition: number, leaderEpoch = -1): Promise<void> {
    const existing = this.loads.get(partition);
    if (existing !== undefined) return existing;
    const run = this.runtime.load(partition, leaderEpoch).finally(() => this.loads.delete(partition));
    this.loads.set(partition, run);
    return run;
  }

  partitionFor(groupId: string): number {
    return partitionFor(groupId, this.config.numPartitions);
  }

  private async ensureTopic(): Promise<void> {
    const { metadata, controller } = this.options;
    if (metadata === undefined || controller === undefined) return;
    if (metadata.image().topicsByName.has(GROUP_METADATA_TOPIC)) return;
    this.creating ??= (async () => {
      const t = this.options.offsetsTopic ?? { replicationFactor: 1, segmentBytes: 104857600 };
      try {
        const [result] = await controller.createTopics(
          [
            {
              name: GROUP_METADATA_TOPIC,
              numPartitions: this.config.numPartitions,
              replicationFactor: t.replicationFactor,
              assignments: [],
              configs: [
                { name: 'cleanup.policy', value: 'compact' },
                { name: 'compression.type', value: 'producer' },
                { name: 'segment.bytes', value: String(t.segmentBytes) },
              ],
            },
          ],
          false,
        );
        if (result !== undefined && result.errorCode !== 0 && result.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
          this.options.onError?.(
            new Error(result.errorMessage ?? `error ${result.errorCode}`),
            'create __consumer_offsets',
          );
        }
      } catch (err) {
        this.options.onError?.(err, 'create __consumer_offsets');
      } finally {
        this.creating = undefined;
      }
    })();
    await this.creating;
  }

  async findCoordinator(groupId: string): Promise<CoordinatorLocation> {
    await this.ensureTopic();
    const partition = this.partitionFor(groupId);
    const metadata = this.options.metadata;
    return locateCoordinator({
      topic: GROUP_METADATA_TOPIC,
      partition,
      nodeId: this.options.nodeId,
      clock: this.options.clock,
      load: this.loads.get(partition),
      isActive: () => this.runtime.status(partition) === 'active',
      image: metadata === undefined ? undefined : () => metadata.image(),
    });
  }

  async joinGroup(p: JoinParams): Promise<JoinGroupResponse> {
    const out = await this.runtime.write(this.partitionFor(p.groupId), (s, now) => s.joinGroup(p, now));
    if (out.errorCode !== 0) {
      return {
        throttleTimeMs: 0,
        errorCode: out.errorCode,
        generationId: -1,
        protocolType: null,
        protocolName: null,
        leader: '',
        skipAssignment: false,
        memberId: p.memberId,
        members: [],
      };
    }
    return out.value!;
  }

  async syncGroup(p: SyncParams): Promise<SyncGroupResponse> {
    const out = await this.runtime.write(this.partitionFor(p.groupId), (s, now) => s.syncGroup(p, now));
    if (out.errorCode !== 0) {
      return {
        throttleTimeMs: 0,
        errorCode: out.errorCode,
        protocolType: null,
        protocolName: null,
        assignment: Buffer.alloc(0),
      };
    }
    return out.value!;
  }

  async heartbeat(
    groupId: string,
    memberId: string,
    groupInstanceId: string | null,
    generationId: number,
  ): Promise<number> {
    const out = await this.runtime.write(this.partitionFor(groupId), (s) =>
      s.heartbeat(groupId, memberId, groupInstanceId, generationId),
    );
    return out.errorCode !== 0 ? out.errorCode : out.value!;
  }

  async leaveGroup(
    groupId: string,
    members: { memberId: string; groupInstanceId: string | null }[],
  ): Promise<{
    errorCode: number;
    members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
  }> {
    const out = await this.runtime.write(this.partitionFor(groupId), (s, now) => s.leaveGroup(groupId, members, now));
    return out.errorCode !== 0 ? { errorCode: out.errorCode, members: [] } : out.value!;
  }

  async commitOffsets(p: CommitParams): Promise<{ errorCode: number; topics: TopicPartitionErrors[] }> {
    const out = await this.runtime.write(this.partitionFor(p.groupId), (s, now) => s.commitOffsets(p, now));
    return out.errorCode !== 0 ? { errorCode: out.errorCode, topics: [] } : { errorCode: 0, topics: out.value! };
  }

  async txnOffsetCommit(p: TxnCommitParams): Promise<{ errorCode: number; topics: TopicPartitionErrors[] }> {
    const out = await this.runtime.write(this.partitionFor(p.groupId), (s, now) => s.txnOffsetCommit(p, now));
    return out.errorCode !== 0 ? { errorCode: out.errorCode, topics: [] } : { errorCode: 0, topics: out.value! };
  }

  writeTxnMarker(partition: number, marker: TxnMarker): Promise<number> {
    return this.runtime.writeMarker(partition, marker);
  }

  async fetchOffsets(
    groupId: string,
    topics: { name: string; partitionIndexes: number[] }[] | null,
    memberId: string | null = null,
    memberEpoch = -1,
    requireStable = false,
  ): Promise<FetchedOffsets> {
    const out = await this.runtime.write(this.partitionFor(groupId), (s) =>
      s.fetchOffsets(groupId, topics, memberId, memberEpoch, requireStable),
    );
    return out.errorCode !== 0 ? { errorCode: out.errorCode, topics: [] } : out.value!;
  }

  async deleteOffsets(
    groupId: string,
    topics: { name: string; partitions: number[] }[],
  ): Promise<{ errorCode: number; topics: TopicPartitionErrors[] }> {
    const out = await this.runtime.write(this.partitionFor(groupId), (s) => s.deleteOffsets(groupId, topics));
    return out.errorCode !== 0 ? { errorCode: out.errorCode, topics: [] } : out.value!;
  }

  deleteGroups(groupIds: string[]): Promise<{ groupId: string; errorCode: number }[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const out = await this.runtime.write(this.partitionFor(groupId), (s) => s.deleteGroup(groupId));
        return { groupId, errorCode: out.errorCode !== 0 ? out.errorCode : out.value! };
      }),
    );
  }

  describeGroups(groupIds: string[]): Promise<DescribedClassicGroup[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const out = await this.runtime.read(this.partitionFor(groupId), (s) => s.describeGroup(groupId));
        if (out.errorCode !== 0) {
          return { errorCode: out.errorCode, groupId, groupState: '', protocolType: '', protocolData: '', members: [] };
        }
        return out.value!;
      }),
    );
  }

  async listGroups(
    statesFilter: string[],
    typesFilter: string[],
  ): Promise<{ errorCode: number; groups: GroupListing[] }> {
    let errorCode = 0;
    const groups: GroupListing[] = [];
    const partitions = new Set([...this.runtime.partitions(), ...this.loads.keys()]);
    for (const partition of partitions) {
      const out = await this.runtime.read(partition, (s) => s.listGroups(statesFilter, typesFilter));
      if (out.errorCode !== 0) errorCode ||= out.errorCode;
      else groups.push(...out.value!);
    }
    return { errorCode, groups };
  }

  async consumerGroupHeartbeat(
    req: ConsumerGroupHeartbeatRequest,
    clientId: string,
    clientHost: string,
    apiVersion: number,
  ): Promise<ConsumerGroupHeartbeatResponse> {
    const out = await this.runtime.write(this.partitionFor(req.groupId), (s) =>
      s.consumer.heartbeat(req, clientId, clientHost, apiVersion),
    );
    if (out.errorCode !== 0) {
      return {
        throttleTimeMs: 0,
        errorCode: out.errorCode,
        errorMessage: null,
        memberId: null,
        memberEpoch: -1,
        heartbeatIntervalMs: 0,
        assignment: null,
      };
    }
    return out.value!;
  }

  consumerGroupDescribe(groupIds: string[]): Promise<ConsumerGroupDescribeResponseDescribedGroup[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const out = await this.runtime.read(this.partitionFor(groupId), (s) => s.consumer.describe(groupId));
        if (out.errorCode !== 0) {
          return {
            errorCode: out.errorCode,
            errorMessage: null,
            groupId,
            groupState: '',
            groupEpoch: -1,
            assignmentEpoch: -1,
            assignorName: '',
            members: [],
            authorizedOperations: -2147483648,
          };
        }
        return out.value!;
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    await this.runtime.close();
  }
}
