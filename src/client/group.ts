/**
 * Consumer group membership, both protocols:
 *
 * - classic (`group.protocol=classic`): FindCoordinator, JoinGroup (MEMBER_ID_REQUIRED
 *   answered by rejoining with the given id), the leader runs the client-side assignor
 *   (`partition.assignment.strategy`), SyncGroup, Heartbeat every `heartbeat.interval.ms`,
 *   LeaveGroup on close (not for static members, `group.instance.id`). Eager rebalancing
 *   revokes everything before joining; cooperative (every configured assignor supports it)
 *   revokes only what moved, then rejoins.
 * - consumer (`group.protocol=consumer`, KIP-848): ConsumerGroupHeartbeat carries the
 *   subscription and the owned partitions; the broker computes the assignment, and the member
 *   reconciles: revoke what left, then acknowledge, then take what came.
 *
 * The consumer supplies the subscription and the hooks that revoke, assign or lose partitions.
 */
import { decode, encode } from '../protocol/codec/message.ts';
import { uuidFromBytes } from '../protocol/codec/uuid.ts';
import { ApiKey } from '../protocol/generated/api-keys.ts';
import {
  type ConsumerProtocolAssignment,
  ConsumerProtocolAssignmentCodec,
} from '../protocol/generated/consumer-protocol-assignment.ts';
import {
  type ConsumerProtocolSubscription,
  ConsumerProtocolSubscriptionCodec,
} from '../protocol/generated/consumer-protocol-subscription.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { Assignor, MemberSubscription, TopicPartition } from './assignors/index.ts';
import type { Cluster } from './cluster.ts';
import { backoffMs, KafkaClientError, KafkaProtocolError } from './errors.ts';
import { sleep, tpKey } from './util.ts';

export interface GroupHost {
  /** Topics the member subscribes to now (a pattern already resolved against metadata). */
  subscribedTopics(): string[];
  /** Partitions the member owns now. */
  owned(): TopicPartition[];
  onAssigned(partitions: TopicPartition[]): Promise<void>;
  /** Commit (when auto-committing) and call the listener; the partitions are then dropped. */
  onRevoked(partitions: TopicPartition[]): Promise<void>;
  onLost(partitions: TopicPartition[]): Promise<void>;
  /** Something happened that poll() should act on (rejoin). */
  wake(): void;
  /** Milliseconds since the application last polled (for `max.poll.interval.ms`). */
  msSinceLastPoll(): number;
}

export interface GroupConfig {
  groupId: string;
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  assignors: Assignor[];
  /** KIP-848 server assignor name, or null for the broker's default. */
  remoteAssignor: string | null;
  rackId: string | null;
}

export interface GroupMembership {
  readonly memberId: string;
  /** Generation (classic) or member epoch (consumer protocol) for OffsetCommit. */
  readonly generation: number;
  readonly isStable: boolean;
  /** Joins or rejoins when needed; returns once the member has an assignment. */
  poll(signal?: AbortSignal): Promise<void>;
  /** The subscription changed (new topics matched, subscribe() again). */
  requestRejoin(): void;
  /** Leaves the group (classic dynamic members send LeaveGroup; KIP-848 sends epoch -1/-2). */
  leave(): Promise<void>;
  /** Coordinator node id (finding it when unknown). */
  coordinator(): Promise<number>;
  /** The coordinator was lost (NOT_COORDINATOR on a commit etc.). */
  coordinatorDead(): void;
  /** A commit was answered with a membership error. */
  onCommitError(code: number): void;
  stop(): void;
}

abstract class GroupBase {
  protected coordinatorId = -1;
  protected stopped = false;
  protected cancelHeartbeat: (() => void) | null = null;
  protected fatal: Error | null = null;

  constructor(
    protected readonly cluster: Cluster,
    protected readonly config: GroupConfig,
    protected readonly host: GroupHost,
  ) {}

