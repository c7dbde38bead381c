/**
 * Consumer-protocol groups (KIP-848): ConsumerGroupHeartbeat and ConsumerGroupDescribe.
 *
 * The group epoch moves when membership, subscriptions or the subscribed topics'
 * partition counts change; the target assignment is then recomputed by the server-side
 * assignor (uniform or range) at that epoch. Each member converges on its target
 * incrementally: partitions leaving it are first put in "pending revocation" (its epoch
 * stays); once the member heartbeats without them (revoked), it moves to the target
 * epoch and receives the partitions that no other member still owns or has yet to
 * revoke. A partition is therefore never assigned to a member before its previous owner
 * has given it up. Everything here is written as ConsumerGroup* records and replayed.
 */

import type { ConsumerGroupDescribeResponseDescribedGroup } from '../../protocol/generated/consumer-group-describe-response.ts';
import type { ConsumerGroupHeartbeatRequest } from '../../protocol/generated/consumer-group-heartbeat-request.ts';
import type { ConsumerGroupHeartbeatResponse } from '../../protocol/generated/consumer-group-heartbeat-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { WriteResult } from '../runtime/runtime.ts';
import { ASSIGNORS, type AssignorMember } from './assignors.ts';
import type { GroupRecord } from './records.ts';
import type { DescribedClassicGroup, GroupShard } from './shard.ts';

/** Topic metadata the coordinator needs (from the metadata image). */
export interface TopicLookup {
  byName(name: string): { topicId: string; numPartitions: number } | undefined;
  nameOf(topicId: string): string | undefined;
  names(): Iterable<string>;
}

export type TopicPartitions = Map<string, Set<number>>;

/** ConsumerGroupCurrentMemberAssignment states (Kafka's MemberState ids). */
export const MemberState = { STABLE: 0, UNREVOKED_PARTITIONS: 1, UNRELEASED_PARTITIONS: 2, UNKNOWN: 3 } as const;

/** The member epoch of a static member that left temporarily (KIP-848). */
export const LEAVE_STATIC_EPOCH = -2;

export class ConsumerMember {
  instanceId: string | null = null;
  rackId: string | null = null;
  clientId = '';
  clientHost = '';
  subscribedTopicNames: string[] = [];
  subscribedTopicRegex: string | null = null;
  rebalanceTimeoutMs = 300_000;
  serverAssignor: string | null = null;
  memberEpoch = 0;
  previousMemberEpoch = -1;
  state: number = MemberState.STABLE;
  assigned: TopicPartitions = new Map();
  pendingRevocation: TopicPartitions = new Map();
  constructor(readonly memberId: string) {}
}

export class ConsumerGroup {
  readonly type = 'consumer' as const;
  groupEpoch = 0;
  assignmentEpoch = 0;
  readonly members = new Map<string, ConsumerMember>();
  readonly target = new Map<string, TopicPartitions>();
  /** Subscribed topics' partition counts at the last epoch bump: topic id -> [name, count]. */
  subscriptionMetadata = new Map<string, { name: string; numPartitions: number }>();
  constructor(readonly groupId: string) {}
}

type Op<T> = WriteResult<GroupRecord, T>;

function toWire(tp: TopicPartitions): { topicId: string; partitions: number[] }[] {
  return [...tp.entries()]
    .filter(([, s]) => s.size > 0)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([topicId, s]) => ({ topicId, partitions: [...s].sort((a, b) => a - b) }));
}

function fromWire(list: readonly { topicId: string; partitions: readonly number[] }[]): TopicPartitions {
  const out: TopicPartitions = new Map();
  for (const t of list) if (t.partitions.length > 0) out.set(t.topicId, new Set(t.partitions));
  return out;
}

function copy(tp: TopicPartitions): TopicPartitions {
  return new Map([...tp].map(([k, s]) => [k, new Set(s)] as const));
}

function equal(a: TopicPartitions, b: TopicPartitions): boolean {
  const ka = [...a].filter(([, s]) => s.size > 0);
  const kb = [...b].filter(([, s]) => s.size > 0);
  if (ka.length !== kb.length) return false;
  for (const [t, s] of ka) {
    const o = b.get(t);
    if (o === undefined || o.size !== s.size) return false;
    for (const p of s) if (!o.has(p)) return false;
  }
  return true;
}

function has(tp: TopicPartitions, topicId: string, p: number): boolean {
  return tp.get(topicId)?.has(p) ?? false;
}

