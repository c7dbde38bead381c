/**
 * The metadata controller: the single writer of the metadata log.
 *
 * Every change is an operation run on one queue. An operation looks at the current
 * image (synchronously, no await in between) and returns `{ records, response }`; the
 * records are appended to the metadata log as one batch and committed, replayed into a
 * new image, published to the cache (whose listeners, e.g. the replica manager, finish
 * first), and only then does the response resolve. Loading after a restart is the same
 * replay. One node is the whole quorum today; a Raft quorum later changes only what
 * "committed" means inside MetadataLog.
 *
 * Validation follows Kafka's controller: errors are data (a Kafka error code and
 * message per topic or resource), never exceptions.
 */
import type { Clock } from '../env/clock.ts';
import { StorageError } from '../env/disk.ts';
import type { Random } from '../env/random.ts';
import { uuidFromBytes, ZERO_UUID } from '../protocol/codec/uuid.ts';
import type { AlterPartitionReassignmentsRequest } from '../protocol/generated/alter-partition-reassignments-request.ts';
import type { AlterPartitionReassignmentsResponse } from '../protocol/generated/alter-partition-reassignments-response.ts';
import type { AlterPartitionRequest } from '../protocol/generated/alter-partition-request.ts';
import type { AlterPartitionResponse } from '../protocol/generated/alter-partition-response.ts';
import type { BrokerHeartbeatRequest } from '../protocol/generated/broker-heartbeat-request.ts';
import type { BrokerHeartbeatResponse } from '../protocol/generated/broker-heartbeat-response.ts';
import type { BrokerRegistrationRequest } from '../protocol/generated/broker-registration-request.ts';
import type { BrokerRegistrationResponse } from '../protocol/generated/broker-registration-response.ts';
import type { ElectLeadersRequest } from '../protocol/generated/elect-leaders-request.ts';
import type { ElectLeadersResponse } from '../protocol/generated/elect-leaders-response.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { ListPartitionReassignmentsRequest } from '../protocol/generated/list-partition-reassignments-request.ts';
import type { ListPartitionReassignmentsResponse } from '../protocol/generated/list-partition-reassignments-response.ts';
import { MetadataRecordType } from '../protocol/generated/metadata-records.ts';
import type { MetadataPublisher } from './cache.ts';
import { alterPartition } from './control/alter-partition.ts';
import {
  BrokerHeartbeats,
  brokerHeartbeat,
  DEFAULT_BROKER_SESSION_TIMEOUT_MS,
  fenceExpiredBrokers,
  registerBroker,
} from './control/brokers.ts';
import { autoLeaderRebalance, electLeaders } from './control/elect-leaders.ts';
import type { ElectionSettings } from './control/election.ts';
import {
  isPlacementError,
  newPartitionRecord,
  placeReplicas,
  usableBrokers,
  validateAssignment,
} from './control/placement.ts';
import { alterPartitionReassignments, listPartitionReassignments } from './control/reassignment.ts';
import {
  ConfigResourceType,
  configKey,
  type MetadataImage,
  NO_LEADER,
  resourceConfigs,
  sortedPartitions,
  type TopicImage,
} from './image.ts';
import {
  type ControllerLog,
  METADATA_TOPIC,
  MetadataLogFullError,
  type MetadataMessage,
  NotControllerError,
} from './metadata-log.ts';
import { type CommittedRecord, replay } from './replay.ts';

/** A block of producer ids handed to one broker (Kafka's ProducerIdsBlock: 1000 ids). */
export interface ProducerIdBlock {
  readonly brokerId: number;
  readonly firstProducerId: number;
  readonly size: number;
}

/** Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE. */
export const PRODUCER_ID_BLOCK_SIZE = 1000;

/** What the data path and handlers call on the controller. */
export interface MetadataController {
  /** Allocates the next block of producer ids for brokerId (a ProducerIdsRecord). */
  allocateProducerIds(brokerId: number): Promise<ProducerIdBlock>;
}

/** Result of a per-item validation: a Kafka error code and message. */
export interface ApiError {
  errorCode: number;
  errorMessage: string | null;
}

const NONE: ApiError = { errorCode: ErrorCode.NONE, errorMessage: null };

function apiError(errorCode: number, errorMessage: string | null): ApiError {
  return { errorCode, errorMessage };
}

/**
 * What the controller needs to know about configs (the config module answers it):
 * which names exist, whether a value is valid, which are lists (APPEND/SUBTRACT).
 */
export interface ConfigRules {
  /** undefined when valid, else the message (unknown names included); null (a delete) checks the name only. */
  validateTopicConfig(name: string, value: string | null): string | undefined;
  /** Checks a topic's whole explicit config set (settings that contradict each other); optional. */
  validateTopicConfigSet?(explicit: ReadonlyMap<string, string>): string | undefined;
  /** undefined when the broker config may be set dynamically to this value (null: deleted), else the message. */
  validateBrokerConfig(name: string, value: string | null): string | undefined;
  /** True for list-typed configs (APPEND and SUBTRACT are allowed only on those). */
  isList(resourceType: number, name: string): boolean;
}

