/**
 * Buffers for encoded batches, reused (the Java producer's BufferPool, by size class): a
 * batch's buffer comes back once the batch is done (acknowledged or failed for good), and a
 * later batch of the same class is encoded into it instead of into a fresh allocation.
 *
 * Why: a fresh buffer of this size is memory outside V8's heap, and V8 answers a fast stream
 * of them with garbage collections ("external memory pressure"); at a few hundred MB/s that
 * and the allocation itself were among the producer's largest costs (docs/performance.md).
 *
 * Classes are powers of two from MIN_CLASS_BYTES up; at most `maxFreeBytes` of free buffers
 * are kept (a buffer given back beyond that is left to the garbage collector), so the pool
 * adds at most that much to the producer's memory beyond the buffers batches hold.
 */
export const MIN_CLASS_BYTES = 16 * 1024;

export class BatchBufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;

  constructor(
    private readonly maxFreeBytes: number,
    /** Batches larger than this are never pooled. */
    private readonly maxClassBytes: number,
  ) {}

  /**
   * A buffer of at least `bytes` (its class size), free or fresh; undefined for sizes below
   * the smallest class or above the largest (those are allocated by the encoder as needed).
   */
  take(bytes: number): Buffer | undefined {
    if (bytes < MIN_CLASS_BYTES / 2 || bytes > this.maxClassBytes) return undefined;
    const size = classOf(bytes);
    const list = this.free.get(size);
    const buf = list?.pop();
    if (buf !== undefined) {
      this.freeBytes -= size;
      return buf;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Gives back a buffer `take` returned, once nothing refers to it any more. */
  give(buf: Buffer): void {
    const size = buf.length;
    if (this.freeBytes + size > this.maxFreeBytes) return;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buf);
    this.freeBytes += size;
  }

  /** Bytes of free buffers kept (tests). */
  get freeBytesKept(): number {
    return this.freeBytes;
  }
}

function classOf(bytes: number): number {
  let size = MIN_CLASS_BYTES;
  while (size < bytes) size *= 2;
  return size;
}
