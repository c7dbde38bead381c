/**
 * One Raft node under simulation: a RaftNode (the same code production runs), its
 * RaftStore on its own memoryDisk, a tiny state machine, and the driver discipline
 * production will follow too:
 *
 * - one call at a time into the RaftNode (one writer); events that arrive while the node
 *   waits for its disk queue in a bounded inbox (beyond the bound, the oldest is dropped,
 *   as a full socket buffer would);
 * - after each call, what changed is written (`store.write`), and the messages the call
 *   produced wait until the fsync completes (`store.sync`, after a simulated disk latency);
 *   only then are they sent and `persisted()` reported. So a vote is never announced
 *   before it is durable, and a follower's next Fetch (its acknowledgment) never leaves
 *   before the batches it acknowledges are flushed;
 * - crash: the in-memory node is dropped, the disk loses what was not fsynced (a random
 *   prefix of the unflushed tail survives, a torn write); restart recovers from the disk.
 */
import type { MemoryDisk } from '../env/disk-memory.ts';
import { memoryDisk } from '../env/disk-memory.ts';
import type { Random } from '../env/random.ts';
import type { RaftConfig } from '../raft/config.ts';
import type { RaftLog } from '../raft/log.ts';
import { RaftAppendError, type RaftListener, RaftNode } from '../raft/raft.ts';
import { RaftStore } from '../raft/store.ts';
import type { LeaderAndEpoch, LogBatch, RaftMessage, SnapshotId } from '../raft/types.ts';
import type { SimProcess } from './process.ts';
import type { Scheduler } from './scheduler.ts';

export const EVENT_TIMER = 2;
export const EVENT_SYNC = 3;
export const EVENT_CRASH = 4;
export const EVENT_RESTART = 5;
export const EVENT_APPEND = 6;

const INBOX_BOUND = 256;

/** The simulated state machine: a running hash of every committed record. */
export interface MachineState {
  /** Offsets below this are applied. */
  appliedOffset: number;
  hash: number;
  records: number;
}

export function hashRecord(h: number, offset: number, epoch: number, data: Buffer): number {
  let x = Math.imul(h ^ offset, 0x01000193) >>> 0;
  x = Math.imul(x ^ epoch, 0x01000193) >>> 0;
  for (let i = 0; i < data.length; i++) x = Math.imul(x ^ data[i]!, 0x01000193) >>> 0;
  return x;
}

export interface SimNodeHooks {
  /** A node applied committed batches (the invariant checker and the client watch this). */
  onCommit(node: SimRaftNode, batches: readonly LogBatch[]): void;
}

export interface DiskProfile {
  /** fsync latency: base + uniform jitter. */
  syncBaseMs: number;
  syncJitterMs: number;
}

export class SimRaftNode implements SimProcess<RaftMessage> {
  readonly disk: MemoryDisk = memoryDisk();
  raft: RaftNode | undefined;
  private store: RaftStore | undefined;
  up = false;
  /** Bumped on crash: events of an older life are ignored. */
  generation = 0;
  private busy = false;
  private inbox: Array<() => void> = [];
  private outbox: RaftMessage[] = [];
  private timerToken = 0;
  private timerAtMs = Number.POSITIVE_INFINITY;
  machine: MachineState = { appliedOffset: 0, hash: 0, records: 0 };
  /** What was durable at the last crash (the checker's view of a down node). */
  lastLog: RaftLog | undefined;
  lastFlushedEnd = 0;
  restarts = 0;
  /** The epoch of the last quorum state fsynced (what a restart must recover at least). */
  durableEpoch = 0;
  diskProfile: DiskProfile;
  inboxDropped = 0;
  clockRate = 1;
  clockOffsetMs = 0;
  /** Take a snapshot every this many applied records (0: never). */
  snapshotEveryRecords: number;
  private sinceSnapshot = 0;
  private readonly makeListener: (() => RaftListener) | undefined;
  /** Filler so snapshots span several FetchSnapshot chunks. */
  snapshotPadBytes: number;

