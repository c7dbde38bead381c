/**
 * The admin client: topics, configs, consumer groups (with lag), cluster, deleteRecords.
 * Every call retries retriable errors within `default.api.timeout.ms`; per-resource errors
 * come back as KafkaProtocolErrors (the first one is thrown).
 */
import { ZERO_UUID } from '../protocol/codec/uuid.ts';
import { ApiKey } from '../protocol/generated/api-keys.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { TopicPartition } from './assignors/index.ts';
import { Cluster, type CommonClientOptions, isStaleMetadataError } from './cluster.ts';
import { KafkaProtocolError } from './errors.ts';
import { decodeAssignment, decodeSubscription } from './group.ts';
import { offsetCommitTopics } from './util.ts';

export type AdminOptions = CommonClientOptions;

export interface NewTopic {
  topic: string;
  /** -1 = the broker's `num.partitions`. */
  numPartitions?: number;
  /** -1 = the broker's `default.replication.factor`. */
  replicationFactor?: number;
  configs?: Record<string, string>;
}

export interface TopicDescription {
  name: string;
  topicId: string;
  isInternal: boolean;
  partitions: { partition: number; leader: number; leaderEpoch: number; replicas: number[]; isr: number[] }[];
}

export type ConfigResourceType = 'topic' | 'broker' | 'broker-logger' | 'client-metrics' | 'group';

const RESOURCE_TYPE: Record<ConfigResourceType, number> = {
  topic: 2,
  broker: 4,
  'broker-logger': 8,
  'client-metrics': 16,
  group: 32,
};

const CONFIG_SOURCE = [
  'unknown',
  'dynamic-topic',
  'dynamic-broker',
  'dynamic-default-broker',
  'static-broker',
  'default',
  'dynamic-broker-logger',
  'client-metrics',
  'group',
] as const;

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  source: (typeof CONFIG_SOURCE)[number];
  isSensitive: boolean;
}

export type AlterConfigOp = 'set' | 'delete' | 'append' | 'subtract';
const ALTER_OP: Record<AlterConfigOp, number> = { set: 0, delete: 1, append: 2, subtract: 3 };

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: string;
  type: string;
}

export interface GroupDescription {
  groupId: string;
  /** `consumer` for KIP-848 groups, `classic` otherwise. */
  type: 'classic' | 'consumer';
  state: string;
  protocolType: string;
  protocol: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    subscription: string[];
    assignment: TopicPartition[];
  }[];
  /** Committed offset, log end offset and lag per partition with a committed offset. */
  offsets: GroupPartitionOffset[];
}

export interface GroupPartitionOffset {
  topic: string;
  partition: number;
  offset: number;
  endOffset: number;
  lag: number;
  metadata: string | null;
}

export type OffsetSpec = 'earliest' | 'latest' | { timestamp: number } | { offset: number };

export class Admin {
  readonly cluster: Cluster;

  constructor(opts: AdminOptions) {
    this.cluster = new Cluster({ ...opts, allowAutoCreateTopics: false });
  }

  async close(): Promise<void> {
    this.cluster.close();
  }

  /** The controller if known (KRaft brokers forward), else any broker. */
  private async controllerRequest<K extends number>(
    apiKey: K,
    body: Parameters<Cluster['requestAny']>[1] & object,
  ): Promise<Awaited<ReturnType<Cluster['requestAny']>>> {
    await this.cluster.ensureMetadata();
    const id = this.cluster.controllerId;
    if (id >= 0 && this.cluster.brokers.has(id)) return this.cluster.request(id, apiKey, body as never);
    return this.cluster.requestAny(apiKey, body as never);
  }

  // ---- topics ---------------------------------------------------------------------------

  async createTopics(topics: NewTopic[], opts: { validateOnly?: boolean; timeoutMs?: number } = {}): Promise<void> {
    await this.cluster.withRetries(async () => {
      const res = (await this.controllerRequest(ApiKey.CreateTopics, {
        topics: topics.map((t) => ({
          name: t.topic,
          numPartitions: t.numPartitions ?? -1,
          replicationFactor: t.replicationFactor ?? -1,
          assignments: [],
          configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
        })),
        timeoutMs: opts.timeoutMs ?? 30000,
        validateOnly: opts.validateOnly ?? false,
      })) as { topics: { name: string; errorCode: number; errorMessage: string | null }[] };
      for (const t of res.topics) {
        if (t.errorCode !== 0) throw new KafkaProtocolError(t.errorCode, `create topic ${t.name}`, t.errorMessage);
      }
    });
    this.cluster.addTopics(topics.map((t) => t.topic));
    this.cluster.requestUpdate();
  }

