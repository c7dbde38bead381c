/**
 * ControllerApi: what brokers (handlers, the group coordinator, producer ids, the broker
 * lifecycle) call on the metadata controller, wherever it runs.
 *
 * QuorumController implements it in-process. RemoteControllerApi sends the same
 * operations as Kafka requests (CreateTopics, AllocateProducerIds, BrokerRegistration...)
 * to the active controller's controller listener: it finds the active controller from the
 * Raft leader this node knows and the controller.quorum.voters endpoints, and follows
 * NOT_CONTROLLER (and lost connections) to the next leader until the operation's timeout.
 * RoutingControllerApi picks the local controller while it is active, else the remote one.
 */
import { BrokerConnection } from '../client/connection.ts';
import type { Clock } from '../env/clock.ts';
import type {
  ApiError,
  ConfigResourceChange,
  ConfigResourceResult,
  CreatePartitionsSpec,
  CreateTopicResult,
  CreateTopicSpec,
  DeleteTopicResult,
  ProducerIdBlock,
  QuorumController,
} from '../metadata/controller.ts';
import type { MetadataImage } from '../metadata/image.ts';
import { NotControllerError } from '../metadata/metadata-log.ts';
import type { RequestBody, ResponseBody } from '../protocol/frame.ts';
import type { AlterPartitionReassignmentsRequest } from '../protocol/generated/alter-partition-reassignments-request.ts';
import type { AlterPartitionReassignmentsResponse } from '../protocol/generated/alter-partition-reassignments-response.ts';
import type { AlterPartitionRequest } from '../protocol/generated/alter-partition-request.ts';
import type { AlterPartitionResponse } from '../protocol/generated/alter-partition-response.ts';
import { ApiKey } from '../protocol/generated/api-keys.ts';
import type { BrokerHeartbeatRequest } from '../protocol/generated/broker-heartbeat-request.ts';
import type { BrokerHeartbeatResponse } from '../protocol/generated/broker-heartbeat-response.ts';
import type { BrokerRegistrationRequest } from '../protocol/generated/broker-registration-request.ts';
import type { BrokerRegistrationResponse } from '../protocol/generated/broker-registration-response.ts';
import type { ElectLeadersRequest } from '../protocol/generated/elect-leaders-request.ts';
import type { ElectLeadersResponse } from '../protocol/generated/elect-leaders-response.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { ListPartitionReassignmentsRequest } from '../protocol/generated/list-partition-reassignments-request.ts';
import type { ListPartitionReassignmentsResponse } from '../protocol/generated/list-partition-reassignments-response.ts';
import type { VoterEndpoint } from '../raft/config.ts';
import type { LeaderAndEpoch } from '../raft/types.ts';

/** The config source of a topic's explicit settings in CreateTopics responses (DYNAMIC_TOPIC_CONFIG). */
const TOPIC_CONFIG_SOURCE = 1;

