/**
 * Time, as core logic sees it. Core code never reads Date.now() or starts timers
 * itself: it is handed a Clock, so the same code runs in production and under the
 * seeded simulator (src/sim/).
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (record timestamps, retention). */
  nowMs(): number;
  /** Monotonic milliseconds for measuring intervals (timeouts, lag); never goes back. */
  monotonicMs(): number;
  /** Runs fn after delayMs; the returned function cancels it. */
  schedule(delayMs: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
  schedule(delayMs, fn) {
    const timer = setTimeout(fn, delayMs);
    return () => clearTimeout(timer);
  },
};