  async coordinator(): Promise<number> {
    if (this.coordinatorId >= 0) return this.coordinatorId;
    const id = await this.cluster.withRetries(async () => {
      const conn = await this.cluster.anyConnection();
      const v = conn.versionFor(ApiKey.FindCoordinator);
      const res = await conn.request(ApiKey.FindCoordinator, {
        key: this.config.groupId,
        keyType: 0,
        coordinatorKeys: [this.config.groupId],
      });
      const c =
        v >= 4
          ? res.coordinators[0]
          : { nodeId: res.nodeId, host: res.host, port: res.port, errorCode: res.errorCode, errorMessage: null };
      if (c === undefined) throw new KafkaProtocolError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'FindCoordinator');
      if (c.errorCode !== 0) throw new KafkaProtocolError(c.errorCode, 'FindCoordinator', c.errorMessage);
      if (!this.cluster.brokers.has(c.nodeId)) {
        this.cluster.brokers.set(c.nodeId, { nodeId: c.nodeId, host: c.host, port: c.port, rack: null });
      }
      return c.nodeId;
    });
    this.coordinatorId = id;
    return id;
  }

  coordinatorDead(): void {
    this.coordinatorId = -1;
  }

  protected backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const r = this.cluster.retry;
    return sleep(
      this.cluster.clock,
      backoffMs(attempt, r.retryBackoffMs, r.retryBackoffMaxMs, this.cluster.random.next()),
      signal,
    );
  }

  stop(): void {
    this.stopped = true;
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = null;
  }
}

/** Classic protocol member (JoinGroup / SyncGroup / Heartbeat). */
export class ClassicGroup extends GroupBase implements GroupMembership {
  memberId = '';
  generation = -1;
  private rejoinNeeded = true;
  private joining: Promise<void> | null = null;
  private readonly protocol: 'EAGER' | 'COOPERATIVE';

  constructor(cluster: Cluster, config: GroupConfig, host: GroupHost) {
    super(cluster, config, host);
    if (config.assignors.length === 0) throw new RangeError('partition.assignment.strategy is empty');
    this.protocol = config.assignors.every((a) => a.supportedProtocols.includes('COOPERATIVE'))
      ? 'COOPERATIVE'
      : 'EAGER';
  }

  get isStable(): boolean {
    return !this.rejoinNeeded && this.generation >= 0;
  }

  requestRejoin(): void {
    this.rejoinNeeded = true;
    this.host.wake();
  }

  poll(signal?: AbortSignal): Promise<void> {
    if (this.fatal !== null) return Promise.reject(this.fatal);
    if (!this.rejoinNeeded) return Promise.resolve();
    this.joining ??= this.join(signal).finally(() => {
      this.joining = null;
    });
    return this.joining;
  }

  private async join(signal?: AbortSignal): Promise<void> {
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = null;
    if (this.protocol === 'EAGER') {
      const owned = this.host.owned();
      if (owned.length > 0) await this.host.onRevoked(owned);
    }
    for (let attempt = 0; !this.stopped; attempt++) {
      this.rejoinNeeded = false;
      let coordinator: number;
      try {
        coordinator = await this.coordinator();
      } catch (e) {
        if (e instanceof KafkaClientError && e.retriable) {
          await this.backoff(attempt, signal);
          continue;
        }
        throw e;
      }
      try {
        const done = await this.joinOnce(coordinator);
        if (done) {
          this.scheduleHeartbeat();
          return;
        }
      } catch (e) {
        if (e instanceof KafkaProtocolError && isFatalMembershipError(e.code)) {
          this.fatal = e;
          throw e;
        }
        if (!(e instanceof KafkaClientError) || !e.retriable) throw e;
        if (e instanceof KafkaProtocolError && isCoordinatorError(e.code)) this.coordinatorDead();
        this.rejoinNeeded = true;
        await this.backoff(attempt, signal);
      }
      this.rejoinNeeded = true;
    }
  }

  private subscriptionMetadata(): Buffer {
    const owned = this.host.owned();
    const byTopic = new Map<string, number[]>();
    for (const tp of owned) {
      let l = byTopic.get(tp.topic);
      if (l === undefined) {
        l = [];
        byTopic.set(tp.topic, l);
      }
      l.push(tp.partition);
    }
    const sub: ConsumerProtocolSubscription = {
      topics: [...this.host.subscribedTopics()].sort(),
      userData: null,
      ownedPartitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
      generationId: this.generation,
      rackId: this.config.rackId,
    };
    return withVersion(SUBSCRIPTION_VERSION, encode(ConsumerProtocolSubscriptionCodec, sub, SUBSCRIPTION_VERSION));
  }

