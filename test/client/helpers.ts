/** Test helpers: a manual clock and bounded waits for events (never a bare wall-clock sleep). */
import type { Clock } from '../../src/env/clock.ts';

/** A clock that moves only when `advance` is called; scheduled callbacks run in time order. */
export class ManualClock implements Clock {
  private now = 1_700_000_000_000;
  private mono = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;

  nowMs(): number {
    return this.now;
  }

  monotonicMs(): number {
    return this.mono;
  }

  schedule(delayMs: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.mono + Math.max(0, delayMs), fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  }

  /** Moves time forward, running due callbacks in order (with a macrotask turn between them). */
  async advance(ms: number): Promise<void> {
    const target = this.mono + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const t = this.timers[0];
      if (t === undefined || t.at > target) break;
      this.timers.shift();
      this.now += t.at - this.mono;
      this.mono = t.at;
      t.fn();
      await tick();
    }
    this.now += target - this.mono;
    this.mono = target;
    await tick();
  }

  get pending(): number {
    return this.timers.length;
  }
}

/** One macrotask turn (lets socket I/O callbacks and microtasks run). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Waits until `cond()` holds, polling on I/O turns; fails after `timeoutMs` of wall time. */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** True once the promise has settled (checked after a few I/O turns). */
export function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  return () => done;
}
