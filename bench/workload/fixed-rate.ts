/**
 * The two sides of the fixed-rate latency phase, shared by the child processes
 * (latency-child.ts) and the in-process run of targets without a spec (tests).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram } from '../harness/histogram.ts';
import { withTimeout } from '../harness/process.ts';
import { nowMicros, type Payloads, PROBE_DUE_MICROS, Window, type WorkloadOptions } from './driver.ts';
import type { WorkloadTarget } from './target.ts';

const MB = 1e6;

/** The consumer's side: now - due of every record due after the warm-up; probes seen. */
export class LatencyRecorder {
  readonly histogram = new Histogram();
  measureFromMicros = Number.POSITIVE_INFINITY;
  received = 0;
  probeSeen = false;
  /** performance.now() of the last records (warm-up ones too: a lagging consumer is still coming). */
  private lastAt = performance.now();
  private waiter: { count: number; resolve: () => void } | undefined;

  constructor(private readonly onFirstProbe: () => void = () => undefined) {}

  add(values: readonly Buffer[]): void {
    const now = nowMicros();
    this.lastAt = performance.now();
    for (const value of values) {
      const due = value.readDoubleLE(0);
      if (due === PROBE_DUE_MICROS) {
        if (!this.probeSeen) this.onFirstProbe();
        this.probeSeen = true;
      } else if (due >= this.measureFromMicros) {
        this.histogram.record(now - due);
        this.received++;
      }
    }
    if (this.waiter !== undefined && this.received >= this.waiter.count) {
      this.waiter.resolve();
      this.waiter = undefined;
    }
  }

  /**
   * Resolves once `count` measured records arrived, `timeoutMs` passed, or none came for
   * `stallMs` (missing ones are reported by the caller, not thrown).
   */
  async waitFor(count: number, timeoutMs: number, stallMs = timeoutMs): Promise<void> {
    if (this.received >= count) return;
    let stallTimer: NodeJS.Timeout | undefined;
    const reached = new Promise<void>((resolve) => {
      this.waiter = { count, resolve };
      const checkStall = () => {
        if (performance.now() - this.lastAt >= stallMs) resolve();
        else stallTimer = setTimeout(checkStall, Math.min(stallMs, 250));
      };
      checkStall();
    });
    await withTimeout(reached, timeoutMs, 'consuming at fixed rate').catch(() => undefined);
    clearTimeout(stallTimer);
    this.waiter = undefined;
  }
}

export interface FixedRateSent {
  readonly measuredSent: number;
  readonly achievedMBps: number;
}

/**
 * The producer's side: sends at `options.fixedRateMBps`, each record carrying the time it was
 * due; calls `started` with the instant (µs) from which records are measured (after the
 * warm-up) before sending anything.
 */
export async function produceAtFixedRate(
  target: WorkloadTarget,
  topic: string,
  options: WorkloadOptions,
  payloads: Payloads,
  started: (measureFromMicros: number) => Promise<void> | void,
): Promise<FixedRateSent> {
  const recordsPerSecond = (options.fixedRateMBps * MB) / options.recordBytes;
  const window = new Window(options.maxInFlightBatches * 8);
  const startMicros = nowMicros();
  const measureFromMicros = startMicros + options.warmupSeconds * 1e6;
  await started(measureFromMicros);
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
  if (measuredSent === 0) throw new Error(`fell behind: nothing was sent after the ${options.warmupSeconds} s warm-up`);
  const seconds = (Math.max(lastMeasuredAckAt, endMicros) - measureFromMicros) / 1e6;
  return { measuredSent, achievedMBps: (measuredSent * options.recordBytes) / MB / seconds };
}
