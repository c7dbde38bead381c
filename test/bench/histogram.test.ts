/**
 * The benchmark's latency recorder against exact percentiles of the same data: every answer must
 * lie within the recorder's stated precision (three significant digits, 1/1024 relative).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HIGHEST_TRACKABLE_MICROS, Histogram } from '../../bench/harness/histogram.ts';

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100];

/** The smallest value that at least p% of the sorted values do not exceed. */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

function assertWithinPrecision(reported: number, exact: number, what: string): void {
  // The recorder answers with the top of the slot holding the exact value, so it is never below
  // it and at most one slot width (exact / 1024, or 1 below 2048) above it.
  assert.ok(reported >= exact, `${what}: ${reported} < exact ${exact}`);
  assert.ok(reported <= exact + Math.max(1, exact / 1024), `${what}: ${reported} too far above exact ${exact}`);
}

function checkAgainstExact(values: number[]): void {
  const histogram = new Histogram();
  for (const value of values) histogram.record(value);
  const sorted = [...values].sort((a, b) => a - b);
  for (const p of PERCENTILES) assertWithinPrecision(histogram.percentile(p), exactPercentile(sorted, p), `p${p}`);
  assert.equal(histogram.count, values.length);
  assert.equal(histogram.max, sorted.at(-1));
  assert.equal(histogram.min, sorted[0]);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs(histogram.mean - mean) <= mean * 1e-9 + 1e-9, `mean ${histogram.mean} vs ${mean}`);
}

/** A seeded generator so a failure replays the same data. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

void describe('Histogram', () => {
  void it('is empty before anything is recorded', () => {
    const histogram = new Histogram();
    assert.equal(histogram.count, 0);
    assert.equal(histogram.percentile(99), 0);
    assert.equal(histogram.mean, 0);
    assert.equal(histogram.max, 0);
  });

  void it('keeps small values exactly', () => {
    const values = Array.from({ length: 2048 }, (_, i) => i);
    const histogram = new Histogram();
    for (const value of values) histogram.record(value);
    for (const p of PERCENTILES) assert.equal(histogram.percentile(p), exactPercentile(values, p));
  });

  void it('matches exact percentiles of log-normal latencies within 3 significant digits', () => {
    const random = lcg(42);
    const values = Array.from({ length: 100_000 }, () => {
      // Box-Muller: a log-normal around 1 ms with a long tail, as network latencies look.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      return Math.round(Math.exp(7 + 1.5 * z));
    });
    checkAgainstExact(values);
  });

  void it('matches exact percentiles of any data within its precision', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 34 }), { minLength: 1, maxLength: 500 }), (values) => {
        checkAgainstExact(values);
      }),
    );
  });

  void it('clamps negative and too large values', () => {
    const histogram = new Histogram();
    histogram.record(-5);
    histogram.record(HIGHEST_TRACKABLE_MICROS * 4);
    assert.equal(histogram.min, 0);
    assert.equal(histogram.max, HIGHEST_TRACKABLE_MICROS);
    assert.equal(histogram.percentile(100), HIGHEST_TRACKABLE_MICROS);
  });

  void it('merges into the same answers as recording everything in one', () => {
    const random = lcg(7);
    const all = new Histogram();
    const parts = [new Histogram(), new Histogram(), new Histogram()];
    for (let i = 0; i < 30_000; i++) {
      const value = Math.floor(random() * 1_000_000);
      all.record(value);
      parts[i % 3]!.record(value);
    }
    const merged = new Histogram();
    for (const part of parts) merged.merge(part);
    assert.equal(merged.count, all.count);
    assert.equal(merged.max, all.max);
    assert.equal(merged.min, all.min);
    assert.ok(Math.abs(merged.mean - all.mean) < 1e-6);
    for (const p of PERCENTILES) assert.equal(merged.percentile(p), all.percentile(p));
  });
});
