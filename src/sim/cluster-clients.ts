/**
 * The clients of the cluster simulation, over the same simulated network as the brokers:
 *
 * - SimProducer: acks=-1, one batch (1-3 records, a unique key) per produce; it sends to
 *   the leader its metadata names (asked of a random broker, so possibly stale), retries
 *   on any error or timeout (resending the same bytes: duplicates are allowed, as without
 *   idempotence), and reports every acknowledgement to the checker with its offset.
 * - SimConsumer: reads every partition from offset 0 from the leader, up to the high
 *   watermark, and hands every batch it gets to the checker (what a consumer saw must
 *   stay the committed log forever).
 */
import type { Random } from '../env/random.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import { buildRecordBatch } from '../protocol/records/batch.ts';
import { readBatchHeader } from '../protocol/records/batch-header.ts';
import type { ClusterChecker } from './cluster-invariants.ts';
import type { ClusterMessage, MessageOf } from './cluster-messages.ts';
import { CONSUMER_ID, PRODUCER_ID } from './cluster-messages.ts';
import type { Scheduler } from './scheduler.ts';

export const EVENT_CLIENT_TICK = 30;

/** Outstanding produces the producer keeps at most (its buffer bound). */
const MAX_OUTSTANDING = 16;

interface LeaderInfo {
  leader: number;
  leaderEpoch: number;
}

/** Metadata the clients ask a random broker for. */
class ClientMetadata {
  leaders: LeaderInfo[];
  private sentAtMs = Number.NEGATIVE_INFINITY;
  private correlation = 0;
  stale = true;

  constructor(
    private readonly self: number,
    partitions: number,
    private readonly brokers: readonly number[],
    private readonly random: Random,
    private readonly send: (m: ClusterMessage) => void,
  ) {
    this.leaders = Array.from({ length: partitions }, () => ({ leader: -1, leaderEpoch: -1 }));
  }

  maybeRefresh(nowMs: number, intervalMs: number): void {
    if (!this.stale && nowMs - this.sentAtMs < intervalMs * 5) return;
    if (nowMs - this.sentAtMs < intervalMs) return;
    this.sentAtMs = nowMs;
    const to = this.brokers[this.random.int(this.brokers.length)]!;
    this.send({ from: this.self, to, type: 'clientMetadata', correlationId: ++this.correlation });
  }

  onResponse(m: MessageOf<'clientMetadataResponse'>): void {
    let useful = false;
    m.leaders.forEach((l, p) => {
      const known = this.leaders[p]!;
      if (l.leader >= 0 && l.leaderEpoch >= known.leaderEpoch) {
        if (l.leaderEpoch > known.leaderEpoch || l.leader !== known.leader) useful = true;
        this.leaders[p] = l;
      }
    });
    if (useful || m.leaders.every((l) => l.leader >= 0)) this.stale = false;
  }
}

interface Outstanding {
  partition: number;
  key: string;
  batch: Buffer;
  crc: number;
  createdAtMs: number;
  correlationId: number;
  sentAtMs: number;
  attempts: number;
}

export class SimProducer {
  readonly id = PRODUCER_ID;
  private readonly metadata: ClientMetadata;
  private readonly outstanding: Outstanding[] = [];
  private seq = 0;
  private correlation = 0;
  /** New records are created until this time. */
  produceUntilMs = 0;
  sent = 0;
  acknowledged = 0;
  /** By partition: the time of the latest acknowledged record's creation. */
  readonly lastAckedCreatedAtMs: number[];

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    private readonly send: (m: ClusterMessage) => void,
    private readonly checker: ClusterChecker,
    brokers: readonly number[],
    private readonly partitions: number,
    private readonly settings: { tickMs: number; requestTimeoutMs: number },
  ) {
    this.metadata = new ClientMetadata(PRODUCER_ID, partitions, brokers, random, send);
    this.lastAckedCreatedAtMs = new Array<number>(partitions).fill(-1);
  }

  start(): void {
    const tick = (): void => {
      this.scheduler.schedule(this.scheduler.nowMs + this.settings.tickMs, EVENT_CLIENT_TICK, this.id, () => {
        tick();
        this.tick();
      });
    };
    tick();
  }

  /** A new record for `partition` now (liveness probes use it). */
  create(partition: number): void {
    if (this.outstanding.length >= MAX_OUTSTANDING) return;
    const now = this.scheduler.nowMs;
    const key = `k${this.seq++}`;
    const count = 1 + this.random.int(3);
    const records = Array.from({ length: count }, (_, i) => ({
      key: i === 0 ? key : `${key}.${i}`,
      value: `v${i}`.repeat(1 + this.random.int(20)),
      timestamp: now,
    }));
    const batch = buildRecordBatch({ records });
    this.outstanding.push({
      partition,
      key,
      batch,
      crc: readBatchHeader(batch).crc,
      createdAtMs: now,
      correlationId: -1,
      sentAtMs: Number.NEGATIVE_INFINITY,
      attempts: 0,
    });
  }

  private tick(): void {
    const now = this.scheduler.nowMs;
    if (now < this.produceUntilMs && this.random.int(2) === 0) this.create(this.random.int(this.partitions));
    this.metadata.maybeRefresh(now, this.settings.tickMs * 4);
    for (const o of this.outstanding) {
      if (now - o.sentAtMs < this.settings.requestTimeoutMs) continue;
      if (o.attempts > 0 && o.correlationId >= 0) this.metadata.stale = true;
      const leader = this.metadata.leaders[o.partition]!.leader;
      if (leader < 0) continue;
      o.correlationId = ++this.correlation;
      o.sentAtMs = now;
      o.attempts++;
      this.sent++;
      this.send({
        from: this.id,
        to: leader,
        type: 'produce',
        partition: o.partition,
        batch: o.batch,
        correlationId: o.correlationId,
      });
    }
  }

  receive(m: ClusterMessage): void {
    if (m.type === 'clientMetadataResponse') {
      this.metadata.onResponse(m);
      return;
    }
    if (m.type !== 'produceResponse') return;
    const i = this.outstanding.findIndex((o) => o.correlationId === m.correlationId);
    if (i < 0) return;
    const o = this.outstanding[i]!;
    if (m.errorCode === ErrorCode.NONE) {
      this.outstanding.splice(i, 1);
      this.acknowledged++;
      this.lastAckedCreatedAtMs[o.partition] = Math.max(this.lastAckedCreatedAtMs[o.partition]!, o.createdAtMs);
      this.checker.onAck(o.partition, m.baseOffset, { key: o.key, crc: o.crc });
      return;
    }
    // Retry after a backoff (the next ticks), on fresher metadata.
    o.correlationId = -1;
    o.sentAtMs = this.scheduler.nowMs - this.settings.requestTimeoutMs + this.settings.tickMs * 3;
    this.metadata.stale = true;
  }
}