  /** One JoinGroup + SyncGroup round; false when it must be repeated at once. */
  private async joinOnce(coordinator: number): Promise<boolean> {
    const metadata = this.subscriptionMetadata();
    const join = await this.cluster.request(
      coordinator,
      ApiKey.JoinGroup,
      {
        groupId: this.config.groupId,
        sessionTimeoutMs: this.config.sessionTimeoutMs,
        rebalanceTimeoutMs: this.config.rebalanceTimeoutMs,
        memberId: this.memberId,
        groupInstanceId: this.config.groupInstanceId,
        protocolType: 'consumer',
        protocols: this.config.assignors.map((a) => ({ name: a.name, metadata })),
        reason: null,
      },
      { timeoutMs: this.config.rebalanceTimeoutMs + 5000 },
    );
    if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
      this.memberId = join.memberId;
      return false;
    }
    if (join.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) {
      this.memberId = '';
      return false;
    }
    if (join.errorCode === ErrorCode.REBALANCE_IN_PROGRESS) return false;
    if (join.errorCode !== 0) throw new KafkaProtocolError(join.errorCode, `JoinGroup ${this.config.groupId}`);
    this.memberId = join.memberId;
    this.generation = join.generationId;
    const protocolName = join.protocolName ?? this.config.assignors[0]!.name;
    let assignments: { memberId: string; assignment: Buffer }[] = [];
    if (join.leader === join.memberId && !join.skipAssignment) {
      assignments = await this.assign(protocolName, join.members);
    }
    const sync = await this.cluster.request(coordinator, ApiKey.SyncGroup, {
      groupId: this.config.groupId,
      generationId: this.generation,
      memberId: this.memberId,
      groupInstanceId: this.config.groupInstanceId,
      protocolType: 'consumer',
      protocolName,
      assignments,
    });
    if (sync.errorCode === ErrorCode.REBALANCE_IN_PROGRESS) return false;
    if (sync.errorCode === ErrorCode.UNKNOWN_MEMBER_ID || sync.errorCode === ErrorCode.ILLEGAL_GENERATION) {
      if (sync.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
      this.generation = -1;
      return false;
    }
    if (sync.errorCode !== 0) throw new KafkaProtocolError(sync.errorCode, `SyncGroup ${this.config.groupId}`);
    const assigned = decodeAssignment(sync.assignment);
    await this.applyAssignment(assigned);
    return !this.rejoinNeeded;
  }

  private async applyAssignment(assigned: TopicPartition[]): Promise<void> {
    const owned = this.host.owned();
    const next = new Set(assigned.map((tp) => tpKey(tp.topic, tp.partition)));
    const have = new Set(owned.map((tp) => tpKey(tp.topic, tp.partition)));
    const revoked = owned.filter((tp) => !next.has(tpKey(tp.topic, tp.partition)));
    const added = assigned.filter((tp) => !have.has(tpKey(tp.topic, tp.partition)));
    if (revoked.length > 0) {
      await this.host.onRevoked(revoked);
      // Cooperative: the revoked partitions go to their new owner in a follow-up rebalance.
      if (this.protocol === 'COOPERATIVE') this.rejoinNeeded = true;
    }
    await this.host.onAssigned(added);
  }

