/**
 * The metadata log: `<log.dirs>/__cluster_metadata-0/`, an ordinary partition log whose
 * record batches hold metadata records (key null, value = Kafka's frame: unsigned varint
 * frame version, type id, record version, then the record). One controller operation's
 * records go into one batch, so they commit (and replay) together or not at all.
 *
 * With a single node the quorum is this node: a record is committed once it is fsynced
 * here, and the high watermark moves to the end. A later Raft quorum keeps this shape
 * (append, commit at the high watermark, replay) with replication in between.
 */

import type { Clock } from '../env/clock.ts';
import { decodeMetadataRecord, encodeMetadataRecord } from '../protocol/generated/metadata-records.ts';
import { buildRecordBatch, decodeRecordBatches } from '../protocol/records/batch.ts';
import type { RaftListener } from '../raft/raft.ts';
import { RaftAppendError } from '../raft/raft.ts';
import type { LeaderAndEpoch, LogBatch, SnapshotId } from '../raft/types.ts';
import { batchEnd } from '../raft/types.ts';
import type { LogConfig } from '../storage/config.ts';
import { defaultLogConfig } from '../storage/config.ts';
import type { PartitionLog } from '../storage/partition-log.ts';
import type { MetadataPublisher } from './cache.ts';
import { emptyImage, type MetadataImage } from './image.ts';
import { type CommittedRecord, replay } from './replay.ts';

/** The metadata log's topic name (Kafka's __cluster_metadata); its one partition is 0. */
export const METADATA_TOPIC = '__cluster_metadata';
export const METADATA_PARTITION = 0;

/** Metadata is never deleted by retention (a snapshot mechanism would replace that). */
export const metadataLogConfig: LogConfig = {
  ...defaultLogConfig,
  retentionMs: -1,
  retentionBytes: -1,
  cleanupPolicy: { delete: true, compact: false },
};

export interface MetadataMessage {
  typeId: number;
  version: number;
  record: unknown;
}

const READ_CHUNK_BYTES = 1024 * 1024;

export class MetadataLog {
  constructor(
    private readonly log: PartitionLog,
    private readonly clock: { nowMs(): number },
    /** Leader epoch written into batches (the Raft epoch later; 0 with one node). */
    private readonly epoch = 0,
  ) {}

  endOffset(): number {
    return this.log.logEndOffset();
  }

  /** Every committed record from the start of the log (offsets >= fromOffset), in order. */
  async readFrom(fromOffset = 0): Promise<CommittedRecord[]> {
    const out: CommittedRecord[] = [];
    let next = Math.max(fromOffset, this.log.logStartOffset());
    const end = this.log.logEndOffset();
    while (next < end) {
      const result = await this.log.read(next, READ_CHUNK_BYTES, { minOneBatch: true });
      if (result.kind !== 'records' || result.records.length === 0) break;
      const before = next;
      for (const batch of decodeRecordBatches(result.records)) {
        for (const r of batch.records) {
          if (r.offset < next) continue;
          if (r.value === null) continue;
          out.push({ offset: r.offset, message: decodeMetadataRecord(Buffer.from(r.value)) });
        }
        next = Math.max(next, batch.baseOffset + batch.lastOffsetDelta + 1);
      }
      if (next === before) break;
    }
    return out;
  }

  /** Appends the messages as one batch, fsyncs, commits them; returns them with their offsets. */
  async append(messages: readonly MetadataMessage[]): Promise<CommittedRecord[]> {
    if (messages.length === 0) return [];
    const timestamp = this.clock.nowMs();
    const batch = buildBatch(messages, timestamp);
    const result = await this.log.append(batch, { leaderEpoch: this.epoch });
    await this.log.flush();
    this.log.updateHighWatermark(result.lastOffset + 1);
    return messages.map((message, i) => ({ offset: result.baseOffset + i, message }));
  }

  async close(): Promise<void> {
    await this.log.flush();
  }
}

function buildBatch(messages: readonly MetadataMessage[], timestamp: number): Buffer {
  return buildRecordBatch({
    records: messages.map((m) => ({
      key: null,
      value: encodeMetadataRecord(m.typeId, m.version, m.record),
      timestamp,
    })),
  });
}

// ---- the metadata log over Raft ----------------------------------------------------------

