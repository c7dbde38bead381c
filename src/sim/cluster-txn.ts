/**
 * Transactions in the cluster simulation (cluster-run.ts with `txn: true`):
 *
 * - TxnCoordinatorNode: a transaction coordinator process whose state is the REAL
 *   TxnShard (src/coordinator/transaction/shard.ts). Its TransactionLog records go to a
 *   FileLog on the coordinator's own simulated disk, flushed before any answer (not a
 *   replicated __transaction_state partition: the coordinator does not move between
 *   brokers here). A crash (kill -9 or power loss) drops the shard; a restart replays the
 *   log into a new shard with a higher coordinator epoch, and the shard's own onLoaded
 *   sends the markers of transactions left in Prepare*. Markers are control batches
 *   (buildControlBatch) produced with acks=-1 to each partition's leader over the
 *   simulated network, retried until acknowledged, then Complete* is written.
 * - TxnProducerNode: InitProducerId, AddPartitionsToTxn, transactional idempotent batches
 *   (acks=-1) to several partitions, EndTxn commit or abort (seeded), restarting with a new
 *   InitProducerId when fenced.
 * - BrokerTxnState (per broker, per partition): the REAL ProducerStateManager and
 *   TxnCompletions, fed by applyBatchesToState from the broker's own log on leader and
 *   follower appends (rebuilt from the log after a truncation or restart); the leader
 *   checks sequences and marker epochs with it before appending; the last stable offset
 *   is TxnCompletions.lastStableOffset.
 * - TxnChecker: a read_committed view per partition, read from the leader's log below its
 *   last stable offset, skipping aborted transactions by the aborted list that
 *   applyBatchesToState produced, plus the invariants (see docs/simulation.md).
 */

import { type CompletedTxn, ProducerStateManager } from '../broker/producer-state/producer-state.ts';
import {
  abortedEntry,
  applyBatchesToState,
  readTxnMarker,
  TxnCompletions,
} from '../broker/producer-state/transactions.ts';
import type { WriteOp, WriteResult } from '../coordinator/runtime/runtime.ts';
import type { TxnRecord } from '../coordinator/transaction/records.ts';
import { txnRecordSerde } from '../coordinator/transaction/records.ts';
import { type PreparedTxn, TxnShard, TxnState } from '../coordinator/transaction/shard.ts';
import { memoryDisk } from '../env/disk-memory.ts';
import type { Random } from '../env/random.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import { buildControlBatch, buildRecordBatch, decodeRecordBatch, iterateBatches } from '../protocol/records/batch.ts';
import { ATTR_CONTROL, ATTR_TRANSACTIONAL, readBatchHeader } from '../protocol/records/batch-header.ts';
import { ControlRecordType } from '../protocol/records/control.ts';
import { logConfig } from '../storage/config.ts';
import { FileLog } from '../storage/file-log.ts';
import type { AbortedTxn } from '../storage/txn-index.ts';
import type { BrokerTxnHooks, LeaderAppendCheck, SimBroker } from './cluster-broker.ts';
import type { ClusterMessage, MessageOf, TxnBody } from './cluster-messages.ts';
import { InvariantViolation } from './invariants.ts';
import type { Scheduler } from './scheduler.ts';

export const TXN_COORDINATOR_ID = 300;
export const TXN_PRODUCER_ID = 301;
const EVENT_TXN_TICK = 50;
const EVENT_TXN_TIMER = 51;
const EVENT_TXN_FAULT = 52;
const TRANSACTIONAL_ID = 'sim-txn';
const READ_BYTES = 1 << 20;

/**
 * Planted bugs of the transaction side: `lso-is-hw`, the last stable offset is the high
 * watermark (ongoing transactions ignored); `prepare-not-durable`, the coordinator
 * answers EndTxn and sends markers before its PrepareCommit/PrepareAbort is flushed;
 * `lso-ignores-unreplicated`, a transaction stops holding the last stable offset as soon
 * as its marker is in the leader's log, before the high watermark passes the marker.
 */
export type TxnBug = 'none' | 'lso-is-hw' | 'prepare-not-durable' | 'lso-ignores-unreplicated';

function fail(message: string): never {
  throw new InvariantViolation(message);
}

/** Reads every batch of `log` in [from, log end) into one buffer list (whole batches). */
async function readBatches(log: FileLog, from: number, to: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let offset = from;
  while (offset < to) {
    const r = await log.read(offset, READ_BYTES, { maxOffset: to });
    if (r.kind !== 'records' || r.records.length === 0) break;
    out.push(r.records);
    let next = offset;
    for (const { header } of iterateBatches(r.records))
      next = Math.max(next, header.baseOffset + header.lastOffsetDelta + 1);
    if (next <= offset) break;
    offset = next;
  }
  return out;
}

// ---- the partition side: producer state of one broker's replica ---------------------------

