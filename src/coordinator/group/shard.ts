/**
 * One shard of the group coordinator: the groups and committed offsets of one
 * __consumer_offsets partition. Operations look at the state and return
 * `{ records, response }`; durable state changes only in `replay`. The rebalance in
 * progress of a classic group (who has joined, parked responses) is in memory, as in
 * Kafka, and written only when a generation's assignment completes.
 */
import { Reader } from '../../protocol/codec/reader.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { GroupMetadataValue } from '../../protocol/generated/group-metadata-value.ts';
import type { JoinGroupResponse } from '../../protocol/generated/join-group-response.ts';
import type { OffsetCommitValue } from '../../protocol/generated/offset-commit-value.ts';
import type { SyncGroupResponse } from '../../protocol/generated/sync-group-response.ts';
import type { CoordinatorShard, ShardContext, WriteResult } from '../runtime/runtime.ts';
import { ClassicGroup, ClassicMember, type Protocol } from './classic-group.ts';
import type { GroupCoordinatorConfig } from './config.ts';
import { ConsumerGroup, ConsumerGroupOps } from './consumer-group.ts';
import { type GroupRecord, offsetValueVersion } from './records.ts';

export type Group = ClassicGroup | ConsumerGroup;

export interface OffsetEntry {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestampMs: number;
  /** -1: none (retention from the group's state). */
  expireTimestampMs: number;
}

export interface JoinParams {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
  clientId: string;
  clientHost: string;
  apiVersion: number;
}

export interface SyncParams {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface CommitParams {
  groupId: string;
  generationIdOrMemberEpoch: number;
  memberId: string;
  groupInstanceId: string | null;
  /** -1: broker default. */
  retentionTimeMs: number;
  apiVersion: number;
  topics: {
    name: string;
    partitions: {
      partitionIndex: number;
      committedOffset: number;
      committedLeaderEpoch: number;
      /** v1 only; -1 = now. */
      commitTimestampMs: number;
      committedMetadata: string | null;
    }[];
  }[];
}

export interface TxnCommitParams {
  transactionalId: string;
  groupId: string;
  producerId: bigint;
  producerEpoch: number;
  /** -1 before v3 (no group metadata). */
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  topics: {
    name: string;
    partitions: {
      partitionIndex: number;
      committedOffset: number;
      committedLeaderEpoch: number;
      committedMetadata: string | null;
    }[];
  }[];
}

export interface TopicPartitionErrors {
  name: string;
  partitions: { partitionIndex: number; errorCode: number }[];
}

export interface FetchedOffsets {
  errorCode: number;
  topics: {
    name: string;
    partitions: {
      partitionIndex: number;
      committedOffset: number;
      committedLeaderEpoch: number;
      metadata: string | null;
      errorCode: number;
    }[];
  }[];
}

export interface GroupListing {
  groupId: string;
  protocolType: string;
  groupState: string;
  groupType: string;
}

export interface DescribedClassicGroup {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    memberMetadata: Buffer;
    memberAssignment: Buffer;
  }[];
}

type Op<T> = WriteResult<GroupRecord, T>;
export type GroupShardContext = ShardContext<GroupShard, GroupRecord>;

/** Collects what an operation writes and what runs once it is appended. */
class Tx {
  readonly records: GroupRecord[] = [];
  readonly onOk: (() => void)[] = [];
  readonly onFail: ((errorCode: number) => void)[] = [];
  result<T>(response: T): Op<T> {
    const { onOk, onFail } = this;
    return {
      records: this.records,
      response,
      onAppended: (code) => {
        if (code === 0) for (const f of onOk) f();
        else for (const f of onFail) f(code);
      },
    };
  }
}

const EMPTY = Buffer.alloc(0);

function joinError(errorCode: number, memberId = ''): JoinGroupResponse {
  return {
    throttleTimeMs: 0,
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: '',
    skipAssignment: false,
    memberId,
    members: [],
  };
}

function syncResponse(errorCode: number, group?: ClassicGroup, assignment: Buffer = EMPTY): SyncGroupResponse {
  return {
    throttleTimeMs: 0,
    errorCode,
    protocolType: group?.protocolType ?? null,
    protocolName: group?.protocolName ?? null,
    assignment,
  };
}

/** The topics of a ConsumerProtocolSubscription (any version), or undefined when unreadable. */
export function subscriptionTopics(metadata: Buffer): string[] | undefined {
  try {
    const r = new Reader(metadata);
    r.readInt16();
    const n = r.readInt32();
    const topics: string[] = [];
    for (let i = 0; i < n; i++) topics.push(r.readString());
    return topics;
  } catch {
    return undefined;
  }
}

export class GroupShard implements CoordinatorShard<GroupRecord> {
  readonly groups = new Map<string, Group>();
  /** group -> topic -> partition -> committed offset. */
  readonly offsets = new Map<string, Map<string, Map<number, OffsetEntry>>>();
  /**
   * Transactional offset commits (TxnOffsetCommit) waiting for their producer's marker:
   * producer id -> the offset records it wrote, applied on COMMIT, dropped on ABORT.
   */
  readonly pendingTxnOffsets = new Map<bigint, Extract<GroupRecord, { kind: 'offset' }>[]>();
  readonly consumer: ConsumerGroupOps;

  constructor(
    readonly ctx: GroupShardContext,
    readonly config: GroupCoordinatorConfig,
    private readonly newId: () => string,
    topics: ConstructorParameters<typeof ConsumerGroupOps>[1],
  ) {
    this.consumer = new ConsumerGroupOps(this, topics);
  }

  // ---- replay ---------------------------------------------------------------------------

  replay(record: GroupRecord, _offset?: number, producerId?: bigint): void {
    if (producerId !== undefined && record.kind === 'offset') {
      let pending = this.pendingTxnOffsets.get(producerId);
      if (pending === undefined) {
        pending = [];
        this.pendingTxnOffsets.set(producerId, pending);
      }
      pending.push(record);
      return;
    }
    switch (record.kind) {
      case 'offset':
        this.replayOffset(record.group, record.topic, record.partition, record.value);
        return;
      case 'group':
        this.replayGroupMetadata(record.group, record.value);
        return;
      default:
        this.consumer.replay(record);
    }
  }

  replayEndTransaction(producerId: bigint, committed: boolean): void {
    const pending = this.pendingTxnOffsets.get(producerId);
    if (pending === undefined) return;
    this.pendingTxnOffsets.delete(producerId);
    if (!committed) return;
    for (const r of pending) this.replayOffset(r.group, r.topic, r.partition, r.value);
  }