/** What the controller sees of the log it writes (MetadataLog or RaftMetadataLog). */
export interface ControllerLog {
  /**
   * Appends the messages as one batch. MetadataLog resolves with the committed records
   * (the controller replays them); RaftMetadataLog resolves once the batch is committed,
   * replayed and published (replaysCommits), with the same records.
   */
  append(messages: readonly MetadataMessage[]): Promise<CommittedRecord[]>;
  /** Every committed record from fromOffset (MetadataLog: the controller replays them at load). */
  readFrom?(fromOffset?: number): Promise<CommittedRecord[]>;
  /** True when the log replays and publishes committed batches itself (every node does). */
  readonly replaysCommits?: boolean;
  /** The epoch this node may write in, or undefined when it is not the active controller. */
  activeEpoch?(): number | undefined;
  /** The offset the next appended record will get (Kafka's broker epoch of a registration). */
  nextOffset?(): number;
  /** Calls fn on every change of leader or epoch (the controller resets its in-memory state). */
  onLeadershipChange?(fn: () => void): void;
  /** Calls fn each time this node becomes the active controller (after catching up). */
  onActivate?(fn: () => void): void;
}

/** The subset of RaftDriver this log uses (the simulator and tests may hand in others). */
export interface MetadataRaft {
  register(listener: RaftListener): void;
  leaderAndEpoch(): LeaderAndEpoch;
  scheduleAppend(epoch: number, records: readonly Buffer[]): number;
  highWatermark(): number;
  /** The offset the next appended record gets. */
  logEndOffset(): number;
  readonly nodeId: number;
}

/** Refused operation: this node is not (or no longer) the active controller. */
export class NotControllerError extends Error {
  override readonly name = 'NotControllerError';
  constructor(message = 'this node is not the active controller') {
    super(message);
  }
}

/** Refused operation: the Raft leader has too many uncommitted records. */
export class MetadataLogFullError extends Error {
  override readonly name = 'MetadataLogFullError';
}

/**
 * Snapshot payload: each record as u32 length + Kafka's metadata record frame. Rebuilds an
 * image from the empty one (the records are what imageToRecords gives).
 */
export function encodeMetadataSnapshot(messages: readonly MetadataMessage[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) {
    const body = encodeMetadataRecord(m.typeId, m.version, m.record);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(body.length, 0);
    parts.push(len, body);
  }
  return Buffer.concat(parts);
}

export function decodeMetadataSnapshot(data: Buffer): MetadataMessage[] {
  const out: MetadataMessage[] = [];
  let pos = 0;
  while (pos + 4 <= data.length) {
    const len = data.readUInt32BE(pos);
    pos += 4;
    if (pos + len > data.length) throw new RangeError('metadata snapshot: truncated record');
    out.push(decodeMetadataRecord(data.subarray(pos, pos + len)));
    pos += len;
  }
  return out;
}

interface Waiter {
  lastOffset: number;
  epoch: number;
  records: CommittedRecord[];
  resolve: (records: CommittedRecord[]) => void;
  reject: (err: Error) => void;
}

export interface RaftMetadataLogOptions {
  raft: MetadataRaft;
  publisher: MetadataPublisher;
  clusterId: string;
  /** A replay failure (a bug of the writer) or a snapshot that does not decode. */
  onError: (err: unknown) => void;
  /** Called on a published snapshot load (tests, metrics). */
  onSnapshotLoaded?: (id: SnapshotId) => void;
  /**
   * When to snapshot the image (KIP-630): after maxRecordBytes of committed records, or
   * intervalMs after the previous snapshot when records came since (0: never by time).
   */
  snapshots?: {
    maxRecordBytes: number;
    intervalMs: number;
    clock: Clock;
    create: (endOffset: number, data: Buffer) => Promise<unknown>;
    /** The records that rebuild an image (imageToRecords). */
    toRecords: (image: MetadataImage) => readonly MetadataMessage[];
  };
}

/**
 * The metadata log every node keeps: a Raft listener that replays committed batches into
 * the image and publishes it (in order, one publish at a time), and, on the leader, the
 * controller's appends, which resolve once their batch was published.
 *
 * The leader of epoch E is active (may run operations) once the control batch that opened
 * E is committed and everything before it replayed: its image is then the whole
 * committed state, and a new leader resumes from there.
 */