class ReplicaTxnState {
  producers = new ProducerStateManager();
  completions = new TxnCompletions();
  /** Aborted transactions completed in this log (the aborted-transaction bookkeeping). */
  aborted: CompletedTxn[] = [];
  appliedTo = 0;
  log: FileLog | undefined;
  /** The last stable offset seen, by leader epoch (it must not go back within one). */
  lastLso = { life: -1, leaderEpoch: -1, lso: -1 };

  async sync(log: FileLog, truncated: boolean): Promise<void> {
    if (truncated || log !== this.log || log.logEndOffset() < this.appliedTo || log.logStartOffset() > this.appliedTo) {
      this.producers = new ProducerStateManager();
      this.completions = new TxnCompletions();
      this.aborted = [];
      this.log = log;
      this.appliedTo = log.logStartOffset();
    }
    const end = log.logEndOffset();
    if (this.appliedTo >= end) return;
    // What the log's aborted-transaction index holds already (it survives restarts and is
    // truncated with the log): a rebuild adds only what is missing, as a recovery would.
    const indexed = log.abortedTxns(this.appliedTo, end);
    for (const records of await readBatches(log, this.appliedTo, end)) {
      const r = applyBatchesToState(this.producers, records, this.appliedTo, this.completions);
      this.aborted.push(...r.aborted);
      for (const t of r.aborted) {
        if (indexed.some((e) => e.producerId === t.producerId && e.lastOffset === t.lastOffset)) continue;
        const lso = Math.min(this.producers.firstUnstableOffset() ?? t.lastOffset + 1, t.lastOffset + 1);
        await log.addAbortedTxn(abortedEntry(t, lso));
      }
    }
    this.appliedTo = end;
  }

  lastStableOffset(log: FileLog, bug: TxnBug): number {
    const hw = log.highWatermark();
    if (bug === 'lso-is-hw') return hw;
    if (bug === 'lso-ignores-unreplicated') return Math.min(this.producers.firstUnstableOffset() ?? hw, hw);
    return this.completions.lastStableOffset(this.producers, hw);
  }

  /** Aborted transactions in [from, to) from the log's index (the read path of a read_committed fetch). */
  abortedIn(log: FileLog, from: number, to: number, pid: number, brokerId: number): AbortedTxn[] {
    const indexed = log.abortedTxns(from, to);
    // The index must hold every aborted transaction producer state completed in this log.
    for (const t of this.aborted) {
      if (t.lastOffset < from || t.firstOffset >= to || t.lastOffset < log.logStartOffset()) continue;
      if (!indexed.some((e) => e.producerId === t.producerId && e.lastOffset === t.lastOffset)) {
        fail(
          `p${pid} broker ${brokerId}: the aborted-transaction index misses producer ${t.producerId}'s [${t.firstOffset}, ${t.lastOffset}]`,
        );
      }
    }
    return indexed;
  }
}

/** The producer state of every broker's replicas; the hooks SimBroker calls. */
export class BrokerTxnState implements BrokerTxnHooks {
  private readonly replicas = new Map<string, ReplicaTxnState>();

  replica(broker: SimBroker, pid: number): ReplicaTxnState {
    const key = `${broker.id}:${pid}`;
    let r = this.replicas.get(key);
    if (r === undefined) {
      r = new ReplicaTxnState();
      this.replicas.set(key, r);
    }
    return r;
  }

  async beforeLeaderAppend(broker: SimBroker, pid: number, batch: Buffer): Promise<LeaderAppendCheck> {
    const log = broker.logs.get(pid);
    if (log === undefined) return { kind: 'append' };
    const r = this.replica(broker, pid);
    await r.sync(log, false);
    const h = readBatchHeader(batch, 0);
    if (h.producerId < 0n) return { kind: 'append' };
    if ((h.attributes & ATTR_CONTROL) !== 0) {
      const marker = readTxnMarker(batch, 0);
      const c = r.producers.checkMarker(h.producerId, h.producerEpoch, marker?.coordinatorEpoch ?? -1);
      return c.kind === 'error' ? { kind: 'error', errorCode: c.errorCode } : { kind: 'append' };
    }
    const c = r.producers.check(h);
    if (c.kind === 'error') return { kind: 'error', errorCode: c.errorCode };
    if (c.kind === 'duplicate') return { kind: 'duplicate', baseOffset: c.firstOffset, lastOffset: c.lastOffset };
    return { kind: 'append' };
  }

  async logChanged(broker: SimBroker, pid: number, truncated: boolean): Promise<void> {
    const log = broker.logs.get(pid);
    if (log !== undefined) await this.replica(broker, pid).sync(log, truncated);
  }
}

// ---- a tiny metadata cache for the coordinator and the producer ------------------------------