  /** Whether a transactional commit of this group's partition waits for its marker. */
  hasPendingTxnOffset(groupId: string, topic: string, partition: number): boolean {
    for (const pending of this.pendingTxnOffsets.values()) {
      for (const r of pending) if (r.group === groupId && r.topic === topic && r.partition === partition) return true;
    }
    return false;
  }

  private replayOffset(groupId: string, topic: string, partition: number, value: OffsetCommitValue | null): void {
    if (value === null) {
      const byTopic = this.offsets.get(groupId);
      const parts = byTopic?.get(topic);
      parts?.delete(partition);
      if (parts?.size === 0) byTopic!.delete(topic);
      if (byTopic?.size === 0) {
        this.offsets.delete(groupId);
        // A group that only ever existed through its offsets goes with the last of them
        // (it would not come back on a reload either).
        const g = this.groups.get(groupId);
        if (
          g?.type === 'classic' &&
          g.state === 'Empty' &&
          g.generationId === 0 &&
          g.protocolType === null &&
          g.members.size === 0 &&
          g.pendingMembers.size === 0
        ) {
          this.groups.delete(groupId);
        }
      }
      return;
    }
    if (!this.groups.has(groupId)) this.groups.set(groupId, new ClassicGroup(groupId));
    let byTopic = this.offsets.get(groupId);
    if (byTopic === undefined) {
      byTopic = new Map();
      this.offsets.set(groupId, byTopic);
    }
    let parts = byTopic.get(topic);
    if (parts === undefined) {
      parts = new Map();
      byTopic.set(topic, parts);
    }
    parts.set(partition, {
      offset: Number(value.offset),
      leaderEpoch: value.leaderEpoch,
      metadata: value.metadata,
      commitTimestampMs: Number(value.commitTimestamp),
      expireTimestampMs: Number(value.expireTimestamp),
    });
  }

  private replayGroupMetadata(groupId: string, value: GroupMetadataValue | null): void {
    if (value === null) {
      const g = this.groups.get(groupId);
      if (g?.type === 'classic') {
        g.state = 'Dead';
        this.groups.delete(groupId);
      }
      return;
    }
    let group = this.groups.get(groupId);
    if (group === undefined || group.type !== 'classic') {
      group = new ClassicGroup(groupId);
      this.groups.set(groupId, group);
    }
    group.protocolType =
      value.protocolType === '' && value.members.length === 0 ? group.protocolType : value.protocolType;
    group.generationId = value.generation;
    group.protocolName = value.protocol;
    group.leaderId = value.leader;
    const keep = new Set<string>();
    for (const m of value.members) {
      keep.add(m.memberId);
      let member = group.members.get(m.memberId);
      if (member === undefined) {
        member = new ClassicMember(
          m.memberId,
          m.groupInstanceId,
          m.clientId,
          m.clientHost,
          m.rebalanceTimeout,
          m.sessionTimeout,
          value.protocolType,
          [{ name: value.protocol ?? '', metadata: Buffer.from(m.subscription) }],
        );
        group.members.set(m.memberId, member);
      }
      member.assignment = Buffer.from(m.assignment);
      member.isNew = false;
      if (m.groupInstanceId !== null) group.staticMembers.set(m.groupInstanceId, m.memberId);
    }
    for (const [id, member] of group.members) {
      if (keep.has(id)) continue;
      group.members.delete(id);
      if (member.groupInstanceId !== null && group.staticMembers.get(member.groupInstanceId) === id) {
        group.staticMembers.delete(member.groupInstanceId);
      }
    }
    group.transition(value.members.length === 0 ? 'Empty' : 'Stable', Number(value.currentStateTimestamp));
  }

  onLoaded(): void {
    for (const g of this.groups.values()) {
      if (g.type === 'classic') {
        for (const m of g.members.values()) this.scheduleSession(g, m);
      } else this.consumer.onLoaded(g);
    }
    this.scheduleOffsetExpiration();
  }

  onUnloaded(): void {
    for (const g of this.groups.values()) {
      if (g.type !== 'classic') continue;
      for (const m of g.members.values()) {
        m.joinWaiter?.(joinError(ErrorCode.NOT_COORDINATOR));
        m.joinWaiter = undefined;
        m.syncWaiter?.(syncResponse(ErrorCode.NOT_COORDINATOR));
        m.syncWaiter = undefined;
      }
    }
  }

  // ---- classic: helpers -----------------------------------------------------------------

  private classic(groupId: string): ClassicGroup | undefined {
    const g = this.groups.get(groupId);
    return g?.type === 'classic' ? g : undefined;
  }

