/**
 * An OpenMessaging-style workload: 1 KB records, one topic of 16 partitions, one producer and
 * one consumer, run against any WorkloadTarget in three phases:
 *
 * 1. max-rate produce: as fast as acknowledgements come back, with a bounded window of batches
 *    in flight, for a fixed time or byte budget;
 * 2. consume backlog: a fresh consumer reads everything phase 1 wrote, from the start;
 * 3. fixed rate: a consumer tails a new topic while the producer sends at a fixed rate; each
 *    record carries the time it was due to be sent, and the consumer records now - due in an
 *    HdrHistogram-style recorder. Using the due time rather than the actual send time keeps a
 *    stalled producer from hiding latency (coordinated omission). Producer and consumer run in
 *    two child processes of their own (latency-child.ts), so that neither's event loop or
 *    garbage collection delays the other; both read the machine's monotonic clock.
 *
 * Phases 1 and 2 run in this process (one after the other, so they share nothing in time).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Histogram, type HistogramSnapshot } from '../harness/histogram.ts';
import { forkTsx, withTimeout } from '../harness/process.ts';
import { type Figure, type FigureKind, figure, type MetricId } from '../harness/results.ts';
import { LatencyRecorder, produceAtFixedRate } from './fixed-rate.ts';
import type { LatencyChildArgs } from './latency-child.ts';
import type { ConsumerHandle, WorkloadTarget } from './target.ts';

const MB = 1e6;

export interface WorkloadOptions {
  readonly recordBytes: number;
  readonly partitions: number;
  /** Records per produce call. */
  readonly batchRecords: number;
  /** Produce calls awaiting acknowledgement at most. */
  readonly maxInFlightBatches: number;
  readonly maxRateSeconds: number;
  readonly maxRateBytes: number;
  readonly fixedRateMBps: number;
  readonly warmupSeconds: number;
  readonly fixedRateSeconds: number;
  /** How long to wait for stragglers (acks, consumed records) after a phase. */
  readonly drainTimeoutMs: number;
}

/** The fixed rate of the latency phase: the 50 MB/s, or less in quick mode. */
export const FIXED_RATE_MBPS = { full: 50, quick: 20 } as const;

export function workloadOptions(quick: boolean, fixedRateMBps?: number): WorkloadOptions {
  return {
    recordBytes: 1024,
    partitions: 16,
    batchRecords: 64,
    maxInFlightBatches: 32,
    maxRateSeconds: quick ? 2 : 15,
    maxRateBytes: (quick ? 1 : 4) * 2 ** 30,
    fixedRateMBps: fixedRateMBps ?? (quick ? FIXED_RATE_MBPS.quick : FIXED_RATE_MBPS.full),
    // Shorter warm-ups leave JIT compilation and first fetches in the tail (p99 x10 at 1 s).
    warmupSeconds: quick ? 2 : 10,
    fixedRateSeconds: quick ? 2 : 30,
    drainTimeoutMs: quick ? 15_000 : 60_000,
  };
}

/** Partitions of the second topic shape the issue asks for (max-rate phases only). */
export const WIDE_PARTITIONS = 100;

export function describeWorkload(options: WorkloadOptions): string {
  return (
    `Workload: ${options.recordBytes} B records, 1 topic x ${options.partitions} partitions (and x ${WIDE_PARTITIONS}, ` +
    `max rate only: the "100p" figures), 1 producer + 1 consumer; max rate for ${options.maxRateSeconds} s ` +
    `(at most ${options.maxRateBytes / 2 ** 20} MiB) in batches of ` +
    `${options.batchRecords} with ${options.maxInFlightBatches} in flight; backlog consumed from the start by a fresh consumer; ` +
    `end-to-end latency at ${options.fixedRateMBps} MB/s for ${options.fixedRateSeconds} s after ${options.warmupSeconds} s warm-up, ` +
    'producer and consumer in two child processes of their own, due time (monotonic clock) in each record, ' +
    'HdrHistogram-style recorder (1 MB = 10^6 bytes)'
  );
}

/** Due time written into probe records, which are counted but not measured. */
export const PROBE_DUE_MICROS = 1;