export class RaftMetadataLog implements ControllerLog, RaftListener {
  readonly replaysCommits = true;
  private chain: Promise<void> = Promise.resolve();
  /** End offset of the batches replayed and published so far. */
  private appliedEnd = 0;
  private leader: LeaderAndEpoch = { leaderId: -1, epoch: 0 };
  private activeIn: number | undefined;
  private waiters: Waiter[] = [];
  private readonly leadershipListeners: (() => void)[] = [];
  private readonly catchUpWaiters: { offset: number; resolve: () => void }[] = [];
  private readonly activeWaiters: (() => void)[] = [];
  private readonly activateListeners: (() => void)[] = [];
  /** Snapshots loaded since start (the first one at start, later ones fetched from the leader). */
  snapshotsLoaded = 0;
  /** Snapshots this node wrote since start. */
  snapshotsWritten = 0;
  private bytesSinceSnapshot = 0;
  private lastSnapshotMs: number | undefined;
  private snapshotting = false;
  private closed = false;

  constructor(private readonly options: RaftMetadataLogOptions) {}

  /** Registers with the Raft client (delivers the latest snapshot and committed batches). */
  start(): void {
    this.options.raft.register(this);
  }

  // ---- RaftListener ----

  handleCommit(batches: readonly LogBatch[]): void {
    for (const batch of batches) {
      const end = batchEnd(batch);
      if (batch.control) {
        this.enqueue(async () => {
          this.appliedEnd = Math.max(this.appliedEnd, end);
          if (batch.epoch === this.leader.epoch && this.leader.leaderId === this.options.raft.nodeId) {
            this.activate(batch.epoch);
          }
          this.settle();
        });
        continue;
      }
      const records: CommittedRecord[] = [];
      batch.records.forEach((buf, i) => {
        records.push({ offset: batch.baseOffset + i, message: decodeMetadataRecord(buf) });
      });
      this.enqueue(async () => {
        const { image, delta } = replay(this.options.publisher.image(), records);
        await this.options.publisher.publish(image, delta);
        this.appliedEnd = Math.max(this.appliedEnd, end);
        for (const w of this.waiters) if (w.lastOffset >= batch.baseOffset && w.lastOffset < end) w.records = records;
        this.settle();
        for (const r of batch.records) this.bytesSinceSnapshot += r.length;
        this.maybeSnapshot(end);
      });
    }
  }

  handleLoadSnapshot(id: SnapshotId, data: Buffer): void {
    this.enqueue(async () => {
      const messages = decodeMetadataSnapshot(data);
      const base = emptyImage(this.options.clusterId);
      const records: CommittedRecord[] = messages.map((message) => ({ offset: id.endOffset - 1, message }));
      const { image, delta } = replay(base, records);
      await this.options.publisher.publish({ ...image, offset: id.endOffset - 1 }, delta);
      this.appliedEnd = Math.max(this.appliedEnd, id.endOffset);
      this.bytesSinceSnapshot = 0;
      this.snapshotsLoaded++;
      this.options.onSnapshotLoaded?.(id);
      this.settle();
    });
  }

  handleLeaderChange(leader: LeaderAndEpoch): void {
    const changed = leader.leaderId !== this.leader.leaderId || leader.epoch !== this.leader.epoch;
    this.leader = { ...leader };
    if (!changed) return;
    if (this.activeIn !== undefined && this.activeIn !== leader.epoch) this.activeIn = undefined;
    if (leader.leaderId !== this.options.raft.nodeId) this.activeIn = undefined;
    // Appends of an earlier epoch may still commit, but their operation is answered NOT_CONTROLLER.
    const lost = this.waiters.filter((w) => w.epoch !== leader.epoch || leader.leaderId !== this.options.raft.nodeId);
    this.waiters = this.waiters.filter((w) => !lost.includes(w));
    for (const w of lost) w.reject(new NotControllerError('leadership changed before the batch committed'));
    for (const fn of this.leadershipListeners) fn();
  }

  // ---- ControllerLog ----

  activeEpoch(): number | undefined {
    return this.activeIn;
  }

  nextOffset(): number {
    return this.options.raft.logEndOffset();
  }

  onLeadershipChange(fn: () => void): void {
    this.leadershipListeners.push(fn);
  }

  onActivate(fn: () => void): void {
    this.activateListeners.push(fn);
  }

  leaderAndEpoch(): LeaderAndEpoch {
    return { ...this.leader };
  }