function addTo(tp: TopicPartitions, topicId: string, p: number): void {
  let s = tp.get(topicId);
  if (s === undefined) {
    s = new Set();
    tp.set(topicId, s);
  }
  s.add(p);
}

function isEmpty(tp: TopicPartitions): boolean {
  for (const s of tp.values()) if (s.size > 0) return false;
  return true;
}

/** Full-match regex, as Kafka's RE2J matches(); undefined when it does not compile. */
function compileRegex(re: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${re})$`);
  } catch {
    return undefined;
  }
}

export class ConsumerGroupOps {
  constructor(
    private readonly shard: GroupShard,
    private readonly topics: TopicLookup,
  ) {}

  // ---- replay ---------------------------------------------------------------------------

  private group(groupId: string, create: boolean): ConsumerGroup | undefined {
    const g = this.shard.groups.get(groupId);
    if (g?.type === 'consumer') return g;
    if (!create) return undefined;
    const fresh = new ConsumerGroup(groupId);
    this.shard.groups.set(groupId, fresh);
    return fresh;
  }

  replay(record: GroupRecord): void {
    switch (record.kind) {
      case 'consumer-group': {
        if (record.value === null) {
          if (this.group(record.group, false) !== undefined) this.shard.groups.delete(record.group);
          return;
        }
        this.group(record.group, true)!.groupEpoch = record.value.epoch;
        return;
      }
      case 'consumer-partition-metadata': {
        const g = this.group(record.group, record.value !== null);
        if (g === undefined) return;
        g.subscriptionMetadata = new Map(
          (record.value?.topics ?? []).map((t) => [t.topicId, { name: t.topicName, numPartitions: t.numPartitions }]),
        );
        return;
      }
      case 'consumer-member': {
        const g = this.group(record.group, record.value !== null);
        if (g === undefined) return;
        if (record.value === null) {
          g.members.delete(record.memberId);
          return;
        }
        let m = g.members.get(record.memberId);
        if (m === undefined) {
          m = new ConsumerMember(record.memberId);
          g.members.set(record.memberId, m);
        }
        const v = record.value;
        m.instanceId = v.instanceId;
        m.rackId = v.rackId;
        m.clientId = v.clientId;
        m.clientHost = v.clientHost;
        m.subscribedTopicNames = [...v.subscribedTopicNames];
        m.subscribedTopicRegex = v.subscribedTopicRegex;
        m.rebalanceTimeoutMs = v.rebalanceTimeoutMs;
        m.serverAssignor = v.serverAssignor;
        return;
      }
      case 'consumer-target-metadata': {
        const g = this.group(record.group, record.value !== null);
        if (g !== undefined) g.assignmentEpoch = record.value?.assignmentEpoch ?? 0;
        return;
      }
      case 'consumer-target-member': {
        const g = this.group(record.group, record.value !== null);
        if (g === undefined) return;
        if (record.value === null) g.target.delete(record.memberId);
        else g.target.set(record.memberId, fromWire(record.value.topicPartitions));
        return;
      }
      case 'consumer-current-member': {
        const g = this.group(record.group, record.value !== null);
        if (g === undefined) return;
        const m = g.members.get(record.memberId);
        if (m === undefined || record.value === null) return;
        m.memberEpoch = record.value.memberEpoch;
        m.previousMemberEpoch = record.value.previousMemberEpoch;
        m.state = record.value.state;
        m.assigned = fromWire(record.value.assignedPartitions);
        m.pendingRevocation = fromWire(record.value.partitionsPendingRevocation);
        return;
      }
      default:
        return;
    }
  }

  onLoaded(group: ConsumerGroup): void {
    for (const m of group.members.values()) this.scheduleSession(group.groupId, m.memberId);
  }

  // ---- helpers --------------------------------------------------------------------------

  private scheduleSession(groupId: string, memberId: string): void {
    this.shard.ctx.schedule(`csession:${groupId}:${memberId}`, this.shard.config.consumerSessionTimeoutMs, (s, now) =>
      s.consumer.onSessionExpired(groupId, memberId, now),
    );
  }

  onSessionExpired(groupId: string, memberId: string, _nowMs: number): Op<undefined> {
    const g = this.group(groupId, false);
    const records: GroupRecord[] = [];
    if (g?.members.has(memberId)) records.push(...this.removeMemberRecords(g, memberId));
    return { records, response: undefined };
  }

  onRevocationTimeout(groupId: string, memberId: string, epoch: number): Op<undefined> {
    const g = this.group(groupId, false);
    const m = g?.members.get(memberId);
    const records: GroupRecord[] = [];
    if (g !== undefined && m !== undefined && m.state === MemberState.UNREVOKED_PARTITIONS && m.memberEpoch === epoch) {
      records.push(...this.removeMemberRecords(g, memberId));
    }
    return { records, response: undefined };
  }

  /** Tombstones of a member, then the group epoch bump (and target recomputation for the others). */
  private removeMemberRecords(g: ConsumerGroup, memberId: string, bumpEpoch = true): GroupRecord[] {
    this.shard.ctx.cancel(`csession:${g.groupId}:${memberId}`);
    this.shard.ctx.cancel(`crevoke:${g.groupId}:${memberId}`);
    const group = g.groupId;
    const records: GroupRecord[] = [
      { kind: 'consumer-current-member', group, memberId, value: null },
      { kind: 'consumer-target-member', group, memberId, value: null },
      { kind: 'consumer-member', group, memberId, value: null },
    ];
    if (bumpEpoch) records.push({ kind: 'consumer-group', group, value: { epoch: g.groupEpoch + 1 } });
    return records;
  }

  /** Topic ids (with counts) a set of members subscribes to, from the metadata image. */
  private subscribedTopics(
    members: Iterable<{ subscribedTopicNames: string[]; subscribedTopicRegex: string | null }>,
  ): Map<string, { name: string; numPartitions: number }> {
    const out = new Map<string, { name: string; numPartitions: number }>();
    const addName = (name: string): void => {
      const t = this.topics.byName(name);
      if (t !== undefined && t.numPartitions > 0) out.set(t.topicId, { name, numPartitions: t.numPartitions });
    };
    const allNames = [...this.topics.names()];
    for (const m of members) {
      for (const n of m.subscribedTopicNames) addName(n);
      if (m.subscribedTopicRegex !== null) {
        const re = compileRegex(m.subscribedTopicRegex);
        if (re !== undefined) for (const n of allNames) if (!n.startsWith('__') && re.test(n)) addName(n);
      }
    }
    return out;
  }

  private memberTopicIds(m: { subscribedTopicNames: string[]; subscribedTopicRegex: string | null }): Set<string> {
    return new Set(this.subscribedTopics([m]).keys());
  }

  subscribedTopicNames(g: ConsumerGroup): Set<string> {
    return new Set([...this.subscribedTopics(g.members.values()).values()].map((t) => t.name));
  }

  stateName(g: ConsumerGroup): string {
    if (g.members.size === 0) return 'Empty';
    if (g.groupEpoch > g.assignmentEpoch) return 'Assigning';
    for (const m of g.members.values())
      if (m.memberEpoch !== g.assignmentEpoch || m.state !== MemberState.STABLE) return 'Reconciling';
    return 'Stable';
  }

  validateCommit(g: ConsumerGroup, memberId: string, memberEpoch: number, apiVersion: number): number {
    if (memberEpoch < 0 && memberId === '') return g.members.size === 0 ? 0 : ErrorCode.UNKNOWN_MEMBER_ID;
    const m = g.members.get(memberId);
    if (m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (apiVersion < 9) return ErrorCode.UNSUPPORTED_VERSION;
    if (memberEpoch !== m.memberEpoch) return ErrorCode.STALE_MEMBER_EPOCH;
    return 0;
  }

  validateFetch(g: ConsumerGroup, memberId: string, memberEpoch: number): number {
    const m = g.members.get(memberId);
    if (m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (memberEpoch !== m.memberEpoch) return ErrorCode.STALE_MEMBER_EPOCH;
    return 0;
  }

  tombstones(g: ConsumerGroup): GroupRecord[] {
    const group = g.groupId;
    return [
      { kind: 'consumer-target-metadata', group, value: null },
      { kind: 'consumer-partition-metadata', group, value: null },
      { kind: 'consumer-group', group, value: null },
    ];
  }

  // ---- ConsumerGroupHeartbeat -----------------------------------------------------------

  heartbeat(
    req: ConsumerGroupHeartbeatRequest,
    clientId: string,
    clientHost: string,
    apiVersion: number,
  ): Op<ConsumerGroupHeartbeatResponse> {
    const config = this.shard.config;
    const records: GroupRecord[] = [];
    const fail = (errorCode: number, errorMessage: string | null = null): Op<ConsumerGroupHeartbeatResponse> => ({
      records: [],
      response: {
        throttleTimeMs: 0,
        errorCode,
        errorMessage,
        memberId: null,
        memberEpoch: -1,
        heartbeatIntervalMs: 0,
        assignment: null,
      },
    });
    if (req.groupId === '') return fail(ErrorCode.INVALID_REQUEST, 'GroupId can not be empty.');
    if (req.memberEpoch > 0 && req.memberId === '')
      return fail(ErrorCode.INVALID_REQUEST, 'MemberId can not be empty.');
    if (req.memberEpoch === 0) {
      if (req.rebalanceTimeoutMs < 0) return fail(ErrorCode.INVALID_REQUEST, 'RebalanceTimeoutMs must be provided.');
      if (req.subscribedTopicNames === null && req.subscribedTopicRegex === null) {
        return fail(ErrorCode.INVALID_REQUEST, 'SubscribedTopicNames or SubscribedTopicRegex must be set.');
      }
    }
    if (req.serverAssignor !== null && !config.consumerAssignors.includes(req.serverAssignor)) {
      return fail(ErrorCode.UNSUPPORTED_ASSIGNOR, `Assignor ${req.serverAssignor} is not supported.`);
    }
    if (req.subscribedTopicRegex !== null && compileRegex(req.subscribedTopicRegex) === undefined) {
      return fail(ErrorCode.INVALID_REGULAR_EXPRESSION, `Invalid regular expression: ${req.subscribedTopicRegex}`);
    }
    const existing = this.shard.groups.get(req.groupId);
    if (existing?.type === 'classic' && existing.members.size > 0) {
      return fail(ErrorCode.GROUP_ID_NOT_FOUND, `Group ${req.groupId} is not a consumer group.`);
    }
    const g = existing?.type === 'consumer' ? existing : undefined;
    const groupId = req.groupId;
    const groupEpoch = g?.groupEpoch ?? 0;

    // Leave (-1), or a static member's temporary leave (-2): it keeps its place and
    // assignment until its session times out or its instance rejoins.
    if (req.memberEpoch < 0) {
      const m = g?.members.get(req.memberId);
      if (g === undefined || m === undefined) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      const response = {
        throttleTimeMs: 0,
        errorCode: 0,
        errorMessage: null,
        memberId: req.memberId,
        memberEpoch: req.memberEpoch,
        heartbeatIntervalMs: 0,
        assignment: null,
      };
      if (req.memberEpoch === LEAVE_STATIC_EPOCH && m.instanceId !== null) {
        const leaving: GroupRecord = {
          kind: 'consumer-current-member',
          group: groupId,
          memberId: m.memberId,
          value: {
            memberEpoch: LEAVE_STATIC_EPOCH,
            previousMemberEpoch: m.memberEpoch,
            state: m.state,
            assignedPartitions: toWire(m.assigned),
            partitionsPendingRevocation: toWire(m.pendingRevocation),
          },
        };
        return { records: [leaving], response };
      }
      return { records: this.removeMemberRecords(g, req.memberId), response };
    }

    let member: ConsumerMember | undefined;
    let memberId = req.memberId;
    let replaced: string | undefined;
    if (req.memberEpoch === 0) {
      if (memberId === '' || apiVersion === 0) memberId = memberId === '' ? this.shard.newUuid() : memberId;
      member = g?.members.get(memberId);
      const size = g?.members.size ?? 0;
      if (member === undefined && size >= config.consumerMaxSize) return fail(ErrorCode.GROUP_MAX_SIZE_REACHED);
      if (req.instanceId !== null && g !== undefined) {
        for (const other of g.members.values()) {
          if (other.instanceId !== req.instanceId || other.memberId === memberId) continue;
          // Only an instance that left temporarily (-2) can be taken over; a live one is not released.
          if (other.memberEpoch !== LEAVE_STATIC_EPOCH) {
            return fail(ErrorCode.UNRELEASED_INSTANCE_ID, `Static member ${req.instanceId} is still in the group.`);
          }
          records.push(...this.removeMemberRecords(g, other.memberId, false));
          // The new member id takes the old one's epoch, assignment and target: no rebalance.
          replaced = other.memberId;
          member = Object.assign(new ConsumerMember(memberId), other, { memberId });
          member.memberEpoch = other.previousMemberEpoch;
          member.previousMemberEpoch = -1;
        }
      }
    } else {
      member = g?.members.get(memberId);
      if (g === undefined || member === undefined) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      if (req.memberEpoch !== member.memberEpoch) {
        // The previous epoch is fine while the owned partitions are still a subset of the assignment (lost response).
        const owned = req.topicPartitions === null ? undefined : fromWire(req.topicPartitions);
        const subset =
          owned !== undefined && [...owned].every(([t, s]) => [...s].every((p) => has(member!.assigned, t, p)));
        if (!(req.memberEpoch === member.previousMemberEpoch && subset)) {
          return fail(ErrorCode.FENCED_MEMBER_EPOCH, `The member epoch ${req.memberEpoch} is fenced.`);
        }
      }
    }

    // The member's metadata as of this heartbeat.
    const draft = new ConsumerMember(memberId);
    if (member !== undefined) Object.assign(draft, member);
    draft.clientId = clientId;
    draft.clientHost = clientHost;
    if (req.instanceId !== null) draft.instanceId = req.instanceId;
    if (req.rackId !== null) draft.rackId = req.rackId;
    if (req.rebalanceTimeoutMs >= 0) draft.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    if (req.subscribedTopicNames !== null) draft.subscribedTopicNames = [...req.subscribedTopicNames];
    if (req.subscribedTopicRegex !== null)
      draft.subscribedTopicRegex = req.subscribedTopicRegex === '' ? null : req.subscribedTopicRegex;
    if (req.serverAssignor !== null) draft.serverAssignor = req.serverAssignor;
    const metadataChanged =
      member === undefined ||
      member.instanceId !== draft.instanceId ||
      member.rackId !== draft.rackId ||
      member.clientId !== draft.clientId ||
      member.rebalanceTimeoutMs !== draft.rebalanceTimeoutMs ||
      member.serverAssignor !== draft.serverAssignor ||
      member.subscribedTopicRegex !== draft.subscribedTopicRegex ||
      member.subscribedTopicNames.join('\u0000') !== draft.subscribedTopicNames.join('\u0000');
    if (metadataChanged || replaced !== undefined) {
      records.push({
        kind: 'consumer-member',
        group: groupId,
        memberId,
        value: {
          instanceId: draft.instanceId,
          rackId: draft.rackId,
          clientId: draft.clientId,
          clientHost: draft.clientHost,
          subscribedTopicNames: draft.subscribedTopicNames,
          subscribedTopicRegex: draft.subscribedTopicRegex,
          rebalanceTimeoutMs: draft.rebalanceTimeoutMs,
          serverAssignor: draft.serverAssignor,
          classicMemberMetadata: null,
        },
      });
    }

    // Members as they will be (removed ones excluded), and the subscribed topics' metadata.
    const removedIds = new Set(
      records
        .filter((r) => r.kind === 'consumer-member' && r.value === null)
        .map((r) => (r as { memberId: string }).memberId),
    );
    const members = new Map<string, ConsumerMember>();
    for (const [id, m] of g?.members ?? []) if (!removedIds.has(id)) members.set(id, m);
    // A replaced static member's departure is not a membership change.
    const removed = new Set([...removedIds].filter((id) => id !== replaced));
    members.set(memberId, draft);
    const subscription = this.subscribedTopics(members.values());
    const subscriptionChanged =
      g === undefined ||
      subscription.size !== g.subscriptionMetadata.size ||
      [...subscription].some(([id, t]) => g!.subscriptionMetadata.get(id)?.numPartitions !== t.numPartitions);
    let epoch = groupEpoch;
    if (subscriptionChanged) {
      records.push({
        kind: 'consumer-partition-metadata',
        group: groupId,
        value: {
          topics: [...subscription].map(([topicId, t]) => ({
            topicId,
            topicName: t.name,
            numPartitions: t.numPartitions,
            partitionMetadata: [],
          })),
        },
      });
    }
    if (metadataChanged || subscriptionChanged || removed.size > 0) {
      // One epoch bump for everything this heartbeat changed.
      epoch = groupEpoch + 1;
      records.push({ kind: 'consumer-group', group: groupId, value: { epoch } });
    }

    // Target assignment at the group epoch.
    let target: Map<string, TopicPartitions> = new Map(g?.target ?? []);
    for (const id of removedIds) target.delete(id);
    if (replaced !== undefined) {
      const inherited = g?.target.get(replaced) ?? new Map<string, Set<number>>();
      target.set(memberId, inherited);
      records.push({
        kind: 'consumer-target-member',
        group: groupId,
        memberId,
        value: { topicPartitions: toWire(inherited) },
      });
    }
    const assignmentEpoch = g?.assignmentEpoch ?? 0;
    let newAssignmentEpoch = assignmentEpoch;
    if (epoch > assignmentEpoch) {
      const assignorName = draft.serverAssignor ?? this.preferredAssignor(members.values());
      const assignor = ASSIGNORS.get(assignorName) ?? ASSIGNORS.get('uniform')!;
      const counts = new Map([...subscription].map(([id, t]) => [id, t.numPartitions] as const));
      const inputs: AssignorMember[] = [...members.values()].map((m) => ({
        memberId: m.memberId,
        topics: this.memberTopicIds(m),
        previous: target.get(m.memberId) ?? new Map(),
      }));
      const computed = assignor.assign(inputs, counts);
      const next = new Map<string, TopicPartitions>();
      for (const [id, tp] of computed) {
        next.set(id, tp);
        const before = target.get(id);
        if (before === undefined || !equal(before, tp)) {
          records.push({
            kind: 'consumer-target-member',
            group: groupId,
            memberId: id,
            value: { topicPartitions: toWire(tp) },
          });
        }
      }
      target = next;
      newAssignmentEpoch = epoch;
      records.push({ kind: 'consumer-target-metadata', group: groupId, value: { assignmentEpoch: epoch } });
    }

    // Reconcile this member toward its target.
    const owned = req.topicPartitions === null ? undefined : fromWire(req.topicPartitions);
    const next = this.reconcile(
      draft,
      member === undefined,
      target.get(memberId) ?? new Map(),
      newAssignmentEpoch,
      owned,
      members,
    );
    const changed =
      member === undefined ||
      replaced !== undefined ||
      next.memberEpoch !== member.memberEpoch ||
      next.state !== member.state ||
      !equal(next.assigned, member.assigned) ||
      !equal(next.pendingRevocation, member.pendingRevocation);
    if (changed) {
      records.push({
        kind: 'consumer-current-member',
        group: groupId,
        memberId,
        value: {
          memberEpoch: next.memberEpoch,
          previousMemberEpoch: next.previousMemberEpoch,
          state: next.state,
          assignedPartitions: toWire(next.assigned),
          partitionsPendingRevocation: toWire(next.pendingRevocation),
        },
      });
    }
    const revokeKey = `crevoke:${groupId}:${memberId}`;
    const ctx = this.shard.ctx;
    const revocationEpoch = next.memberEpoch;
    const onAppended = (code: number): void => {
      if (code !== 0) return;
      this.scheduleSession(groupId, memberId);
      if (next.state === MemberState.UNREVOKED_PARTITIONS) {
        if (!ctx.isScheduled(revokeKey)) {
          ctx.schedule(revokeKey, draft.rebalanceTimeoutMs, (s) =>
            s.consumer.onRevocationTimeout(groupId, memberId, revocationEpoch),
          );
        }
      } else ctx.cancel(revokeKey);
    };
    return {
      records,
      response: {
        throttleTimeMs: 0,
        errorCode: 0,
        errorMessage: null,
        memberId,
        memberEpoch: next.memberEpoch,
        heartbeatIntervalMs: config.consumerHeartbeatIntervalMs,
        assignment: { topicPartitions: toWire(next.assigned) },
      },
      onAppended,
    };
  }

  private preferredAssignor(members: Iterable<ConsumerMember>): string {
    const votes = new Map<string, number>();
    for (const m of members)
      if (m.serverAssignor !== null) votes.set(m.serverAssignor, (votes.get(m.serverAssignor) ?? 0) + 1);
    let best = this.shard.config.consumerAssignors[0] ?? 'uniform';
    let bestVotes = 0;
    for (const [name, v] of votes) {
      if (v > bestVotes) {
        best = name;
        bestVotes = v;
      }
    }
    return best;
  }

  /**
   * The member's next epoch and assignment: partitions leaving it go to pending
   * revocation first (epoch unchanged) until the member stops reporting them; then it
   * moves to the target epoch and gets the target partitions no other member still holds.
   */
  private reconcile(
    m: ConsumerMember,
    isNew: boolean,
    target: TopicPartitions,
    targetEpoch: number,
    owned: TopicPartitions | undefined,
    members: ReadonlyMap<string, ConsumerMember>,
  ): {
    memberEpoch: number;
    previousMemberEpoch: number;
    state: number;
    assigned: TopicPartitions;
    pendingRevocation: TopicPartitions;
  } {
    let assigned = isNew ? new Map() : copy(m.assigned);
    let pending = isNew ? new Map() : copy(m.pendingRevocation);
    let memberEpoch = isNew ? 0 : m.memberEpoch;
    let previousMemberEpoch = isNew ? -1 : m.previousMemberEpoch;
    // Revocation acknowledged when the member no longer reports the pending partitions.
    if (!isEmpty(pending)) {
      const stillOwned = owned === undefined || [...pending].some(([t, s]) => [...s].some((p) => has(owned, t, p)));
      if (stillOwned) {
        return {
          memberEpoch,
          previousMemberEpoch,
          state: MemberState.UNREVOKED_PARTITIONS,
          assigned,
          pendingRevocation: pending,
        };
      }
      pending = new Map();
    }
    // Partitions leaving this member.
    const kept: TopicPartitions = new Map();
    const revoke: TopicPartitions = new Map();
    for (const [t, s] of assigned) for (const p of s) has(target, t, p) ? addTo(kept, t, p) : addTo(revoke, t, p);
    if (!isEmpty(revoke)) {
      return {
        memberEpoch,
        previousMemberEpoch,
        state: MemberState.UNREVOKED_PARTITIONS,
        assigned: kept,
        pendingRevocation: revoke,
      };
    }
    // Move to the target epoch; take the partitions nobody else still holds.
    if (memberEpoch !== targetEpoch) {
      previousMemberEpoch = memberEpoch;
      memberEpoch = targetEpoch;
    }
    assigned = kept;
    let unreleased = false;
    for (const [t, s] of target) {
      for (const p of s) {
        if (has(assigned, t, p)) continue;
        let held = false;
        for (const other of members.values()) {
          if (other.memberId === m.memberId) continue;
          if (has(other.assigned, t, p) || has(other.pendingRevocation, t, p)) {
            held = true;
            break;
          }
        }
        if (held) unreleased = true;
        else addTo(assigned, t, p);
      }
    }
    return {
      memberEpoch,
      previousMemberEpoch,
      state: unreleased ? MemberState.UNRELEASED_PARTITIONS : MemberState.STABLE,
      assigned,
      pendingRevocation: new Map(),
    };
  }

  // ---- describe -------------------------------------------------------------------------

  describe(groupId: string): ConsumerGroupDescribeResponseDescribedGroup {
    const g = this.group(groupId, false);
    const base = {
      errorMessage: null,
      groupId,
      groupState: 'Dead',
      groupEpoch: -1,
      assignmentEpoch: -1,
      assignorName: '',
      members: [],
      authorizedOperations: -2147483648,
    };
    if (g === undefined) {
      const classic = this.shard.groups.has(groupId);
      return {
        ...base,
        errorCode: ErrorCode.GROUP_ID_NOT_FOUND,
        errorMessage: classic ? `Group ${groupId} is not a consumer group.` : `Group ${groupId} not found.`,
      };
    }
    const named = (tp: TopicPartitions) => ({
      topicPartitions: toWire(tp).map((t) => ({ ...t, topicName: this.topics.nameOf(t.topicId) ?? '' })),
    });
    return {
      ...base,
      errorCode: 0,
      groupState: this.stateName(g).toLowerCase() === 'empty' ? 'Empty' : this.stateName(g),
      groupEpoch: g.groupEpoch,
      assignmentEpoch: g.assignmentEpoch,
      assignorName: this.preferredAssignor(g.members.values()),
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        rackId: m.rackId,
        memberEpoch: m.memberEpoch,
        clientId: m.clientId,
        clientHost: m.clientHost,
        subscribedTopicNames: m.subscribedTopicNames,
        subscribedTopicRegex: m.subscribedTopicRegex,
        assignment: named(m.assigned),
        targetAssignment: named(g.target.get(m.memberId) ?? new Map()),
      })),
    };
  }

  /** DescribeGroups on a consumer-protocol group: its state and members, no protocol data. */
  describeAsClassic(g: ConsumerGroup): DescribedClassicGroup {
    return {
      errorCode: 0,
      groupId: g.groupId,
      groupState: this.stateName(g),
      protocolType: 'consumer',
      protocolData: '',
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.instanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: Buffer.alloc(0),
        memberAssignment: Buffer.alloc(0),
      })),
    };
  }
}