/** Broker settings the controller uses (from the broker's config). */
export interface ControllerSettings {
  numPartitions: number;
  defaultReplicationFactor: number;
  deleteTopicEnable: boolean;
  /** unclean.leader.election.enable (static broker config; topics and dynamic configs override it). */
  uncleanLeaderElectionEnable?: boolean;
  /** auto.leader.rebalance.enable and leader.imbalance.* (the active controller's timer). */
  autoLeaderRebalance?: { enable: boolean; checkIntervalMs: number; imbalancePerBrokerPercentage: number };
}

export interface ControllerOptions {
  nodeId: number;
  /** broker.session.timeout.ms: a broker that has not heartbeated for this long is fenced. */
  brokerSessionTimeoutMs?: number;
  /** MetadataLog (one node, no Raft: tests) or RaftMetadataLog (active only on the Raft leader). */
  log: ControllerLog;
  publisher: MetadataPublisher;
  clock: Clock;
  random: Random;
  settings: ControllerSettings;
  rules: ConfigRules;
  /** Bound on operations waiting in the queue; beyond it operations fail with THROTTLING_QUOTA_EXCEEDED. */
  maxQueuedOps?: number;
}

export interface CreateTopicSpec {
  name: string;
  /** -1: num.partitions (or the assignments' count). */
  numPartitions: number;
  /** -1: default.replication.factor (or the assignments' size). */
  replicationFactor: number;
  /** Explicit replica assignments by partition index; empty for none. */
  assignments: { partitionIndex: number; brokerIds: number[] }[];
  configs: { name: string; value: string | null }[];
}

export interface CreateTopicResult extends ApiError {
  name: string;
  topicId: string;
  numPartitions: number;
  replicationFactor: number;
  /** Explicit configs of the created (or validated) topic. */
  configs: Map<string, string>;
}

export interface DeleteTopicResult extends ApiError {
  name: string | null;
  topicId: string;
}

export interface CreatePartitionsSpec {
  name: string;
  count: number;
  /** Replicas of each new partition, or null to let the controller place them. */
  assignments: number[][] | null;
}

export interface ConfigResourceResult extends ApiError {
  resourceType: number;
  resourceName: string;
}

/** IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType ids). */
export const AlterConfigOp = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

export interface ConfigResourceChange {
  resourceType: number;
  resourceName: string;
  configs: { name: string; op: number; value: string | null }[];
}

export interface BrokerRegistration {
  nodeId: number;
  incarnationId: string;
  endpoints: { name: string; host: string; port: number; securityProtocol: number }[];
  rack: string | null;
  logDirs: string[];
}

interface OpResult<T> {
  records: MetadataMessage[];
  response: T;
}

/** The metadata.version this broker writes (3.9-IV0). */
export const METADATA_VERSION_LEVEL = 21;

const MAX_TOPIC_NAME_LENGTH = 249;
const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

/** Kafka's topic name rule; returns the error message or undefined. */
export function validateTopicName(name: string): string | undefined {
  if (name.length === 0) return "Topic name is illegal, it can't be empty";
  if (name === '.' || name === '..') return 'Topic name cannot be "." or ".."';
  if (name.length > MAX_TOPIC_NAME_LENGTH) {
    return `Topic name is illegal, it can't be longer than ${MAX_TOPIC_NAME_LENGTH} characters, topic name: ${name}`;
  }
  if (!LEGAL_TOPIC_NAME.test(name)) {
    return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  }
  return undefined;
}

/** '.' and '_' collide in metric names, so Kafka refuses topics differing only by them. */
export function unifyCollisionChars(name: string): string {
  return name.replaceAll('.', '_');
}

export function isInternalTopic(name: string): boolean {
  return name === '__consumer_offsets' || name === '__transaction_state' || name === '__share_group_state';
}

export class QuorumController implements MetadataController {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private readonly maxQueuedOps: number;
  private closed = false;
  /** Set when an append failed: every later operation is refused. */
  private failed: unknown;
  /**
   * When each broker last heartbeated (monotonic ms). In memory only: a new active
   * controller starts afresh, giving every registered broker a full session.
   */
  private readonly heartbeats = new BrokerHeartbeats();
  /**
   * Brokers this active controller has heard from itself. A registration replacing an
   * incarnation it never heard (it died before this controller took over, or is fenced)
   * does not wait for the grace session activation hands out.
   */
  private heard = new Set<number>();
  private cancelFencing: (() => void) | undefined;
  private cancelRebalance: (() => void) | undefined;

