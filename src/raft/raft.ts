/**
 * The Raft core of the metadata quorum (KIP-595 with KIP-996 pre-vote), sans-io.
 *
 * Driven by three calls: `handle(message, nowMs)` for an RPC from a peer, `poll(nowMs)`
 * for timers (it returns the next deadline), and `scheduleAppend(epoch, records, nowMs)`
 * on the leader. It speaks through an injected `send`. It never waits: what must be
 * durable first (the quorum state before a vote or a leadership claim is announced, log
 * batches before a follower acknowledges them by fetching past them) is the driver's part:
 * the driver persists `pendingPersist()` before it delivers the messages produced since,
 * and then reports `persisted(endOffset)` so the leader may count its own copy toward
 * the high watermark (see node.ts in src/sim and docs/raft.md).
 *
 * One writer: a RaftNode is changed only by these calls, each running to completion.
 */

import type { Random } from '../env/random.ts';
import { encode } from '../protocol/codec/message.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import { LeaderChangeMessageCodec } from '../protocol/generated/leader-change-message.ts';
import type { RaftConfig } from './config.ts';
import { RaftLog } from './log.ts';
import type { FetchAnswer } from './rpc.ts';
import {
  beginQuorumEpochRequest,
  endQuorumEpochRequest,
  fetchRequest,
  fetchResponse,
  fetchSnapshotRequest,
  fetchSnapshotResponse,
  quorumResponse,
  readFetchRequest,
  readFetchResponse,
  readFetchSnapshotRequest,
  readFetchSnapshotResponse,
  readLeaderAndEpoch,
  readQuorumResponse,
  readVoteRequest,
  readVoteResponse,
  voteRequest,
  voteResponse,
} from './rpc.ts';
import type { LeaderAndEpoch, LogBatch, QuorumState, RaftMessage, RaftState, SnapshotId } from './types.ts';
import { batchEnd, NO_ID } from './types.ts';

/** Kafka's check-quorum window: 1.5 x the fetch timeout. */
export const CHECK_QUORUM_FACTOR = 1.5;

/** What the state machine above Raft hears. Every call happens inside handle/poll/persisted. */
export interface RaftListener {
  /** Committed batches, in offset order, each once per process lifetime (control batches included). */
  handleCommit(batches: readonly LogBatch[]): void;
  /** The state machine must reset to this snapshot (a restart, or a snapshot fetched from the leader). */
  handleLoadSnapshot(id: SnapshotId, data: Buffer): void;
  /** The known leader or epoch changed. */
  handleLeaderChange(leader: LeaderAndEpoch): void;
}

export class RaftAppendError extends Error {
  override readonly name = 'RaftAppendError';
  constructor(
    readonly kind: 'not-leader' | 'buffer-full',
    message: string,
  ) {
    super(message);
  }
}

/** What the driver must make durable before delivering the messages sent since. */
export interface PersistWork {
  quorumState?: QuorumState;
  /** A snapshot to write (created here or fetched from the leader). */
  snapshot?: { id: SnapshotId; data: Buffer };
  /** The log changed at or above this offset (truncation and/or appends). */
  logDirtyFrom?: number;
  /** The log start moved: the store rewrites the log from the start. */
  logStartChanged?: boolean;
}

export interface RaftNodeOptions {
  config: RaftConfig;
  random: Random;
  send: (message: RaftMessage) => void;
  listener?: RaftListener;
  /** Recovered durable state: absent on a fresh node. */
  recovered?: { quorum: QuorumState; log: RaftLog; snapshotData?: Buffer };
  nowMs: number;
  /** Bound on records appended but not yet committed on the leader (scheduleAppend fails beyond it). */
  maxUncommittedRecords?: number;
}

interface Inflight {
  correlationId: number;
  deadlineMs: number;
}

interface Election {
  granted: Set<number>;
  rejected: Set<number>;
  inflight: Map<number, Inflight>;
}

interface ReplicaProgress {
  /** The fetch offset of its latest valid fetch: it has (durably) everything below. -1: none yet. */
  endOffset: number;
  lastFetchMs: number;
  /** The high watermark last sent to it: a fetch is answered at once when ours is newer. */
  sentHighWatermark: number;
  /** When it last fetched from our log end (-1: never). */
  lastCaughtUpMs: number;
}

interface ParkedFetch {
  /** Who sent the fetch (the answer goes there). */
  from: number;
  replicaId: number;
  correlationId: number;
  fetchOffset: number;
  deadlineMs: number;
}

interface SnapshotDownload {
  id: SnapshotId;
  chunks: Buffer[];
  position: number;
}

type State =
  | { kind: 'unattached'; epoch: number; electionDeadlineMs: number; discovery?: Inflight & { to: number } }
  | ({
      kind: 'prospective';
      epoch: number;
      electionDeadlineMs: number;
      /** The leader of this epoch we stopped following (its fetches timed out), or NO_ID. */
      formerLeaderId: number;
    } & Election)
  | ({ kind: 'candidate'; epoch: number; electionDeadlineMs: number; lost: boolean } & Election)
  | {
      kind: 'leader';
      epoch: number;
      epochStartOffset: number;
      startedMs: number;
      replicas: Map<number, ReplicaProgress>;
      beginAcked: Set<number>;
      beginInflight: Map<number, Inflight>;
      parked: Map<number, ParkedFetch>;
      /** Set once an offset of this epoch commits; until then fetchers are told -1 (unknown). */
      hwKnown: boolean;
    }
  | {
      kind: 'follower';
      epoch: number;
      leaderId: number;
      fetchDeadlineMs: number;
      lastFetchOkMs: number;
      inflight?: Inflight;
      retryAtMs: number;
      leaderHighWatermark: number;
      download?: SnapshotDownload;
    }
  | {
      kind: 'resigned';
      epoch: number;
      electionDeadlineMs: number;
      endAcked: Set<number>;
      endInflight: Map<number, Inflight>;
      preferredSuccessors: number[];
    };

/** Counters of notable protocol events (metrics, and the simulator's coverage report). */
export interface RaftStats {
  elections: number;
  leaderships: number;
  preVotesRejected: number;
  truncations: number;
  snapshotsFetched: number;
  resignations: number;
  checkQuorumResignations: number;
}