  constructor(
    readonly id: number,
    private readonly config: RaftConfig,
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly sendOut: (m: RaftMessage) => void,
    private readonly hooks: SimNodeHooks,
    options: {
      diskProfile: DiskProfile;
      snapshotEveryRecords: number;
      snapshotPadBytes: number;
      /**
       * A second listener made for each life (the cluster simulation's metadata state machine
       * on the controller quorum); it hears every call after the node's own state machine.
       */
      listener?: () => RaftListener;
    },
  ) {
    this.diskProfile = options.diskProfile;
    this.makeListener = options.listener;
    this.snapshotEveryRecords = options.snapshotEveryRecords;
    this.snapshotPadBytes = options.snapshotPadBytes;
  }

  async start(): Promise<void> {
    const gen = ++this.generation;
    const { store, recovered } = await RaftStore.open(this.disk, '/raft', this.config.clusterId);
    if (gen !== this.generation) return;
    this.store = store;
    this.machine = { appliedOffset: 0, hash: 0, records: 0 };
    this.sinceSnapshot = 0;
    const raft = new RaftNode({
      config: this.config,
      random: this.random,
      send: (m) => this.outbox.push(m),
      recovered,
      nowMs: this.localNow(),
    });
    this.raft = raft;
    this.up = true;
    this.busy = false;
    this.inbox = [];
    this.outbox = [];
    const extra = this.makeListener?.();
    raft.register({
      handleCommit: (batches) => {
        this.apply(batches);
        extra?.handleCommit(batches);
      },
      handleLoadSnapshot: (id, data) => {
        this.loadSnapshot(id, data);
        extra?.handleLoadSnapshot(id, data);
      },
      handleLeaderChange: (le: LeaderAndEpoch) => extra?.handleLeaderChange(le),
    });
    await this.step(() => undefined);
  }

  /** Called with the RaftNode of a life that ends (crash), so its counters are kept. */
  onLifeEnd: ((raft: RaftNode) => void) | undefined;

  crash(): void {
    if (!this.up) return;
    if (this.raft) this.onLifeEnd?.(this.raft);
    this.lastLog = this.raft?.log;
    this.lastFlushedEnd = this.raft?.flushedEndOffset() ?? 0;
    this.up = false;
    this.generation++;
    this.raft = undefined;
    this.store = undefined;
    this.inbox = [];
    this.outbox = [];
    this.busy = false;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    this.disk.crash({ random: this.random });
  }

  async restart(): Promise<void> {
    this.restarts++;
    await this.start();
  }

  // ---- the state machine -------------------------------------------------------------

  private apply(batches: readonly LogBatch[]): void {
    const m = this.machine;
    for (const b of batches) {
      if (b.baseOffset !== m.appliedOffset)
        throw new Error(`node ${this.id}: applied ${b.baseOffset}, expected ${m.appliedOffset}`);
      for (let i = 0; i < b.records.length; i++) {
        m.hash = hashRecord(m.hash, b.baseOffset + i, b.epoch, b.records[i]!);
      }
      m.records += b.records.length;
      m.appliedOffset = b.baseOffset + b.records.length;
      this.sinceSnapshot += b.records.length;
    }
    this.hooks.onCommit(this, batches);
    if (this.snapshotEveryRecords > 0 && this.sinceSnapshot >= this.snapshotEveryRecords && this.raft) {
      this.sinceSnapshot = 0;
      const data = Buffer.alloc(16 + this.snapshotPadBytes);
      data.writeDoubleBE(m.appliedOffset, 0);
      data.writeUInt32BE(m.hash, 8);
      data.writeUInt32BE(m.records, 12);
      this.raft.createSnapshot(m.appliedOffset, data);
    }
  }

  private loadSnapshot(id: SnapshotId, data: Buffer): void {
    const appliedOffset = data.readDoubleBE(0);
    if (appliedOffset !== id.endOffset)
      throw new Error(`node ${this.id}: snapshot ${id.endOffset} holds ${appliedOffset}`);
    this.machine = { appliedOffset, hash: data.readUInt32BE(8), records: data.readUInt32BE(12) };
  }