  constructor(private readonly options: ControllerOptions) {
    this.maxQueuedOps = options.maxQueuedOps ?? 10_000;
    // A new active controller finalizes metadata.version when the log has none yet.
    options.log.onActivate?.(() => {
      // In-memory state starts afresh: every registered broker gets a full session.
      this.heartbeats.activate(this.image(), options.clock.monotonicMs());
      this.heard = new Set();
      this.bootstrap().catch(() => {});
      this.armFencing();
      this.armRebalance();
    });
  }

  private electionSettings(): ElectionSettings {
    return {
      uncleanLeaderElectionEnable: this.options.settings.uncleanLeaderElectionEnable ?? false,
      nodeId: this.options.nodeId,
    };
  }

  private sessionTimeoutMs(): number {
    return this.options.brokerSessionTimeoutMs ?? DEFAULT_BROKER_SESSION_TIMEOUT_MS;
  }

  private nextOffset(image: MetadataImage): number {
    return this.options.log.nextOffset?.() ?? image.offset + 1;
  }

  /** Every leader.imbalance.check.interval on the active controller: preferred leaders back. */
  private armRebalance(): void {
    const r = this.options.settings.autoLeaderRebalance;
    if (this.closed || r === undefined || !r.enable) return;
    this.cancelRebalance?.();
    this.cancelRebalance = this.options.clock.schedule(r.checkIntervalMs, () => {
      this.cancelRebalance = undefined;
      if (this.closed || !this.isActive()) return;
      this.run((image) => ({
        records: autoLeaderRebalance(image, { imbalancePerBrokerPercentage: r.imbalancePerBrokerPercentage }).records,
        response: undefined,
      }))
        .catch(() => {})
        .finally(() => this.armRebalance());
    });
  }

  /** Every ~1 s on the active controller: fence brokers whose session expired. */
  private armFencing(): void {
    if (this.closed || this.options.brokerSessionTimeoutMs === undefined) return;
    this.cancelFencing?.();
    this.cancelFencing = this.options.clock.schedule(1000, () => {
      this.cancelFencing = undefined;
      if (this.closed || !this.isActive()) return;
      this.fenceExpired()
        .catch(() => {})
        .finally(() => this.armFencing());
    });
  }

  private fenceExpired(): Promise<void> {
    return this.run((image) => ({
      records: fenceExpiredBrokers(
        image,
        this.heartbeats,
        this.options.clock.monotonicMs(),
        this.sessionTimeoutMs(),
        this.electionSettings(),
      ),
      response: undefined,
    }));
  }

  /** BrokerRegistration (KIP-631): registers a broker fenced, answering its broker epoch. */
  brokerRegistration(request: BrokerRegistrationRequest): Promise<BrokerRegistrationResponse> {
    return this.run((image) => {
      const existing = image.brokers.get(request.brokerId);
      if (existing !== undefined && (existing.fenced || !this.heard.has(request.brokerId))) {
        this.heartbeats.remove(request.brokerId);
      }
      this.heard.add(request.brokerId);
      return registerBroker(image, request, {
        nextOffset: this.nextOffset(image),
        nowMs: this.options.clock.monotonicMs(),
        heartbeats: this.heartbeats,
        sessionTimeoutMs: this.sessionTimeoutMs(),
        settings: this.electionSettings(),
      });
    });
  }

  /** BrokerHeartbeat: Kafka's broker state machine (unfence, fence, controlled shutdown). */
  brokerHeartbeat(request: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
    return this.run((image) => {
      if (image.brokers.get(request.brokerId)?.brokerEpoch === Number(request.brokerEpoch)) {
        this.heard.add(request.brokerId);
      }
      return brokerHeartbeat(
        image,
        request,
        this.heartbeats,
        this.options.clock.monotonicMs(),
        this.electionSettings(),
        this.nextOffset(image),
      );
    });
  }

  /** AlterPartition (KIP-497): a partition leader's ISR change. `version` is the request's. */
  alterPartition(request: AlterPartitionRequest, version: number): Promise<AlterPartitionResponse> {
    return this.run((image) => alterPartition(image, request, version, this.electionSettings()));
  }

  /** ElectLeaders (KIP-460): preferred or unclean elections. */
  electLeaders(request: ElectLeadersRequest): Promise<ElectLeadersResponse> {
    return this.run((image) => electLeaders(image, request));
  }

  alterPartitionReassignments(
    request: AlterPartitionReassignmentsRequest,
  ): Promise<AlterPartitionReassignmentsResponse> {
    return this.run((image) => alterPartitionReassignments(image, request, this.electionSettings()));
  }

  listPartitionReassignments(request: ListPartitionReassignmentsRequest): Promise<ListPartitionReassignmentsResponse> {
    return this.run((image) => ({ records: [], response: listPartitionReassignments(image, request) }));
  }