export class RaftNode {
  readonly config: RaftConfig;
  readonly stats: RaftStats = {
    elections: 0,
    leaderships: 0,
    preVotesRejected: 0,
    truncations: 0,
    snapshotsFetched: 0,
    resignations: 0,
    checkQuorumResignations: 0,
  };
  readonly log: RaftLog;
  private readonly random: Random;
  private readonly sendFn: (message: RaftMessage) => void;
  private listener: RaftListener | undefined;
  private quorum: QuorumState;
  private state: State;
  private quorumDirty = false;
  private pendingSnapshot: { id: SnapshotId; data: Buffer } | undefined;
  private snapshotData: Buffer | undefined;
  /** Log entries below this are durable on this node. */
  private flushedEnd: number;
  /** -1 until known (after a restart, until the leader says). */
  private hw = -1;
  /** Committed batches below this offset were handed to the listener. */
  private delivered: number;
  private nextCorrelationId = 1;
  private readonly majority: number;
  private readonly isVoter: boolean;
  private readonly maxUncommittedRecords: number;

  constructor(options: RaftNodeOptions) {
    this.config = options.config;
    this.random = options.random;
    this.sendFn = options.send;
    this.listener = options.listener;
    this.maxUncommittedRecords = options.maxUncommittedRecords ?? 10_000;
    this.isVoter = this.config.voters.includes(this.config.nodeId);
    this.majority = Math.floor(this.config.voters.length / 2) + 1;
    const r = options.recovered;
    this.log = r?.log ?? new RaftLog();
    this.quorum = r ? { ...r.quorum } : { epoch: 0, leaderId: NO_ID, votedId: NO_ID };
    this.snapshotData = r?.snapshotData;
    this.flushedEnd = this.log.endOffset();
    this.delivered = this.log.startOffset();
    const now = options.nowMs;
    const q = this.quorum;
    if (q.leaderId === this.config.nodeId) {
      // We led this epoch before the restart: never lead it again (the log may differ).
      this.state = this.resignedState(q.epoch, now, []);
    } else if (q.leaderId !== NO_ID) {
      this.state = this.followerState(q.epoch, q.leaderId, now);
    } else {
      this.state = { kind: 'unattached', epoch: q.epoch, electionDeadlineMs: this.electionDeadline(now) };
    }
  }

  /** Sets the listener and replays the recovered snapshot into it. */
  register(listener: RaftListener): void {
    this.listener = listener;
    const snap = this.log.latestSnapshot();
    if (snap && this.snapshotData) listener.handleLoadSnapshot(snap, this.snapshotData);
    listener.handleLeaderChange(this.leaderAndEpoch());
    this.deliverCommits();
  }

  // ---- queries ---------------------------------------------------------------------

  stateName(): RaftState {
    return this.state.kind;
  }

  epoch(): number {
    return this.state.epoch;
  }

  leaderAndEpoch(): LeaderAndEpoch {
    const s = this.state;
    if (s.kind === 'leader') return { leaderId: this.config.nodeId, epoch: s.epoch };
    if (s.kind === 'follower') return { leaderId: s.leaderId, epoch: s.epoch };
    return { leaderId: NO_ID, epoch: s.epoch };
  }

  /** -1 while unknown. */
  highWatermark(): number {
    return this.hw;
  }

  quorumState(): QuorumState {
    return { ...this.quorum };
  }

  flushedEndOffset(): number {
    return this.flushedEnd;
  }

  latestSnapshotData(): Buffer | undefined {
    return this.snapshotData;
  }

  /** DescribeQuorum's view on the leader: each replica's acknowledged end offset and fetch times. */
  replicaProgress(): Map<number, { endOffset: number; lastFetchMs: number; lastCaughtUpMs: number }> {
    return this.state.kind === 'leader' ? new Map(this.state.replicas) : new Map();
  }

  // ---- persistence handshake with the driver -------------------------------------------

  /** What must be made durable before messages sent since the last call are delivered. */
  pendingPersist(): PersistWork | undefined {
    const work: PersistWork = {};
    let any = false;
    if (this.quorumDirty) {
      work.quorumState = { ...this.quorum };
      any = true;
    }
    if (this.pendingSnapshot) {
      work.snapshot = this.pendingSnapshot;
      any = true;
    }
    if (this.log.dirtyFrom !== Number.POSITIVE_INFINITY || this.log.startChanged) {
      work.logDirtyFrom = this.log.dirtyFrom;
      work.logStartChanged = this.log.startChanged;
      any = true;
    }
    if (!any) return undefined;
    this.quorumDirty = false;
    this.pendingSnapshot = undefined;
    this.log.markPersisted();
    return work;
  }

  /** The driver made the log durable up to `endOffset` (the end when pendingPersist was taken). */
  persisted(endOffset: number, nowMs: number): void {
    this.flushedEnd = Math.min(endOffset, this.log.endOffset());
    const s = this.state;
    if (s.kind === 'leader') this.maybeAdvanceLeaderHw(s, nowMs);
    else if (s.kind === 'follower') this.updateFollowerHw(s);
  }

  // ---- the leader's API --------------------------------------------------------------

  /**
   * Appends one batch in the leader's epoch and returns the offset of its last record.
   * Throws RaftAppendError('not-leader') when this node is not the leader of `epoch`,
   * ('buffer-full') when too many records wait for commit (back-pressure).
   */
  scheduleAppend(epoch: number, records: readonly Buffer[], nowMs: number): number {
    const s = this.state;
    if (s.kind !== 'leader' || s.epoch !== epoch) {
      throw new RaftAppendError('not-leader', `node ${this.config.nodeId} is not the leader of epoch ${epoch}`);
    }
    if (records.length === 0) throw new RangeError('scheduleAppend: no records');
    const committed = Math.max(this.hw, s.epochStartOffset);
    if (this.log.endOffset() - committed + records.length > this.maxUncommittedRecords) {
      throw new RaftAppendError('buffer-full', 'too many uncommitted records');
    }
    const baseOffset = this.log.endOffset();
    this.log.append({ baseOffset, epoch, records, control: false });
    this.completeParked(s, nowMs, false);
    return baseOffset + records.length - 1;
  }

  /**
   * The state machine took a snapshot of everything below `endOffset` (<= the high
   * watermark, at a batch boundary). Batches below it leave the log.
   */
  createSnapshot(endOffset: number, data: Buffer): SnapshotId {
    if (endOffset > this.hw) throw new RangeError(`snapshot end ${endOffset} above the high watermark ${this.hw}`);
    if (endOffset <= this.log.startOffset()) throw new RangeError(`snapshot end ${endOffset} at or below log start`);
    const batch = this.log.batchContaining(endOffset - 1);
    if (!batch || batchEnd(batch) !== endOffset) throw new RangeError(`snapshot end ${endOffset} not a batch end`);
    const id = { endOffset, epoch: batch.epoch };
    this.log.installSnapshot(id, false);
    this.snapshotData = data;
    this.pendingSnapshot = { id, data };
    return id;
  }