  private async assign(
    protocolName: string,
    members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[],
  ): Promise<{ memberId: string; assignment: Buffer }[]> {
    const assignor = this.config.assignors.find((a) => a.name === protocolName);
    if (assignor === undefined) {
      throw new KafkaProtocolError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, `no assignor named ${protocolName}`);
    }
    const subs: MemberSubscription[] = members.map((m) => {
      const s = decodeSubscription(m.metadata);
      return {
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        topics: s.topics,
        ownedPartitions: s.ownedPartitions.flatMap((t) =>
          t.partitions.map((partition) => ({ topic: t.topic, partition })),
        ),
        generationId: s.generationId,
      };
    });
    const topics = new Set(subs.flatMap((s) => s.topics));
    this.cluster.addTopics(topics);
    this.cluster.requestUpdate();
    await this.cluster.ensureMetadata();
    const partitionsPerTopic = new Map<string, number>();
    for (const t of topics) {
      const meta = this.cluster.topics.get(t);
      if (meta !== undefined) partitionsPerTopic.set(t, meta.partitions.length);
    }
    const result = assignor.assign({ members: subs, partitionsPerTopic });
    return [...result].map(([memberId, tps]) => {
      const byTopic = new Map<string, number[]>();
      for (const tp of tps) {
        let l = byTopic.get(tp.topic);
        if (l === undefined) {
          l = [];
          byTopic.set(tp.topic, l);
        }
        l.push(tp.partition);
      }
      const a: ConsumerProtocolAssignment = {
        assignedPartitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        userData: null,
      };
      return {
        memberId,
        assignment: withVersion(ASSIGNMENT_VERSION, encode(ConsumerProtocolAssignmentCodec, a, ASSIGNMENT_VERSION)),
      };
    });
  }

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = this.cluster.clock.schedule(this.config.heartbeatIntervalMs, () => {
      this.cancelHeartbeat = null;
      void this.heartbeat();
    });
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped || this.rejoinNeeded || this.joining !== null) return;
    if (this.host.msSinceLastPoll() > this.config.rebalanceTimeoutMs) {
      await this.leaveOnPollTimeout();
      return;
    }
    try {
      const coordinator = await this.coordinator();
      const res = await this.cluster.request(coordinator, ApiKey.Heartbeat, {
        groupId: this.config.groupId,
        generationId: this.generation,
        memberId: this.memberId,
        groupInstanceId: this.config.groupInstanceId,
      });
      if (res.errorCode !== 0) this.onMembershipError(res.errorCode);
    } catch (e) {
      if (e instanceof KafkaProtocolError) this.onMembershipError(e.code);
      else this.coordinatorDead();
    }
    if (!this.rejoinNeeded) this.scheduleHeartbeat();
  }

  private onMembershipError(code: number): void {
    if (isCoordinatorError(code)) {
      this.coordinatorDead();
      return;
    }
    if (code === ErrorCode.REBALANCE_IN_PROGRESS) {
      this.requestRejoin();
      return;
    }
    if (code === ErrorCode.UNKNOWN_MEMBER_ID || code === ErrorCode.ILLEGAL_GENERATION) {
      if (code === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
      this.generation = -1;
      const owned = this.host.owned();
      if (owned.length > 0) void this.host.onLost(owned);
      this.requestRejoin();
      return;
    }
    if (isFatalMembershipError(code)) {
      this.fatal = new KafkaProtocolError(code, `group ${this.config.groupId}`);
      this.host.wake();
    }
  }

  onCommitError(code: number): void {
    this.onMembershipError(code);
  }

  /**
   * The application did not poll within `max.poll.interval.ms`: leave (static members just stop
   * heartbeating), so the group rebalances without us; the next poll rejoins, and the partitions
   * held until now are reported lost.
   */
  private async leaveOnPollTimeout(): Promise<void> {
    if (this.config.groupInstanceId === null && this.memberId !== '' && this.coordinatorId >= 0) {
      try {
        await this.cluster.request(this.coordinatorId, ApiKey.LeaveGroup, {
          groupId: this.config.groupId,
          memberId: this.memberId,
          members: [{ memberId: this.memberId, groupInstanceId: null, reason: 'max.poll.interval.ms expired' }],
        });
      } catch {
        // The session timeout removes the member anyway.
      }
      this.memberId = '';
    }
    this.generation = -1;
    const owned = this.host.owned();
    if (owned.length > 0) await this.host.onLost(owned);
    this.requestRejoin();
  }

  async leave(): Promise<void> {
    this.stop();
    if (this.config.groupInstanceId !== null || this.memberId === '' || this.coordinatorId < 0) return;
    try {
      await this.cluster.request(this.coordinatorId, ApiKey.LeaveGroup, {
        groupId: this.config.groupId,
        memberId: this.memberId,
        members: [{ memberId: this.memberId, groupInstanceId: null, reason: 'the consumer is being closed' }],
      });
    } catch {
      // Leaving is best effort: the session timeout removes the member anyway.
    }
    this.memberId = '';
    this.generation = -1;
  }
}

/** KIP-848 member: one ConsumerGroupHeartbeat loop; the broker assigns. */
export class ConsumerProtocolGroup extends GroupBase implements GroupMembership {
  memberId = '';
  private memberEpoch = 0;
  private intervalMs: number;
  private inFlight: Promise<void> | null = null;
  private target: TopicPartition[] | null = null;
  private assignedOnce = false;
  private lastSubscription = '';

  constructor(cluster: Cluster, config: GroupConfig, host: GroupHost) {
    super(cluster, config, host);
    this.intervalMs = config.heartbeatIntervalMs;
  }