class LeaderCache {
  leaders: number[];
  private sentAtMs = Number.NEGATIVE_INFINITY;
  private corr = 0;
  constructor(
    private readonly self: number,
    partitions: number,
    private readonly brokers: readonly number[],
    private readonly random: Random,
    private readonly send: (m: ClusterMessage) => void,
  ) {
    this.leaders = Array.from({ length: partitions }, () => -1);
  }
  private epochs: number[] = [];
  refresh(nowMs: number): void {
    if (nowMs - this.sentAtMs < 100) return;
    this.sentAtMs = nowMs;
    const to = this.brokers[this.random.int(this.brokers.length)]!;
    this.send({ from: this.self, to, type: 'clientMetadata', correlationId: ++this.corr });
  }
  onResponse(m: MessageOf<'clientMetadataResponse'>): void {
    m.leaders.forEach((l, p) => {
      if (l.leader >= 0 && l.leaderEpoch >= (this.epochs[p] ?? -1)) {
        this.leaders[p] = l.leader;
        this.epochs[p] = l.leaderEpoch;
      }
    });
  }
}

// ---- the coordinator ---------------------------------------------------------------------

interface PendingMarkers {
  txn: PreparedTxn;
  coordinatorEpoch: number;
  /** partition -> in-flight request (correlation id, sent at), or undefined when due. */
  remaining: Map<number, { corr: number; sentAtMs: number } | undefined>;
}