  /** Graceful shutdown of a leader: resign and tell the voters (EndQuorumEpoch). */
  resign(nowMs: number): void {
    const s = this.state;
    if (s.kind !== 'leader') return;
    this.becomeResigned(s, nowMs);
  }

  // ---- timers ------------------------------------------------------------------------

  /** Runs what is due at nowMs; returns the next deadline (absolute ms). */
  poll(nowMs: number): number {
    const s = this.state;
    switch (s.kind) {
      case 'unattached':
        if (this.isVoter && nowMs >= s.electionDeadlineMs) {
          this.becomeProspective(nowMs);
          return this.poll(nowMs);
        }
        if (!this.isVoter) return this.pollObserverDiscovery(s, nowMs);
        return s.electionDeadlineMs;
      case 'prospective':
      case 'candidate': {
        if (nowMs >= s.electionDeadlineMs) {
          // Lost, split or timed out: a new pre-vote round (KIP-996: candidates fall back too).
          this.becomeProspective(nowMs);
          return this.poll(nowMs);
        }
        if (s.kind === 'candidate' && s.lost) return s.electionDeadlineMs;
        return Math.min(s.electionDeadlineMs, this.sendVotes(s, nowMs));
      }
      case 'leader':
        return this.pollLeader(s, nowMs);
      case 'follower':
        return this.pollFollower(s, nowMs);
      case 'resigned': {
        if (nowMs >= s.electionDeadlineMs) {
          this.becomeProspective(nowMs);
          return this.poll(nowMs);
        }
        let next = s.electionDeadlineMs;
        for (const peer of s.preferredSuccessors) {
          if (s.endAcked.has(peer)) continue;
          const f = s.endInflight.get(peer);
          if (!f || nowMs >= f.deadlineMs) {
            const correlationId = this.nextCorrelationId++;
            s.endInflight.set(peer, { correlationId, deadlineMs: nowMs + this.config.requestTimeoutMs });
            this.send({
              type: 'end-quorum-epoch-request',
              from: this.config.nodeId,
              to: peer,
              correlationId,
              body: endQuorumEpochRequest(this.config.clusterId, this.config.nodeId, s.epoch, s.preferredSuccessors),
            });
          }
          next = Math.min(next, s.endInflight.get(peer)!.deadlineMs);
        }
        return next;
      }
    }
  }

  private pollObserverDiscovery(s: Extract<State, { kind: 'unattached' }>, nowMs: number): number {
    // An observer finds the leader by fetching from any voter; the answer names the leader.
    if (s.discovery && nowMs < s.discovery.deadlineMs) return s.discovery.deadlineMs;
    const voters = this.config.voters;
    const to = voters[this.random.int(voters.length)]!;
    const correlationId = this.nextCorrelationId++;
    s.discovery = { to, correlationId, deadlineMs: nowMs + this.config.requestTimeoutMs };
    this.send({
      type: 'fetch-request',
      from: this.config.nodeId,
      to,
      correlationId,
      body: fetchRequest({
        clusterId: this.config.clusterId,
        replicaId: this.config.nodeId,
        currentLeaderEpoch: s.epoch,
        fetchOffset: this.log.endOffset(),
        lastFetchedEpoch: this.log.lastEpoch(),
        logStartOffset: this.log.startOffset(),
        maxWaitMs: 0,
      }),
    });
    return s.discovery.deadlineMs;
  }

  private sendVotes(s: Extract<State, { kind: 'prospective' | 'candidate' }>, nowMs: number): number {
    let next = Number.POSITIVE_INFINITY;
    const preVote = s.kind === 'prospective';
    for (const peer of this.config.voters) {
      if (peer === this.config.nodeId || s.granted.has(peer) || s.rejected.has(peer)) continue;
      const f = s.inflight.get(peer);
      if (!f || nowMs >= f.deadlineMs) {
        const correlationId = this.nextCorrelationId++;
        s.inflight.set(peer, { correlationId, deadlineMs: nowMs + this.config.requestTimeoutMs });
        this.send({
          type: 'vote-request',
          preVote,
          from: this.config.nodeId,
          to: peer,
          correlationId,
          body: voteRequest({
            clusterId: this.config.clusterId,
            candidateEpoch: preVote ? s.epoch + 1 : s.epoch,
            candidateId: this.config.nodeId,
            lastOffsetEpoch: this.log.lastEpoch(),
            lastOffset: this.log.endOffset(),
          }),
        });
      }
      next = Math.min(next, s.inflight.get(peer)!.deadlineMs);
    }
    return next;
  }

  private pollLeader(s: Extract<State, { kind: 'leader' }>, nowMs: number): number {
    // Check quorum: resign when a majority (counting this node) has not fetched lately.
    const window = this.config.fetchTimeoutMs * CHECK_QUORUM_FACTOR;
    let next = nowMs + window;
    if (this.config.voters.length > 1) {
      let alive = 1;
      for (const v of this.config.voters) {
        if (v === this.config.nodeId) continue;
        const last = Math.max(s.replicas.get(v)?.lastFetchMs ?? s.startedMs, s.startedMs);
        if (nowMs - last < window) {
          alive++;
          // The quorum may be lost when this voter's window closes: look again then.
          next = Math.min(next, last + window);
        }
      }
      if (alive < this.majority) {
        this.stats.checkQuorumResignations++;
        this.becomeResigned(s, nowMs);
        return this.poll(nowMs);
      }
    }
    // BeginQuorumEpoch until each voter acknowledges (or fetches in this epoch).
    for (const v of this.config.voters) {
      if (v === this.config.nodeId || s.beginAcked.has(v)) continue;
      const f = s.beginInflight.get(v);
      if (!f || nowMs >= f.deadlineMs) {
        const correlationId = this.nextCorrelationId++;
        s.beginInflight.set(v, { correlationId, deadlineMs: nowMs + this.config.requestTimeoutMs });
        this.send({
          type: 'begin-quorum-epoch-request',
          from: this.config.nodeId,
          to: v,
          correlationId,
          body: beginQuorumEpochRequest(this.config.clusterId, this.config.nodeId, s.epoch),
        });
      }
      next = Math.min(next, s.beginInflight.get(v)!.deadlineMs);
    }
    // Parked fetches whose wait is over get an empty answer.
    for (const p of [...s.parked.values()]) {
      if (nowMs >= p.deadlineMs) {
        s.parked.delete(p.replicaId);
        this.answerFetch(s, p, nowMs);
      } else next = Math.min(next, p.deadlineMs);
    }
    return next;
  }

