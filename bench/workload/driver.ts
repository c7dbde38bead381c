/**
 * An OpenMessaging-style workload: 1 KB records, one topic of 16 partitions, one producer and
 * one consumer, run against any WorkloadTarget in three phases:
 *
 * 1. max-rate produce: as fast as acknowledgements come back, with a bounded window of batches
 *    in flight, for a fixed time or byte budget;
 * 2. consume backlog: a fresh consumer reads everything phase 1 wrote, from the start;
 * 3. fixed rate: a consumer tails a new topic while the producer sends at a fixed rate; each
 *    record carries the time it was due to be sent, and the consumer records now - due. Using
 *    the due time rather than the actual send time keeps a stalled producer from hiding
 *    latency (coordinated omission).
 *
 * Producer and consumer share this process, so both timestamps come from one clock.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram } from '../harness/histogram.ts';
import { withTimeout } from '../harness/process.ts';
import { type Figure, type FigureKind, figure } from '../harness/results.ts';
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

export function describeWorkload(options: WorkloadOptions): string {
  return (
    `Workload: ${options.recordBytes} B records, 1 topic x ${options.partitions} partitions, 1 producer + 1 consumer in one ` +
    `process; max rate for ${options.maxRateSeconds} s (at most ${options.maxRateBytes / 2 ** 20} MiB) in batches of ` +
    `${options.batchRecords} with ${options.maxInFlightBatches} in flight; backlog consumed from the start; ` +
    `end-to-end latency at ${options.fixedRateMBps} MB/s for ${options.fixedRateSeconds} s after ${options.warmupSeconds} s warm-up ` +
    '(1 MB = 10^6 bytes)'
  );
}

/** Due time written into probe records, which are counted but not measured. */
const PROBE_DUE_MICROS = 1;

const nowMicros = () => (performance.timeOrigin + performance.now()) * 1000;

/** Records of `recordBytes` with random filler; the first 8 bytes carry the due time in µs. */
class Payloads {
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
}

/** Produce calls with at most `limit` in flight; the first failure is kept and rethrown. */
class Window {
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
    const values = Array.from({ length: options.batchRecords }, () => payloads.make(nowMicros()));
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