export class TxnCoordinatorNode {
  readonly disk = memoryDisk();
  up = false;
  lives = 0;
  private generation = 0;
  private shard: TxnShard | undefined;
  private log: FileLog | undefined;
  private timers = new Map<string, number>();
  private pending = new Map<string, PendingMarkers>();
  private corr = 0;
  private nextProducerId = 0n;
  private loading = false;
  /** Transactions whose markers a reloaded coordinator resumed (left in Prepare* by a crash). */
  resumedMarkers = 0;
  private readonly meta: LeaderCache;
  /** Told of every Prepare/Complete record written (the checker). */
  onRecord: (r: TxnRecord) => void = () => {};

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly send: (m: ClusterMessage) => void,
    brokers: readonly number[],
    partitions: number,
    private readonly topic: string,
    private readonly bug: TxnBug = 'none',
  ) {
    this.meta = new LeaderCache(TXN_COORDINATOR_ID, partitions, brokers, random, send);
  }

  get markersPending(): number {
    return this.pending.size;
  }

  private get nowMs(): number {
    return this.scheduler.nowMs;
  }

  async start(): Promise<void> {
    this.generation++;
    this.lives++;
    this.up = true;
    this.timers = new Map();
    this.pending = new Map();
    this.nextProducerId = BigInt(this.lives) * 1000n;
    const clock = {
      nowMs: (): number => this.scheduler.nowMs,
      monotonicMs: (): number => this.scheduler.nowMs,
      schedule: (): (() => void) => {
        throw new Error('no timers');
      },
    };
    this.log = await FileLog.open({
      dir: '/txn/__transaction_state-0',
      topic: '__transaction_state',
      partition: 0,
      config: logConfig({ segmentBytes: 16 * 1024, retentionMs: -1 }),
      disk: this.disk,
      clock,
      highWatermark: 0,
      onBackgroundError: () => {},
    });
    const gen = this.generation;
    const shard: TxnShard = new TxnShard(
      {
        partition: 0,
        nowMs: () => this.scheduler.nowMs,
        schedule: (key, delayMs, op) => this.scheduleTimer(gen, key, delayMs, op),
        cancel: (key) => this.timers.delete(key),
        isScheduled: (key) => this.timers.has(key),
      },
      { maxTimeoutMs: 900_000, idExpirationMs: 604_800_000, abortIntervalMs: 500, removeExpiredIntervalMs: 3_600_000 },
      { sendMarkers: (_p, txn) => this.addMarkers(txn) },
    );
    // Load: replay the whole log, then the shard resumes markers of Prepare* transactions.
    for (const records of await readBatches(this.log, 0, this.log.logEndOffset())) {
      for (const { position } of iterateBatches(records)) {
        const batch = decodeRecordBatch(records, position);
        for (const rec of batch.records) {
          const r = txnRecordSerde.deserialize({ key: rec.key as Buffer, value: rec.value as Buffer | null });
          if (r !== undefined) shard.replay(r);
        }
      }
    }
    this.shard = shard;
    this.loading = true;
    shard.onLoaded();
    this.loading = false;
    this.scheduleTick();
  }

  crash(powerLoss: boolean): void {
    this.up = false;
    this.generation++;
    this.shard = undefined;
    this.log = undefined;
    this.disk.crash(powerLoss ? { random: this.random } : { keepUnflushed: true });
  }

  private scheduleTimer(gen: number, key: string, delayMs: number, op: WriteOp<TxnShard, TxnRecord, unknown>): void {
    const token = this.random.int(1 << 30);
    this.timers.set(key, token);
    this.scheduler.schedule(this.nowMs + delayMs, EVENT_TXN_TIMER, TXN_COORDINATOR_ID, async () => {
      if (!this.up || gen !== this.generation || this.timers.get(key) !== token || this.shard === undefined) return;
      this.timers.delete(key);
      await this.write(op(this.shard, this.nowMs));
    });
  }

  /** Appends the records durably, replays them, then runs onAppended. */
  private async write<T>(op: WriteResult<TxnRecord, T>): Promise<boolean> {
    const shard = this.shard;
    const log = this.log;
    if (shard === undefined || log === undefined) return false;
    if (op.records.length > 0) {
      const now = this.nowMs;
      const batch = buildRecordBatch({
        records: op.records.map((r) => {
          const s = txnRecordSerde.serialize(r);
          return { key: s.key, value: s.value ?? undefined, timestamp: now };
        }),
      });
      await log.append(batch, { leaderEpoch: 0 });
      const prepare = op.records.some(
        (r) =>
          r.value?.transactionStatus === TxnState.PrepareCommit || r.value?.transactionStatus === TxnState.PrepareAbort,
      );
      if (!(prepare && this.bug === 'prepare-not-durable')) await log.flush();
      for (const r of op.records) {
        shard.replay(r);
        this.onRecord(r);
      }
    }
    op.onAppended?.(0);
    return true;
  }

  private addMarkers(txn: PreparedTxn): void {
    if (this.loading) this.resumedMarkers++;
    const remaining = new Map<number, { corr: number; sentAtMs: number } | undefined>();
    for (const p of txn.partitions) if (p.topic === this.topic) remaining.set(p.partition, undefined);
    this.pending.set(`${txn.producerId}:${txn.producerEpoch}`, { txn, coordinatorEpoch: this.lives, remaining });
  }

  private scheduleTick(): void {
    const gen = this.generation;
    this.scheduler.schedule(this.nowMs + 20, EVENT_TXN_TICK, TXN_COORDINATOR_ID, () => {
      if (!this.up || gen !== this.generation) return;
      this.scheduleTick();
      return this.tick();
    });
  }

  private async tick(): Promise<void> {
    const now = this.nowMs;
    for (const [key, pm] of [...this.pending]) {
      if (pm.remaining.size === 0) {
        this.pending.delete(key);
        await this.write(this.shard!.completeTransaction(pm.txn, now));
        if (!this.up) return;
        continue;
      }
      for (const [p, inFlight] of pm.remaining) {
        if (inFlight !== undefined && now - inFlight.sentAtMs < 400) continue;
        const leader = this.meta.leaders[p] ?? -1;
        if (leader < 0) {
          this.meta.refresh(now);
          continue;
        }
        const corr = ++this.corr;
        pm.remaining.set(p, { corr, sentAtMs: now });
        const batch = buildControlBatch({
          type: pm.txn.committed ? ControlRecordType.Commit : ControlRecordType.Abort,
          coordinatorEpoch: pm.coordinatorEpoch,
          producerId: pm.txn.producerId,
          producerEpoch: pm.txn.producerEpoch,
          timestamp: now,
        });
        this.send({ from: TXN_COORDINATOR_ID, to: leader, type: 'produce', partition: p, batch, correlationId: corr });
      }
    }
  }

  async receive(m: ClusterMessage): Promise<void> {
    if (!this.up || this.shard === undefined) return;
    const now = this.nowMs;
    if (m.type === 'clientMetadataResponse') return this.meta.onResponse(m);
    if (m.type === 'produceResponse') {
      for (const pm of this.pending.values()) {
        const inFlight = pm.remaining.get(m.partition);
        if (inFlight === undefined || inFlight.corr !== m.correlationId) continue;
        if (m.errorCode === ErrorCode.NONE) pm.remaining.delete(m.partition);
        else {
          pm.remaining.set(m.partition, undefined);
          this.meta.refresh(now);
        }
      }
      return;
    }
    if (m.type !== 'txn') return;
    const b = m.body;
    const reply = (errorCode: number, producerId = -1n, producerEpoch = -1): void =>
      this.send({
        from: TXN_COORDINATOR_ID,
        to: m.from,
        type: 'txn',
        body: { kind: 'response', correlationId: b.correlationId, errorCode, producerId, producerEpoch },
      });
    switch (b.kind) {
      case 'init': {
        let op = this.shard.initProducerId(b.transactionalId, b.timeoutMs, -1n, -1, undefined, now);
        if (op.response.kind === 'need-producer-id') {
          op = this.shard.initProducerId(b.transactionalId, b.timeoutMs, -1n, -1, this.nextProducerId++, now);
        }
        if (!(await this.write(op))) return;
        const r = op.response;
        if (r.kind === 'done') reply(r.errorCode, r.producerId, r.producerEpoch);
        return;
      }
      case 'add': {
        const op = this.shard.addPartitions(
          b.transactionalId,
          b.producerId,
          b.producerEpoch,
          b.partitions.map((partition) => ({ topic: this.topic, partition })),
          now,
        );
        if (await this.write(op)) reply(op.response);
        return;
      }
      case 'end': {
        const op = this.shard.endTxn(b.transactionalId, b.producerId, b.producerEpoch, b.commit, now);
        if (await this.write(op)) reply(op.response);
        return;
      }
      default:
        return;
    }
  }
}

