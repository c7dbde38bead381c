/**
 * A Clock whose time moves only when the test says so. Timers run in deadline order,
 * including ones that earlier timers schedule while time advances.
 */
import type { Clock } from '../../src/env/clock.ts';

/** Time and timers; subclasses decide how advancing waits (synchronously or not). */
export abstract class ManualClockBase implements Clock {
  private seq = 0;
  private readonly timers = new Map<number, { atMs: number; fn: () => void }>();

  constructor(public now = 1_000_000) {}

  nowMs(): number {
    return this.now;
  }
  monotonicMs(): number {
    return this.now;
  }
  schedule(delayMs: number, fn: () => void): () => void {
    const id = this.seq++;
    this.timers.set(id, { atMs: this.now + Math.max(0, delayMs), fn });
    return () => this.timers.delete(id);
  }
  get pendingTimers(): number {
    return this.timers.size;
  }
  /** Runs the earliest timer due at or before targetMs; false when there is none. */
  protected runNextDue(targetMs: number): boolean {
    let nextId = -1;
    let nextAt = Number.POSITIVE_INFINITY;
    for (const [id, t] of this.timers) {
      if (t.atMs <= targetMs && t.atMs < nextAt) {
        nextAt = t.atMs;
        nextId = id;
      }
    }
    if (nextId < 0) return false;
    const timer = this.timers.get(nextId)!;
    this.timers.delete(nextId);
    this.now = Math.max(this.now, timer.atMs);
    timer.fn();
    return true;
  }
}

/** Advancing runs the due timers synchronously. */
export class ManualClock extends ManualClockBase {
  /** Moves time forward to now + ms, running due timers in deadline order. */
  advance(ms: number): void {
    const target = this.now + ms;
    while (this.runNextDue(target));
    this.now = target;
  }
}
