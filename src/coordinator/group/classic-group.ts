/**
 * A classic-protocol group (JoinGroup/SyncGroup/Heartbeat): its members, generation,
 * protocol and leader. What a generation's assignment completes with is written as a
 * GroupMetadata record and replayed; the rebalance in progress (members that joined,
 * parked JoinGroup/SyncGroup responses) lives in memory, as in Kafka: a restart resumes
 * from the last completed generation.
 */
import type { JoinGroupResponse } from '../../protocol/generated/join-group-response.ts';
import type { SyncGroupResponse } from '../../protocol/generated/sync-group-response.ts';

export type ClassicGroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export class ClassicMember {
  assignment: Buffer = Buffer.alloc(0);
  /** A parked JoinGroup (PreparingRebalance). */
  joinWaiter: ((r: JoinGroupResponse) => void) | undefined;
  /** A parked SyncGroup (CompletingRebalance). */
  syncWaiter: ((r: SyncGroupResponse) => void) | undefined;
  /** Joined in the rebalance in progress and not part of a completed generation yet. */
  isNew = false;
  /** JoinGroup version of its last join (v9: skipAssignment). */
  joinVersion = 0;

  constructor(
    public memberId: string,
    public groupInstanceId: string | null,
    public clientId: string,
    public clientHost: string,
    public rebalanceTimeoutMs: number,
    public sessionTimeoutMs: number,
    public protocolType: string,
    public protocols: Protocol[],
  ) {}

  isAwaitingJoin(): boolean {
    return this.joinWaiter !== undefined;
  }

  metadataFor(protocol: string | null): Buffer {
    return this.protocols.find((p) => p.name === protocol)?.metadata ?? Buffer.alloc(0);
  }

  sameProtocols(protocols: readonly Protocol[]): boolean {
    if (protocols.length !== this.protocols.length) return false;
    return protocols.every(
      (p, i) => p.name === this.protocols[i]!.name && p.metadata.equals(this.protocols[i]!.metadata),
    );
  }
}

export class ClassicGroup {
  readonly type = 'classic' as const;
  state: ClassicGroupState = 'Empty';
  protocolType: string | null = null;
  protocolName: string | null = null;
  generationId = 0;
  leaderId: string | null = null;
  readonly members = new Map<string, ClassicMember>();
  /** group.instance.id -> member id. */
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, not joined yet (KIP-394). */
  readonly pendingMembers = new Set<string>();
  stateTimestampMs = -1;
  /** The first rebalance of an empty group waits group.initial.rebalance.delay.ms (extended while members arrive). */
  initialDelayActive = false;
  newMemberAdded = false;
  initialDelayDeadlineMs = 0;

  constructor(readonly groupId: string) {}

  transition(state: ClassicGroupState, nowMs: number): void {
    this.state = state;
    this.stateTimestampMs = nowMs;
  }

  awaitingJoinCount(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.isAwaitingJoin()) n++;
    return n;
  }

  allMembersJoined(): boolean {
    return this.awaitingJoinCount() === this.members.size && this.pendingMembers.size === 0;
  }

  maxRebalanceTimeoutMs(): number {
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
    return max;
  }

  /** Protocols every member supports (ignoring `except`, a member about to change its list). */
  candidateProtocols(except?: string): string[] {
    const others = [...this.members.values()].filter((m) => m.memberId !== except);
    if (others.length === 0) return [];
    const first = others[0]!.protocols.map((p) => p.name);
    return first.filter((name) => others.every((m) => m.protocols.some((p) => p.name === name)));
  }

  /** Whether a member with this protocol type and list may join (Kafka's supportsProtocols). */
  supportsProtocols(protocolType: string, protocols: readonly Protocol[], memberId?: string): boolean {
    const others = [...this.members.values()].filter((m) => m.memberId !== memberId);
    if (others.length === 0) return protocolType !== '' && protocols.length > 0;
    if (protocolType !== this.protocolType) return false;
    const candidates = this.candidateProtocols(memberId);
    return protocols.some((p) => candidates.includes(p.name));
  }

  /** Each member votes for its most preferred protocol among those all support; most votes wins. */
  selectProtocol(): string | null {
    const candidates = this.candidateProtocols();
    if (candidates.length === 0) return null;
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const choice = m.protocols.find((p) => candidates.includes(p.name))!.name;
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    let best: string | null = null;
    let bestVotes = -1;
    for (const name of candidates) {
      const v = votes.get(name) ?? 0;
      if (v > bestVotes) {
        best = name;
        bestVotes = v;
      }
    }
    return best;
  }

  /** Topics the members subscribe to (consumer protocol), or undefined when unknown (other protocols). */
  subscribedTopics(parse: (metadata: Buffer) => string[] | undefined): Set<string> | undefined {
    if (this.protocolType !== 'consumer' || this.protocolName === null) return undefined;
    const topics = new Set<string>();
    for (const m of this.members.values()) {
      const list = parse(m.metadataFor(this.protocolName));
      if (list === undefined) return undefined;
      for (const t of list) topics.add(t);
    }
    return topics;
  }

  isStaticMemberFenced(groupInstanceId: string | null, memberId: string): boolean {
    if (groupInstanceId === null) return false;
    const current = this.staticMembers.get(groupInstanceId);
    return current !== undefined && current !== memberId;
  }
}
