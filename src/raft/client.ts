/**
 * RaftClient: what the metadata controller (and later anything else that needs a
 * replicated log) sees of the quorum. It replaces the single-node "append, fsync,
 * commit" log under src/metadata: operations still append records, and state still
 * changes only when committed batches are replayed, now in `handleCommit`.
 *
 * RaftDriver is the production implementation: it owns one RaftNode, its RaftStore on a
 * Disk, and the timers (through a Clock), and keeps the discipline the simulator proves:
 * one call into the RaftNode at a time, state made durable before the messages that
 * announce it are sent (`transport`), then `persisted()` reported back.
 */
import type { Clock } from '../env/clock.ts';
import type { Disk } from '../env/disk.ts';
import type { Random } from '../env/random.ts';
import type { RaftConfig } from './config.ts';
import type { RaftListener } from './raft.ts';
import { RaftNode } from './raft.ts';
import { RaftStore } from './store.ts';
import type { LeaderAndEpoch, RaftMessage, SnapshotId } from './types.ts';

export type { RaftListener } from './raft.ts';

export interface RaftClient {
  /**
   * The listener gets, in order: the latest snapshot (if any), then every committed batch
   * after it (control batches have `control: true`: skip them), and leader changes.
   */
  register(listener: RaftListener): void;
  leaderAndEpoch(): LeaderAndEpoch;
  /**
   * On the leader of `epoch`: appends the records as one batch (they commit together) and
   * returns the offset of the last one. Throws RaftAppendError ('not-leader' or
   * 'buffer-full'). The batch is committed when handleCommit delivers it; it may instead
   * be lost if leadership changes first (then the listener sees another batch at that offset).
   */
  scheduleAppend(epoch: number, records: readonly Buffer[]): number;
  /** The committed offset: batches below it are delivered to the listener. -1 while unknown. */
  highWatermark(): number;
  /** The state machine's snapshot of everything below endOffset (a committed batch end). */
  createSnapshot(endOffset: number, data: Buffer): Promise<SnapshotId>;
  /** A leader hands over (EndQuorumEpoch) before a controlled shutdown. */
  resign(): Promise<void>;
  close(): Promise<void>;
}

export interface RaftDriverOptions {
  config: RaftConfig;
  disk: Disk;
  /** The directory of `__cluster_metadata-0` (quorum-state, log, snapshots). */
  dir: string;
  clock: Clock;
  random: Random;
  /** Sends a message to message.to (the network layer; loss is tolerated). */
  transport: (message: RaftMessage) => void;
  listener?: RaftListener;
}

/** Steps waiting for the node (messages beyond it are dropped: Raft retries them). */
export const DRIVER_QUEUE_BOUND = 1024;

export class RaftDriver implements RaftClient {
  private outbox: RaftMessage[] = [];
  private queued = 0;
  /** Messages dropped because the queue was full. */
  droppedMessages = 0;
  private chain: Promise<void> = Promise.resolve();
  private cancelTimer: (() => void) | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private closed = false;
  /** The last failure of the disk: the node stops (Kafka's raft thread would exit). */
  failure: unknown;

  private constructor(
    private readonly options: RaftDriverOptions,
    readonly node: RaftNode,
    private readonly store: RaftStore,
  ) {}

  static async open(options: RaftDriverOptions): Promise<RaftDriver> {
    const { store, recovered } = await RaftStore.open(options.disk, options.dir, options.config.clusterId);
    let driver: RaftDriver | undefined;
    const node = new RaftNode({
      config: options.config,
      random: options.random,
      send: (m) => driver?.outbox.push(m),
      recovered,
      nowMs: options.clock.monotonicMs(),
    });
    driver = new RaftDriver(options, node, store);
    if (options.listener) node.register(options.listener);
    await driver.run(() => undefined);
    return driver;
  }

  register(listener: RaftListener): void {
    this.node.register(listener);
  }

  leaderAndEpoch(): LeaderAndEpoch {
    return this.node.leaderAndEpoch();
  }

  get nodeId(): number {
    return this.node.config.nodeId;
  }

  /** The offset the next appended record gets. */
  logEndOffset(): number {
    return this.node.log.endOffset();
  }

  highWatermark(): number {
    return this.node.highWatermark();
  }

  /** A message from a peer. */
  receive(message: RaftMessage): Promise<void> {
    if (this.queued >= DRIVER_QUEUE_BOUND) {
      this.droppedMessages++;
      return Promise.resolve();
    }
    return this.run(() => this.node.handle(message, this.now()));
  }

  scheduleAppend(epoch: number, records: readonly Buffer[]): number {
    // The RaftNode's append is synchronous and complete; persisting it joins the queue.
    const offset = this.node.scheduleAppend(epoch, records, this.now());
    void this.run(() => undefined);
    return offset;
  }

  createSnapshot(endOffset: number, data: Buffer): Promise<SnapshotId> {
    let id: SnapshotId | undefined;
    return this.run(() => {
      id = this.node.createSnapshot(endOffset, data);
    }).then(() => id!);
  }

  resign(): Promise<void> {
    return this.run(() => this.node.resign(this.now()));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimer?.();
    await this.chain;
    await this.store.close();
  }

  private now(): number {
    return this.options.clock.monotonicMs();
  }

  /** One step: call, poll, persist, then send; steps run one after another. */
  private run(fn: () => void): Promise<void> {
    const step = async (): Promise<void> => {
      if (this.closed || this.failure !== undefined) return;
      try {
        fn();
        for (let round = 0; round < 8; round++) {
          const deadline = this.node.poll(this.now());
          const work = this.node.pendingPersist();
          if (!work) {
            this.flush();
            this.arm(deadline);
            return;
          }
          await this.store.write(work, this.node.log);
          const endOffset = this.node.log.endOffset();
          await this.store.sync(this.node.log);
          this.flush();
          this.node.persisted(endOffset, this.now());
        }
        this.arm(this.now());
      } catch (err) {
        this.failure = err;
        this.cancelTimer?.();
      }
    };
    this.queued++;
    this.chain = this.chain.then(step).finally(() => {
      this.queued--;
    });
    return this.chain;
  }

  private flush(): void {
    const out = this.outbox;
    this.outbox = [];
    for (const m of out) this.options.transport(m);
  }

  private arm(deadline: number): void {
    if (this.closed || !Number.isFinite(deadline)) return;
    if (deadline >= this.timerAtMs) return;
    this.cancelTimer?.();
    this.timerAtMs = deadline;
    this.cancelTimer = this.options.clock.schedule(Math.max(0, deadline - this.now()), () => {
      this.timerAtMs = Number.POSITIVE_INFINITY;
      this.cancelTimer = undefined;
      void this.run(() => undefined);
    });
  }
}