export class SimConsumer {
  readonly id = CONSUMER_ID;
  private readonly metadata: ClientMetadata;
  readonly positions: number[];
  private readonly inFlight: { correlationId: number; sentAtMs: number }[];
  private correlation = 0;
  batchesRead = 0;

  constructor(
    private readonly scheduler: Scheduler,
    random: Random,
    private readonly send: (m: ClusterMessage) => void,
    private readonly checker: ClusterChecker,
    brokers: readonly number[],
    private readonly partitions: number,
    private readonly settings: { tickMs: number; requestTimeoutMs: number },
  ) {
    this.metadata = new ClientMetadata(CONSUMER_ID, partitions, brokers, random, send);
    this.positions = new Array<number>(partitions).fill(0);
    this.inFlight = Array.from({ length: partitions }, () => ({
      correlationId: -1,
      sentAtMs: Number.NEGATIVE_INFINITY,
    }));
  }

  start(): void {
    const tick = (): void => {
      this.scheduler.schedule(this.scheduler.nowMs + this.settings.tickMs, EVENT_CLIENT_TICK, this.id, () => {
        tick();
        this.tick();
      });
    };
    tick();
  }

  private tick(): void {
    const now = this.scheduler.nowMs;
    this.metadata.maybeRefresh(now, this.settings.tickMs * 2);
    for (let p = 0; p < this.partitions; p++) {
      const f = this.inFlight[p]!;
      if (now - f.sentAtMs < this.settings.requestTimeoutMs) continue;
      const leader = this.metadata.leaders[p]!.leader;
      if (leader < 0) continue;
      f.correlationId = ++this.correlation;
      f.sentAtMs = now;
      this.send({
        from: this.id,
        to: leader,
        type: 'consumerFetch',
        partition: p,
        offset: this.positions[p]!,
        correlationId: f.correlationId,
      });
    }
  }

  receive(m: ClusterMessage): void {
    if (m.type === 'clientMetadataResponse') {
      this.metadata.onResponse(m);
      return;
    }
    if (m.type !== 'consumerFetchResponse') return;
    const f = this.inFlight[m.partition]!;
    if (f.correlationId !== m.correlationId) return;
    f.correlationId = -1;
    if (m.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE && m.offset === this.positions[m.partition]) {
      // Below the leader's log start (DeleteRecords): go on from there (auto.offset.reset=earliest).
      if (m.logStartOffset > m.offset) this.positions[m.partition] = m.logStartOffset;
    }
    if (m.errorCode !== ErrorCode.NONE) {
      this.metadata.stale = true;
      f.sentAtMs = this.scheduler.nowMs - this.settings.requestTimeoutMs + this.settings.tickMs * 2;
      return;
    }
    // Next fetch on the next tick.
    f.sentAtMs = this.scheduler.nowMs - this.settings.requestTimeoutMs;
    if (m.offset !== this.positions[m.partition]) return;
    const before = this.positions[m.partition]!;
    const at = this.checker.claimAll(m.partition, m.records, before, m.highWatermark, 'the consumer');
    if (at > before) this.batchesRead++;
    this.positions[m.partition] = at;
  }
}