  // ---- driving the RaftNode ---------------------------------------------------------------

  /** An RPC arrives. */
  receive(m: RaftMessage): Promise<void> | undefined {
    if (!this.up || !this.raft) return undefined;
    return this.enqueue(() => this.raft!.handle(m, this.localNow()));
  }

  /** The client appends on this node (it must be the leader of `epoch`). */
  append(
    epoch: number,
    records: Buffer[],
    onResult: (lastOffset: number | undefined) => void,
  ): Promise<void> | undefined {
    if (!this.up || !this.raft) {
      onResult(undefined);
      return undefined;
    }
    return this.enqueue(() => {
      try {
        onResult(this.raft!.scheduleAppend(epoch, records, this.localNow()));
      } catch (err) {
        if (!(err instanceof RaftAppendError)) throw err;
        onResult(undefined);
      }
    });
  }

  /** A controlled shutdown's first step: the leader hands over (through the queue, like any call). */
  resign(): Promise<void> | undefined {
    if (!this.up || !this.raft) return undefined;
    return this.enqueue(() => this.raft!.resign(this.localNow()));
  }

  private enqueue(fn: () => void): Promise<void> | undefined {
    if (this.busy) {
      if (this.inbox.length >= INBOX_BOUND) {
        this.inbox.shift();
        this.inboxDropped++;
      }
      this.inbox.push(fn);
      return undefined;
    }
    return this.step(fn);
  }

  /** One call into the RaftNode, then poll, then persist-or-send. */
  private async step(fn: () => void): Promise<void> {
    const raft = this.raft!;
    const now = this.scheduler.nowMs;
    fn();
    const deadline = raft.poll(this.localNow());
    const work = raft.pendingPersist();
    if (!work) {
      this.flushOutbox();
      this.armTimer(deadline);
      return;
    }
    this.busy = true;
    const gen = this.generation;
    await this.store!.write(work, raft.log);
    if (gen !== this.generation) return;
    const endOffset = raft.log.endOffset();
    const latency = this.diskProfile.syncBaseMs + this.random.int(this.diskProfile.syncJitterMs + 1);
    this.scheduler.schedule(now + latency, EVENT_SYNC, this.id, async () => {
      if (gen !== this.generation) return;
      await this.store!.sync(raft.log);
      if (gen !== this.generation) return;
      if (work.quorumState) this.durableEpoch = work.quorumState.epoch;
      this.busy = false;
      this.flushOutbox();
      await this.step(() => raft.persisted(endOffset, this.localNow()));
      await this.drainInbox(gen);
    });
  }

  private async drainInbox(gen: number): Promise<void> {
    while (!this.busy && this.inbox.length > 0 && gen === this.generation) {
      const fn = this.inbox.shift()!;
      await this.step(fn);
    }
  }

  private flushOutbox(): void {
    const out = this.outbox;
    this.outbox = [];
    for (const m of out) {
      this.scheduler.mix(m.correlationId * 16 + m.to);
      this.sendOut(m);
    }
  }

  /**
   * This node's clock: its own offset and rate (a few percent fast or slow), so timers on
   * different nodes drift apart as real ones do. Raft never needs clocks to agree.
   */
  localNow(): number {
    return Math.floor(this.clockOffsetMs + this.scheduler.nowMs * this.clockRate);
  }

  private armTimer(localDeadline: number): void {
    if (!Number.isFinite(localDeadline)) return;
    const simDeadline = Math.ceil((localDeadline - this.clockOffsetMs) / this.clockRate);
    const at = Math.max(simDeadline, this.scheduler.nowMs + 1);
    if (at >= this.timerAtMs && this.timerAtMs > this.scheduler.nowMs) return;
    this.timerAtMs = at;
    const token = ++this.timerToken;
    const gen = this.generation;
    this.scheduler.schedule(at, EVENT_TIMER, this.id, () => {
      if (gen !== this.generation || token !== this.timerToken) return;
      this.timerAtMs = Number.POSITIVE_INFINITY;
      return this.enqueue(() => undefined);
    });
  }
}