  private pollFollower(s: Extract<State, { kind: 'follower' }>, nowMs: number): number {
    if (nowMs >= s.fetchDeadlineMs) {
      if (this.isVoter) this.becomeProspective(nowMs);
      else this.becomeUnattached(s.epoch, nowMs, false);
      return this.poll(nowMs);
    }
    if (s.inflight && nowMs >= s.inflight.deadlineMs) s.inflight = undefined;
    if (!s.inflight && nowMs >= s.retryAtMs) this.sendFetch(s, nowMs);
    const next = s.inflight ? s.inflight.deadlineMs : s.retryAtMs;
    return Math.min(s.fetchDeadlineMs, next);
  }

  private sendFetch(s: Extract<State, { kind: 'follower' }>, nowMs: number): void {
    const correlationId = this.nextCorrelationId++;
    // A parked fetch may legitimately wait fetchMaxWaitMs: allow for it before retrying.
    s.inflight = { correlationId, deadlineMs: nowMs + this.config.requestTimeoutMs + this.config.fetchMaxWaitMs };
    if (s.download) {
      this.send({
        type: 'fetch-snapshot-request',
        from: this.config.nodeId,
        to: s.leaderId,
        correlationId,
        body: fetchSnapshotRequest(
          this.config.clusterId,
          this.config.nodeId,
          s.epoch,
          s.download.id,
          s.download.position,
          this.config.snapshotChunkBytes,
        ),
      });
      return;
    }
    this.send({
      type: 'fetch-request',
      from: this.config.nodeId,
      to: s.leaderId,
      correlationId,
      body: fetchRequest({
        clusterId: this.config.clusterId,
        replicaId: this.config.nodeId,
        currentLeaderEpoch: s.epoch,
        fetchOffset: this.log.endOffset(),
        lastFetchedEpoch: this.log.lastEpoch(),
        logStartOffset: this.log.startOffset(),
        maxWaitMs: this.config.fetchMaxWaitMs,
      }),
    });
  }

  // ---- messages ----------------------------------------------------------------------

  handle(message: RaftMessage, nowMs: number): void {
    if (message.to !== this.config.nodeId) return;
    switch (message.type) {
      case 'vote-request':
        this.onVoteRequest(message, nowMs);
        return;
      case 'vote-response':
        this.onVoteResponse(message, nowMs);
        return;
      case 'begin-quorum-epoch-request':
        this.onBeginQuorumEpoch(message, nowMs);
        return;
      case 'begin-quorum-epoch-response':
      case 'end-quorum-epoch-response':
        this.onQuorumResponse(message, nowMs);
        return;
      case 'end-quorum-epoch-request':
        this.onEndQuorumEpoch(message, nowMs);
        return;
      case 'fetch-request':
        this.onFetchRequest(message, nowMs);
        return;
      case 'fetch-response':
        this.onFetchResponse(message, nowMs);
        return;
      case 'fetch-snapshot-request':
        this.onFetchSnapshotRequest(message, nowMs);
        return;
      case 'fetch-snapshot-response':
        this.onFetchSnapshotResponse(message, nowMs);
        return;
    }
  }

  /**
   * A peer reported (leaderId, epoch). Moves to a higher epoch, or to following a leader
   * newly learned in this epoch. Returns true when the state changed. `from`: the node that
   * said so (vote responses; other reports come from the leader itself or name no leader).
   */
  private observeLeader(leaderId: number, epoch: number, nowMs: number, from = leaderId): boolean {
    const s = this.state;
    if (epoch > s.epoch) {
      if (leaderId !== NO_ID && leaderId !== this.config.nodeId) this.becomeFollower(epoch, leaderId, nowMs);
      else this.becomeUnattached(epoch, nowMs, true);
      return true;
    }
    if (epoch === s.epoch && leaderId !== NO_ID && leaderId !== this.config.nodeId) {
      if (s.kind === 'leader')
        throw new Error(`raft: two leaders in epoch ${epoch}: ${this.config.nodeId} and ${leaderId}`);
      if (s.kind === 'follower' && s.leaderId === leaderId) return false;
      if (s.kind === 'resigned') return false;
      // A prospective node left this leader because fetching from it timed out; another peer
      // that still names it (its own fetch timeout has not fired yet) must not send us back to
      // it, or two followers of a dead leader undo each other's pre-vote round after round
      // (KIP-996 keeps the leader in the prospective state for this). The leader itself
      // answering proves it alive: follow it again.
      if (s.kind === 'prospective' && s.formerLeaderId === leaderId && from !== leaderId) return false;
      this.becomeFollower(epoch, leaderId, nowMs);
      return true;
    }
    return false;
  }

  private logIsUpToDate(lastOffsetEpoch: number, lastOffset: number): boolean {
    const myEpoch = this.log.lastEpoch();
    return lastOffsetEpoch > myEpoch || (lastOffsetEpoch === myEpoch && lastOffset >= this.log.endOffset());
  }

  private onVoteRequest(m: Extract<RaftMessage, { type: 'vote-request' }>, nowMs: number): void {
    const req = readVoteRequest(m.body);
    if (!req) return;
    const reply = (granted: boolean, errorCode = 0): void => {
      const le = this.leaderAndEpoch();
      this.send({
        type: 'vote-response',
        preVote: m.preVote,
        from: this.config.nodeId,
        to: m.from,
        correlationId: m.correlationId,
        body: voteResponse({ errorCode, leaderId: le.leaderId, leaderEpoch: le.epoch, voteGranted: granted }),
      });
    };
    if (!this.config.voters.includes(req.candidateId) || !this.isVoter) {
      reply(false, ErrorCode.INCONSISTENT_VOTER_SET);
      return;
    }
    const logOk = this.logIsUpToDate(req.lastOffsetEpoch, req.lastOffset);
    if (m.preVote) {
      // Never changes our state. Refuse while we lead or follow a live leader (KIP-996).
      const s = this.state;
      if (req.candidateEpoch <= s.epoch) {
        reply(false);
        return;
      }
      if (s.kind === 'leader') {
        this.stats.preVotesRejected++;
        reply(false);
        return;
      }
      if (s.kind === 'follower' && s.lastFetchOkMs >= 0 && nowMs - s.lastFetchOkMs < this.config.fetchTimeoutMs) {
        this.stats.preVotesRejected++;
        reply(false);
        return;
      }
      reply(logOk);
      return;
    }
    if (req.candidateEpoch < this.state.epoch) {
      reply(false, ErrorCode.FENCED_LEADER_EPOCH);
      return;
    }
    if (req.candidateEpoch > this.state.epoch) this.becomeUnattached(req.candidateEpoch, nowMs, true);
    const s = this.state;
    const q = this.quorum;
    if (q.votedId === req.candidateId) {
      reply(true);
      return;
    }
    const canVote =
      q.votedId === NO_ID && q.leaderId === NO_ID && (s.kind === 'unattached' || s.kind === 'prospective');
    if (!canVote || !logOk) {
      reply(false);
      return;
    }
    this.quorum = { epoch: s.epoch, leaderId: NO_ID, votedId: req.candidateId };
    this.quorumDirty = true;
    this.state = { kind: 'unattached', epoch: s.epoch, electionDeadlineMs: this.electionDeadline(nowMs) };
    reply(true);
  }