  async waitFor(count: number, timeoutMs: number, what: string): Promise<void> {
    if (this.count >= count) return;
    const reached = new Promise<void>((resolve) => {
      this.waiter = { count, resolve };
    });
    try {
      await withTimeout(reached, timeoutMs, `${what} (${this.count} of ${count} records)`);
    } finally {
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
    await received.waitFor(records, options.drainTimeoutMs + records / 10, `${target.name}: consuming the backlog`);
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

async function fixedRate(target: WorkloadTarget, topic: string, options: WorkloadOptions): Promise<FixedRateResult> {
  const payloads = new Payloads(options.recordBytes);
  const histogram = new Histogram();
  const received = new Received();
  let probesBack = 0;
  let measureFromMicros = Number.POSITIVE_INFINITY;
  let consumer: ConsumerHandle | undefined;
  try {
    consumer = await withTimeout(
      target.consume(topic, options.partitions, (values) => {
        const now = nowMicros();
        let measured = 0;
        for (const value of values) {
          const due = value.readDoubleLE(0);
          if (due === PROBE_DUE_MICROS) probesBack++;
          else if (due >= measureFromMicros) {
            histogram.record(now - due);
            measured++;
          }
        }
        if (measured > 0) received.add(measured);
      }),
      30_000,
      `${target.name}: consumer start`,
    );
    // Probe until one record makes the round trip, so the warm-up starts on a live path.
    const probeStart = performance.now();
    while (probesBack === 0) {
      if (performance.now() - probeStart > 30_000) throw new Error(`${target.name}: no probe record came back in 30 s`);
      await withTimeout(target.produce(topic, 0, [payloads.make(PROBE_DUE_MICROS)]), 10_000, `${target.name}: probe`);
      const deadline = performance.now() + 500;
      while (probesBack === 0 && performance.now() < deadline) await sleep(5);
    }
    const recordsPerSecond = (options.fixedRateMBps * MB) / options.recordBytes;
    const window = new Window(options.maxInFlightBatches * 8);
    const startMicros = nowMicros();
    measureFromMicros = startMicros + options.warmupSeconds * 1e6;
    const endMicros = measureFromMicros + options.fixedRateSeconds * 1e6;
    const total = Math.floor(((endMicros - startMicros) / 1e6) * recordsPerSecond);
    const dueOf = (index: number) => startMicros + (index / recordsPerSecond) * 1e6;
    let sent = 0;
    let measuredSent = 0;
    let lastMeasuredAckAt = 0;
    let batch = 0;
    // Sending stops at the end of the run even when the target fell behind: one last pass sends
    // what fell due before the end (if the window has room); what was never sent shows as a
    // lower achieved rate, and what was sent late as latency.
    for (;;) {
      const pastEnd = nowMicros() >= endMicros;
      const dueNow = Math.min(total, Math.floor(((nowMicros() - startMicros) / 1e6) * recordsPerSecond) + 1);
      while (sent < dueNow && !window.full) {
        const count = Math.min(options.batchRecords, dueNow - sent);
        const values = Array.from({ length: count }, (_, i) => payloads.make(dueOf(sent + i)));
        const measured = values.filter((v) => v.readDoubleLE(0) >= measureFromMicros).length;
        measuredSent += measured;
        sent += count;
        window.add(
          target.produce(topic, batch++ % options.partitions, values).then(() => {
            if (measured > 0) lastMeasuredAckAt = nowMicros();
          }),
        );
      }
      window.check();
      if (sent >= total || pastEnd) break;
      await sleep(1);
    }
    await window.drain(options.drainTimeoutMs, `${target.name}: acknowledgements at fixed rate`);
    await received
      .waitFor(measuredSent, options.drainTimeoutMs, `${target.name}: consuming at fixed rate`)
      .catch(() => undefined); // missing records are reported below, not thrown
    if (measuredSent === 0)
      throw new Error(`fell behind: nothing was sent after the ${options.warmupSeconds} s warm-up`);
    const seconds = (Math.max(lastMeasuredAckAt, endMicros) - measureFromMicros) / 1e6;
    return {
      histogram,
      achievedMBps: (measuredSent * options.recordBytes) / MB / seconds,
      sent: measuredSent,
      received: received.count,
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
 * Runs the three phases against a connected target and returns its figures. A failing phase
 * yields figures without values and a note; the other phases still run.
 */
export async function runWorkload(
  target: WorkloadTarget,
  options: WorkloadOptions,
  labels: { section: string; source: string; kind: FigureKind },
): Promise<Figure[]> {
  const make = (metric: Parameters<typeof figure>[3], value: number | null, note?: string) =>
    figure(labels.section, labels.source, labels.kind, metric, value, note);
  const figures: Figure[] = [];

  const maxTopic = `bench-max-${suffix()}`;
  try {
    await withTimeout(target.createTopic(maxTopic, options.partitions), 30_000, `${target.name}: create topic`);
    let produced: MaxRateResult | undefined;
    try {
      produced = await withTimeout(
        produceMaxRate(target, maxTopic, options),
        options.maxRateSeconds * 1000 + options.drainTimeoutMs + 10_000,
        `${target.name}: max-rate produce`,
      );
      const mbps = (produced.records * options.recordBytes) / MB / produced.seconds;
      figures.push(make('produce-MBps', mbps), make('produce-rps', produced.records / produced.seconds));
    } catch (error) {
      figures.push(
        make('produce-MBps', null, failureNote('max-rate produce', error)),
        make('produce-rps', null, failureNote('max-rate produce', error)),
      );
    }
    if (produced !== undefined && produced.records > 0) {
      try {
        const consumed = await consumeBacklog(target, maxTopic, produced.records, options);
        const mbps = (consumed.records * options.recordBytes) / MB / consumed.seconds;
        figures.push(make('consume-MBps', mbps), make('consume-rps', consumed.records / consumed.seconds));
      } catch (error) {
        figures.push(
          make('consume-MBps', null, failureNote('consume backlog', error)),
          make('consume-rps', null, failureNote('consume backlog', error)),
        );
      }
    }
  } catch (error) {
    for (const metric of ['produce-MBps', 'produce-rps', 'consume-MBps', 'consume-rps'] as const) {
      figures.push(make(metric, null, failureNote('create topic', error)));
    }
  } finally {
    await deleteQuietly(target, maxTopic);
  }

  const latencyTopic = `bench-lat-${suffix()}`;
  const latencyMetrics = ['e2e-rate-MBps', 'e2e-p50-ms', 'e2e-p99-ms', 'e2e-p999-ms', 'e2e-max-ms'] as const;
  try {
    await withTimeout(target.createTopic(latencyTopic, options.partitions), 30_000, `${target.name}: create topic`);
    const result = await withTimeout(
      fixedRate(target, latencyTopic, options),
      (options.warmupSeconds + options.fixedRateSeconds) * 1000 + 2 * options.drainTimeoutMs + 60_000,
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
      make('e2e-rate-MBps', result.achievedMBps, note),
      make('e2e-p50-ms', h.percentile(50) / 1000),
      make('e2e-p99-ms', h.percentile(99) / 1000),
      make('e2e-p999-ms', h.percentile(99.9) / 1000),
      make('e2e-max-ms', h.max / 1000),
    );
  } catch (error) {
    for (const metric of latencyMetrics) figures.push(make(metric, null, failureNote('fixed rate', error)));
  } finally {
    await deleteQuietly(target, latencyTopic);
  }
  return figures;
}
