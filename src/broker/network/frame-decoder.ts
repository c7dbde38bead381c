/**
 * Splits a TCP byte stream into Kafka request frames: a 4-byte big-endian size, then that
 * many bytes. Sans-io: bytes go in with push(), frames come out with next(), so the caller
 * decides how many frames to take (the listener stops taking them at its in-flight bound
 * and leaves the rest buffered here).
 *
 * The size is checked as soon as its 4 bytes are in, before any of the body is kept, so a
 * client cannot make us buffer more than maxFrameBytes (+ one TCP chunk) per connection.
 * A frame that lies inside one chunk is returned as a view of that chunk (no copy); a frame
 * spread over several chunks is assembled with exactly one copy, whatever the split.
 */

const EMPTY = Buffer.alloc(0);

export type BadFrame =
  | { kind: 'negative-size'; size: number }
  | { kind: 'too-large'; size: number; maxFrameBytes: number };

export type NextFrame = { frame: Buffer } | { bad: BadFrame } | null;

export class FrameDecoder {
  readonly maxFrameBytes: number;
  /** Chunks not yet consumed: chunks[headIndex] is read from headOffset on (no O(n) shift per chunk). */
  private chunks: Buffer[] = [];
  private headIndex = 0;
  private headOffset = 0;
  /** Bytes buffered across chunks (from headOffset on). */
  private buffered = 0;
  /** Body size of the frame being read, once its size prefix has been read; -1 before. */
  private bodySize = -1;
  private failed: BadFrame | null = null;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes buffered and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (this.failed !== null || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete frame, a bad size (the stream is then unusable: close the connection),
   * or null when more bytes are needed.
   */
  next(): NextFrame {
    if (this.failed !== null) return { bad: this.failed };
    if (this.bodySize < 0) {
      if (this.buffered < 4) return null;
      const size = this.readSize();
      if (size < 0) return this.fail({ kind: 'negative-size', size });
      if (size > this.maxFrameBytes) return this.fail({ kind: 'too-large', size, maxFrameBytes: this.maxFrameBytes });
      this.bodySize = size;
    }
    if (this.buffered < this.bodySize) return null;
    const frame = this.take(this.bodySize);
    this.bodySize = -1;
    return { frame };
  }

  private fail(bad: BadFrame): NextFrame {
    this.failed = bad;
    this.chunks = [];
    this.headIndex = 0;
    this.buffered = 0;
    return { bad };
  }

  private readSize(): number {
    const head = this.chunks[this.headIndex]!;
    if (head.length - this.headOffset >= 4) {
      const size = head.readInt32BE(this.headOffset);
      this.consume(4);
      return size;
    }
    // The size prefix itself is split across chunks (rare): gather its 4 bytes.
    const four = this.take(4);
    return four.readInt32BE(0);
  }

  /** Removes n bytes (n <= buffered) from the front and returns them, copying only if they span chunks. */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const head = this.chunks[this.headIndex]!;
    const available = head.length - this.headOffset;
    if (available >= n) {
      const view = head.subarray(this.headOffset, this.headOffset + n);
      this.consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = this.chunks[this.headIndex]!;
      const count = Math.min(chunk.length - this.headOffset, n - written);
      chunk.copy(out, written, this.headOffset, this.headOffset + count);
      written += count;
      this.consume(count);
    }
    return out;
  }

  /** Drops n bytes of the head chunk (n <= what the head chunk has left). */
  private consume(n: number): void {
    this.headOffset += n;
    this.buffered -= n;
    if (this.headOffset === this.chunks[this.headIndex]!.length) {
      this.chunks[this.headIndex] = EMPTY;
      this.headIndex++;
      this.headOffset = 0;
      if (this.headIndex === this.chunks.length) {
        this.chunks = [];
        this.headIndex = 0;
      } else if (this.headIndex >= 1024) {
        this.chunks = this.chunks.slice(this.headIndex);
        this.headIndex = 0;
      }
    }
  }
}
