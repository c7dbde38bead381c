/**
 * Buffers that Fetch reads records into, reused from one fetch to the next.
 *
 * Why: a consumer reading a backlog gets up to fetch.max.bytes (50 MiB by default) per
 * response. Read into new buffers, that is tens of MiB of fresh external memory per
 * fetch, and V8 answers external memory growth with full mark-compact collections (two
 * per 50 MiB fetch were measured, most of the broker's CPU during a kcat consume).
 * Buffers handed back once the response is on the socket are read into again instead.
 *
 * Sizes come in classes of a power of two (64 KiB to 16 MiB) plus 64 KiB: the log reads a
 * partition's byte limit plus 64 KiB of slack in one go (file-log.ts), and byte limits
 * are usually powers of two (max.partition.fetch.bytes is 1 MiB by default), so a read
 * fills its buffer. Larger requests get a plain buffer. The pool keeps at most
 * `maxRetainedBytes` of free buffers; what is given back beyond that is left to the
 * garbage collector, and a buffer that is never given back (a connection closed before
 * its answer was written) is simply collected: the pool never tracks the buffers it
 * handed out, so nothing leaks and nothing is reused early.
 */

const MIN_CLASS_SHIFT = 16; // 64 KiB
const MAX_CLASS_SHIFT = 24; // 16 MiB
const CLASS_EXTRA_BYTES = 64 * 1024;

function classBytes(shift: number): number {
  return 2 ** shift + CLASS_EXTRA_BYTES;
}

export interface ReadBufferStats {
  /** Buffers handed out from the free lists. */
  reused: number;
  /** Buffers allocated because no free one of the class was there. */
  allocated: number;
  /** Free bytes held now. */
  retainedBytes: number;
}

/** The smallest class that holds `bytes` (callers check bytes <= the largest class). */
function classOf(bytes: number): number {
  let shift = MIN_CLASS_SHIFT;
  while (classBytes(shift) < bytes) shift++;
  return shift;
}

/** The class of a buffer of exactly a class size, else undefined. */
function classOfLength(length: number): number | undefined {
  const shift = Math.log2(length - CLASS_EXTRA_BYTES);
  return Number.isInteger(shift) && shift >= MIN_CLASS_SHIFT && shift <= MAX_CLASS_SHIFT ? shift : undefined;
}

export class ReadBufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private retained = 0;
  private reused = 0;
  private allocated = 0;

  constructor(readonly maxRetainedBytes = 96 * 1024 * 1024) {}

  /** A buffer of at least `bytes` (its whole class size; contents undefined). */
  acquire(bytes: number): Buffer {
    if (bytes > classBytes(MAX_CLASS_SHIFT)) {
      this.allocated++;
      return Buffer.allocUnsafeSlow(bytes);
    }
    const shift = classOf(bytes);
    const buf = this.free.get(shift)?.pop();
    if (buf !== undefined) {
      this.retained -= buf.length;
      this.reused++;
      return buf;
    }
    this.allocated++;
    // Slow: never a slice of Node's shared small-buffer pool, so the whole buffer is ours.
    return Buffer.allocUnsafeSlow(classBytes(shift));
  }

  /**
   * Gives a buffer from acquire() back. Only once nothing refers to its bytes any more
   * (for a response: after the socket took them). Buffers of other sizes are ignored.
   */
  release(buf: Buffer): void {
    const shift = classOfLength(buf.length);
    if (shift === undefined || buf.byteOffset !== 0 || buf.buffer.byteLength !== buf.length) return;
    if (this.retained + buf.length > this.maxRetainedBytes) return;
    let list = this.free.get(shift);
    if (list === undefined) {
      list = [];
      this.free.set(shift, list);
    }
    list.push(buf);
    this.retained += buf.length;
  }

  /** A set of buffers taken for one request, given back together. */
  lease(): ReadBufferLease {
    return new ReadBufferLease(this);
  }

  stats(): ReadBufferStats {
    return { reused: this.reused, allocated: this.allocated, retainedBytes: this.retained };
  }
}

export class ReadBufferLease {
  private held: Buffer[] = [];

  constructor(private readonly pool: ReadBufferPool) {}

  /** For ReadOptions.allocate. */
  readonly allocate = (bytes: number): Buffer => {
    const buf = this.pool.acquire(bytes);
    this.held.push(buf);
    return buf;
  };

  /** Gives every buffer back; call once nothing refers to them (at most once). */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const buf of held) this.pool.release(buf);
  }
}

/** The broker process's pool: memory is a process resource, one bound for all listeners. */
export const fetchReadBuffers = new ReadBufferPool();