  /** The GroupMetadata record of the group as it would be with `members` (assignments included). */
  groupMetadataRecord(group: ClassicGroup, nowMs: number, members = [...group.members.values()]): GroupRecord {
    return {
      kind: 'group',
      group: group.groupId,
      value: {
        protocolType: group.protocolType ?? '',
        generation: group.generationId,
        protocol: group.protocolName,
        leader: group.leaderId,
        currentStateTimestamp: BigInt(nowMs),
        members: members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          rebalanceTimeout: m.rebalanceTimeoutMs,
          sessionTimeout: m.sessionTimeoutMs,
          subscription: m.metadataFor(group.protocolName),
          assignment: m.assignment,
        })),
      },
    };
  }

  private sessionKey(group: ClassicGroup, memberId: string): string {
    return `session:${group.groupId}:${memberId}`;
  }

  private scheduleSession(group: ClassicGroup, member: ClassicMember, delayMs = member.sessionTimeoutMs): void {
    const groupId = group.groupId;
    const memberId = member.memberId;
    this.ctx.schedule(this.sessionKey(group, memberId), delayMs, (shard, nowMs) =>
      shard.onSessionExpired(groupId, memberId, nowMs),
    );
  }

  /** Session timeout of a member: removed unless it is waiting in a rebalance. */
  onSessionExpired(groupId: string, memberId: string, nowMs: number): Op<undefined> {
    const tx = new Tx();
    const group = this.classic(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return tx.result(undefined);
    if (member.isAwaitingJoin() || group.state === 'CompletingRebalance') {
      // Parked in a rebalance: the rebalance (or sync) timeout decides.
      this.scheduleSession(group, member);
      return tx.result(undefined);
    }
    this.removeMemberAndRebalance(tx, group, member, nowMs);
    return tx.result(undefined);
  }

  private removeMember(group: ClassicGroup, member: ClassicMember): void {
    this.ctx.cancel(this.sessionKey(group, member.memberId));
    group.members.delete(member.memberId);
    if (member.groupInstanceId !== null && group.staticMembers.get(member.groupInstanceId) === member.memberId) {
      group.staticMembers.delete(member.groupInstanceId);
    }
    member.joinWaiter?.(joinError(ErrorCode.UNKNOWN_MEMBER_ID));
    member.joinWaiter = undefined;
    member.syncWaiter?.(syncResponse(ErrorCode.UNKNOWN_MEMBER_ID));
    member.syncWaiter = undefined;
    if (group.leaderId === member.memberId) group.leaderId = group.members.keys().next().value ?? null;
  }

  private removeMemberAndRebalance(tx: Tx, group: ClassicGroup, member: ClassicMember, nowMs: number): void {
    this.removeMember(group, member);
    if (group.state === 'Stable' || group.state === 'CompletingRebalance') this.prepareRebalance(tx, group, nowMs);
    else if (group.state === 'PreparingRebalance') this.maybeCompleteJoin(tx, group, nowMs);
  }

  private prepareRebalance(tx: Tx, group: ClassicGroup, nowMs: number): void {
    if (group.state === 'CompletingRebalance') {
      for (const m of group.members.values()) {
        m.assignment = EMPTY;
        m.syncWaiter?.(syncResponse(ErrorCode.REBALANCE_IN_PROGRESS));
        m.syncWaiter = undefined;
      }
    }
    this.ctx.cancel(`sync:${group.groupId}`);
    const wasEmpty = group.state === 'Empty';
    group.transition('PreparingRebalance', nowMs);
    const groupId = group.groupId;
    if (wasEmpty && this.config.initialRebalanceDelayMs > 0) {
      group.initialDelayActive = true;
      group.newMemberAdded = false;
      const rebalanceTimeoutMs = Math.max(group.maxRebalanceTimeoutMs(), this.config.initialRebalanceDelayMs);
      group.initialDelayDeadlineMs = nowMs + rebalanceTimeoutMs;
      this.ctx.schedule(
        `join:${groupId}`,
        Math.min(this.config.initialRebalanceDelayMs, rebalanceTimeoutMs),
        (shard, now) => shard.onInitialDelayExpired(groupId, now),
      );
      return;
    }
    group.initialDelayActive = false;
    this.ctx.schedule(`join:${groupId}`, group.maxRebalanceTimeoutMs(), (shard, now) =>
      shard.onJoinTimeout(groupId, now),
    );
    this.maybeCompleteJoin(tx, group, nowMs);
  }

  onInitialDelayExpired(groupId: string, nowMs: number): Op<undefined> {
    const tx = new Tx();
    const group = this.classic(groupId);
    if (group === undefined || group.state !== 'PreparingRebalance' || !group.initialDelayActive) {
      return tx.result(undefined);
    }
    const remaining = group.initialDelayDeadlineMs - nowMs;
    if (group.newMemberAdded && remaining > 0) {
      group.newMemberAdded = false;
      this.ctx.schedule(`join:${groupId}`, Math.min(this.config.initialRebalanceDelayMs, remaining), (shard, now) =>
        shard.onInitialDelayExpired(groupId, now),
      );
      return tx.result(undefined);
    }
    group.initialDelayActive = false;
    this.completeJoin(tx, group, nowMs);
    return tx.result(undefined);
  }

  onJoinTimeout(groupId: string, nowMs: number): Op<undefined> {
    const tx = new Tx();
    const group = this.classic(groupId);
    if (group !== undefined && group.state === 'PreparingRebalance') this.completeJoin(tx, group, nowMs);
    return tx.result(undefined);
  }

  private maybeCompleteJoin(tx: Tx, group: ClassicGroup, nowMs: number): void {
    if (group.state === 'PreparingRebalance' && !group.initialDelayActive && group.allMembersJoined()) {
      this.completeJoin(tx, group, nowMs);
    }
  }

  private completeJoin(tx: Tx, group: ClassicGroup, nowMs: number): void {
    this.ctx.cancel(`join:${group.groupId}`);
    // Dynamic members that did not rejoin in time are out; static ones keep their session.
    for (const m of [...group.members.values()]) {
      if (!m.isAwaitingJoin() && m.groupInstanceId === null) this.removeMember(group, m);
    }
    if (group.members.size === 0) {
      const record = this.groupMetadataRecord(group, nowMs, []);
      (record as { value: GroupMetadataValue }).value.generation = group.generationId + 1;
      (record as { value: GroupMetadataValue }).value.protocol = null;
      (record as { value: GroupMetadataValue }).value.leader = null;
      tx.records.push(record);
      return;
    }
    const leader = group.leaderId !== null ? group.members.get(group.leaderId) : undefined;
    if (leader === undefined || !leader.isAwaitingJoin()) {
      const joined = [...group.members.values()].find((m) => m.isAwaitingJoin());
      if (joined === undefined) {
        // Only static members that have not rejoined: wait for them (or their session timeouts).
        const groupId = group.groupId;
        this.ctx.schedule(`join:${groupId}`, group.maxRebalanceTimeoutMs(), (shard, now) =>
          shard.onJoinTimeout(groupId, now),
        );
        return;
      }
      group.leaderId = joined.memberId;
    }
    group.generationId++;
    group.protocolName = group.selectProtocol();
    group.transition('CompletingRebalance', nowMs);
    const all = [...group.members.values()];
    for (const m of all) {
      const waiter = m.joinWaiter;
      m.joinWaiter = undefined;
      m.isNew = false;
      const isLeader = m.memberId === group.leaderId;
      waiter?.({
        throttleTimeMs: 0,
        errorCode: ErrorCode.NONE,
        generationId: group.generationId,
        protocolType: group.protocolType,
        protocolName: group.protocolName,
        leader: group.leaderId ?? '',
        skipAssignment: false,
        memberId: m.memberId,
        members: isLeader
          ? all.map((x) => ({
              memberId: x.memberId,
              groupInstanceId: x.groupInstanceId,
              metadata: x.metadataFor(group.protocolName),
            }))
          : [],
      });
      this.scheduleSession(group, m);
    }
    const groupId = group.groupId;
    const generation = group.generationId;
    this.ctx.schedule(`sync:${groupId}`, group.maxRebalanceTimeoutMs(), (shard, now) =>
      shard.onSyncTimeout(groupId, generation, now),
    );
  }

  /** Members that did not SyncGroup within the rebalance timeout are removed; the group rebalances. */
  onSyncTimeout(groupId: string, generation: number, nowMs: number): Op<undefined> {
    const tx = new Tx();
    const group = this.classic(groupId);
    if (group === undefined || group.state !== 'CompletingRebalance' || group.generationId !== generation) {
      return tx.result(undefined);
    }
    for (const m of [...group.members.values()]) if (m.syncWaiter === undefined) this.removeMember(group, m);
    if (group.members.size === 0) {
      group.transition('PreparingRebalance', nowMs);
      this.completeJoin(tx, group, nowMs);
    } else this.prepareRebalance(tx, group, nowMs);
    return tx.result(undefined);
  }

  private newMemberId(prefix: string): string {
    return `${prefix}-${this.newId()}`;
  }

  /** A fresh id (KIP-848 member ids). */
  newUuid(): string {
    return this.newId();
  }

  // ---- classic: JoinGroup ---------------------------------------------------------------

  joinGroup(p: JoinParams, nowMs: number): Op<JoinGroupResponse | Promise<JoinGroupResponse>> {
    const tx = new Tx();
    const fail = (code: number, memberId = '') =>
      tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(joinError(code, memberId));
    if (p.groupId === '') return fail(ErrorCode.INVALID_GROUP_ID);
    if (p.sessionTimeoutMs < this.config.minSessionTimeoutMs || p.sessionTimeoutMs > this.config.maxSessionTimeoutMs) {
      return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    }
    const existing = this.groups.get(p.groupId);
    if (existing !== undefined && existing.type !== 'classic') {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    let group = existing;
    if (group === undefined) {
      if (p.memberId !== '') return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      group = new ClassicGroup(p.groupId);
      group.stateTimestampMs = nowMs;
      this.groups.set(p.groupId, group);
    }
    if (group.state === 'Dead') return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!group.supportsProtocols(p.protocolType, p.protocols, p.memberId)) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    if (p.memberId === '') return this.joinUnknownMember(tx, group, p, nowMs);
    return this.joinKnownMember(tx, group, p, nowMs);
  }

  private joinUnknownMember(
    tx: Tx,
    group: ClassicGroup,
    p: JoinParams,
    nowMs: number,
  ): Op<JoinGroupResponse | Promise<JoinGroupResponse>> {
    if (p.groupInstanceId !== null) {
      const oldId = group.staticMembers.get(p.groupInstanceId);
      if (oldId !== undefined && group.members.has(oldId)) return this.rejoinStaticMember(tx, group, oldId, p, nowMs);
      if (group.members.size >= this.config.maxGroupSize) {
        return tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(joinError(ErrorCode.GROUP_MAX_SIZE_REACHED));
      }
      return tx.result(this.addMemberAndRebalance(tx, group, this.newMemberId(p.groupInstanceId), p, nowMs));
    }
    const memberId = this.newMemberId(p.clientId);
    if (group.members.size + group.pendingMembers.size >= this.config.maxGroupSize) {
      return tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(joinError(ErrorCode.GROUP_MAX_SIZE_REACHED));
    }
    if (p.apiVersion >= 4) {
      // KIP-394: hand out the member id first; the member joins with it.
      group.pendingMembers.add(memberId);
      const groupId = group.groupId;
      this.ctx.schedule(`pending:${groupId}:${memberId}`, p.sessionTimeoutMs, (shard, now) =>
        shard.onPendingMemberExpired(groupId, memberId, now),
      );
      return tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(
        joinError(ErrorCode.MEMBER_ID_REQUIRED, memberId),
      );
    }
    return tx.result(this.addMemberAndRebalance(tx, group, memberId, p, nowMs));
  }

  onPendingMemberExpired(groupId: string, memberId: string, nowMs: number): Op<undefined> {
    const tx = new Tx();
    const group = this.classic(groupId);
    if (group?.pendingMembers.delete(memberId)) this.maybeCompleteJoin(tx, group, nowMs);
    return tx.result(undefined);
  }

  private addMemberAndRebalance(
    tx: Tx,
    group: ClassicGroup,
    memberId: string,
    p: JoinParams,
    nowMs: number,
  ): Promise<JoinGroupResponse> {
    const member = new ClassicMember(
      memberId,
      p.groupInstanceId,
      p.clientId,
      p.clientHost,
      p.rebalanceTimeoutMs,
      p.sessionTimeoutMs,
      p.protocolType,
      p.protocols,
    );
    member.isNew = true;
    member.joinVersion = p.apiVersion;
    const response = new Promise<JoinGroupResponse>((resolve) => {
      member.joinWaiter = resolve;
    });
    if (group.members.size === 0) group.protocolType = p.protocolType;
    group.members.set(memberId, member);
    if (p.groupInstanceId !== null) group.staticMembers.set(p.groupInstanceId, memberId);
    group.pendingMembers.delete(memberId);
    this.ctx.cancel(`pending:${group.groupId}:${memberId}`);
    group.leaderId ??= memberId;
    group.newMemberAdded = true;
    this.scheduleSession(group, member);
    if (group.state === 'PreparingRebalance') this.maybeCompleteJoin(tx, group, nowMs);
    else this.prepareRebalance(tx, group, nowMs);
    return response;
  }

  private updateMemberAndRebalance(
    tx: Tx,
    group: ClassicGroup,
    member: ClassicMember,
    p: JoinParams,
    nowMs: number,
  ): Promise<JoinGroupResponse> {
    member.protocols = p.protocols;
    member.protocolType = p.protocolType;
    member.rebalanceTimeoutMs = p.rebalanceTimeoutMs;
    member.sessionTimeoutMs = p.sessionTimeoutMs;
    member.clientId = p.clientId;
    member.clientHost = p.clientHost;
    member.joinVersion = p.apiVersion;
    member.joinWaiter?.(joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
    const response = new Promise<JoinGroupResponse>((resolve) => {
      member.joinWaiter = resolve;
    });
    this.scheduleSession(group, member);
    if (group.state === 'PreparingRebalance') this.maybeCompleteJoin(tx, group, nowMs);
    else this.prepareRebalance(tx, group, nowMs);
    return response;
  }

  private currentGenerationResponse(group: ClassicGroup, member: ClassicMember, apiVersion: number): JoinGroupResponse {
    const isLeader = member.memberId === group.leaderId;
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leaderId ?? '',
      skipAssignment: isLeader && apiVersion >= 9,
      memberId: member.memberId,
      members: isLeader
        ? [...group.members.values()].map((x) => ({
            memberId: x.memberId,
            groupInstanceId: x.groupInstanceId,
            metadata: x.metadataFor(group.protocolName),
          }))
        : [],
    };
  }

  /** A static member rejoining with an unknown member id: it takes its instance's place, the old id is fenced. */
  private rejoinStaticMember(
    tx: Tx,
    group: ClassicGroup,
    oldId: string,
    p: JoinParams,
    nowMs: number,
  ): Op<JoinGroupResponse | Promise<JoinGroupResponse>> {
    const old = group.members.get(oldId)!;
    const newId = this.newMemberId(p.groupInstanceId!);
    const protocolsChanged = !old.sameProtocols(p.protocols);
    if (group.state === 'Stable' && !protocolsChanged) {
      // Same subscription: persist the new member id, answer with the current generation, no rebalance.
      const replacement = new ClassicMember(
        newId,
        p.groupInstanceId,
        p.clientId,
        p.clientHost,
        p.rebalanceTimeoutMs,
        p.sessionTimeoutMs,
        p.protocolType,
        p.protocols,
      );
      replacement.assignment = old.assignment;
      const members = [...group.members.values()].map((m) => (m.memberId === oldId ? replacement : m));
      const leaderBefore = group.leaderId;
      const savedLeader = leaderBefore === oldId ? newId : leaderBefore;
      const record = this.groupMetadataRecord(group, nowMs, members);
      (record as { value: GroupMetadataValue }).value.leader = savedLeader;
      tx.records.push(record);
      let resolve!: (r: JoinGroupResponse) => void;
      const response = new Promise<JoinGroupResponse>((r) => {
        resolve = r;
      });
      tx.onOk.push(() => {
        this.ctx.cancel(this.sessionKey(group, oldId));
        const member = group.members.get(newId);
        if (member === undefined) {
          resolve(joinError(ErrorCode.UNKNOWN_MEMBER_ID));
          return;
        }
        member.protocols = p.protocols;
        this.scheduleSession(group, member);
        resolve(this.currentGenerationResponse(group, member, p.apiVersion));
      });
      tx.onFail.push((code) => resolve(joinError(code)));
      return tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(response);
    }
    // Otherwise replace the member in memory and go through a rebalance.
    old.joinWaiter?.(joinError(ErrorCode.FENCED_INSTANCE_ID, oldId));
    old.joinWaiter = undefined;
    old.syncWaiter?.(syncResponse(ErrorCode.FENCED_INSTANCE_ID));
    old.syncWaiter = undefined;
    this.ctx.cancel(this.sessionKey(group, oldId));
    group.members.delete(oldId);
    old.memberId = newId;
    group.members.set(newId, old);
    group.staticMembers.set(p.groupInstanceId!, newId);
    if (group.leaderId === oldId) group.leaderId = newId;
    return tx.result(this.updateMemberAndRebalance(tx, group, old, p, nowMs));
  }

  private joinKnownMember(
    tx: Tx,
    group: ClassicGroup,
    p: JoinParams,
    nowMs: number,
  ): Op<JoinGroupResponse | Promise<JoinGroupResponse>> {
    const fail = (code: number) =>
      tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(joinError(code, p.memberId));
    if (group.pendingMembers.has(p.memberId)) {
      return tx.result(this.addMemberAndRebalance(tx, group, p.memberId, p, nowMs));
    }
    if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) return fail(ErrorCode.FENCED_INSTANCE_ID);
    const member = group.members.get(p.memberId);
    if (member === undefined) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    switch (group.state) {
      case 'PreparingRebalance':
        return tx.result(this.updateMemberAndRebalance(tx, group, member, p, nowMs));
      case 'CompletingRebalance':
        if (member.sameProtocols(p.protocols)) {
          // A retried join: answer with the generation in progress.
          return tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(
            this.currentGenerationResponse(group, member, 0),
          );
        }
        return tx.result(this.updateMemberAndRebalance(tx, group, member, p, nowMs));
      case 'Stable':
        if (member.memberId === group.leaderId || !member.sameProtocols(p.protocols)) {
          return tx.result(this.updateMemberAndRebalance(tx, group, member, p, nowMs));
        }
        this.scheduleSession(group, member);
        return tx.result<JoinGroupResponse | Promise<JoinGroupResponse>>(
          this.currentGenerationResponse(group, member, 0),
        );
      default:
        return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    }
  }

  // ---- classic: SyncGroup ---------------------------------------------------------------

  syncGroup(p: SyncParams, nowMs: number): Op<SyncGroupResponse | Promise<SyncGroupResponse>> {
    const tx = new Tx();
    const fail = (code: number) => tx.result<SyncGroupResponse | Promise<SyncGroupResponse>>(syncResponse(code));
    const group = this.classic(p.groupId);
    if (group === undefined) {
      return fail(this.groups.has(p.groupId) ? ErrorCode.INCONSISTENT_GROUP_PROTOCOL : ErrorCode.UNKNOWN_MEMBER_ID);
    }
    if (group.state === 'Dead') return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) return fail(ErrorCode.FENCED_INSTANCE_ID);
    const member = group.members.get(p.memberId);
    if (member === undefined) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (p.generationId !== group.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
    if (
      (p.protocolType !== null && p.protocolType !== group.protocolType) ||
      (p.protocolName !== null && p.protocolName !== group.protocolName)
    ) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    switch (group.state) {
      case 'Empty':
        return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      case 'PreparingRebalance':
        return fail(ErrorCode.REBALANCE_IN_PROGRESS);
      case 'Stable':
        this.scheduleSession(group, member);
        return tx.result<SyncGroupResponse | Promise<SyncGroupResponse>>(
          syncResponse(ErrorCode.NONE, group, member.assignment),
        );
      default:
        break;
    }
    // CompletingRebalance: park until the leader's assignment is written.
    member.syncWaiter?.(syncResponse(ErrorCode.REBALANCE_IN_PROGRESS));
    const response = new Promise<SyncGroupResponse>((resolve) => {
      member.syncWaiter = resolve;
    });
    this.scheduleSession(group, member);
    if (member.memberId !== group.leaderId) return tx.result<SyncGroupResponse | Promise<SyncGroupResponse>>(response);
    const byMember = new Map(p.assignments.map((a) => [a.memberId, a.assignment] as const));
    const saved = [...group.members.values()].map((m) => {
      const copy = Object.assign(Object.create(Object.getPrototypeOf(m) as object) as ClassicMember, m);
      copy.assignment = Buffer.from(byMember.get(m.memberId) ?? EMPTY);
      return copy;
    });
    tx.records.push(this.groupMetadataRecord(group, nowMs, saved));
    const generation = group.generationId;
    tx.onOk.push(() => {
      this.ctx.cancel(`sync:${group.groupId}`);
      for (const m of group.members.values()) {
        const waiter = m.syncWaiter;
        m.syncWaiter = undefined;
        waiter?.(syncResponse(ErrorCode.NONE, group, m.assignment));
      }
    });
    tx.onFail.push((code) => {
      if (group.state !== 'CompletingRebalance' || group.generationId !== generation) return;
      for (const m of group.members.values()) {
        const waiter = m.syncWaiter;
        m.syncWaiter = undefined;
        waiter?.(syncResponse(code));
      }
      // The failed write leaves the group where it was; start over.
      const again = new Tx();
      this.prepareRebalance(again, group, this.ctx.nowMs());
    });
    return tx.result<SyncGroupResponse | Promise<SyncGroupResponse>>(response);
  }

  // ---- classic: Heartbeat, LeaveGroup ----------------------------------------------------

  heartbeat(groupId: string, memberId: string, groupInstanceId: string | null, generationId: number): Op<number> {
    const tx = new Tx();
    const group = this.classic(groupId);
    if (group === undefined) {
      return tx.result(this.groups.has(groupId) ? ErrorCode.INCONSISTENT_GROUP_PROTOCOL : ErrorCode.UNKNOWN_MEMBER_ID);
    }
    if (group.state === 'Dead') return tx.result(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (group.isStaticMemberFenced(groupInstanceId, memberId)) return tx.result(ErrorCode.FENCED_INSTANCE_ID);
    const member = group.members.get(memberId);
    if (member === undefined) return tx.result(ErrorCode.UNKNOWN_MEMBER_ID);
    if (group.state === 'Empty') return tx.result(ErrorCode.UNKNOWN_MEMBER_ID);
    if (generationId !== group.generationId) return tx.result(ErrorCode.ILLEGAL_GENERATION);
    this.scheduleSession(group, member);
    if (group.state === 'PreparingRebalance') return tx.result(ErrorCode.REBALANCE_IN_PROGRESS);
    return tx.result(ErrorCode.NONE);
  }

  /** LeaveGroup: each identity's error code, and the group-level error. */
  leaveGroup(
    groupId: string,
    leaving: { memberId: string; groupInstanceId: string | null }[],
    nowMs: number,
  ): Op<{ errorCode: number; members: { memberId: string; groupInstanceId: string | null; errorCode: number }[] }> {
    const tx = new Tx();
    const group = this.classic(groupId);
    if (group === undefined) {
      if (this.groups.has(groupId)) return tx.result({ errorCode: ErrorCode.INCONSISTENT_GROUP_PROTOCOL, members: [] });
      return tx.result({
        errorCode: ErrorCode.NONE,
        members: leaving.map((l) => ({ ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID })),
      });
    }
    if (group.state === 'Dead') return tx.result({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] });
    const results: { memberId: string; groupInstanceId: string | null; errorCode: number }[] = [];
    let changed = false;
    for (const l of leaving) {
      let memberId = l.memberId;
      if (l.groupInstanceId !== null) {
        const current = group.staticMembers.get(l.groupInstanceId);
        if (current === undefined) {
          results.push({ ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID });
          continue;
        }
        if (memberId !== '' && memberId !== current) {
          results.push({ ...l, errorCode: ErrorCode.FENCED_INSTANCE_ID });
          continue;
        }
        memberId = current;
      }
      if (group.pendingMembers.delete(memberId)) {
        this.ctx.cancel(`pending:${groupId}:${memberId}`);
        changed = true;
        results.push({ ...l, errorCode: ErrorCode.NONE });
        continue;
      }
      const member = group.members.get(memberId);
      if (member === undefined) {
        results.push({ ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID });
        continue;
      }
      this.removeMember(group, member);
      changed = true;
      results.push({ ...l, errorCode: ErrorCode.NONE });
    }
    if (changed) {
      if (group.state === 'Stable' || group.state === 'CompletingRebalance') this.prepareRebalance(tx, group, nowMs);
      else if (group.state === 'PreparingRebalance') this.maybeCompleteJoin(tx, group, nowMs);
    }
    return tx.result({ errorCode: ErrorCode.NONE, members: results });
  }

  // ---- offsets --------------------------------------------------------------------------

  /** Checks a commit against the group: NONE or the error every partition gets. */
  private validateCommit(p: CommitParams): { errorCode: number; create?: boolean } {
    const group = this.groups.get(p.groupId);
    if (group === undefined) {
      if (p.generationIdOrMemberEpoch < 0 && p.memberId === '') return { errorCode: ErrorCode.NONE, create: true };
      // Kafka answers ILLEGAL_GENERATION here so the consumer rejoins.
      return {
        errorCode: p.generationIdOrMemberEpoch < 0 ? ErrorCode.NONE : ErrorCode.ILLEGAL_GENERATION,
        create: true,
      };
    }
    if (group.type === 'consumer') {
      return { errorCode: this.consumer.validateCommit(group, p.memberId, p.generationIdOrMemberEpoch, p.apiVersion) };
    }
    if (group.state === 'Dead') return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) return { errorCode: ErrorCode.FENCED_INSTANCE_ID };
    if (p.generationIdOrMemberEpoch < 0 && p.memberId === '' && group.state === 'Empty') return { errorCode: 0 };
    if (p.generationIdOrMemberEpoch < 0 && p.memberId === '') {
      // A simple (group-less) commit to a group with live members.
      return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
    }
    if (group.state === 'CompletingRebalance') return { errorCode: ErrorCode.REBALANCE_IN_PROGRESS };
    if (!group.members.has(p.memberId)) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
    if (p.generationIdOrMemberEpoch !== group.generationId) return { errorCode: ErrorCode.ILLEGAL_GENERATION };
    return { errorCode: 0 };
  }

  commitOffsets(p: CommitParams, nowMs: number): Op<TopicPartitionErrors[]> {
    const tx = new Tx();
    const check = this.validateCommit(p);
    const all = (code: number): TopicPartitionErrors[] =>
      p.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((x) => ({ partitionIndex: x.partitionIndex, errorCode: code })),
      }));
    if (check.errorCode !== 0) return tx.result(all(check.errorCode));
    const out: TopicPartitionErrors[] = [];
    for (const t of p.topics) {
      const parts: { partitionIndex: number; errorCode: number }[] = [];
      for (const x of t.partitions) {
        const metadata = x.committedMetadata ?? '';
        if (Buffer.byteLength(metadata, 'utf8') > this.config.offsetMetadataMaxBytes) {
          parts.push({ partitionIndex: x.partitionIndex, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE });
          continue;
        }
        const commitTs = p.apiVersion === 1 && x.commitTimestampMs >= 0 ? x.commitTimestampMs : nowMs;
        let expire = -1;
        if (p.apiVersion === 1 && x.commitTimestampMs >= 0)
          expire = x.commitTimestampMs + this.config.offsetsRetentionMs;
        if (p.apiVersion >= 2 && p.apiVersion <= 4 && p.retentionTimeMs >= 0) expire = commitTs + p.retentionTimeMs;
        const value: OffsetCommitValue = {
          offset: BigInt(x.committedOffset),
          leaderEpoch: x.committedLeaderEpoch,
          metadata,
          commitTimestamp: BigInt(commitTs),
          expireTimestamp: BigInt(expire),
        };
        tx.records.push({
          kind: 'offset',
          group: p.groupId,
          topic: t.name,
          partition: x.partitionIndex,
          value,
          valueVersion: offsetValueVersion(value),
        });
        parts.push({ partitionIndex: x.partitionIndex, errorCode: ErrorCode.NONE });
      }
      out.push({ name: t.name, partitions: parts });
    }
    if (check.create && tx.records.length > 0 && !this.groups.has(p.groupId)) {
      // A simple commit creates the (empty, classic) group; the offset records do so on replay.
    }
    const group = this.classic(p.groupId);
    const member = group?.members.get(p.memberId);
    if (group !== undefined && member !== undefined && group.state === 'Stable') this.scheduleSession(group, member);
    return tx.result(out);
  }

  /**
   * TxnOffsetCommit: the offsets are written as the producer's transactional records and
   * become committed offsets only when its COMMIT marker reaches this partition.
   */
  txnOffsetCommit(p: TxnCommitParams, nowMs: number): Op<TopicPartitionErrors[]> {
    const tx = new Tx();
    const all = (code: number): TopicPartitionErrors[] =>
      p.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((x) => ({ partitionIndex: x.partitionIndex, errorCode: code })),
      }));
    const group = this.groups.get(p.groupId);
    let check: number = ErrorCode.NONE;
    if (group !== undefined && p.memberId !== '' && p.generationId >= 0) {
      // v3+ carries the consumer's group metadata (KIP-447): fence stale members.
      if (group.type === 'consumer') {
        check = this.consumer.validateCommit(group, p.memberId, p.generationId, 9);
      } else if (group.isStaticMemberFenced(p.groupInstanceId, p.memberId)) check = ErrorCode.FENCED_INSTANCE_ID;
      else if (!group.members.has(p.memberId)) check = ErrorCode.UNKNOWN_MEMBER_ID;
      else if (p.generationId !== group.generationId) check = ErrorCode.ILLEGAL_GENERATION;
    }
    if (check !== 0) return tx.result(all(check));
    const out: TopicPartitionErrors[] = [];
    for (const t of p.topics) {
      const parts: { partitionIndex: number; errorCode: number }[] = [];
      for (const x of t.partitions) {
        const metadata = x.committedMetadata ?? '';
        if (Buffer.byteLength(metadata, 'utf8') > this.config.offsetMetadataMaxBytes) {
          parts.push({ partitionIndex: x.partitionIndex, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE });
          continue;
        }
        const value: OffsetCommitValue = {
          offset: BigInt(x.committedOffset),
          leaderEpoch: x.committedLeaderEpoch,
          metadata,
          commitTimestamp: BigInt(nowMs),
          expireTimestamp: -1n,
        };
        tx.records.push({
          kind: 'offset',
          group: p.groupId,
          topic: t.name,
          partition: x.partitionIndex,
          value,
          valueVersion: offsetValueVersion(value),
        });
        parts.push({ partitionIndex: x.partitionIndex, errorCode: ErrorCode.NONE });
      }
      out.push({ name: t.name, partitions: parts });
    }
    const result = tx.result(out);
    if (result.records.length > 0) result.producer = { producerId: p.producerId, producerEpoch: p.producerEpoch };
    return result;
  }

  fetchOffsets(
    groupId: string,
    topics: { name: string; partitionIndexes: number[] }[] | null,
    memberId: string | null,
    memberEpoch: number,
    requireStable = false,
  ): Op<FetchedOffsets> {
    const tx = new Tx();
    const group = this.groups.get(groupId);
    if (group?.type === 'consumer' && memberId !== null && memberId !== '') {
      const code = this.consumer.validateFetch(group, memberId, memberEpoch);
      if (code !== 0) return tx.result({ errorCode: code, topics: [] });
    }
    const byTopic = this.offsets.get(groupId);
    const entry = (e: OffsetEntry | undefined, partitionIndex: number, topic: string) =>
      requireStable && this.hasPendingTxnOffset(groupId, topic, partitionIndex)
        ? {
            // KIP-447: a transactional commit of this partition awaits its marker; the client retries.
            partitionIndex,
            committedOffset: -1,
            committedLeaderEpoch: -1,
            metadata: '',
            errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT,
          }
        : e === undefined
          ? { partitionIndex, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: 0 }
          : {
              partitionIndex,
              committedOffset: e.offset,
              committedLeaderEpoch: e.leaderEpoch,
              metadata: e.metadata,
              errorCode: 0,
            };
    if (topics === null) {
      const out: FetchedOffsets['topics'] = [];
      for (const [name, parts] of byTopic ?? []) {
        out.push({
          name,
          partitions: [...parts.entries()].sort((a, b) => a[0] - b[0]).map(([i, e]) => entry(e, i, name)),
        });
      }
      return tx.result({ errorCode: 0, topics: out });
    }
    return tx.result({
      errorCode: 0,
      topics: topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((i) => entry(byTopic?.get(t.name)?.get(i), i, t.name)),
      })),
    });
  }

  /** OffsetDelete: tombstones, unless the group is alive and subscribed to the topic. */
  deleteOffsets(
    groupId: string,
    topics: { name: string; partitions: number[] }[],
  ): Op<{ errorCode: number; topics: TopicPartitionErrors[] }> {
    const tx = new Tx();
    const group = this.groups.get(groupId);
    if (group === undefined) return tx.result({ errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: [] });
    let subscribed: Set<string> | undefined;
    if (group.type === 'classic') {
      if (group.state === 'Dead') return tx.result({ errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: [] });
      if (group.state !== 'Empty') {
        subscribed = group.subscribedTopics(subscriptionTopics);
        if (subscribed === undefined) return tx.result({ errorCode: ErrorCode.NON_EMPTY_GROUP, topics: [] });
      }
    } else subscribed = this.consumer.subscribedTopicNames(group);
    const out: TopicPartitionErrors[] = [];
    for (const t of topics) {
      const isSubscribed = subscribed?.has(t.name) ?? false;
      out.push({
        name: t.name,
        partitions: t.partitions.map((partitionIndex) => {
          if (isSubscribed) return { partitionIndex, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC };
          if (this.offsets.get(groupId)?.get(t.name)?.has(partitionIndex)) {
            tx.records.push({
              kind: 'offset',
              group: groupId,
              topic: t.name,
              partition: partitionIndex,
              value: null,
              valueVersion: 0,
            });
          }
          return { partitionIndex, errorCode: ErrorCode.NONE };
        }),
      });
    }
    return tx.result({ errorCode: ErrorCode.NONE, topics: out });
  }

  private offsetTombstones(groupId: string): GroupRecord[] {
    const out: GroupRecord[] = [];
    for (const [topic, parts] of this.offsets.get(groupId) ?? []) {
      for (const partition of parts.keys()) {
        out.push({ kind: 'offset', group: groupId, topic, partition, value: null, valueVersion: 0 });
      }
    }
    return out;
  }

  /** DeleteGroups for one group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, or tombstones for it and its offsets. */
  deleteGroup(groupId: string): Op<number> {
    const tx = new Tx();
    const group = this.groups.get(groupId);
    if (group === undefined || (group.type === 'classic' && group.state === 'Dead')) {
      return tx.result(ErrorCode.GROUP_ID_NOT_FOUND);
    }
    if (group.type === 'classic' ? group.state !== 'Empty' : group.members.size > 0) {
      return tx.result(ErrorCode.NON_EMPTY_GROUP);
    }
    tx.records.push(...this.offsetTombstones(groupId));
    if (group.type === 'classic') tx.records.push({ kind: 'group', group: groupId, value: null });
    else tx.records.push(...this.consumer.tombstones(group));
    tx.onOk.push(() => {
      // A group known only from offsets has no record of its own to tombstone.
      if (this.groups.get(groupId) === group) this.groups.delete(groupId);
    });
    return tx.result(ErrorCode.NONE);
  }

  private scheduleOffsetExpiration(): void {
    this.ctx.schedule('expire-offsets', this.config.offsetsRetentionCheckIntervalMs, (shard, nowMs) =>
      shard.expireOffsets(nowMs),
    );
  }

  /**
   * Offsets of empty groups older than offsets.retention.minutes (from when the group
   * became empty, or the commit, whichever is later; or their explicit expire
   * timestamp) get tombstones; an empty group left without offsets is deleted.
   */
  expireOffsets(nowMs: number): Op<number> {
    const tx = new Tx();
    for (const [groupId, group] of this.groups) {
      const empty = group.type === 'classic' ? group.state === 'Empty' : group.members.size === 0;
      const byTopic = this.offsets.get(groupId);
      let remaining = 0;
      for (const [topic, parts] of byTopic ?? []) {
        for (const [partition, e] of parts) {
          let expired = false;
          if (e.expireTimestampMs >= 0) expired = nowMs >= e.expireTimestampMs;
          else if (empty) {
            const base =
              group.type === 'classic' && group.stateTimestampMs >= 0
                ? Math.max(group.stateTimestampMs, e.commitTimestampMs)
                : e.commitTimestampMs;
            expired = nowMs >= base + this.config.offsetsRetentionMs;
          }
          if (expired)
            tx.records.push({ kind: 'offset', group: groupId, topic, partition, value: null, valueVersion: 0 });
          else remaining++;
        }
      }
      if (empty && remaining === 0 && group.type === 'classic' && group.state === 'Empty') {
        tx.records.push({ kind: 'group', group: groupId, value: null });
        tx.onOk.push(() => {
          if (this.groups.get(groupId) === group && group.state === 'Empty') this.groups.delete(groupId);
        });
      }
    }
    const count = tx.records.length;
    tx.onOk.push(() => this.scheduleOffsetExpiration());
    tx.onFail.push(() => this.scheduleOffsetExpiration());
    return tx.result(count);
  }

  // ---- describe, list --------------------------------------------------------------------

  listGroups(statesFilter: string[], typesFilter: string[]): GroupListing[] {
    const states = new Set(statesFilter.map((s) => s.toLowerCase()));
    const types = new Set(typesFilter.map((s) => s.toLowerCase()));
    const out: GroupListing[] = [];
    for (const g of this.groups.values()) {
      const listing =
        g.type === 'classic'
          ? { groupId: g.groupId, protocolType: g.protocolType ?? '', groupState: g.state, groupType: 'classic' }
          : {
              groupId: g.groupId,
              protocolType: 'consumer',
              groupState: this.consumer.stateName(g),
              groupType: 'consumer',
            };
      if (listing.groupState === 'Dead') continue;
      if (states.size > 0 && !states.has(listing.groupState.toLowerCase())) continue;
      if (types.size > 0 && !types.has(listing.groupType)) continue;
      out.push(listing);
    }
    return out;
  }

  describeGroup(groupId: string): DescribedClassicGroup {
    const g = this.groups.get(groupId);
    if (g === undefined) {
      return { errorCode: 0, groupId, groupState: 'Dead', protocolType: '', protocolData: '', members: [] };
    }
    if (g.type === 'consumer') return this.consumer.describeAsClassic(g);
    const stable = g.state === 'Stable';
    return {
      errorCode: 0,
      groupId,
      groupState: g.state,
      protocolType: g.protocolType ?? '',
      protocolData: stable ? (g.protocolName ?? '') : '',
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: stable ? m.metadataFor(g.protocolName) : EMPTY,
        memberAssignment: stable ? m.assignment : EMPTY,
      })),
    };
  }
}

export { ConsumerGroup };