// ---- the transactional producer --------------------------------------------------------------

interface TxnBatch {
  partition: number;
  batch: Buffer;
  keys: string[];
}

interface OpenTxn {
  number: number;
  commit: boolean;
  partitions: number[];
  batches: TxnBatch[];
  /** Index of the next batch to be acknowledged (batches go one at a time, in order). */
  next: number;
}

export class TxnProducerNode {
  private state: 'init' | 'idle' | 'add' | 'produce' | 'end' = 'init';
  private producerId = -1n;
  private producerEpoch = -1;
  private seqs = new Map<number, number>();
  private corr = 0;
  private inFlight: { corr: number; sentAtMs: number } | undefined;
  private backoffUntilMs = 0;
  private txnCounter = 0;
  txn: OpenTxn | undefined;
  /** Start no transaction at or after this time. */
  startUntilMs = Number.POSITIVE_INFINITY;
  private readonly meta: LeaderCache;
  stats = { begun: 0, commitsAcked: 0, abortsAcked: 0, fenced: 0 };
  onBegin: (txn: OpenTxn) => void = () => {};
  onEndAcked: (txn: OpenTxn) => void = () => {};

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly send: (m: ClusterMessage) => void,
    brokers: readonly number[],
    private readonly partitions: number,
  ) {
    this.meta = new LeaderCache(TXN_PRODUCER_ID, partitions, brokers, random, send);
  }

  get idle(): boolean {
    return this.state === 'idle';
  }

  start(): void {
    const tick = (): void => {
      this.scheduler.schedule(this.scheduler.nowMs + 30, EVENT_TXN_TICK, TXN_PRODUCER_ID, () => {
        tick();
        this.tick();
      });
    };
    tick();
  }

  private sendTxn(body: TxnBody): void {
    this.inFlight = { corr: body.correlationId, sentAtMs: this.scheduler.nowMs };
    this.send({ from: TXN_PRODUCER_ID, to: TXN_COORDINATOR_ID, type: 'txn', body });
  }

  private tick(): void {
    const now = this.scheduler.nowMs;
    this.meta.refresh(now);
    if (this.inFlight !== undefined && now - this.inFlight.sentAtMs < 500) return;
    if (now < this.backoffUntilMs) return;
    this.inFlight = undefined;
    const correlationId = ++this.corr;
    switch (this.state) {
      case 'init':
        this.sendTxn({ kind: 'init', correlationId, transactionalId: TRANSACTIONAL_ID, timeoutMs: 2000 });
        return;
      case 'idle': {
        if (now >= this.startUntilMs) return;
        const chosen = [...Array(this.partitions).keys()].filter(() => this.random.int(3) > 0);
        if (chosen.length === 0) chosen.push(this.random.int(this.partitions));
        const number = ++this.txnCounter;
        const batches: TxnBatch[] = [];
        for (const p of chosen) {
          const n = 1 + this.random.int(3);
          for (let i = 0; i < n; i++) {
            const count = 1 + this.random.int(2);
            const keys = Array.from({ length: count }, (_, j) => `t${number}.${p}.${i}.${j}`);
            const baseSequence = this.seqs.get(p) ?? 0;
            this.seqs.set(p, baseSequence + count);
            const batch = buildRecordBatch({
              records: keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from('v'), timestamp: now })),
              producerId: this.producerId,
              producerEpoch: this.producerEpoch,
              baseSequence,
              transactional: true,
            });
            batches.push({ partition: p, batch, keys });
          }
        }
        this.txn = { number, commit: this.random.int(10) < 7, partitions: chosen, batches, next: 0 };
        this.stats.begun++;
        this.onBegin(this.txn);
        this.state = 'add';
        this.tick();
        return;
      }
      case 'add':
        this.sendTxn({
          kind: 'add',
          correlationId,
          transactionalId: TRANSACTIONAL_ID,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          partitions: this.txn!.partitions,
        });
        return;
      case 'produce': {
        const b = this.txn!.batches[this.txn!.next]!;
        const leader = this.meta.leaders[b.partition] ?? -1;
        if (leader < 0) return;
        this.inFlight = { corr: correlationId, sentAtMs: now };
        this.send({
          from: TXN_PRODUCER_ID,
          to: leader,
          type: 'produce',
          partition: b.partition,
          batch: b.batch,
          correlationId,
        });
        return;
      }
      case 'end':
        this.sendTxn({
          kind: 'end',
          correlationId,
          transactionalId: TRANSACTIONAL_ID,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          commit: this.txn!.commit,
        });
        return;
    }
  }

  private fenced(): void {
    // Fatal for this incarnation: a new InitProducerId aborts whatever is open.
    this.stats.fenced++;
    this.state = 'init';
  }

  receive(m: ClusterMessage): void {
    const now = this.scheduler.nowMs;
    if (m.type === 'clientMetadataResponse') {
      this.meta.onResponse(m);
      return;
    }
    const corr = m.type === 'txn' ? m.body.correlationId : m.type === 'produceResponse' ? m.correlationId : -1;
    if (this.inFlight === undefined || corr !== this.inFlight.corr) return;
    this.inFlight = undefined;
    const retry = (): void => {
      this.backoffUntilMs = now + 50;
    };
    if (m.type === 'produceResponse') {
      if (this.state !== 'produce') return;
      if (m.errorCode === ErrorCode.NONE) {
        const t = this.txn!;
        t.next++;
        if (t.next >= t.batches.length) this.state = 'end';
      } else if (
        m.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH ||
        m.errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER ||
        m.errorCode === ErrorCode.PRODUCER_FENCED
      ) {
        this.fenced();
      } else {
        this.meta.refresh(now);
        retry();
      }
      this.tick();
      return;
    }
    if (m.type !== 'txn' || m.body.kind !== 'response') return;
    const code = m.body.errorCode;
    if (code === ErrorCode.CONCURRENT_TRANSACTIONS || code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) {
      retry();
      return;
    }
    switch (this.state) {
      case 'init':
        if (code !== ErrorCode.NONE) {
          retry();
          return;
        }
        this.producerId = m.body.producerId;
        this.producerEpoch = m.body.producerEpoch;
        this.seqs = new Map();
        this.state = 'idle';
        this.tick();
        return;
      case 'add':
        if (code !== ErrorCode.NONE) {
          this.fenced();
          return;
        }
        this.state = 'produce';
        this.tick();
        return;
      case 'end':
        if (code !== ErrorCode.NONE) {
          this.fenced();
          return;
        }
        if (this.txn!.commit) this.stats.commitsAcked++;
        else this.stats.abortsAcked++;
        this.onEndAcked(this.txn!);
        this.state = 'idle';
        return;
      default:
        return;
    }
  }
}