/**
 * Microseconds on the machine's monotonic clock (process.hrtime is CLOCK_MONOTONIC on Linux,
 * the same clock in every process), so two processes' readings can be subtracted.
 */
export const nowMicros = (): number => Number(process.hrtime.bigint()) / 1000;

/** Records of `recordBytes` with random filler; the first 8 bytes carry the due time in µs. */
export class Payloads {
  private readonly filler: Buffer;
  constructor(private readonly recordBytes: number) {
    this.filler = randomBytes(recordBytes);
  }
  make(dueMicros: number): Buffer {
    const value = Buffer.allocUnsafe(this.recordBytes);
    this.filler.copy(value);
    value.writeDoubleLE(dueMicros, 0);
    return value;
  }
  /**
   * `count` records due at `dueMicros`, views of one allocation: the max-rate phase makes
   * hundreds of thousands per second, and one buffer per record (an 8 KiB pool refill every
   * 8 records) cost the driver's process as much as parts of the client it measures.
   */
  makeMany(count: number, dueMicros: number): Buffer[] {
    const size = this.recordBytes;
    const slab = Buffer.allocUnsafe(count * size);
    const values = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      const value = slab.subarray(i * size, (i + 1) * size);
      this.filler.copy(value);
      value.writeDoubleLE(dueMicros, 0);
      values[i] = value;
    }
    return values;
  }
}

/** Produce calls with at most `limit` in flight; the first failure is kept and rethrown. */
export class Window {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  constructor(private readonly limit: number) {}
  get size(): number {
    return this.inFlight.size;
  }
  get full(): boolean {
    return this.inFlight.size >= this.limit;
  }
  add(call: Promise<void>): void {
    const tracked: Promise<void> = call.then(
      () => {
        this.inFlight.delete(tracked);
      },
      (error: unknown) => {
        this.failure ??= error;
        this.inFlight.delete(tracked);
      },
    );
    this.inFlight.add(tracked);
  }
  async waitForRoom(): Promise<void> {
    while (this.full) await Promise.race(this.inFlight);
    this.check();
  }
  async drain(timeoutMs: number, what: string): Promise<void> {
    await withTimeout(Promise.all(this.inFlight), timeoutMs, what);
    this.check();
  }
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

interface MaxRateResult {
  readonly records: number;
  readonly seconds: number;
}

async function produceMaxRate(target: WorkloadTarget, topic: string, options: WorkloadOptions): Promise<MaxRateResult> {
  const payloads = new Payloads(options.recordBytes);
  const window = new Window(options.maxInFlightBatches);
  let acked = 0;
  let lastAckAt = 0;
  let batch = 0;
  let sentBytes = 0;
  const start = performance.now();
  while (performance.now() - start < options.maxRateSeconds * 1000 && sentBytes < options.maxRateBytes) {
    await window.waitForRoom();
    // Due times mean nothing at max rate (no latency is measured): one per call.
    const values = payloads.makeMany(options.batchRecords, nowMicros());
    sentBytes += values.length * options.recordBytes;
    window.add(
      target.produce(topic, batch++ % options.partitions, values).then(() => {
        acked += values.length;
        lastAckAt = performance.now();
      }),
    );
  }
  await window.drain(options.drainTimeoutMs, `${target.name}: acknowledgements after max-rate produce`);
  return { records: acked, seconds: (lastAckAt - start) / 1000 };
}

/** Collects records from a consumer and wakes whoever waits for a count. */
class Received {
  count = 0;
  firstAt = Number.NaN;
  firstCount = 0;
  lastAt = Number.NaN;
  private waiter: { count: number; resolve: () => void } | undefined;

  add(records: number): void {
    const at = performance.now();
    if (Number.isNaN(this.firstAt)) {
      this.firstAt = at;
      this.firstCount = records;
    }
    this.count += records;
    this.lastAt = at;
    if (this.waiter !== undefined && this.count >= this.waiter.count) {
      this.waiter.resolve();
      this.waiter = undefined;
    }
  }