  private onVoteResponse(m: Extract<RaftMessage, { type: 'vote-response' }>, nowMs: number): void {
    const res = readVoteResponse(m.body);
    if (!res) return;
    const s = this.state;
    if (s.kind !== 'prospective' && s.kind !== 'candidate') {
      this.observeLeader(res.leaderId, res.leaderEpoch, nowMs, m.from);
      return;
    }
    const f = s.inflight.get(m.from);
    if (!f || f.correlationId !== m.correlationId || m.preVote !== (s.kind === 'prospective')) {
      this.observeLeader(res.leaderId, res.leaderEpoch, nowMs, m.from);
      return;
    }
    s.inflight.delete(m.from);
    if (this.observeLeader(res.leaderId, res.leaderEpoch, nowMs, m.from)) return;
    if (res.voteGranted) s.granted.add(m.from);
    else s.rejected.add(m.from);
    this.tallyVotes(s, nowMs);
  }

  private tallyVotes(s: Extract<State, { kind: 'prospective' | 'candidate' }>, nowMs: number): void {
    if (s.granted.size >= this.majority) {
      if (s.kind === 'prospective') this.becomeCandidate(nowMs);
      else this.becomeLeader(nowMs);
      return;
    }
    if (s.rejected.size > this.config.voters.length - this.majority) {
      // Lost: wait a random backoff, then a new pre-vote round.
      const backoff = this.random.int(this.config.electionBackoffMaxMs) + 1;
      s.electionDeadlineMs = Math.min(s.electionDeadlineMs, nowMs + backoff);
      if (s.kind === 'candidate') s.lost = true;
      s.inflight.clear();
      for (const v of this.config.voters) if (v !== this.config.nodeId && !s.granted.has(v)) s.rejected.add(v);
    }
  }

  private onBeginQuorumEpoch(m: Extract<RaftMessage, { type: 'begin-quorum-epoch-request' }>, nowMs: number): void {
    const req = readLeaderAndEpoch(m.body);
    if (!req) return;
    let errorCode = 0;
    if (req.leaderEpoch < this.state.epoch) errorCode = ErrorCode.FENCED_LEADER_EPOCH;
    else this.observeLeader(req.leaderId, req.leaderEpoch, nowMs);
    const le = this.leaderAndEpoch();
    this.send({
      type: 'begin-quorum-epoch-response',
      from: this.config.nodeId,
      to: m.from,
      correlationId: m.correlationId,
      body: quorumResponse({ errorCode, leaderId: le.leaderId, leaderEpoch: le.epoch }),
    });
  }

  private onEndQuorumEpoch(m: Extract<RaftMessage, { type: 'end-quorum-epoch-request' }>, nowMs: number): void {
    const req = readLeaderAndEpoch(m.body);
    if (!req) return;
    let errorCode = 0;
    if (req.leaderEpoch < this.state.epoch) errorCode = ErrorCode.FENCED_LEADER_EPOCH;
    else {
      this.observeLeader(NO_ID, req.leaderEpoch, nowMs);
      const s = this.state;
      if (s.epoch === req.leaderEpoch && s.kind === 'follower' && s.leaderId === req.leaderId && this.isVoter) {
        // The leader stepped down: the first preferred successor starts at once, the others a bit later.
        const pos = req.preferredSuccessors.indexOf(this.config.nodeId);
        const delay =
          pos < 0
            ? this.config.electionBackoffMaxMs
            : Math.min(this.config.electionBackoffMaxMs, pos === 0 ? 0 : this.config.retryBackoffMs * 2 ** pos);
        this.state = { kind: 'unattached', epoch: s.epoch, electionDeadlineMs: nowMs + delay };
      }
    }
    const le = this.leaderAndEpoch();
    this.send({
      type: 'end-quorum-epoch-response',
      from: this.config.nodeId,
      to: m.from,
      correlationId: m.correlationId,
      body: quorumResponse({ errorCode, leaderId: le.leaderId, leaderEpoch: le.epoch }),
    });
  }

  private onQuorumResponse(
    m: Extract<RaftMessage, { type: 'begin-quorum-epoch-response' | 'end-quorum-epoch-response' }>,
    nowMs: number,
  ): void {
    const res = readQuorumResponse(m.body);
    if (!res) return;
    if (this.observeLeader(res.leaderId, res.leaderEpoch, nowMs)) return;
    const s = this.state;
    if (m.type === 'begin-quorum-epoch-response' && s.kind === 'leader') {
      const f = s.beginInflight.get(m.from);
      if (f?.correlationId === m.correlationId) {
        s.beginInflight.delete(m.from);
        if (res.errorCode === 0) s.beginAcked.add(m.from);
      }
    } else if (m.type === 'end-quorum-epoch-response' && s.kind === 'resigned') {
      const f = s.endInflight.get(m.from);
      if (f?.correlationId === m.correlationId) {
        s.endInflight.delete(m.from);
        s.endAcked.add(m.from);
      }
    }
  }

  // ---- fetch: the leader's side --------------------------------------------------------

