/**
 * The fetch purgatory: fetches waiting for data (max.wait.ms long polls), keyed by the
 * partitions they read. An append that moves a partition's high watermark calls
 * checkAndComplete(partition key); each fetch watching that key re-checks whether it
 * has enough (min.bytes) and, when it does, completes. A fetch whose wait expires
 * completes from its timer (the injected Clock's schedule).
 *
 * Bounded: at most maxWaiting fetches wait at once. At the bound, park() refuses and the
 * caller answers right away with what it has (an empty answer is a valid fetch
 * response; the client simply fetches again), so memory stays bounded under any load.
 */
import type { Clock } from '../../env/clock.ts';

/** Default bound on parked fetches. */
export const DEFAULT_MAX_WAITING_FETCHES = 10_000;

export interface DelayedOperation {
  /** Partition keys ("topic-partition") whose appends may satisfy it. */
  readonly keys: readonly string[];
  /** True when the operation can complete now (min.bytes reached, an error appeared). */
  tryComplete(): boolean;
  /** Runs exactly once: satisfied, expired, forced or at shutdown. */
  onComplete(reason: 'satisfied' | 'expired' | 'forced'): void;
}

interface Waiter {
  op: DelayedOperation;
  cancelTimer: () => void;
  done: boolean;
}

export class FetchPurgatory {
  private readonly watchers = new Map<string, Set<Waiter>>();
  private waiting = 0;

  constructor(
    private readonly clock: Clock,
    readonly maxWaiting = DEFAULT_MAX_WAITING_FETCHES,
  ) {}

  /** Fetches parked now. */
  get size(): number {
    return this.waiting;
  }

  /**
   * Parks `op` for at most timeoutMs. Returns false (nothing parked) when the purgatory is
   * full; the caller then completes the operation itself.
   */
  park(op: DelayedOperation, timeoutMs: number): boolean {
    if (this.waiting >= this.maxWaiting) return false;
    const waiter: Waiter = { op, cancelTimer: () => {}, done: false };
    this.waiting++;
    for (const k of op.keys) {
      let set = this.watchers.get(k);
      if (set === undefined) {
        set = new Set();
        this.watchers.set(k, set);
      }
      set.add(waiter);
    }
    waiter.cancelTimer = this.clock.schedule(Math.max(0, timeoutMs), () => this.finish(waiter, 'expired'));
    return true;
  }

  /** Re-checks the fetches watching `key`; `force` completes them all (role change, deletion). */
  checkAndComplete(key: string, force = false): number {
    const set = this.watchers.get(key);
    if (set === undefined) return 0;
    let completed = 0;
    for (const waiter of [...set]) {
      if (waiter.done) continue;
      if (force || waiter.op.tryComplete()) {
        this.finish(waiter, force ? 'forced' : 'satisfied');
        completed++;
      }
    }
    return completed;
  }

  /** Completes every parked fetch (shutdown). */
  completeAll(): void {
    const all = new Set<Waiter>();
    for (const set of this.watchers.values()) for (const w of set) all.add(w);
    for (const w of all) this.finish(w, 'forced');
  }

  private finish(waiter: Waiter, reason: 'satisfied' | 'expired' | 'forced'): void {
    if (waiter.done) return;
    waiter.done = true;
    this.waiting--;
    waiter.cancelTimer();
    for (const k of waiter.op.keys) {
      const set = this.watchers.get(k);
      if (set === undefined) continue;
      set.delete(waiter);
      if (set.size === 0) this.watchers.delete(k);
    }
    waiter.op.onComplete(reason);
  }
}