  get generation(): number {
    return this.memberEpoch;
  }

  get isStable(): boolean {
    return this.memberEpoch > 0 && this.assignedOnce;
  }

  requestRejoin(): void {
    this.lastSubscription = '';
    this.host.wake();
    void this.beat();
  }

  async poll(signal?: AbortSignal): Promise<void> {
    if (this.fatal !== null) throw this.fatal;
    for (let attempt = 0; !this.isStable && !this.stopped; attempt++) {
      await this.beat();
      if (this.fatal !== null) throw this.fatal;
      if (!this.isStable) await sleep(this.cluster.clock, Math.min(this.intervalMs, 100 * (attempt + 1)), signal);
    }
  }

  private beat(): Promise<void> {
    this.inFlight ??= this.doBeat().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async doBeat(): Promise<void> {
    if (this.stopped) return;
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = null;
    if (this.memberEpoch > 0 && this.host.msSinceLastPoll() > this.config.rebalanceTimeoutMs) {
      // max.poll.interval.ms expired: leave (epoch -1, or -2 for static members); the next poll joins again.
      await this.sendLeave();
      const owned = this.host.owned();
      if (owned.length > 0) await this.host.onLost(owned);
      this.memberEpoch = 0;
      this.assignedOnce = false;
      this.lastSubscription = '';
      return;
    }
    try {
      const coordinator = await this.coordinator();
      const topics = [...this.host.subscribedTopics()].sort();
      const subscription = topics.join('\u0000');
      const full = this.memberEpoch === 0 || subscription !== this.lastSubscription;
      const owned = this.ownedByTopicId();
      const conn = await this.cluster.connection(coordinator);
      if (this.memberId === '' && conn.versionFor(ApiKey.ConsumerGroupHeartbeat) >= 1) {
        // v1 (KIP-1082): the member id is the client's own, a random UUID kept for the consumer's life.
        this.memberId = uuidFromBytes(this.cluster.random.bytes(16));
      }
      const res = await conn.request(ApiKey.ConsumerGroupHeartbeat, {
        groupId: this.config.groupId,
        memberId: this.memberId,
        memberEpoch: this.memberEpoch,
        instanceId: this.config.groupInstanceId,
        rackId: this.config.rackId,
        rebalanceTimeoutMs: full ? this.config.rebalanceTimeoutMs : -1,
        subscribedTopicNames: full ? topics : null,
        subscribedTopicRegex: null,
        serverAssignor: full ? this.config.remoteAssignor : null,
        topicPartitions: owned,
      });
      if (res.errorCode !== 0) {
        await this.onError(res.errorCode, res.errorMessage);
      } else {
        this.lastSubscription = subscription;
        if (res.memberId !== null) this.memberId = res.memberId;
        this.memberEpoch = res.memberEpoch;
        if (res.heartbeatIntervalMs > 0) this.intervalMs = res.heartbeatIntervalMs;
        if (res.assignment !== null) {
          await this.cluster.ensureMetadata();
          this.target = [];
          for (const t of res.assignment.topicPartitions) {
            const name = this.topicName(t.topicId);
            if (name === null) {
              this.cluster.requestUpdate();
              continue;
            }
            for (const partition of t.partitions) this.target.push({ topic: name, partition });
          }
        }
        await this.reconcile();
      }
    } catch (e) {
      if (e instanceof KafkaProtocolError && isCoordinatorError(e.code)) this.coordinatorDead();
      else if (!(e instanceof KafkaClientError) || !e.retriable) {
        this.fatal = e instanceof Error ? e : new Error(String(e));
        this.host.wake();
      }
    }
    if (!this.stopped) {
      this.cancelHeartbeat = this.cluster.clock.schedule(this.intervalMs, () => {
        this.cancelHeartbeat = null;
        void this.beat();
      });
    }
  }

  private topicName(topicId: string): string | null {
    for (const t of this.cluster.topics.values()) if (t.topicId === topicId) return t.name;
    return null;
  }

  private ownedByTopicId(): { topicId: string; partitions: number[] }[] {
    const byTopic = new Map<string, number[]>();
    for (const tp of this.host.owned()) {
      const id = this.cluster.topics.get(tp.topic)?.topicId;
      if (id === undefined) continue;
      let l = byTopic.get(id);
      if (l === undefined) {
        l = [];
        byTopic.set(id, l);
      }
      l.push(tp.partition);
    }
    return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }));
  }

  private async reconcile(): Promise<void> {
    if (this.target === null) return;
    const owned = this.host.owned();
    const next = new Set(this.target.map((tp) => tpKey(tp.topic, tp.partition)));
    const have = new Set(owned.map((tp) => tpKey(tp.topic, tp.partition)));
    const revoked = owned.filter((tp) => !next.has(tpKey(tp.topic, tp.partition)));
    const added = this.target.filter((tp) => !have.has(tpKey(tp.topic, tp.partition)));
    if (revoked.length > 0) await this.host.onRevoked(revoked);
    if (added.length > 0 || !this.assignedOnce) await this.host.onAssigned(added);
    this.assignedOnce = true;
    this.target = null;
    if (revoked.length > 0) void Promise.resolve().then(() => this.beat()); // acknowledge the revocation now
  }

  private async onError(code: number, message: string | null): Promise<void> {
    if (isCoordinatorError(code)) {
      this.coordinatorDead();
      return;
    }
    if (code === ErrorCode.FENCED_MEMBER_EPOCH || code === ErrorCode.UNKNOWN_MEMBER_ID) {
      const owned = this.host.owned();
      if (owned.length > 0) await this.host.onLost(owned);
      this.memberEpoch = 0;
      this.assignedOnce = false;
      if (code === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
      this.host.wake();
      return;
    }
    const e = new KafkaProtocolError(code, `ConsumerGroupHeartbeat ${this.config.groupId}`, message);
    if (!e.retriable) {
      this.fatal = e;
      this.host.wake();
    }
  }

  onCommitError(code: number): void {
    if (code === ErrorCode.STALE_MEMBER_EPOCH || code === ErrorCode.FENCED_MEMBER_EPOCH) void this.beat();
    else if (isCoordinatorError(code)) this.coordinatorDead();
  }

  async leave(): Promise<void> {
    this.stop();
    await this.sendLeave();
  }

  private async sendLeave(): Promise<void> {
    if (this.memberId === '' || this.coordinatorId < 0) return;
    try {
      await this.cluster.request(this.coordinatorId, ApiKey.ConsumerGroupHeartbeat, {
        groupId: this.config.groupId,
        memberId: this.memberId,
        memberEpoch: this.config.groupInstanceId !== null ? -2 : -1,
        instanceId: this.config.groupInstanceId,
        rackId: null,
        rebalanceTimeoutMs: -1,
        subscribedTopicNames: null,
        subscribedTopicRegex: null,
        serverAssignor: null,
        topicPartitions: null,
      });
    } catch {
      // best effort
    }
  }
}