  private onFetchRequest(m: Extract<RaftMessage, { type: 'fetch-request' }>, nowMs: number): void {
    const req = readFetchRequest(m.body);
    if (!req) return;
    const s = this.state;
    const fail = (errorCode: number): void => {
      const le = this.leaderAndEpoch();
      this.send({
        type: 'fetch-response',
        from: this.config.nodeId,
        to: m.from,
        correlationId: m.correlationId,
        batches: [],
        body: fetchResponse({
          errorCode,
          highWatermark: this.reportedHighWatermark(),
          logStartOffset: this.log.startOffset(),
          leaderId: le.leaderId,
          leaderEpoch: le.epoch,
        }),
      });
    };
    if (req.currentLeaderEpoch > s.epoch) {
      // The fetcher knows a newer epoch than ours: learn it (leader unknown yet).
      this.observeLeader(NO_ID, req.currentLeaderEpoch, nowMs);
      fail(ErrorCode.UNKNOWN_LEADER_EPOCH);
      return;
    }
    if (s.kind !== 'leader') {
      fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
      return;
    }
    if (req.currentLeaderEpoch < s.epoch) {
      fail(ErrorCode.FENCED_LEADER_EPOCH);
      return;
    }
    const isVoter = this.config.voters.includes(req.replicaId);
    if (isVoter) s.beginAcked.add(req.replicaId);
    const parked: ParkedFetch = {
      from: m.from,
      replicaId: req.replicaId,
      correlationId: m.correlationId,
      fetchOffset: req.fetchOffset,
      deadlineMs: nowMs + Math.min(req.maxWaitMs, this.config.fetchMaxWaitMs),
    };
    // Validate the fetch position against our log (divergence, snapshot).
    const check = this.validateFetch(req.fetchOffset, req.lastFetchedEpoch);
    const progress = s.replicas.get(req.replicaId) ?? {
      endOffset: -1,
      lastFetchMs: -1,
      sentHighWatermark: -1,
      lastCaughtUpMs: -1,
    };
    progress.lastFetchMs = nowMs;
    // Replicas are tracked by id (voters and observers); an anonymous fetcher (-1) is not.
    if (req.replicaId >= 0) s.replicas.set(req.replicaId, progress);
    if (check.kind !== 'valid') {
      this.answerFetch(s, parked, nowMs, check);
      return;
    }
    if (req.replicaId !== NO_ID) {
      progress.endOffset = req.fetchOffset;
      if (req.fetchOffset >= this.log.endOffset()) progress.lastCaughtUpMs = nowMs;
      const old = s.parked.get(req.replicaId);
      if (old) {
        s.parked.delete(req.replicaId);
        this.answerFetch(s, old, nowMs);
      }
    }
    if (isVoter) this.maybeAdvanceLeaderHw(s, nowMs);
    if (
      req.fetchOffset < this.log.endOffset() ||
      parked.deadlineMs <= nowMs ||
      this.reportedHighWatermark() > progress.sentHighWatermark
    ) {
      this.answerFetch(s, parked, nowMs);
    } else if (req.replicaId !== NO_ID) {
      s.parked.set(req.replicaId, parked);
    } else {
      this.answerFetch(s, parked, nowMs);
    }
  }

  private validateFetch(
    fetchOffset: number,
    lastFetchedEpoch: number,
  ):
    | { kind: 'valid' }
    | { kind: 'snapshot'; id: SnapshotId }
    | { kind: 'diverging'; epoch: number; endOffset: number } {
    const start = this.log.startOffset();
    const snap = this.log.latestSnapshot();
    if (fetchOffset < start)
      return snap ? { kind: 'snapshot', id: snap } : { kind: 'diverging', epoch: -1, endOffset: 0 };
    if (fetchOffset === 0) return { kind: 'valid' };
    if (fetchOffset === start && snap && lastFetchedEpoch === snap.epoch) return { kind: 'valid' };
    const e = this.log.endOffsetForEpoch(lastFetchedEpoch);
    if (e.epoch === -1 && start > 0 && snap) return { kind: 'snapshot', id: snap };
    if (e.epoch !== lastFetchedEpoch || fetchOffset > e.endOffset) {
      return { kind: 'diverging', epoch: e.epoch, endOffset: e.endOffset };
    }
    return { kind: 'valid' };
  }

  private answerFetch(
    s: Extract<State, { kind: 'leader' }>,
    p: ParkedFetch,
    _nowMs: number,
    check?: { kind: 'snapshot'; id: SnapshotId } | { kind: 'diverging'; epoch: number; endOffset: number },
  ): void {
    const answer: FetchAnswer = {
      errorCode: 0,
      highWatermark: this.reportedHighWatermark(),
      logStartOffset: this.log.startOffset(),
      leaderId: this.config.nodeId,
      leaderEpoch: s.epoch,
    };
    let batches: LogBatch[] = [];
    const progress = s.replicas.get(p.replicaId);
    if (progress) progress.sentHighWatermark = Math.max(progress.sentHighWatermark, answer.highWatermark);
    if (check?.kind === 'snapshot') answer.snapshotId = check.id;
    else if (check?.kind === 'diverging') answer.diverging = { epoch: check.epoch, endOffset: check.endOffset };
    else if (p.fetchOffset < this.log.startOffset()) {
      const snap = this.log.latestSnapshot();
      if (snap) answer.snapshotId = snap;
    } else {
      batches = this.log.batchesFrom(p.fetchOffset, this.config.fetchMaxBatches);
    }
    this.send({
      type: 'fetch-response',
      from: this.config.nodeId,
      to: p.from,
      correlationId: p.correlationId,
      batches,
      body: fetchResponse(answer),
    });
  }

  /**
   * The high watermark a Fetch response carries: a new leader's is unknown (-1) until an
   * offset of its epoch commits, since what it knew as a follower may lag what was committed.
   */
  private reportedHighWatermark(): number {
    const s = this.state;
    return s.kind === 'leader' && s.hwKnown ? this.hw : -1;
  }

  private completeParked(s: Extract<State, { kind: 'leader' }>, nowMs: number, hwMoved: boolean): void {
    if (s.parked.size === 0) return;
    const end = this.log.endOffset();
    for (const p of [...s.parked.values()]) {
      if (hwMoved || p.fetchOffset < end) {
        s.parked.delete(p.replicaId);
        this.answerFetch(s, p, nowMs);
      }
    }
  }

  private maybeAdvanceLeaderHw(s: Extract<State, { kind: 'leader' }>, nowMs: number): void {
    const offsets: number[] = [];
    for (const v of this.config.voters) {
      if (v === this.config.nodeId) offsets.push(this.flushedEnd);
      else offsets.push(s.replicas.get(v)?.endOffset ?? -1);
    }
    offsets.sort((a, b) => b - a);
    const candidate = offsets[this.majority - 1]!;
    // Only an offset past the start of this epoch commits (the LeaderChange batch first).
    if (candidate > s.epochStartOffset && candidate > this.hw) {
      this.hw = candidate;
      s.hwKnown = true;
      this.deliverCommits();
      this.completeParked(s, nowMs, true);
    }
  }