  /** End offset of what this node has replayed (its metadata offset for heartbeats). */
  appliedOffset(): number {
    return this.appliedEnd;
  }

  /**
   * The Raft client stopped: no batch commits any more, so every append still waiting for its
   * commit fails (NOT_CONTROLLER) instead of waiting forever, and later appends fail at once.
   */
  close(): void {
    this.closed = true;
    this.activeIn = undefined;
    const lost = this.waiters;
    this.waiters = [];
    for (const w of lost) w.reject(new NotControllerError('the metadata quorum client stopped'));
  }

  append(messages: readonly MetadataMessage[]): Promise<CommittedRecord[]> {
    const epoch = this.activeIn;
    if (this.closed || epoch === undefined) return Promise.reject(new NotControllerError());
    if (messages.length === 0) return Promise.resolve([]);
    let lastOffset: number;
    try {
      lastOffset = this.options.raft.scheduleAppend(
        epoch,
        messages.map((m) => encodeMetadataRecord(m.typeId, m.version, m.record)),
      );
    } catch (err) {
      if (err instanceof RaftAppendError) {
        return Promise.reject(
          err.kind === 'not-leader' ? new NotControllerError(err.message) : new MetadataLogFullError(err.message),
        );
      }
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ lastOffset, epoch, records: [], resolve, reject });
    });
  }

  /** Resolves once this node is the active controller (or after timeoutMs: false). */
  waitActive(clock: Clock, timeoutMs: number): Promise<boolean> {
    if (this.activeIn !== undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const cancel = clock.schedule(timeoutMs, () => {
        const i = this.activeWaiters.indexOf(done);
        if (i >= 0) this.activeWaiters.splice(i, 1);
        resolve(false);
      });
      const done = (): void => {
        cancel();
        resolve(true);
      };
      this.activeWaiters.push(done);
    });
  }

  /** Resolves once everything committed when called is replayed (or after timeoutMs: false). */
  waitCaughtUp(clock: Clock, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let finished = false;
      const cancel = clock.schedule(timeoutMs, () => {
        finished = true;
        resolve(false);
      });
      const check = (): void => {
        if (finished) return;
        const hw = this.options.raft.highWatermark();
        if (hw >= 0 && this.appliedEnd >= hw) {
          finished = true;
          cancel();
          resolve(true);
          return;
        }
        this.catchUpWaiters.push({ offset: hw < 0 ? Number.POSITIVE_INFINITY : hw, resolve: check });
      };
      check();
    });
  }

  /** Writes a snapshot of the published image at `end` (a committed batch end) when due. */
  private maybeSnapshot(end: number): void {
    const policy = this.options.snapshots;
    if (policy === undefined || this.snapshotting || this.bytesSinceSnapshot === 0) return;
    const now = policy.clock.monotonicMs();
    this.lastSnapshotMs ??= now;
    const byBytes = this.bytesSinceSnapshot >= policy.maxRecordBytes;
    const byTime = policy.intervalMs > 0 && now - this.lastSnapshotMs >= policy.intervalMs;
    if (!byBytes && !byTime) return;
    if (end > this.options.raft.highWatermark()) return;
    const data = encodeMetadataSnapshot(policy.toRecords(this.options.publisher.image()));
    this.snapshotting = true;
    this.bytesSinceSnapshot = 0;
    this.lastSnapshotMs = now;
    policy
      .create(end, data)
      .then(() => {
        this.snapshotsWritten++;
      })
      .catch((err: unknown) => this.options.onError(err))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  private activate(epoch: number): void {
    if (this.closed) return;
    this.activeIn = epoch;
    for (const fn of this.activateListeners) fn();
    const waiting = this.activeWaiters.splice(0);
    for (const fn of waiting) fn();
  }

  private settle(): void {
    const done = this.waiters.filter((w) => w.lastOffset < this.appliedEnd);
    if (done.length > 0) {
      this.waiters = this.waiters.filter((w) => w.lastOffset >= this.appliedEnd);
      for (const w of done) w.resolve(w.records);
    }
    const catching = this.catchUpWaiters.splice(0);
    for (const c of catching) c.resolve();
  }

  private enqueue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err: unknown) => this.options.onError(err));
  }

  /** Resolves when every batch delivered so far has been replayed and published. */
  drained(): Promise<void> {
    return this.chain;
  }
}