  /** True when this node may run operations now (always with a local MetadataLog). */
  isActive(): boolean {
    const log = this.options.log;
    return log.activeEpoch === undefined || log.activeEpoch() !== undefined;
  }

  image(): MetadataImage {
    return this.options.publisher.image();
  }

  /** Replays the whole metadata log into the publisher's image (start-up); returns the image. */
  async load(): Promise<MetadataImage> {
    // Over Raft every node replays committed batches as they are delivered.
    if (this.options.log.replaysCommits) return this.image();
    const records = (await this.options.log.readFrom?.(0)) ?? [];
    const { image, delta } = replay(this.image(), records);
    await this.options.publisher.publish(image, delta);
    return image;
  }

  /** Stops taking operations and waits for the queued ones. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelFencing?.();
    this.cancelRebalance?.();
    await this.tail.catch(() => {});
  }

  /**
   * Runs one operation on the queue: validate against the current image, append its
   * records, replay, publish, then resolve with its response.
   */
  run<T>(op: (image: MetadataImage) => OpResult<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ControllerClosedError());
    if (this.queued >= this.maxQueuedOps) return Promise.reject(new ControllerOverloadedError());
    this.queued++;
    const result = this.tail.then(async () => {
      try {
        if (this.failed !== undefined) throw new ControllerClosedError();
        if (!this.isActive()) throw new NotControllerError();
        const { records, response } = op(this.image());
        if (records.length > 0 && this.options.log.replaysCommits) {
          // Resolves once committed, replayed and published (on every node alike).
          await this.options.log.append(records);
        } else if (records.length > 0) {
          let committed: CommittedRecord[];
          try {
            committed = await this.options.log.append(records);
          } catch (err) {
            // The batch may or may not be on disk: the image can no longer be trusted to match
            // the log, so this controller stops (Kafka's controller resigns); a restart replays.
            this.failed = err;
            throw err;
          }
          const { image, delta } = replay(this.image(), committed);
          await this.options.publisher.publish(image, delta);
        }
        return response;
      } finally {
        this.queued--;
      }
    });
    this.tail = result.catch(() => {});
    return result;
  }

  // ---- bootstrap and brokers ------------------------------------------------------------

  /** First start: writes the finalized metadata.version (once, when the log is empty). */
  bootstrap(): Promise<void> {
    return this.run((image) => ({
      records: image.features.has('metadata.version')
        ? []
        : [
            {
              typeId: MetadataRecordType.FeatureLevelRecord,
              version: 0,
              record: { name: 'metadata.version', featureLevel: METADATA_VERSION_LEVEL },
            },
          ],
      response: undefined,
    }));
  }

  /** Registers (or re-registers) a broker: a RegisterBrokerRecord, unfenced at once (single node). */
  registerBroker(reg: BrokerRegistration): Promise<number> {
    return this.run((image) => {
      // Kafka uses the offset of the registration record as the broker epoch.
      const brokerEpoch = this.nextOffset(image);
      this.heartbeats.touch(reg.nodeId, this.options.clock.monotonicMs());
      return {
        records: [
          {
            typeId: MetadataRecordType.RegisterBrokerRecord,
            version: 3,
            record: {
              brokerId: reg.nodeId,
              isMigratingZkBroker: false,
              incarnationId: reg.incarnationId,
              brokerEpoch: BigInt(brokerEpoch),
              endPoints: reg.endpoints,
              features: [
                { name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: METADATA_VERSION_LEVEL },
              ],
              rack: reg.rack,
              fenced: false,
              inControlledShutdown: false,
              logDirs: reg.logDirs,
            },
          },
          ...this.leaderlessTo(image, reg.nodeId),
        ],
        response: brokerEpoch,
      };
    });
  }

  /** Partitions whose replicas include nodeId but that have no live leader get nodeId as leader again. */
  private leaderlessTo(image: MetadataImage, nodeId: number): MetadataMessage[] {
    const records: MetadataMessage[] = [];
    for (const topic of image.topicsById.values()) {
      for (const p of sortedPartitions(topic)) {
        if (p.leader !== NO_LEADER || !p.replicas.includes(nodeId)) continue;
        records.push(partitionChange(topic.topicId, p.partitionId, { leader: nodeId, isr: [nodeId] }));
      }
    }
    return records;
  }

  // ---- producer ids -----------------------------------------------------------------------

  allocateProducerIds(brokerId: number): Promise<ProducerIdBlock> {
    return this.run((image) => {
      const first = image.producerIds.nextProducerId;
      const broker = image.brokers.get(brokerId);
      return {
        records: [
          {
            typeId: MetadataRecordType.ProducerIdsRecord,
            version: 0,
            record: {
              brokerId,
              brokerEpoch: BigInt(broker?.brokerEpoch ?? -1),
              nextProducerId: BigInt(first + PRODUCER_ID_BLOCK_SIZE),
            },
          },
        ],
        response: { brokerId, firstProducerId: first, size: PRODUCER_ID_BLOCK_SIZE },
      };
    });
  }

  // ---- topics ------------------------------------------------------------------------------

  createTopics(specs: readonly CreateTopicSpec[], validateOnly: boolean): Promise<CreateTopicResult[]> {
    return this.run((image) => {
      const records: MetadataMessage[] = [];
      const results: CreateTopicResult[] = [];
      const counts = new Map<string, number>();
      for (const s of specs) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
      // Names created earlier in this same request also collide with later ones.
      const unified = new Map<string, string>();
      for (const name of image.topicsByName.keys()) unified.set(unifyCollisionChars(name), name);
      for (const spec of specs) {
        const base: CreateTopicResult = {
          ...NONE,
          name: spec.name,
          topicId: ZERO_UUID,
          numPartitions: -1,
          replicationFactor: -1,
          configs: new Map(),
        };
        if ((counts.get(spec.name) ?? 0) > 1) {
          results.push({ ...base, ...apiError(ErrorCode.INVALID_REQUEST, 'Duplicate topic name.') });
          continue;
        }
        const planned = this.planTopic(image, spec, unified);
        if ('errorCode' in planned) {
          results.push({ ...base, ...planned });
          continue;
        }
        unified.set(unifyCollisionChars(spec.name), spec.name);
        const topicId = validateOnly ? ZERO_UUID : this.newTopicId(image);
        results.push({
          ...base,
          topicId,
          numPartitions: planned.replicas.length,
          replicationFactor: planned.replicas[0]?.length ?? 0,
          configs: planned.configs,
        });
        if (validateOnly) continue;
        records.push({ typeId: MetadataRecordType.TopicRecord, version: 0, record: { name: spec.name, topicId } });
        for (const [name, value] of planned.configs) {
          records.push(configRecord(ConfigResourceType.TOPIC, spec.name, name, value));
        }
        // Checked by planTopic with the zero uuid: the same replicas cannot fail now.
        const partitions = newPartitions(image, topicId, 0, planned.replicas);
        if (Array.isArray(partitions)) records.push(...partitions);
      }
      return { records, response: results };
    });
  }

  private planTopic(
    image: MetadataImage,
    spec: CreateTopicSpec,
    unified: Map<string, string>,
  ): { replicas: number[][]; configs: Map<string, string> } | ApiError {
    const nameError = validateTopicName(spec.name);
    if (nameError !== undefined) return apiError(ErrorCode.INVALID_TOPIC_EXCEPTION, nameError);
    if (spec.name === METADATA_TOPIC) {
      return apiError(ErrorCode.INVALID_REQUEST, `Creation of internal topic ${METADATA_TOPIC} is prohibited.`);
    }
    if (image.topicsByName.has(spec.name)) {
      return apiError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${spec.name}' already exists.`);
    }
    const collision = unified.get(unifyCollisionChars(spec.name));
    if (collision !== undefined) {
      return apiError(
        ErrorCode.INVALID_TOPIC_EXCEPTION,
        `Topic '${spec.name}' collides with existing topic: ${collision}`,
      );
    }
    const configs = new Map<string, string>();
    for (const c of spec.configs) {
      if (c.value === null) {
        return apiError(ErrorCode.INVALID_CONFIG, `Null value not supported for topic configs: ${c.name}`);
      }
      if (configs.has(c.name)) return apiError(ErrorCode.INVALID_CONFIG, `Duplicate config key: ${c.name}`);
      const message = this.options.rules.validateTopicConfig(c.name, c.value);
      if (message !== undefined) return apiError(ErrorCode.INVALID_CONFIG, message);
      configs.set(c.name, c.value);
    }
    const setError = this.options.rules.validateTopicConfigSet?.(configs);
    if (setError !== undefined) return apiError(ErrorCode.INVALID_CONFIG, setError);
    let replicas: number[][];
    if (spec.assignments.length > 0) {
      if (spec.numPartitions !== -1 || spec.replicationFactor !== -1) {
        return apiError(
          ErrorCode.INVALID_REQUEST,
          'A manual partition assignment was specified, but numPartitions or replicationFactor was not set to -1.',
        );
      }
      const sorted = [...spec.assignments].sort((a, b) => a.partitionIndex - b.partitionIndex);
      replicas = [];
      for (let i = 0; i < sorted.length; i++) {
        const a = sorted[i]!;
        if (a.partitionIndex !== i) {
          return apiError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            'Partitions should be a consecutive 0-based integer sequence',
          );
        }
        const error = validateAssignment(image, a.brokerIds, sorted[0]!.brokerIds.length);
        if (error !== undefined) return apiError(error.errorCode, error.errorMessage);
        replicas.push([...a.brokerIds]);
      }
    } else {
      const numPartitions = spec.numPartitions === -1 ? this.options.settings.numPartitions : spec.numPartitions;
      const rf =
        spec.replicationFactor === -1 ? this.options.settings.defaultReplicationFactor : spec.replicationFactor;
      if (numPartitions <= 0) {
        return apiError(ErrorCode.INVALID_PARTITIONS, 'Number of partitions was set to an invalid non-positive value.');
      }
      if (rf <= 0) {
        return apiError(
          ErrorCode.INVALID_REPLICATION_FACTOR,
          'Replication factor must be larger than 0, or -1 to use the default value.',
        );
      }
      const placed = placeReplicas(usableBrokers(image), { numPartitions, replicationFactor: rf }, this.options.random);
      if (isPlacementError(placed)) return apiError(placed.errorCode, placed.errorMessage);
      replicas = placed;
    }
    // Refuses partitions none of whose replicas can lead (the topic id comes later).
    const partitions = newPartitions(image, ZERO_UUID, 0, replicas);
    if (!Array.isArray(partitions)) return partitions;
    return { replicas, configs };
  }

  private newTopicId(image: MetadataImage): string {
    for (;;) {
      const id = uuidFromBytes(this.options.random.bytes(16));
      // Kafka never hands out the zero uuid nor ids starting with '-' (they confuse command lines).
      if (id !== ZERO_UUID && !id.startsWith('-') && !image.topicsById.has(id)) return id;
    }
  }

  deleteTopics(
    targets: readonly ({ name: string; topicId?: undefined } | { name?: undefined; topicId: string })[],
  ): Promise<DeleteTopicResult[]> {
    return this.run((image) => {
      const records: MetadataMessage[] = [];
      const results: DeleteTopicResult[] = [];
      const deleted = new Set<string>();
      for (const target of targets) {
        const topic =
          target.name !== undefined ? image.topicsByName.get(target.name) : image.topicsById.get(target.topicId);
        if (topic === undefined) {
          results.push(
            target.name !== undefined
              ? {
                  name: target.name,
                  topicId: ZERO_UUID,
                  ...apiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'This server does not host this topic-partition.'),
                }
              : {
                  name: null,
                  topicId: target.topicId,
                  ...apiError(ErrorCode.UNKNOWN_TOPIC_ID, 'This server does not host this topic ID.'),
                },
          );
          continue;
        }
        if (!this.options.settings.deleteTopicEnable) {
          results.push({
            name: topic.name,
            topicId: topic.topicId,
            ...apiError(ErrorCode.TOPIC_DELETION_DISABLED, 'Topic deletion is disabled.'),
          });
          continue;
        }
        results.push({ name: topic.name, topicId: topic.topicId, ...NONE });
        if (deleted.has(topic.topicId)) continue;
        deleted.add(topic.topicId);
        records.push({ typeId: MetadataRecordType.RemoveTopicRecord, version: 0, record: { topicId: topic.topicId } });
      }
      return { records, response: results };
    });
  }

  createPartitions(
    specs: readonly CreatePartitionsSpec[],
    validateOnly: boolean,
  ): Promise<(ApiError & { name: string })[]> {
    return this.run((image) => {
      const records: MetadataMessage[] = [];
      const results: (ApiError & { name: string })[] = [];
      const counts = new Map<string, number>();
      for (const s of specs) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
      for (const spec of specs) {
        if ((counts.get(spec.name) ?? 0) > 1) {
          results.push({ name: spec.name, ...apiError(ErrorCode.INVALID_REQUEST, 'Duplicate topic name.') });
          continue;
        }
        const topic = image.topicsByName.get(spec.name);
        if (topic === undefined) {
          results.push({
            name: spec.name,
            ...apiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'This server does not host this topic-partition.'),
          });
          continue;
        }
        const planned = this.planPartitions(image, topic, spec);
        if (!Array.isArray(planned)) {
          results.push({ name: spec.name, ...planned });
          continue;
        }
        results.push({ name: spec.name, ...NONE });
        if (validateOnly) continue;
        records.push(...planned);
      }
      return { records, response: results };
    });
  }

  private planPartitions(
    image: MetadataImage,
    topic: TopicImage,
    spec: CreatePartitionsSpec,
  ): MetadataMessage[] | ApiError {
    const current = topic.partitions.size;
    if (spec.count < current) {
      return apiError(
        ErrorCode.INVALID_PARTITIONS,
        `The topic ${topic.name} currently has ${current} partition(s); ${spec.count} would not be an increase.`,
      );
    }
    if (spec.count === current) {
      return apiError(ErrorCode.INVALID_PARTITIONS, `Topic already has ${current} partition(s).`);
    }
    const additional = spec.count - current;
    const rf = sortedPartitions(topic)[0]?.replicas.length ?? 1;
    if (spec.assignments !== null) {
      if (spec.assignments.length !== additional) {
        return apiError(
          ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          `Attempted to add ${additional} additional partition(s), but only ${spec.assignments.length} assignment(s) were specified.`,
        );
      }
      for (let i = 0; i < spec.assignments.length; i++) {
        const error = validateAssignment(image, spec.assignments[i]!, rf);
        if (error !== undefined) return apiError(error.errorCode, error.errorMessage);
      }
      return newPartitions(
        image,
        topic.topicId,
        current,
        spec.assignments.map((a) => [...a]),
      );
    }
    const placed = placeReplicas(
      usableBrokers(image),
      { numPartitions: additional, replicationFactor: rf },
      this.options.random,
    );
    if (isPlacementError(placed)) return apiError(placed.errorCode, placed.errorMessage);
    return newPartitions(image, topic.topicId, current, placed);
  }

  // ---- configs -----------------------------------------------------------------------------

  /** IncrementalAlterConfigs: SET, DELETE, APPEND, SUBTRACT per config. */
  incrementalAlterConfigs(
    changes: readonly ConfigResourceChange[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]> {
    return this.run((image) => this.alter(image, changes, validateOnly, false));
  }

  /** AlterConfigs (legacy): the given configs replace every explicit config of the resource. */
  alterConfigs(
    changes: readonly {
      resourceType: number;
      resourceName: string;
      configs: { name: string; value: string | null }[];
    }[],
    validateOnly: boolean,
  ): Promise<ConfigResourceResult[]> {
    return this.run((image) =>
      this.alter(
        image,
        changes.map((c) => ({
          resourceType: c.resourceType,
          resourceName: c.resourceName,
          configs: c.configs.map((e) => ({ name: e.name, op: AlterConfigOp.SET, value: e.value })),
        })),
        validateOnly,
        true,
      ),
    );
  }

  private alter(
    image: MetadataImage,
    changes: readonly ConfigResourceChange[],
    validateOnly: boolean,
    replaceAll: boolean,
  ): OpResult<ConfigResourceResult[]> {
    const records: MetadataMessage[] = [];
    const results: ConfigResourceResult[] = [];
    const seen = new Map<string, number>();
    for (const c of changes) {
      const key = configKey(c.resourceType, c.resourceName);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    for (const change of changes) {
      const { resourceType, resourceName } = change;
      const key = configKey(resourceType, resourceName);
      const fail = (errorCode: number, message: string): void => {
        results.push({ resourceType, resourceName, ...apiError(errorCode, message) });
      };
      if ((seen.get(key) ?? 0) > 1) {
        fail(ErrorCode.INVALID_REQUEST, 'Duplicate resource.');
        continue;
      }
      const target = this.checkResource(image, resourceType, resourceName);
      if (target !== undefined) {
        results.push({ resourceType, resourceName, ...target });
        continue;
      }
      const outcome = this.applyConfigOps(image, change, replaceAll);
      if ('errorCode' in outcome) {
        results.push({ resourceType, resourceName, ...outcome });
        continue;
      }
      results.push({ resourceType, resourceName, ...NONE });
      if (validateOnly) continue;
      records.push(...outcome);
    }
    return { records, response: results };
  }

  private checkResource(image: MetadataImage, resourceType: number, resourceName: string): ApiError | undefined {
    if (resourceType === ConfigResourceType.TOPIC) {
      const nameError = validateTopicName(resourceName);
      if (nameError !== undefined) return apiError(ErrorCode.INVALID_TOPIC_EXCEPTION, nameError);
      if (!image.topicsByName.has(resourceName)) {
        return apiError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${resourceName} does not exist.`);
      }
      return undefined;
    }
    if (resourceType === ConfigResourceType.BROKER) {
      if (resourceName === '') return undefined;
      const id = Number(resourceName);
      if (!/^-?\d+$/.test(resourceName) || !image.brokers.has(id)) {
        return apiError(
          ErrorCode.INVALID_REQUEST,
          `Unexpected broker id, expected ${this.options.nodeId} or empty string, but received ${resourceName}`,
        );
      }
      return undefined;
    }
    return apiError(ErrorCode.INVALID_REQUEST, `Unsupported resource type ${resourceType}`);
  }

  /** The ConfigRecords a change needs, or the first error. */
  private applyConfigOps(
    image: MetadataImage,
    change: ConfigResourceChange,
    replaceAll: boolean,
  ): MetadataMessage[] | ApiError {
    const { resourceType, resourceName } = change;
    const current = resourceConfigs(image, resourceType, resourceName);
    const next = new Map(replaceAll ? [] : current);
    const names = new Set<string>();
    for (const c of change.configs) {
      if (names.has(c.name)) return apiError(ErrorCode.INVALID_REQUEST, `Duplicate config key: ${c.name}`);
      names.add(c.name);
      const validate = (value: string | null): string | undefined =>
        resourceType === ConfigResourceType.TOPIC
          ? this.options.rules.validateTopicConfig(c.name, value)
          : this.options.rules.validateBrokerConfig(c.name, value);
      switch (c.op) {
        case AlterConfigOp.SET: {
          if (c.value === null) {
            if (replaceAll) continue; // AlterConfigs: a null value means "not set"
            return apiError(ErrorCode.INVALID_CONFIG, `Null value not supported for : ${c.name}`);
          }
          const message = validate(c.value);
          if (message !== undefined) return apiError(ErrorCode.INVALID_CONFIG, message);
          next.set(c.name, c.value);
          break;
        }
        case AlterConfigOp.DELETE: {
          const message = validate(null);
          if (message !== undefined) return apiError(ErrorCode.INVALID_CONFIG, message);
          next.delete(c.name);
          break;
        }
        case AlterConfigOp.APPEND:
        case AlterConfigOp.SUBTRACT: {
          if (!this.options.rules.isList(resourceType, c.name)) {
            const verb = c.op === AlterConfigOp.APPEND ? 'append' : 'subtract';
            return apiError(ErrorCode.INVALID_CONFIG, `Config value ${verb} is not allowed for config key: ${c.name}`);
          }
          const items = (next.get(c.name) ?? '').split(',').filter((s) => s !== '');
          const given = (c.value ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
          const result =
            c.op === AlterConfigOp.APPEND
              ? [...items, ...given.filter((g) => !items.includes(g))]
              : items.filter((i) => !given.includes(i));
          const value = result.join(',');
          const message = validate(value);
          if (message !== undefined) return apiError(ErrorCode.INVALID_CONFIG, message);
          if (result.length === 0 && c.op === AlterConfigOp.SUBTRACT) next.delete(c.name);
          else next.set(c.name, value);
          break;
        }
        default:
          return apiError(ErrorCode.INVALID_REQUEST, `Unknown alter config operation ${c.op}`);
      }
    }
    if (resourceType === ConfigResourceType.TOPIC) {
      const setError = this.options.rules.validateTopicConfigSet?.(next);
      if (setError !== undefined) return apiError(ErrorCode.INVALID_CONFIG, setError);
    }
    const records: MetadataMessage[] = [];
    for (const [name, value] of next) {
      if (current.get(name) !== value) records.push(configRecord(resourceType, resourceName, name, value));
    }
    for (const name of current.keys()) {
      if (!next.has(name)) records.push(configRecord(resourceType, resourceName, name, null));
    }
    return records;
  }
}

export class ControllerClosedError extends Error {
  override readonly name = 'ControllerClosedError';
  constructor() {
    super('metadata controller closed');
  }
}

export class ControllerOverloadedError extends Error {
  override readonly name = 'ControllerOverloadedError';
  constructor() {
    super('metadata controller queue full');
  }
}

/**
 * The Kafka error an operation's failure maps to, for handlers: a closed controller is
 * NOT_CONTROLLER (clients retry elsewhere), a full queue REQUEST_TIMED_OUT (retriable), a
 * storage failure KAFKA_STORAGE_ERROR. Anything else is a bug and is rethrown.
 */
export function controllerErrorCode(err: unknown): number {
  if (err instanceof ControllerClosedError || err instanceof NotControllerError) return ErrorCode.NOT_CONTROLLER;
  if (err instanceof MetadataLogFullError) return ErrorCode.REQUEST_TIMED_OUT;
  if (err instanceof ControllerOverloadedError) return ErrorCode.REQUEST_TIMED_OUT;
  if (err instanceof StorageError) return ErrorCode.KAFKA_STORAGE_ERROR;
  throw err;
}

function configRecord(resourceType: number, resourceName: string, name: string, value: string | null): MetadataMessage {
  return {
    typeId: MetadataRecordType.ConfigRecord,
    version: 0,
    record: { resourceType, resourceName, name, value },
  };
}

function partitionChange(topicId: string, partitionId: number, change: { leader: number; isr: number[] }) {
  return {
    typeId: MetadataRecordType.PartitionChangeRecord,
    version: 0,
    record: {
      partitionId,
      topicId,
      isr: change.isr,
      leader: change.leader,
      replicas: null,
      removingReplicas: null,
      addingReplicas: null,
      leaderRecoveryState: -1,
      directories: null,
      eligibleLeaderReplicas: null,
      lastKnownElr: null,
    },
  };
}

/** The PartitionRecords of new partitions numbered from `first`, or the first placement error. */
function newPartitions(
  image: MetadataImage,
  topicId: string,
  first: number,
  replicas: readonly number[][],
): MetadataMessage[] | ApiError {
  const records: MetadataMessage[] = [];
  for (let i = 0; i < replicas.length; i++) {
    const record = newPartitionRecord(image, topicId, first + i, replicas[i]!);
    if (isPlacementError(record)) return apiError(record.errorCode, record.errorMessage);
    records.push(record);
  }
  return records;
}
