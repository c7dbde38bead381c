/**
 * The fetch purgatory: fetches waiting for data (max.wait.ms long polls), keyed by the
 * partitions they read. An append that moves a partition's high watermark calls
 * checkAndComplete(partition key); each fetch watching that key re-checks whether it
 * has enough (min.bytes) and, when it does, completes. A fetch whose wait expires
 * completes from the purgatory's timer.
 *
 * One timer for all of them (the injected Clock's schedule), armed for the earliest
 * deadline: parking and completing a fetch start and cancel no timer of their own (a
 * consumer at the tail parks and is woken about once per produce request, so a timer per
 * fetch was a setTimeout and a clearTimeout per request). Deadlines wait in a binary heap;
 * an entry whose fetch completed early stays there until it reaches the top or the heap
 * is rebuilt (when it holds more than twice the fetches waiting, plus a little). The
 * timer may fire with nothing due (its fetch completed early): it then arms for the next
 * deadline, if any. completeAll() cancels it.
 *
 * Bounded: at most maxWaiting fetches wait at once. At the bound, park() refuses and the
 * caller answers right away with what it has (an empty answer is a valid fetch
 * response; the client simply fetches again), so memory stays bounded under any load.
 */
import type { Clock } from '../../env/clock.ts';

/** Default bound on parked fetches. */
export const DEFAULT_MAX_WAITING_FETCHES = 10_000;

/** Completed entries the deadline heap may hold beyond twice the waiting ones before a rebuild. */
const HEAP_SLACK = 64;

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
  /** Monotonic ms after which the wait expires. */
  deadlineMs: number;
  done: boolean;
}

export class FetchPurgatory {
  private readonly watchers = new Map<string, Set<Waiter>>();
  private waiting = 0;
  /** Waiters by deadline (a binary min-heap); completed ones are dropped lazily. */
  private heap: Waiter[] = [];
  /** Deadline the timer is armed for (Infinity: none armed). */
  private armedForMs = Number.POSITIVE_INFINITY;
  private cancelTimer: () => void = () => {};

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
    const waiter: Waiter = { op, deadlineMs: this.clock.monotonicMs() + Math.max(0, timeoutMs), done: false };
    this.waiting++;
    for (const k of op.keys) {
      let set = this.watchers.get(k);
      if (set === undefined) {
        set = new Set();
        this.watchers.set(k, set);
      }
      set.add(waiter);
    }
    if (this.heap.length > 2 * this.waiting + HEAP_SLACK) this.rebuildHeap();
    this.push(waiter);
    if (waiter.deadlineMs < this.armedForMs) this.arm(waiter.deadlineMs);
    return true;
  }

  /** Re-checks the fetches watching `key`; `force` completes them all (role change, deletion). */
  checkAndComplete(key: string, force = false): number {
    const set = this.watchers.get(key);
    if (set === undefined) return 0;
    let completed = 0;
    // A completion may park or finish other fetches of this key: walk a copy when there are several.
    const waiters = set.size === 1 ? set : [...set];
    for (const waiter of waiters) {
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
    this.heap.length = 0;
    this.disarm();
  }

  private finish(waiter: Waiter, reason: 'satisfied' | 'expired' | 'forced'): void {
    if (waiter.done) return;
    waiter.done = true;
    this.waiting--;
    for (const k of waiter.op.keys) {
      const set = this.watchers.get(k);
      if (set === undefined) continue;
      set.delete(waiter);
      if (set.size === 0) this.watchers.delete(k);
    }
    // Nothing left to expire: the heap holds completed entries only. The timer stays armed
    // (it finds nothing when it fires): the next fetch, parked moments later with a later
    // deadline, then needs no new one.
    if (this.waiting === 0) this.heap.length = 0;
    waiter.op.onComplete(reason);
  }

  /** The timer: expires what is due, then arms for the next deadline. */
  private onTimer(): void {
    this.armedForMs = Number.POSITIVE_INFINITY;
    const nowMs = this.clock.monotonicMs();
    for (let head = this.heap[0]; head !== undefined && (head.done || head.deadlineMs <= nowMs); head = this.heap[0]) {
      this.pop();
      if (!head.done) this.finish(head, 'expired');
    }
    const next = this.heap[0];
    if (next !== undefined && next.deadlineMs < this.armedForMs) this.arm(next.deadlineMs);
  }

  private arm(deadlineMs: number): void {
    this.cancelTimer();
    this.armedForMs = deadlineMs;
    this.cancelTimer = this.clock.schedule(Math.max(0, deadlineMs - this.clock.monotonicMs()), () => this.onTimer());
  }

  private disarm(): void {
    this.cancelTimer();
    this.cancelTimer = () => {};
    this.armedForMs = Number.POSITIVE_INFINITY;
  }

  private rebuildHeap(): void {
    const live = this.heap.filter((w) => !w.done);
    this.heap = [];
    for (const w of live) this.push(w);
  }

  private push(waiter: Waiter): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(waiter);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.deadlineMs <= waiter.deadlineMs) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = waiter;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.deadlineMs < heap[left]!.deadlineMs ? right : left;
      if (heap[child]!.deadlineMs >= last.deadlineMs) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