export interface ControllerApi {
  createTopics(specs: readonly CreateTopicSpec[], validateOnly: boolean): Promise<CreateTopicResult[]>;
  deleteTopics(
    targets: readonly ({ name: string; topicId?: undefined } | { name?: undefined; topicId: string })[],
  ): Promise<DeleteTopicResult[]>;
  createPartitions(
    specs: readonly CreatePartitionsSpec[],
    validateOnly: boolean,
  ): Promise<(ApiError & { name: string })[]>;
  incrementalAlterConfigs(
    changes: readonly ConfigResourceChange[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]>;
  alterConfigs(
    changes: readonly {
      resourceType: number;
      resourceName: string;
      configs: { name: string; value: string | null }[];
    }[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]>;
  allocateProducerIds(brokerId: number): Promise<ProducerIdBlock>;
  brokerRegistration(request: BrokerRegistrationRequest): Promise<BrokerRegistrationResponse>;
  brokerHeartbeat(request: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse>;
  /** AlterPartition at the newest version (3: topic ids, ISR with broker epochs). */
  alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse>;
  electLeaders(request: ElectLeadersRequest): Promise<ElectLeadersResponse>;
  alterPartitionReassignments(
    request: AlterPartitionReassignmentsRequest,
  ): Promise<AlterPartitionReassignmentsResponse>;
  listPartitionReassignments(request: ListPartitionReassignmentsRequest): Promise<ListPartitionReassignmentsResponse>;
}

/** The version of AlterPartition brokers send (topic ids and broker epochs). */
export const ALTER_PARTITION_VERSION = 3;

export interface RemoteControllerOptions {
  nodeId: number;
  voters: readonly VoterEndpoint[];
  /** The Raft leader this node knows of (-1: none yet). */
  leader: () => LeaderAndEpoch;
  clock: Clock;
  /** How long one operation keeps trying (request.timeout.ms of controller requests). */
  timeoutMs: number;
  /** Pause between attempts when no controller answers. */
  retryBackoffMs?: number;
  /** Rewrites a voter's address (tests route through a fault-injecting proxy). */
  route?: (voter: VoterEndpoint) => { host: string; port: number };
  /** The broker epoch (AllocateProducerIds carries it). */
  brokerEpoch?: () => bigint;
}

/** Sends controller operations over the controller listener to the active controller. */
export class RemoteControllerApi implements ControllerApi {
  private readonly conns = new Map<number, BrokerConnection>();
  private closed = false;
  /** Where the last NOT_CONTROLLER or broken connection sent us away from. */
  private avoid = -1;

  constructor(private readonly options: RemoteControllerOptions) {}

  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  async createTopics(specs: readonly CreateTopicSpec[], validateOnly: boolean): Promise<CreateTopicResult[]> {
    const res = await this.send(
      ApiKey.CreateTopics,
      {
        topics: specs.map((s) => ({
          name: s.name,
          numPartitions: s.numPartitions,
          replicationFactor: s.replicationFactor,
          assignments: s.assignments.map((a) => ({ partitionIndex: a.partitionIndex, brokerIds: [...a.brokerIds] })),
          configs: s.configs.map((c) => ({ name: c.name, value: c.value })),
        })),
        timeoutMs: this.options.timeoutMs,
        validateOnly,
      },
      (r) => r.topics.map((t) => t.errorCode),
    );
    return res.topics.map((t) => ({
      name: t.name,
      topicId: t.topicId,
      errorCode: t.errorCode,
      errorMessage: t.errorMessage,
      numPartitions: t.numPartitions,
      replicationFactor: t.replicationFactor,
      configs: new Map(
        (t.configs ?? [])
          .filter((c) => c.configSource === TOPIC_CONFIG_SOURCE && c.value !== null)
          .map((c) => [c.name, c.value!]),
      ),
    }));
  }

  async deleteTopics(
    targets: readonly ({ name: string; topicId?: undefined } | { name?: undefined; topicId: string })[],
  ): Promise<DeleteTopicResult[]> {
    const res = await this.send(
      ApiKey.DeleteTopics,
      {
        topics: targets.map((t) => ({
          name: t.name ?? null,
          topicId: t.topicId ?? 'AAAAAAAAAAAAAAAAAAAAAA',
        })),
        topicNames: [],
        timeoutMs: this.options.timeoutMs,
      },
      (r) => r.responses.map((t) => t.errorCode),
    );
    return res.responses.map((t) => ({
      name: t.name,
      topicId: t.topicId,
      errorCode: t.errorCode,
      errorMessage: t.errorMessage,
    }));
  }

  async createPartitions(
    specs: readonly CreatePartitionsSpec[],
    validateOnly: boolean,
  ): Promise<(ApiError & { name: string })[]> {
    const res = await this.send(
      ApiKey.CreatePartitions,
      {
        topics: specs.map((s) => ({
          name: s.name,
          count: s.count,
          assignments:
            s.assignments === null ? null : s.assignments.map((brokerIds) => ({ brokerIds: [...brokerIds] })),
        })),
        timeoutMs: this.options.timeoutMs,
        validateOnly,
      },
      (r) => r.results.map((t) => t.errorCode),
    );
    return res.results.map((t) => ({ name: t.name, errorCode: t.errorCode, errorMessage: t.errorMessage }));
  }

  async incrementalAlterConfigs(
    changes: readonly ConfigResourceChange[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]> {
    const res = await this.send(
      ApiKey.IncrementalAlterConfigs,
      {
        resources: changes.map((c) => ({
          resourceType: c.resourceType,
          resourceName: c.resourceName,
          configs: c.configs.map((e) => ({ name: e.name, configOperation: e.op, value: e.value })),
        })),
        validateOnly,
      },
      (r) => r.responses.map((t) => t.errorCode),
    );
    return res.responses.map((t) => ({ ...t }));
  }

  async alterConfigs(
    changes: readonly {
      resourceType: number;
      resourceName: string;
      configs: { name: string; value: string | null }[];
    }[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]> {
    const res = await this.send(
      ApiKey.AlterConfigs,
      {
        resources: changes.map((c) => ({
          resourceType: c.resourceType,
          resourceName: c.resourceName,
          configs: c.configs.map((e) => ({ name: e.name, value: e.value })),
        })),
        validateOnly,
      },
      (r) => r.responses.map((t) => t.errorCode),
    );
    return res.responses.map((t) => ({ ...t }));
  }

  async allocateProducerIds(brokerId: number): Promise<ProducerIdBlock> {
    const res = await this.send(
      ApiKey.AllocateProducerIds,
      { brokerId, brokerEpoch: this.options.brokerEpoch?.() ?? -1n },
      (r) => [r.errorCode],
    );
    if (res.errorCode !== ErrorCode.NONE) {
      throw new NotControllerError(`AllocateProducerIds failed with error ${res.errorCode}`);
    }
    return { brokerId, firstProducerId: Number(res.producerIdStart), size: res.producerIdLen };
  }

  brokerRegistration(request: BrokerRegistrationRequest): Promise<BrokerRegistrationResponse> {
    return this.send(ApiKey.BrokerRegistration, request, (r) => [r.errorCode]);
  }

  brokerHeartbeat(request: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
    return this.send(ApiKey.BrokerHeartbeat, request, (r) => [r.errorCode]);
  }

  alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse> {
    return this.send(ApiKey.AlterPartition, request, (r) => [r.errorCode], ALTER_PARTITION_VERSION);
  }

  electLeaders(request: ElectLeadersRequest): Promise<ElectLeadersResponse> {
    return this.send(ApiKey.ElectLeaders, request, (r) => [r.errorCode]);
  }

  alterPartitionReassignments(
    request: AlterPartitionReassignmentsRequest,
  ): Promise<AlterPartitionReassignmentsResponse> {
    return this.send(ApiKey.AlterPartitionReassignments, request, (r) => [r.errorCode]);
  }

  listPartitionReassignments(request: ListPartitionReassignmentsRequest): Promise<ListPartitionReassignmentsResponse> {
    return this.send(ApiKey.ListPartitionReassignments, request, (r) => [r.errorCode]);
  }

  /** Any request to the active controller (DescribeQuorum and the like). */
  forward<K extends number>(apiKey: K, body: RequestBody<K>): Promise<ResponseBody<K>> {
    return this.send(apiKey, body, () => []);
  }

  /**
   * Sends to the active controller; answers carrying NOT_CONTROLLER, and failed
   * connections, try again (another voter, or the same after the leader changed) until the
   * timeout, then throw NotControllerError.
   */
  private async send<K extends number>(
    apiKey: K,
    body: RequestBody<K>,
    errors: (response: ResponseBody<K>) => number[],
    version?: number,
  ): Promise<ResponseBody<K>> {
    const { clock, timeoutMs } = this.options;
    const deadline = clock.monotonicMs() + timeoutMs;
    let attempt = 0;
    for (;;) {
      if (this.closed) throw new NotControllerError('controller client closed');
      const target = this.target(attempt++);
      if (target !== undefined) {
        try {
          const conn = await this.connection(target);
          const left = Math.max(1, deadline - clock.monotonicMs());
          const res = await conn.request(apiKey, body, {
            timeoutMs: left,
            ...(version !== undefined ? { version } : {}),
          });
          if (!errors(res).includes(ErrorCode.NOT_CONTROLLER)) {
            this.avoid = -1;
            return res;
          }
          this.avoid = target.id;
        } catch (err) {
          if (!(err instanceof Error)) throw err;
          this.avoid = target.id;
          this.conns.get(target.id)?.close();
          this.conns.delete(target.id);
        }
      }
      const now = clock.monotonicMs();
      if (now >= deadline) throw new NotControllerError(`no active controller answered within ${timeoutMs} ms`);
      const pause = Math.min(this.options.retryBackoffMs ?? 50, deadline - now);
      await new Promise<void>((resolve) => clock.schedule(pause, resolve));
    }
  }

  /** The known leader, else the voters in turn (skipping the one that just refused). */
  private target(attempt: number): VoterEndpoint | undefined {
    const voters = this.options.voters;
    const leader = this.options.leader().leaderId;
    const known = voters.find((v) => v.id === leader);
    if (known !== undefined && known.id !== this.avoid) return known;
    const others = voters.filter((v) => v.id !== this.avoid);
    if (others.length === 0) return voters[attempt % voters.length];
    return others[attempt % others.length];
  }

  private async connection(voter: VoterEndpoint): Promise<BrokerConnection> {
    let conn = this.conns.get(voter.id);
    if (conn === undefined || conn.isClosed) {
      const at = this.options.route?.(voter) ?? voter;
      conn = new BrokerConnection({
        host: at.host,
        port: at.port,
        clientId: `runnel-broker-${this.options.nodeId}`,
        requestTimeoutMs: this.options.timeoutMs,
        maxInFlight: 16,
        connectTimeoutMs: Math.min(this.options.timeoutMs, 5000),
        clock: this.options.clock,
        nodeId: voter.id,
      });
      this.conns.set(voter.id, conn);
    }
    await conn.connect();
    return conn;
  }
}

/**
 * Resolves once ready(image) holds for this node's published image (false after a bound).
 * Remote topic changes wait for it, so a client asking this broker next sees its change.
 */
export type AwaitImage = (ready: (image: MetadataImage) => boolean) => Promise<boolean>;

/** The local controller while it is the active one, else the remote path. */
export class RoutingControllerApi implements ControllerApi {
  constructor(
    private readonly local: QuorumController | undefined,
    private readonly remote: RemoteControllerApi | undefined,
    private readonly awaitImage?: AwaitImage,
  ) {}

  private useLocal(): boolean {
    return this.local !== undefined && (this.local.isActive() || this.remote === undefined);
  }

  private pick(): ControllerApi {
    // QuorumController has every method but alterPartition's version argument (handled above).
    if (this.useLocal()) return this.local as unknown as ControllerApi;
    if (this.remote !== undefined) return this.remote;
    throw new NotControllerError();
  }

  async createTopics(specs: readonly CreateTopicSpec[], validateOnly: boolean): Promise<CreateTopicResult[]> {
    const target = this.pick();
    const results = await target.createTopics(specs, validateOnly);
    if (target === this.remote && !validateOnly) {
      const created = results.filter((r) => r.errorCode === ErrorCode.NONE).map((r) => r.topicId);
      await this.awaitImage?.((image) => created.every((id) => image.topicsById.has(id)));
    }
    return results;
  }
  async deleteTopics(
    targets: readonly ({ name: string; topicId?: undefined } | { name?: undefined; topicId: string })[],
  ): Promise<DeleteTopicResult[]> {
    const target = this.pick();
    const results = await target.deleteTopics(targets);
    if (target === this.remote) {
      const deleted = results.filter((r) => r.errorCode === ErrorCode.NONE).map((r) => r.topicId);
      await this.awaitImage?.((image) => deleted.every((id) => !image.topicsById.has(id)));
    }
    return results;
  }
  async createPartitions(
    specs: readonly CreatePartitionsSpec[],
    validateOnly: boolean,
  ): Promise<(ApiError & { name: string })[]> {
    const target = this.pick();
    const results = await target.createPartitions(specs, validateOnly);
    if (target === this.remote && !validateOnly) {
      const grown = specs.filter((s) => results.some((r) => r.name === s.name && r.errorCode === ErrorCode.NONE));
      await this.awaitImage?.((image) =>
        grown.every((s) => (image.topicsByName.get(s.name)?.partitions.size ?? 0) >= s.count),
      );
    }
    return results;
  }
  incrementalAlterConfigs(
    changes: readonly ConfigResourceChange[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]> {
    return this.pick().incrementalAlterConfigs(changes, validateOnly);
  }
  alterConfigs(
    changes: readonly {
      resourceType: number;
      resourceName: string;
      configs: { name: string; value: string | null }[];
    }[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]> {
    return this.pick().alterConfigs(changes, validateOnly);
  }
  allocateProducerIds(brokerId: number): Promise<ProducerIdBlock> {
    return this.pick().allocateProducerIds(brokerId);
  }
  brokerRegistration(request: BrokerRegistrationRequest): Promise<BrokerRegistrationResponse> {
    return this.pick().brokerRegistration(request);
  }
  brokerHeartbeat(request: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
    return this.pick().brokerHeartbeat(request);
  }
  alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse> {
    if (this.useLocal()) return this.local!.alterPartition(request, ALTER_PARTITION_VERSION);
    return this.pick().alterPartition(request);
  }
  electLeaders(request: ElectLeadersRequest): Promise<ElectLeadersResponse> {
    return this.pick().electLeaders(request);
  }
  alterPartitionReassignments(
    request: AlterPartitionReassignmentsRequest,
  ): Promise<AlterPartitionReassignmentsResponse> {
    return this.pick().alterPartitionReassignments(request);
  }
  listPartitionReassignments(request: ListPartitionReassignmentsRequest): Promise<ListPartitionReassignmentsResponse> {
    return this.pick().listPartitionReassignments(request);
  }
}