  private onFetchSnapshotRequest(m: Extract<RaftMessage, { type: 'fetch-snapshot-request' }>, nowMs: number): void {
    const req = readFetchSnapshotRequest(m.body);
    if (!req) return;
    const s = this.state;
    const le = this.leaderAndEpoch();
    let errorCode = 0;
    let chunk: Buffer | null = null;
    let size = 0;
    const snap = this.log.latestSnapshot();
    if (req.currentLeaderEpoch > s.epoch) {
      this.observeLeader(NO_ID, req.currentLeaderEpoch, nowMs);
      errorCode = ErrorCode.UNKNOWN_LEADER_EPOCH;
    } else if (s.kind !== 'leader') errorCode = ErrorCode.NOT_LEADER_OR_FOLLOWER;
    else if (req.currentLeaderEpoch < s.epoch) errorCode = ErrorCode.FENCED_LEADER_EPOCH;
    else if (!snap || !this.snapshotData || snap.endOffset !== req.id.endOffset || snap.epoch !== req.id.epoch) {
      errorCode = ErrorCode.SNAPSHOT_NOT_FOUND;
    } else if (req.position < 0 || req.position > this.snapshotData.length) {
      errorCode = ErrorCode.POSITION_OUT_OF_RANGE;
    } else {
      size = this.snapshotData.length;
      const n = Math.min(req.maxBytes, this.config.snapshotChunkBytes);
      chunk = this.snapshotData.subarray(req.position, req.position + n);
      const progress = s.replicas.get(req.replicaId);
      if (progress) progress.lastFetchMs = nowMs;
      else
        s.replicas.set(req.replicaId, { endOffset: -1, lastFetchMs: nowMs, sentHighWatermark: -1, lastCaughtUpMs: -1 });
    }
    this.send({
      type: 'fetch-snapshot-response',
      from: this.config.nodeId,
      to: m.from,
      correlationId: m.correlationId,
      body: fetchSnapshotResponse({
        errorCode,
        leaderId: le.leaderId,
        leaderEpoch: le.epoch,
        id: req.id,
        size,
        position: req.position,
        chunk,
      }),
    });
  }

  // ---- fetch: the follower's side ------------------------------------------------------

  private onFetchResponse(m: Extract<RaftMessage, { type: 'fetch-response' }>, nowMs: number): void {
    const res = readFetchResponse(m.body);
    if (!res) return;
    const s = this.state;
    if (s.kind === 'unattached' && s.discovery?.correlationId === m.correlationId) {
      s.discovery = undefined;
      this.observeLeader(res.leaderId, res.leaderEpoch, nowMs);
      return;
    }
    if (s.kind !== 'follower' || !s.inflight || s.inflight.correlationId !== m.correlationId || m.from !== s.leaderId) {
      if (res.errorCode !== 0) this.observeLeader(res.leaderId, res.leaderEpoch, nowMs);
      return;
    }
    s.inflight = undefined;
    if (res.errorCode !== 0) {
      if (!this.observeLeader(res.leaderId, res.leaderEpoch, nowMs)) s.retryAtMs = nowMs + this.config.retryBackoffMs;
      return;
    }
    if (this.observeLeader(res.leaderId, res.leaderEpoch, nowMs)) return;
    s.lastFetchOkMs = nowMs;
    s.fetchDeadlineMs = nowMs + this.config.fetchTimeoutMs;
    if (res.diverging) {
      const mine = this.log.endOffsetForEpoch(res.diverging.epoch);
      const target = this.log.boundaryAtOrBelow(
        Math.max(Math.min(res.diverging.endOffset, mine.endOffset), this.log.startOffset()),
      );
      if (this.hw >= 0 && target < this.hw) {
        throw new Error(
          `raft: node ${this.config.nodeId} asked to truncate to ${target} below its high watermark ${this.hw}`,
        );
      }
      if (target < this.log.endOffset()) this.stats.truncations++;
      this.log.truncateTo(target);
      this.flushedEnd = Math.min(this.flushedEnd, target);
    } else if (res.snapshotId) {
      s.download = { id: res.snapshotId, chunks: [], position: 0 };
    } else {
      for (const b of m.batches) {
        if (b.baseOffset !== this.log.endOffset()) break;
        this.log.append(b);
      }
      if (res.highWatermark >= 0) s.leaderHighWatermark = Math.max(s.leaderHighWatermark, res.highWatermark);
      this.updateFollowerHw(s);
    }
    this.sendFetch(s, nowMs);
  }

  private onFetchSnapshotResponse(m: Extract<RaftMessage, { type: 'fetch-snapshot-response' }>, nowMs: number): void {
    const res = readFetchSnapshotResponse(m.body);
    if (!res) return;
    const s = this.state;
    if (s.kind !== 'follower' || !s.inflight || s.inflight.correlationId !== m.correlationId || !s.download) {
      if (res.errorCode !== 0) this.observeLeader(res.leaderId, res.leaderEpoch, nowMs);
      return;
    }
    s.inflight = undefined;
    if (this.observeLeader(res.leaderId, res.leaderEpoch, nowMs)) return;
    const d = s.download;
    if (res.errorCode !== 0 || res.position !== d.position || !res.chunk) {
      // The leader moved on to another snapshot (or lost ours): fetch again from the log.
      s.download = undefined;
      s.retryAtMs = nowMs + this.config.retryBackoffMs;
      return;
    }
    s.lastFetchOkMs = nowMs;
    s.fetchDeadlineMs = nowMs + this.config.fetchTimeoutMs;
    d.chunks.push(Buffer.from(res.chunk));
    d.position += res.chunk.length;
    if (d.position >= res.size) {
      const data = Buffer.concat(d.chunks);
      s.download = undefined;
      this.log.installSnapshot(d.id, true);
      this.stats.snapshotsFetched++;
      this.snapshotData = data;
      this.pendingSnapshot = { id: d.id, data };
      this.flushedEnd = Math.min(this.flushedEnd, d.id.endOffset);
      this.delivered = d.id.endOffset;
      this.listener?.handleLoadSnapshot(d.id, data);
    }
    this.sendFetch(s, nowMs);
  }

  private updateFollowerHw(s: Extract<State, { kind: 'follower' }>): void {
    const candidate = Math.min(s.leaderHighWatermark, this.flushedEnd);
    if (candidate > this.hw && candidate >= 0) {
      this.hw = candidate;
      this.deliverCommits();
    }
  }