  /**
   * Resolves once `count` records arrived. Rejects after `timeoutMs`, or once records stopped
   * coming for `stallMs` after the first arrived (records acknowledged but never delivered
   * should not cost the whole timeout).
   */
  async waitFor(count: number, timeoutMs: number, what: string, stallMs = timeoutMs): Promise<void> {
    if (this.count >= count) return;
    let stallTimer: NodeJS.Timeout | undefined;
    const reached = new Promise<void>((resolve, reject) => {
      this.waiter = { count, resolve };
      const checkStall = () => {
        const idleMs = Number.isNaN(this.lastAt) ? 0 : performance.now() - this.lastAt;
        if (idleMs >= stallMs) reject(new Error(`${what}: no records for ${(idleMs / 1000).toFixed(1)} s`));
        else stallTimer = setTimeout(checkStall, Math.min(stallMs, 250));
      };
      stallTimer = setTimeout(checkStall, Math.min(stallMs, 250));
    });
    try {
      await withTimeout(reached, timeoutMs, what);
    } catch (error) {
      // The count when the wait ended, not when it began.
      throw new Error(`${error instanceof Error ? error.message : String(error)} (${this.count} of ${count} records)`);
    } finally {
      clearTimeout(stallTimer);
      this.waiter = undefined;
    }
  }
}

async function stopQuietly(consumer: ConsumerHandle | undefined): Promise<void> {
  if (consumer === undefined) return;
  await withTimeout(consumer.stop(), 15_000, 'consumer stop').catch(() => undefined);
}

async function consumeBacklog(
  target: WorkloadTarget,
  topic: string,
  records: number,
  options: WorkloadOptions,
): Promise<MaxRateResult> {
  const received = new Received();
  let consumer: ConsumerHandle | undefined;
  try {
    consumer = await withTimeout(
      target.consume(topic, options.partitions, (values) => received.add(values.length)),
      30_000,
      `${target.name}: consumer start`,
    );
    await received.waitFor(
      records,
      options.drainTimeoutMs + records / 10,
      `${target.name}: consuming the backlog`,
      options.drainTimeoutMs / 3,
    );
  } finally {
    await stopQuietly(consumer);
  }
  // Timed from the first records' arrival, so that group joins and connection set-up do not count.
  return { records: received.count - received.firstCount, seconds: (received.lastAt - received.firstAt) / 1000 };
}

interface FixedRateResult {
  readonly histogram: Histogram;
  readonly achievedMBps: number;
  readonly sent: number;
  readonly received: number;
}

const LATENCY_CHILD = fileURLToPath(new URL('./latency-child.ts', import.meta.url));

/**
 * The fixed-rate phase with the producer and the consumer in two child processes
 * (latency-child.ts): this process only relays the hand-offs between them. A target without a
 * spec (an in-memory one in tests) runs both sides in this process instead.
 */
async function fixedRate(target: WorkloadTarget, topic: string, options: WorkloadOptions): Promise<FixedRateResult> {
  if (target.spec === undefined) return await fixedRateInProcess(target, topic, options);
  const args = JSON.stringify({ spec: target.spec, topic, options } satisfies LatencyChildArgs);
  const consumer = forkTsx(LATENCY_CHILD, ['consumer', args]);
  const producer = forkTsx(LATENCY_CHILD, ['producer', args]);
  const runMs = (options.warmupSeconds + options.fixedRateSeconds) * 1000;
  try {
    await Promise.all([
      consumer.next('ready', 60_000, `${target.name}: consumer process start`),
      producer.next('ready', 60_000, `${target.name}: producer process start`),
    ]);
    producer.send({ type: 'probe' });
    await consumer.next('probe', 30_000, `${target.name}: a probe record's round trip`);
    producer.send({ type: 'go' });
    const from = await producer.next('measure-from', 10_000, `${target.name}: producer start`);
    consumer.send({ type: 'measure-from', micros: from.micros });
    const done = await producer.next(
      'done',
      runMs + options.drainTimeoutMs + 30_000,
      `${target.name}: producing at fixed rate`,
    );
    const sent = done.measuredSent as number;
    // Records that stopped coming for a third of the drain timeout are not coming.
    const stallMs = options.drainTimeoutMs / 3;
    consumer.send({ type: 'finish', expected: sent, timeoutMs: options.drainTimeoutMs, stallMs });
    const result = await consumer.next(
      'result',
      options.drainTimeoutMs + 30_000,
      `${target.name}: consuming at fixed rate`,
    );
    return {
      histogram: Histogram.fromJSON(result.histogram as HistogramSnapshot),
      achievedMBps: done.achievedMBps as number,
      sent,
      received: result.received as number,
    };
  } finally {
    await Promise.all([producer.stop(10_000), consumer.stop(10_000)]);
  }
}

async function fixedRateInProcess(
  target: WorkloadTarget,
  topic: string,
  options: WorkloadOptions,
): Promise<FixedRateResult> {
  const payloads = new Payloads(options.recordBytes);
  const recorder = new LatencyRecorder();
  let consumer: ConsumerHandle | undefined;
  try {
    consumer = await withTimeout(
      target.consume(topic, options.partitions, (values) => recorder.add(values)),
      30_000,
      `${target.name}: consumer start`,
    );
    const probeStart = performance.now();
    while (!recorder.probeSeen) {
      if (performance.now() - probeStart > 30_000) throw new Error(`${target.name}: no probe record came back in 30 s`);
      await withTimeout(target.produce(topic, 0, [payloads.make(PROBE_DUE_MICROS)]), 10_000, `${target.name}: probe`);
      const deadline = performance.now() + 500;
      while (!recorder.probeSeen && performance.now() < deadline) await sleep(5);
    }
    const sent = await produceAtFixedRate(target, topic, options, payloads, (micros) => {
      recorder.measureFromMicros = micros;
    });
    await recorder.waitFor(sent.measuredSent, options.drainTimeoutMs, options.drainTimeoutMs / 3);
    return {
      histogram: recorder.histogram,
      achievedMBps: sent.achievedMBps,
      sent: sent.measuredSent,
      received: recorder.received,
    };
  } finally {
    await stopQuietly(consumer);
  }
}

function suffix(): string {
  return `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

async function deleteQuietly(target: WorkloadTarget, topic: string): Promise<void> {
  await withTimeout(target.deleteTopic(topic), 30_000, 'delete topic').catch(() => undefined);
}

function failureNote(phase: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `failed (${phase}): ${message.split('\n')[0]!.slice(0, 160)}`;
}

/**
 * Which workload a run is, each with figures of its own: the 16-partition topic, the
 * 100-partition one (max rate only), or 16 partitions with RF=3 on three brokers.
 */
export type WorkloadVariant = 'p16' | 'p100' | 'rf3';

interface MaxRateMetrics {
  readonly produceMBps: MetricId;
  readonly produceRps: MetricId;
  readonly consumeMBps: MetricId;
  readonly consumeRps: MetricId;
}

export const MAX_RATE_METRICS: Readonly<Record<WorkloadVariant, MaxRateMetrics>> = {
  p16: {
    produceMBps: 'produce-MBps',
    produceRps: 'produce-rps',
    consumeMBps: 'consume-MBps',
    consumeRps: 'consume-rps',
  },
  p100: {
    produceMBps: 'produce-MBps-p100',
    produceRps: 'produce-rps-p100',
    consumeMBps: 'consume-MBps-p100',
    consumeRps: 'consume-rps-p100',
  },
  rf3: {
    produceMBps: 'produce-MBps-rf3',
    produceRps: 'produce-rps-rf3',
    consumeMBps: 'consume-MBps-rf3',
    consumeRps: 'consume-rps-rf3',
  },
};

/** Generous bound on creating a topic (RF=3 waits for a full ISR on every partition). */
const CREATE_TOPIC_TIMEOUT_MS = 90_000;

/**
 * Runs the phases against a connected target and returns its figures: all three (the latency
 * phase unless `latency` is false) on 16 partitions (p16, rf3), the max-rate phases only on
 * 100 (p100; the partition count is the caller's `options.partitions`). A failing phase
 * yields figures without values and a note; the other phases still run.
 */
export async function runWorkload(
  target: WorkloadTarget,
  options: WorkloadOptions,
  labels: { section: string; source: string; kind: FigureKind },
  variant: WorkloadVariant = 'p16',
  /** false: the max-rate phases only, even on 16 partitions (quick mode leaves some latency runs out). */
  latency = true,
): Promise<Figure[]> {
  const make = (metric: Parameters<typeof figure>[3], value: number | null, note?: string) =>
    figure(labels.section, labels.source, labels.kind, metric, value, note);
  const figures: Figure[] = [];
  const m = MAX_RATE_METRICS[variant];

  const maxTopic = `bench-max-${suffix()}`;
  try {
    await withTimeout(
      target.createTopic(maxTopic, options.partitions),
      CREATE_TOPIC_TIMEOUT_MS,
      `${target.name}: create topic`,
    );
    let produced: MaxRateResult | undefined;
    try {
      produced = await withTimeout(
        produceMaxRate(target, maxTopic, options),
        options.maxRateSeconds * 1000 + options.drainTimeoutMs + 10_000,
        `${target.name}: max-rate produce`,
      );
      const mbps = (produced.records * options.recordBytes) / MB / produced.seconds;
      figures.push(make(m.produceMBps, mbps), make(m.produceRps, produced.records / produced.seconds));
    } catch (error) {
      figures.push(
        make(m.produceMBps, null, failureNote('max-rate produce', error)),
        make(m.produceRps, null, failureNote('max-rate produce', error)),
      );
    }
    if (produced !== undefined && produced.records > 0) {
      try {
        const consumed = await consumeBacklog(target, maxTopic, produced.records, options);
        const mbps = (consumed.records * options.recordBytes) / MB / consumed.seconds;
        figures.push(make(m.consumeMBps, mbps), make(m.consumeRps, consumed.records / consumed.seconds));
      } catch (error) {
        figures.push(
          make(m.consumeMBps, null, failureNote('consume backlog', error)),
          make(m.consumeRps, null, failureNote('consume backlog', error)),
        );
      }
    }
  } catch (error) {
    for (const metric of [m.produceMBps, m.produceRps, m.consumeMBps, m.consumeRps]) {
      figures.push(make(metric, null, failureNote('create topic', error)));
    }
  } finally {
    await deleteQuietly(target, maxTopic);
  }
  // The latency phase: 16 partitions, on one broker or (rf3) three.
  if (variant === 'p100' || !latency) return figures;

  const latencyTopic = `bench-lat-${suffix()}`;
  const rf3 = variant === 'rf3';
  const latencyMetrics = rf3
    ? (['e2e-rate-MBps-rf3', 'e2e-p50-ms-rf3', 'e2e-p99-ms-rf3', 'e2e-p999-ms-rf3', 'e2e-max-ms-rf3'] as const)
    : (['e2e-rate-MBps', 'e2e-p50-ms', 'e2e-p99-ms', 'e2e-p999-ms', 'e2e-max-ms'] as const);
  const [rateMetric, p50Metric, p99Metric, p999Metric, maxMetric] = latencyMetrics;
  try {
    await withTimeout(
      target.createTopic(latencyTopic, options.partitions),
      CREATE_TOPIC_TIMEOUT_MS,
      `${target.name}: create topic`,
    );
    const result = await withTimeout(
      fixedRate(target, latencyTopic, options),
      (options.warmupSeconds + options.fixedRateSeconds) * 1000 + 2 * options.drainTimeoutMs + 180_000,
      `${target.name}: fixed-rate run`,
    );
    const lost = result.sent - result.received;
    const notes = [
      ...(result.achievedMBps < 0.95 * options.fixedRateMBps
        ? [`could not sustain ${options.fixedRateMBps} MB/s`]
        : []),
      ...(lost > 0 ? [`${lost} of ${result.sent} records not consumed in time`] : []),
    ];
    const note = notes.length > 0 ? notes.join('; ') : undefined;
    const h = result.histogram;
    figures.push(
      make(rateMetric, result.achievedMBps, note),
      make(p50Metric, h.percentile(50) / 1000),
      make(p99Metric, h.percentile(99) / 1000),
      make(p999Metric, h.percentile(99.9) / 1000),
      make(maxMetric, h.max / 1000),
    );
  } catch (error) {
    for (const metric of latencyMetrics) figures.push(make(metric, null, failureNote('fixed rate', error)));
  } finally {
    await deleteQuietly(target, latencyTopic);
  }
  return figures;
}
