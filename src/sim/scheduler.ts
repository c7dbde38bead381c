/**
 * The simulator's one source of time: a priority queue of events by simulated time.
 * Ties run in the order they were scheduled (a sequence number), so a seed replays the
 * same order exactly. Events may be async (a node's disk is async), and the loop awaits
 * each one before the next: nothing interleaves, and no real timer is ever involved.
 */

export interface SimEvent {
  atMs: number;
  seq: number;
  /** Short label folded into the trace hash. */
  kind: number;
  node: number;
  run: () => void | Promise<void>;
}

export class Scheduler {
  private heap: SimEvent[] = [];
  private seq = 0;
  nowMs = 0;
  /** Events run so far. */
  steps = 0;
  /** FNV-1a over every event run: (time, kind, node). Same seed, same hash. */
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;

  schedule(atMs: number, kind: number, node: number, run: () => void | Promise<void>): void {
    const ev: SimEvent = { atMs: Math.max(atMs, this.nowMs), seq: this.seq++, kind, node, run };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  size(): number {
    return this.heap.length;
  }

  peekTime(): number {
    return this.heap[0]?.atMs ?? Number.POSITIVE_INFINITY;
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    if (!top) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /** Runs the next event; false when none is left or the next is after untilMs. */
  async step(untilMs: number): Promise<boolean> {
    if (this.peekTime() > untilMs) return false;
    const ev = this.pop()!;
    this.nowMs = ev.atMs;
    this.steps++;
    this.mix(ev.atMs);
    this.mix(ev.kind * 131 + ev.node);
    await ev.run();
    return true;
  }

  /** Folds a number into the trace hash (callers add what an event decided). */
  mix(n: number): void {
    const x = n | 0;
    const y = Math.floor(n / 4294967296) | 0;
    this.h1 = Math.imul(this.h1 ^ x, 0x01000193) >>> 0;
    this.h1 = Math.imul(this.h1 ^ y, 0x01000193) >>> 0;
    this.h2 = Math.imul(this.h2 ^ (x + 0x9e3779b9), 0x85ebca6b) >>> 0;
    this.h2 = (this.h2 ^ (this.h2 >>> 13)) >>> 0;
  }

  traceHash(): string {
    return this.h1.toString(16).padStart(8, '0') + this.h2.toString(16).padStart(8, '0');
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