// ---- the checker -----------------------------------------------------------------------------

interface TxnTruth {
  commit: boolean;
  /** partition -> keys the producer wrote there. */
  keys: Map<number, string[]>;
  /** What the coordinator decided (its Prepare* record), if it did. */
  decided?: 'commit' | 'abort';
  endAcked: boolean;
}

export class TxnChecker {
  private readonly txns = new Map<number, TxnTruth>();
  /** The producer's current transaction (the coordinator's Ongoing belongs to it). */
  private current = 0;
  /** read_committed view per partition: next offset to read, keys seen. */
  private readonly position: number[];
  private readonly seen: Set<string>[];
  /** Data keys seen by transaction, per partition, since the view passed them. */
  visibleRecords = 0;
  skippedAborted = 0;
  lsoChecks = 0;

  constructor(
    partitions: number,
    private readonly state: BrokerTxnState,
    private readonly bug: TxnBug,
  ) {
    this.position = Array.from({ length: partitions }, () => 0);
    this.seen = Array.from({ length: partitions }, () => new Set<string>());
  }

  onBegin(txn: OpenTxn): void {
    const keys = new Map<number, string[]>();
    for (const b of txn.batches) keys.set(b.partition, [...(keys.get(b.partition) ?? []), ...b.keys]);
    this.txns.set(txn.number, { commit: txn.commit, keys, endAcked: false });
    this.current = txn.number;
  }

  onEndAcked(txn: OpenTxn): void {
    const t = this.txns.get(txn.number)!;
    t.endAcked = true;
    const want = txn.commit ? 'commit' : 'abort';
    if (t.decided !== want)
      fail(`txn ${txn.number}: EndTxn(${want}) acknowledged but the coordinator decided ${t.decided}`);
  }

  onCoordinatorRecord(r: TxnRecord): void {
    const s = r.value?.transactionStatus;
    if (s !== TxnState.PrepareCommit && s !== TxnState.PrepareAbort) return;
    const t = this.txns.get(this.current);
    if (t === undefined) return;
    const decided = s === TxnState.PrepareCommit ? 'commit' : 'abort';
    if (t.decided !== undefined && t.decided !== decided) {
      fail(`txn ${this.current}: the coordinator decided ${decided} after ${t.decided}`);
    }
    if (t.decided === undefined && decided === 'abort' && t.endAcked && t.commit) {
      fail(`txn ${this.current}: aborted after EndTxn(commit) was acknowledged`);
    }
    t.decided = decided;
  }