  async deleteTopics(names: string[], opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.cluster.withRetries(async () => {
      const res = (await this.controllerRequest(ApiKey.DeleteTopics, {
        topics: names.map((name) => ({ name, topicId: ZERO_UUID })),
        topicNames: names,
        timeoutMs: opts.timeoutMs ?? 30000,
      })) as { responses: { name: string | null; errorCode: number; errorMessage: string | null }[] };
      for (const t of res.responses) {
        if (t.errorCode !== 0) throw new KafkaProtocolError(t.errorCode, `delete topic ${t.name}`, t.errorMessage);
      }
    });
    this.cluster.requestUpdate();
  }

  /** Names of the cluster's topics (internal ones only when asked). */
  async listTopics(opts: { includeInternal?: boolean } = {}): Promise<string[]> {
    this.cluster.watchAllTopics();
    this.cluster.requestUpdate();
    await this.cluster.ensureMetadata();
    return [...this.cluster.topics.values()]
      .filter((t) => opts.includeInternal || !t.isInternal)
      .map((t) => t.name)
      .sort();
  }

  async describeTopics(names: string[]): Promise<TopicDescription[]> {
    this.cluster.addTopics(names);
    this.cluster.requestUpdate();
    await this.cluster.ensureMetadata();
    return names.map((name) => {
      const t = this.cluster.topics.get(name);
      if (t === undefined) throw new KafkaProtocolError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${name}`);
      return {
        name,
        topicId: t.topicId,
        isInternal: t.isInternal,
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          leader: p.leaderId,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicas,
          isr: p.isr,
        })),
      };
    });
  }

  /** Raises topics' partition counts to `count`. */
  async createPartitions(
    topics: { topic: string; count: number }[],
    opts: { validateOnly?: boolean } = {},
  ): Promise<void> {
    await this.cluster.withRetries(async () => {
      const res = (await this.controllerRequest(ApiKey.CreatePartitions, {
        topics: topics.map((t) => ({ name: t.topic, count: t.count, assignments: null })),
        timeoutMs: 30000,
        validateOnly: opts.validateOnly ?? false,
      })) as { results: { name: string; errorCode: number; errorMessage: string | null }[] };
      for (const r of res.results) {
        if (r.errorCode !== 0) throw new KafkaProtocolError(r.errorCode, `create partitions ${r.name}`, r.errorMessage);
      }
    });
    this.cluster.requestUpdate();
  }

  // ---- configs --------------------------------------------------------------------------

  async describeConfigs(
    resources: { type: ConfigResourceType; name: string; configNames?: string[] }[],
  ): Promise<{ type: ConfigResourceType; name: string; configs: ConfigEntry[] }[]> {
    return this.cluster.withRetries(async () => {
      const res = await this.cluster.requestAny(ApiKey.DescribeConfigs, {
        resources: resources.map((r) => ({
          resourceType: RESOURCE_TYPE[r.type],
          resourceName: r.name,
          configurationKeys: r.configNames ?? null,
        })),
        includeSynonyms: false,
        includeDocumentation: false,
      });
      return res.results.map((r, i) => {
        if (r.errorCode !== 0)
          throw new KafkaProtocolError(r.errorCode, `describe configs ${r.resourceName}`, r.errorMessage);
        return {
          type: resources[i]!.type,
          name: r.resourceName,
          configs: r.configs.map((c) => ({
            name: c.name,
            value: c.value,
            readOnly: c.readOnly,
            isDefault: c.isDefault || c.configSource === 5,
            source: CONFIG_SOURCE[c.configSource] ?? 'unknown',
            isSensitive: c.isSensitive,
          })),
        };
      });
    });
  }

  async incrementalAlterConfigs(
    resources: {
      type: ConfigResourceType;
      name: string;
      ops: { name: string; op?: AlterConfigOp; value?: string | null }[];
    }[],
    opts: { validateOnly?: boolean } = {},
  ): Promise<void> {
    await this.cluster.withRetries(async () => {
      const res = await this.cluster.requestAny(ApiKey.IncrementalAlterConfigs, {
        resources: resources.map((r) => ({
          resourceType: RESOURCE_TYPE[r.type],
          resourceName: r.name,
          configs: r.ops.map((o) => ({
            name: o.name,
            configOperation: ALTER_OP[o.op ?? 'set'],
            value: o.value ?? null,
          })),
        })),
        validateOnly: opts.validateOnly ?? false,
      });
      for (const r of res.responses) {
        if (r.errorCode !== 0)
          throw new KafkaProtocolError(r.errorCode, `alter configs ${r.resourceName}`, r.errorMessage);
      }
    });
  }

  // ---- groups ---------------------------------------------------------------------------

  private async coordinator(groupId: string): Promise<number> {
    return this.cluster.withRetries(async () => {
      const conn = await this.cluster.anyConnection();
      const v = conn.versionFor(ApiKey.FindCoordinator);
      const res = await conn.request(ApiKey.FindCoordinator, { key: groupId, keyType: 0, coordinatorKeys: [groupId] });
      const c = v >= 4 ? res.coordinators[0] : { ...res, errorMessage: res.errorMessage };
      if (c === undefined) throw new KafkaProtocolError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'FindCoordinator');
      if (c.errorCode !== 0) throw new KafkaProtocolError(c.errorCode, `FindCoordinator ${groupId}`, c.errorMessage);
      if (!this.cluster.brokers.has(c.nodeId)) {
        this.cluster.brokers.set(c.nodeId, { nodeId: c.nodeId, host: c.host, port: c.port, rack: null });
      }
      return c.nodeId;
    });
  }

  /** Every group on every broker. */
  async listGroups(): Promise<GroupListing[]> {
    await this.cluster.ensureMetadata();
    const out: GroupListing[] = [];
    const nodes = [...this.cluster.brokers.keys()];
    await Promise.all(
      nodes.map((node) =>
        this.cluster.withRetries(async () => {
          const res = await this.cluster.request(node, ApiKey.ListGroups, { statesFilter: [], typesFilter: [] });
          if (res.errorCode !== 0) throw new KafkaProtocolError(res.errorCode, 'ListGroups');
          for (const g of res.groups) {
            out.push({ groupId: g.groupId, protocolType: g.protocolType, state: g.groupState, type: g.groupType });
          }
        }),
      ),
    );
    return out.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  /**
   * Members, assignments and (with committed offsets) lag of consumer groups. KIP-848 groups are
   * described with ConsumerGroupDescribe; classic groups (GROUP_ID_NOT_FOUND there) with DescribeGroups.
   */
  async describeGroups(groupIds: string[]): Promise<GroupDescription[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const modern = await this.describeConsumerProtocolGroup(groupId);
        if (modern !== null) return { ...modern, offsets: await this.listGroupOffsets(groupId) };
        const g = await this.cluster.withRetries(async () => {
          const node = await this.coordinator(groupId);
          const res = await this.cluster.request(node, ApiKey.DescribeGroups, {
            groups: [groupId],
            includeAuthorizedOperations: false,
          });
          const d = res.groups[0]!;
          if (d.errorCode !== 0) throw new KafkaProtocolError(d.errorCode, `describe group ${groupId}`);
          return d;
        });
        const members = g.members.map((m) => {
          let subscription: string[] = [];
          let assignment: TopicPartition[] = [];
          if (g.protocolType === 'consumer') {
            try {
              if (m.memberMetadata.length >= 2) subscription = decodeSubscription(m.memberMetadata).topics;
              assignment = decodeAssignment(m.memberAssignment);
            } catch {
              // Not the consumer protocol's bytes: leave them out.
            }
          }
          return {
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            subscription,
            assignment,
          };
        });
        return {
          groupId,
          type: 'classic' as const,
          state: g.groupState,
          protocolType: g.protocolType,
          protocol: g.protocolData,
          members,
          offsets: await this.listGroupOffsets(groupId),
        };
      }),
    );
  }

  /** ConsumerGroupDescribe, or null when the broker lacks it or the group is not a KIP-848 group. */
  private async describeConsumerProtocolGroup(groupId: string): Promise<Omit<GroupDescription, 'offsets'> | null> {
    return this.cluster.withRetries(async () => {
      const node = await this.coordinator(groupId);
      const conn = await this.cluster.connection(node);
      if (conn.versionFor(ApiKey.ConsumerGroupDescribe) < 0) return null;
      const res = await conn.request(ApiKey.ConsumerGroupDescribe, {
        groupIds: [groupId],
        includeAuthorizedOperations: false,
      });
      const g = res.groups[0];
      if (g === undefined || g.errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return null;
      if (g.errorCode !== 0) throw new KafkaProtocolError(g.errorCode, `describe group ${groupId}`, g.errorMessage);
      return {
        groupId,
        type: 'consumer' as const,
        state: g.groupState,
        protocolType: 'consumer',
        protocol: g.assignorName,
        members: g.members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.instanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscription: m.subscribedTopicNames,
          assignment: m.assignment.topicPartitions.flatMap((t) =>
            t.partitions.map((partition) => ({ topic: t.topicName, partition })),
          ),
        })),
      };
    });
  }

  /** Committed offsets of a group with log end offsets and lag. */
  async listGroupOffsets(groupId: string): Promise<GroupPartitionOffset[]> {
    const committed = await this.cluster.withRetries(async () => {
      const node = await this.coordinator(groupId);
      const conn = await this.cluster.connection(node);
      const v = conn.versionFor(ApiKey.OffsetFetch);
      const res = await conn.request(ApiKey.OffsetFetch, {
        groupId,
        topics: null,
        groups: [{ groupId, memberId: null, memberEpoch: -1, topics: null }],
        requireStable: false,
      });
      const g = v >= 8 ? res.groups[0]! : { errorCode: res.errorCode, topics: res.topics };
      if (g.errorCode !== 0) throw new KafkaProtocolError(g.errorCode, `OffsetFetch ${groupId}`);
      const out: { topic: string; partition: number; offset: number; metadata: string | null }[] = [];
      for (const t of g.topics) {
        for (const p of t.partitions) {
          if (p.errorCode === 0 && p.committedOffset >= 0n) {
            out.push({
              topic: t.name,
              partition: p.partitionIndex,
              offset: Number(p.committedOffset),
              metadata: p.metadata,
            });
          }
        }
      }
      return out;
    });
    const ends = await this.listOffsets(
      committed.map((c) => ({ topic: c.topic, partition: c.partition, spec: 'latest' })),
    );
    return committed
      .map((c) => {
        const end = ends.find((e) => e.topic === c.topic && e.partition === c.partition)?.offset ?? -1;
        return { ...c, endOffset: end, lag: end < 0 ? -1 : Math.max(0, end - c.offset) };
      })
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  async deleteGroups(groupIds: string[]): Promise<void> {
    for (const groupId of groupIds) {
      await this.cluster.withRetries(async () => {
        const node = await this.coordinator(groupId);
        const res = await this.cluster.request(node, ApiKey.DeleteGroups, { groupsNames: [groupId] });
        const r = res.results[0]!;
        if (r.errorCode !== 0) throw new KafkaProtocolError(r.errorCode, `delete group ${groupId}`);
      });
    }
  }

  /** Sets a group's committed offsets (the group must have no active members). */
  async alterGroupOffsets(
    groupId: string,
    offsets: { topic: string; partition: number; offset: number }[],
  ): Promise<void> {
    await this.cluster.withRetries(async () => {
      const node = await this.coordinator(groupId);
      const res = await this.cluster.request(node, ApiKey.OffsetCommit, {
        groupId,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1n,
        topics: offsetCommitTopics(offsets),
      });
      for (const t of res.topics) {
        for (const p of t.partitions) {
          if (p.errorCode !== 0)
            throw new KafkaProtocolError(p.errorCode, `commit ${groupId} ${t.name}-${p.partitionIndex}`);
        }
      }
    });
  }

  /** Resets a group's offsets for topics (all partitions) to earliest, latest, a time or an offset. */
  async resetGroupOffsets(
    groupId: string,
    topics: string[],
    to: OffsetSpec,
  ): Promise<{ topic: string; partition: number; offset: number }[]> {
    const described = await this.describeTopics(topics);
    const tps = described.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
    const offsets =
      typeof to === 'object' && 'offset' in to
        ? tps.map((tp) => ({ ...tp, offset: to.offset }))
        : (await this.listOffsets(tps.map((tp) => ({ ...tp, spec: to })))).map((o) => ({
            topic: o.topic,
            partition: o.partition,
            offset: o.offset,
          }));
    await this.alterGroupOffsets(groupId, offsets);
    return offsets;
  }

  /** Offsets by spec, per partition (ListOffsets to each leader). */
  async listOffsets(
    query: { topic: string; partition: number; spec: OffsetSpec }[],
  ): Promise<{ topic: string; partition: number; offset: number; timestamp: number }[]> {
    if (query.length === 0) return [];
    await this.cluster.ensureMetadata(query.map((q) => q.topic));
    return this.cluster.withRetries(async () => {
      const byNode = groupByLeader(this.cluster, query);
      const out: { topic: string; partition: number; offset: number; timestamp: number }[] = [];
      await Promise.all(
        [...byNode].map(async ([node, qs]) => {
          const res = await this.cluster.request(node, ApiKey.ListOffsets, {
            replicaId: -1,
            isolationLevel: 0,
            topics: byTopic(qs, (q) => ({
              partitionIndex: q.partition,
              currentLeaderEpoch: -1,
              timestamp: specTimestamp(q.spec),
              maxNumOffsets: 1,
            })),
            timeoutMs: this.cluster.requestTimeoutMs,
          });
          for (const t of res.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== 0) {
                if (isStaleMetadataError(p.errorCode)) this.cluster.requestUpdate();
                throw new KafkaProtocolError(p.errorCode, `ListOffsets ${t.name}-${p.partitionIndex}`);
              }
              out.push({
                topic: t.name,
                partition: p.partitionIndex,
                offset: Number(p.offset),
                timestamp: Number(p.timestamp),
              });
            }
          }
        }),
      );
      return out;
    });
  }

  // ---- cluster and records ------------------------------------------------------------

  async describeCluster(): Promise<{
    clusterId: string | null;
    controller: number;
    brokers: { nodeId: number; host: string; port: number; rack: string | null }[];
  }> {
    await this.cluster.ensureMetadata();
    const conn = await this.cluster.anyConnection();
    if (conn.versionFor(ApiKey.DescribeCluster) >= 0) {
      return this.cluster.withRetries(async () => {
        const res = await conn.request(ApiKey.DescribeCluster, {
          includeClusterAuthorizedOperations: false,
          endpointType: 1,
        });
        if (res.errorCode !== 0) throw new KafkaProtocolError(res.errorCode, 'DescribeCluster', res.errorMessage);
        return {
          clusterId: res.clusterId,
          controller: res.controllerId,
          brokers: res.brokers.map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack })),
        };
      });
    }
    return {
      clusterId: this.cluster.clusterId,
      controller: this.cluster.controllerId,
      brokers: [...this.cluster.brokers.values()],
    };
  }

  /** Deletes records before the offsets (-1 = the high watermark); returns the new low watermarks. */
  async deleteRecords(
    offsets: { topic: string; partition: number; offset: number }[],
  ): Promise<{ topic: string; partition: number; lowWatermark: number }[]> {
    await this.cluster.ensureMetadata(offsets.map((o) => o.topic));
    return this.cluster.withRetries(async () => {
      const out: { topic: string; partition: number; lowWatermark: number }[] = [];
      await Promise.all(
        [...groupByLeader(this.cluster, offsets)].map(async ([node, qs]) => {
          const res = await this.cluster.request(node, ApiKey.DeleteRecords, {
            topics: byTopic(qs, (q) => ({ partitionIndex: q.partition, offset: BigInt(q.offset) })),
            timeoutMs: 30000,
          });
          for (const t of res.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== 0) {
                if (isStaleMetadataError(p.errorCode)) this.cluster.requestUpdate();
                throw new KafkaProtocolError(p.errorCode, `DeleteRecords ${t.name}-${p.partitionIndex}`);
              }
              out.push({ topic: t.name, partition: p.partitionIndex, lowWatermark: Number(p.lowWatermark) });
            }
          }
        }),
      );
      return out;
    });
  }
}

function specTimestamp(spec: OffsetSpec): bigint {
  if (spec === 'earliest') return -2n;
  if (spec === 'latest') return -1n;
  if ('timestamp' in spec) return BigInt(spec.timestamp);
  throw new RangeError('an offset spec of { offset } needs no lookup');
}

function groupByLeader<T extends { topic: string; partition: number }>(cluster: Cluster, items: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const q of items) {
    const leader = cluster.leaderFor(q.topic, q.partition);
    if (leader < 0) {
      cluster.requestUpdate();
      throw new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `${q.topic}-${q.partition}`);
    }
    let l = out.get(leader);
    if (l === undefined) {
      l = [];
      out.set(leader, l);
    }
    l.push(q);
  }
  return out;
}

function byTopic<T extends { topic: string }, P>(items: T[], f: (item: T) => P): { name: string; partitions: P[] }[] {
  const m = new Map<string, P[]>();
  for (const it of items) {
    let l = m.get(it.topic);
    if (l === undefined) {
      l = [];
      m.set(it.topic, l);
    }
    l.push(f(it));
  }
  return [...m].map(([name, partitions]) => ({ name, partitions }));
}