  private deliverCommits(): void {
    if (!this.listener) return;
    if (this.delivered < this.log.startOffset()) this.delivered = this.log.startOffset();
    while (this.delivered < this.hw) {
      const batches = this.log
        .batchesFrom(this.delivered, this.config.fetchMaxBatches)
        .filter((b) => batchEnd(b) <= this.hw);
      if (batches.length === 0) break;
      this.delivered = batchEnd(batches[batches.length - 1]!);
      this.listener.handleCommit(batches);
    }
  }

  // ---- transitions -------------------------------------------------------------------

  private electionDeadline(nowMs: number): number {
    return nowMs + this.config.electionTimeoutMs + this.random.int(this.config.electionTimeoutMs);
  }

  private setQuorum(q: QuorumState): void {
    const old = this.quorum;
    if (q.epoch < old.epoch) throw new Error(`raft: epoch going back from ${old.epoch} to ${q.epoch}`);
    if (old.epoch === q.epoch && old.leaderId === q.leaderId && old.votedId === q.votedId) return;
    this.quorum = q;
    this.quorumDirty = true;
  }

  private leaveState(_nowMs: number): void {
    const s = this.state;
    if (s.kind === 'leader') {
      // Parked fetches learn that we no longer lead.
      for (const p of s.parked.values()) {
        this.send({
          type: 'fetch-response',
          from: this.config.nodeId,
          to: p.from,
          correlationId: p.correlationId,
          batches: [],
          body: fetchResponse({
            errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER,
            highWatermark: -1,
            logStartOffset: this.log.startOffset(),
            leaderId: NO_ID,
            leaderEpoch: s.epoch,
          }),
        });
      }
      s.parked.clear();
    }
  }

  private notifyLeader(): void {
    this.listener?.handleLeaderChange(this.leaderAndEpoch());
  }

  private becomeUnattached(epoch: number, nowMs: number, newEpoch: boolean): void {
    this.leaveState(nowMs);
    if (newEpoch) this.setQuorum({ epoch, leaderId: NO_ID, votedId: NO_ID });
    this.state = { kind: 'unattached', epoch, electionDeadlineMs: this.electionDeadline(nowMs) };
    this.notifyLeader();
  }

  private followerState(epoch: number, leaderId: number, nowMs: number): State {
    return {
      kind: 'follower',
      epoch,
      leaderId,
      fetchDeadlineMs: nowMs + this.config.fetchTimeoutMs,
      lastFetchOkMs: -1,
      retryAtMs: nowMs,
      leaderHighWatermark: -1,
    };
  }

  private becomeFollower(epoch: number, leaderId: number, nowMs: number): void {
    this.leaveState(nowMs);
    const votedId = epoch === this.quorum.epoch ? this.quorum.votedId : NO_ID;
    this.setQuorum({ epoch, leaderId, votedId });
    this.state = this.followerState(epoch, leaderId, nowMs);
    this.notifyLeader();
    this.sendFetch(this.state as Extract<State, { kind: 'follower' }>, nowMs);
  }

  private becomeProspective(nowMs: number): void {
    const before = this.state;
    this.leaveState(nowMs);
    const epoch = this.state.epoch;
    const formerLeaderId =
      before.kind === 'follower' ? before.leaderId : before.kind === 'prospective' ? before.formerLeaderId : NO_ID;
    const s: State = {
      kind: 'prospective',
      epoch,
      formerLeaderId,
      electionDeadlineMs: this.electionDeadline(nowMs),
      granted: new Set([this.config.nodeId]),
      rejected: new Set(),
      inflight: new Map(),
    };
    this.state = s;
    this.notifyLeader();
    this.tallyVotes(s, nowMs);
  }

  private becomeCandidate(nowMs: number): void {
    this.stats.elections++;
    const epoch = this.state.epoch + 1;
    this.setQuorum({ epoch, leaderId: NO_ID, votedId: this.config.nodeId });
    const s: State = {
      kind: 'candidate',
      epoch,
      electionDeadlineMs: this.electionDeadline(nowMs),
      lost: false,
      granted: new Set([this.config.nodeId]),
      rejected: new Set(),
      inflight: new Map(),
    };
    this.state = s;
    this.notifyLeader();
    this.tallyVotes(s, nowMs);
  }

  private becomeLeader(nowMs: number): void {
    this.stats.leaderships++;
    const prev = this.state;
    const epoch = prev.epoch;
    const granted = prev.kind === 'candidate' ? [...prev.granted] : [this.config.nodeId];
    this.setQuorum({ epoch, leaderId: this.config.nodeId, votedId: this.config.nodeId });
    const epochStartOffset = this.log.endOffset();
    const s: Extract<State, { kind: 'leader' }> = {
      kind: 'leader',
      epoch,
      epochStartOffset,
      startedMs: nowMs,
      replicas: new Map(),
      beginAcked: new Set(),
      beginInflight: new Map(),
      parked: new Map(),
      hwKnown: false,
    };
    this.state = s;
    // Followers' HW is bounded by ours; a new leader's HW is unknown until this epoch commits.
    const change = encode(
      LeaderChangeMessageCodec,
      {
        version: 0,
        leaderId: this.config.nodeId,
        voters: this.config.voters.map((v) => ({ voterId: v, voterDirectoryId: '' })),
        grantingVoters: granted.map((v) => ({ voterId: v, voterDirectoryId: '' })),
      },
      0,
    );
    this.log.append({ baseOffset: epochStartOffset, epoch, records: [change], control: true });
    this.notifyLeader();
    this.pollLeader(s, nowMs);
    this.maybeAdvanceLeaderHw(s, nowMs);
  }

  private resignedState(epoch: number, nowMs: number, preferredSuccessors: number[]): State {
    return {
      kind: 'resigned',
      epoch,
      electionDeadlineMs: this.electionDeadline(nowMs),
      endAcked: new Set(),
      endInflight: new Map(),
      preferredSuccessors,
    };
  }

  private becomeResigned(s: Extract<State, { kind: 'leader' }>, nowMs: number): void {
    this.stats.resignations++;
    this.leaveState(nowMs);
    const successors = this.config.voters
      .filter((v) => v !== this.config.nodeId)
      .sort((a, b) => (s.replicas.get(b)?.endOffset ?? -1) - (s.replicas.get(a)?.endOffset ?? -1) || a - b);
    this.state = this.resignedState(s.epoch, nowMs, successors);
    this.notifyLeader();
  }

  private send(message: RaftMessage): void {
    this.sendFn(message);
  }
}