  private static txnOf(key: string): number | undefined {
    const m = /^t(\d+)\./.exec(key);
    return m === null ? undefined : Number(m[1]);
  }

  /** After every event. */
  async check(brokers: readonly SimBroker[]): Promise<void> {
    for (const b of brokers) {
      if (!b.up) continue;
      for (const [pid, log] of b.logs) {
        const r = this.state.replica(b, pid);
        await r.sync(log, false);
        const leader = b.leaders.get(pid);
        if (leader === undefined) continue;
        const lso = r.lastStableOffset(log, this.bug);
        const last = r.lastLso;
        if (last.life === b.lives && last.leaderEpoch === leader.leaderEpoch && lso < last.lso) {
          fail(`p${pid} broker ${b.id}: last stable offset went back from ${last.lso} to ${lso}`);
        }
        if (last.life !== b.lives || last.leaderEpoch !== leader.leaderEpoch || lso > last.lso) {
          const from =
            last.life === b.lives && last.leaderEpoch === leader.leaderEpoch ? last.lso : log.logStartOffset();
          await this.checkLso(b, pid, log, Math.max(from, log.logStartOffset()), lso);
          r.lastLso = { life: b.lives, leaderEpoch: leader.leaderEpoch, lso };
        }
        await this.readCommitted(b, pid, log, r, lso);
      }
    }
  }

  /** Every transactional batch in [from, lso) has its producer's marker after it, below the high watermark. */
  private async checkLso(b: SimBroker, pid: number, log: FileLog, from: number, lso: number): Promise<void> {
    if (lso <= from) return;
    this.lsoChecks++;
    const hw = log.highWatermark();
    const open = new Map<bigint, number>();
    for (const records of await readBatches(log, from, hw)) {
      for (const { header } of iterateBatches(records)) {
        if (header.baseOffset + header.lastOffsetDelta < from || header.producerId < 0n) continue;
        if ((header.attributes & ATTR_TRANSACTIONAL) === 0) continue;
        if ((header.attributes & ATTR_CONTROL) !== 0) open.delete(header.producerId);
        else if (header.baseOffset < lso && !open.has(header.producerId))
          open.set(header.producerId, header.baseOffset);
      }
    }
    for (const [producerId, offset] of open) {
      fail(
        `p${pid} broker ${b.id}: last stable offset ${lso} passes producer ${producerId}'s transaction open at ${offset} (no marker below the high watermark ${hw})`,
      );
    }
  }

  private async readCommitted(b: SimBroker, pid: number, log: FileLog, r: ReplicaTxnState, lso: number): Promise<void> {
    const from = Math.max(this.position[pid]!, log.logStartOffset());
    if (lso <= from) return;
    const aborted = r.abortedIn(log, from, lso, pid, b.id);
    for (const records of await readBatches(log, from, lso)) {
      for (const { header, position } of iterateBatches(records)) {
        if (header.baseOffset < from || header.baseOffset >= lso) continue;
        if ((header.attributes & ATTR_CONTROL) !== 0) {
          const marker = readTxnMarker(records, position);
          if (marker?.committed) this.checkCommittedWhole(pid, header.producerId, b.id);
          continue;
        }
        const batch = decodeRecordBatch(records, position, { verifyCrc: false });
        const isAborted = aborted.some(
          (a) =>
            a.producerId === header.producerId &&
            a.firstOffset <= header.baseOffset &&
            header.baseOffset <= a.lastOffset,
        );
        for (const rec of batch.records) {
          const key = rec.key?.toString() ?? '';
          const n = TxnChecker.txnOf(key);
          if (n === undefined) continue;
          const t = this.txns.get(n);
          if (isAborted) {
            this.skippedAborted++;
            if (t?.decided === 'commit')
              fail(`p${pid} broker ${b.id}: record ${key} of committed txn ${n} skipped as aborted`);
            continue;
          }
          this.visibleRecords++;
          if (t?.decided !== 'commit') {
            fail(
              `p${pid} broker ${b.id}: read_committed sees ${key} at ${header.baseOffset} of txn ${n} (${t?.decided ?? 'undecided'}; LSO ${lso})`,
            );
          }
          this.seen[pid]!.add(key);
        }
      }
    }
    this.position[pid] = lso;
  }

  /** At a COMMIT marker the view passed: the transaction's records in that partition are all seen. */
  private checkCommittedWhole(pid: number, _producerId: bigint, brokerId: number): void {
    for (const [n, t] of this.txns) {
      if (t.decided !== 'commit') continue;
      const keys = t.keys.get(pid) ?? [];
      const seen = keys.filter((k) => this.seen[pid]!.has(k)).length;
      if (seen > 0 && seen < keys.length) {
        fail(
          `p${pid} broker ${brokerId}: read_committed passed a COMMIT marker with ${seen} of ${keys.length} records of txn ${n}`,
        );
      }
    }
  }