const SUBSCRIPTION_VERSION = 3;
const ASSIGNMENT_VERSION = 3;

function withVersion(version: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeInt16BE(version, 0);
  body.copy(out, 2);
  return out;
}

/** Decodes a member's JoinGroup metadata; versions above ours are read as ours (fields are only ever appended). */
export function decodeSubscription(buf: Buffer): ConsumerProtocolSubscription {
  const version = Math.min(buf.readInt16BE(0), ConsumerProtocolSubscriptionCodec.validVersions.max);
  return decode(ConsumerProtocolSubscriptionCodec, buf.subarray(2), version);
}

export function decodeAssignment(buf: Buffer): TopicPartition[] {
  if (buf.length < 2) return [];
  const version = Math.min(buf.readInt16BE(0), ConsumerProtocolAssignmentCodec.validVersions.max);
  const a = decode(ConsumerProtocolAssignmentCodec, buf.subarray(2), version);
  return a.assignedPartitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
}

export function isCoordinatorError(code: number): boolean {
  return (
    code === ErrorCode.NOT_COORDINATOR ||
    code === ErrorCode.COORDINATOR_NOT_AVAILABLE ||
    code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
  );
}

function isFatalMembershipError(code: number): boolean {
  return (
    code === ErrorCode.FENCED_INSTANCE_ID ||
    code === ErrorCode.GROUP_AUTHORIZATION_FAILED ||
    code === ErrorCode.GROUP_MAX_SIZE_REACHED ||
    code === ErrorCode.INCONSISTENT_GROUP_PROTOCOL ||
    code === ErrorCode.INVALID_SESSION_TIMEOUT
  );
}