  /** Every transaction the coordinator committed is wholly visible; nothing else is. */
  allCommittedVisible(): boolean {
    for (const t of this.txns.values()) {
      if (t.decided !== 'commit') continue;
      for (const [p, keys] of t.keys) for (const k of keys) if (!this.seen[p]!.has(k)) return false;
    }
    return true;
  }

  finalCheck(): void {
    for (const [n, t] of this.txns) {
      if (t.endAcked && t.decided !== (t.commit ? 'commit' : 'abort'))
        fail(`txn ${n}: outcome ${t.decided} differs from the acknowledged EndTxn`);
      if (t.decided !== 'commit') continue;
      for (const [p, keys] of t.keys) {
        const missing = keys.filter((k) => !this.seen[p]!.has(k));
        if (missing.length > 0) fail(`txn ${n} committed but read_committed never saw ${missing.join(',')} (p${p})`);
      }
    }
  }

  counts(): { committed: number; aborted: number; undecided: number } {
    let committed = 0;
    let aborted = 0;
    let undecided = 0;
    for (const t of this.txns.values()) {
      if (t.decided === 'commit') committed++;
      else if (t.decided === 'abort') aborted++;
      else undecided++;
    }
    return { committed, aborted, undecided };
  }
}

// ---- wiring -------------------------------------------------------------------------------

export interface TxnSimStats {
  txnsBegun: number;
  txnsCommitted: number;
  txnsAborted: number;
  fenced: number;
  coordinatorCrashes: number;
  resumedMarkers: number;
  visibleRecords: number;
  skippedAborted: number;
}

/** The transaction side of one cluster run. */
export class TxnSim {
  readonly state = new BrokerTxnState();
  readonly coordinator: TxnCoordinatorNode;
  readonly producer: TxnProducerNode;
  readonly checker: TxnChecker;
  coordinatorCrashes = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    send: (m: ClusterMessage) => void,
    brokerIds: readonly number[],
    partitions: number,
    topic: string,
    bug: TxnBug,
  ) {
    this.coordinator = new TxnCoordinatorNode(scheduler, random, send, brokerIds, partitions, topic, bug);
    this.producer = new TxnProducerNode(scheduler, random, send, brokerIds, partitions);
    this.checker = new TxnChecker(partitions, this.state, bug);
    this.coordinator.onRecord = (r) => this.checker.onCoordinatorRecord(r);
    this.producer.onBegin = (t) => this.checker.onBegin(t);
    this.producer.onEndAcked = (t) => this.checker.onEndAcked(t);
  }

  /** Starts the nodes and schedules 1-3 coordinator crashes (half power losses) in the fault phase. */
  async start(faultPhaseMs: number, note: (s: string) => void): Promise<void> {
    await this.coordinator.start();
    this.producer.start();
    const crashes = 1 + this.random.int(3);
    for (let i = 0; i < crashes; i++) {
      const at = 300 + this.random.int(Math.max(1, faultPhaseMs - 1000));
      const powerLoss = this.random.int(2) === 0;
      const downMs = 100 + this.random.int(1500);
      this.scheduler.schedule(at, EVENT_TXN_FAULT, TXN_COORDINATOR_ID, () => {
        if (!this.coordinator.up) return;
        note(`crash txn coordinator${powerLoss ? ' (power loss)' : ''}`);
        this.coordinatorCrashes++;
        this.coordinator.crash(powerLoss);
        this.scheduler.schedule(this.scheduler.nowMs + downMs, EVENT_TXN_FAULT, TXN_COORDINATOR_ID, async () => {
          if (this.coordinator.up) return;
          note('restart txn coordinator');
          await this.coordinator.start();
        });
      });
    }
  }

  async heal(): Promise<void> {
    this.producer.startUntilMs = this.scheduler.nowMs;
    if (!this.coordinator.up) await this.coordinator.start();
  }

  receive(m: ClusterMessage): Promise<void> | void {
    if (m.to === TXN_COORDINATOR_ID) return this.coordinator.receive(m);
    if (m.to === TXN_PRODUCER_ID) return this.producer.receive(m);
  }

  /** Settled: the producer is idle, no markers pending, every committed transaction visible. */
  settled(): boolean {
    return this.producer.idle && this.coordinator.markersPending === 0 && this.checker.allCommittedVisible();
  }

  stats(): TxnSimStats {
    const c = this.checker.counts();
    return {
      txnsBegun: this.producer.stats.begun,
      txnsCommitted: c.committed,
      txnsAborted: c.aborted,
      fenced: this.producer.stats.fenced,
      coordinatorCrashes: this.coordinatorCrashes,
      resumedMarkers: this.coordinator.resumedMarkers,
      visibleRecords: this.checker.visibleRecords,
      skippedAborted: this.checker.skippedAborted,
    };
  }
}
