import { isUuid } from './uuid.ts';
import { zigzagEncode32, zigzagEncode64 } from './varint.ts';

/**
 * A cursor writing into a pre-sized Buffer. Callers compute the exact size
 * first (see sizes.ts and the generated sizeOfX functions), allocate once and
 * write; nothing here grows or reallocates. Writing past the end is a bug and
 * throws RangeError.
 */
export class Writer {
  readonly buf: Buffer;
  offset: number;

  constructor(buf: Buffer, offset = 0) {
    this.buf = buf;
    this.offset = offset;
  }

  /** A Writer over a fresh buffer of exactly `size` bytes. */
  static alloc(size: number): Writer {
    return new Writer(Buffer.allocUnsafe(size));
  }

  // Fixed-width integers are written byte by byte (faster than Buffer's checked writers);
  // a value outside the type's range is a bug and throws RangeError instead of wrapping.

  writeInt8(v: number): void {
    if ((v << 24) >> 24 !== v) throw outOfRange('int8', v);
    this.byte1(v);
  }

  writeUint8(v: number): void {
    if ((v & 0xff) !== v) throw outOfRange('uint8', v);
    this.byte1(v);
  }

  writeBool(v: boolean): void {
    this.byte1(v ? 1 : 0);
  }

  writeInt16(v: number): void {
    if ((v << 16) >> 16 !== v) throw outOfRange('int16', v);
    this.bytes2(v);
  }

  writeUint16(v: number): void {
    if ((v & 0xffff) !== v) throw outOfRange('uint16', v);
    this.bytes2(v);
  }

  writeInt32(v: number): void {
    if ((v | 0) !== v) throw outOfRange('int32', v);
    this.bytes4(v);
  }

  writeUint32(v: number): void {
    if (v >>> 0 !== v) throw outOfRange('uint32', v);
    this.bytes4(v);
  }

  private byte1(v: number): void {
    const o = this.offset;
    if (o + 1 > this.buf.length) throw new RangeError('write past end of buffer');
    this.buf[o] = v;
    this.offset = o + 1;
  }

  private bytes2(v: number): void {
    const b = this.buf;
    const o = this.offset;
    if (o + 2 > b.length) throw new RangeError('write past end of buffer');
    b[o] = v >>> 8;
    b[o + 1] = v;
    this.offset = o + 2;
  }

  private bytes4(v: number): void {
    const b = this.buf;
    const o = this.offset;
    if (o + 4 > b.length) throw new RangeError('write past end of buffer');
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
    this.offset = o + 4;
  }

  writeInt64(v: bigint): void {
    this.offset = this.buf.writeBigInt64BE(v, this.offset);
  }

  writeFloat64(v: number): void {
    this.offset = this.buf.writeDoubleBE(v, this.offset);
  }

  /** Unsigned LEB128 of 0 <= v < 2^32. */
  writeUnsignedVarint(v: number): void {
    if (v >>> 0 !== v) throw outOfRange('unsigned varint', v);
    const buf = this.buf;
    let o = this.offset;
    if (o + 5 > buf.length && o + sizeOfUnsigned(v) > buf.length) throw new RangeError('write past end of buffer');
    while (v >= 0x80) {
      buf[o++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[o++] = v;
    this.offset = o;
  }

  /** Zigzag signed 32-bit varint. */
  writeVarint(v: number): void {
    if ((v | 0) !== v) throw outOfRange('varint', v);
    this.writeUnsignedVarint(zigzagEncode32(v));
  }

  /** Zigzag signed 64-bit varlong. */
  writeVarlong(v: bigint): void {
    let u = zigzagEncode64(v);
    if (u < 0x100000000n) {
      this.writeUnsignedVarint(Number(u));
      return;
    }
    const buf = this.buf;
    let o = this.offset;
    while (u >= 0x80n) {
      if (o >= buf.length) throw new RangeError('write past end of buffer');
      buf[o++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    if (o >= buf.length) throw new RangeError('write past end of buffer');
    buf[o++] = Number(u);
    this.offset = o;
  }

  /** Zigzag varlong of a safe integer (number fast path for record fields). */
  writeVarlongNumber(v: number): void {
    if (!Number.isSafeInteger(v)) throw outOfRange('varlong (safe integer)', v);
    if (v >= -0x40000000 && v < 0x40000000) {
      this.writeUnsignedVarint(zigzagEncode32(v));
      return;
    }
    this.writeVarlong(BigInt(v));
  }

  writeUuid(uuid: string): void {
    if (!isUuid(uuid)) throw new TypeError(`not a uuid: ${JSON.stringify(uuid)}`);
    if (this.offset + 16 > this.buf.length) throw new RangeError('write past end of buffer');
    this.offset += this.buf.write(uuid, this.offset, 16, 'base64url');
  }

  /** Copies `bytes` verbatim. */
  writeRawBytes(bytes: Uint8Array): void {
    if (this.offset + bytes.length > this.buf.length) throw new RangeError('write past end of buffer');
    this.buf.set(bytes, this.offset);
    this.offset += bytes.length;
  }

  private utf8(s: string, byteLength: number): void {
    if (this.offset + byteLength > this.buf.length) throw new RangeError('write past end of buffer');
    this.offset += this.buf.write(s, this.offset, byteLength, 'utf8');
  }

  // ---- strings ----

  writeString(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (n > 0x7fff) throw new RangeError(`string of ${n} bytes exceeds int16 length`);
    this.writeInt16(n);
    this.utf8(s, n);
  }

  writeNullableString(s: string | null): void {
    if (s === null) this.writeInt16(-1);
    else this.writeString(s);
  }

  writeCompactString(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (n > 0x7fff) throw new RangeError(`string of ${n} bytes exceeds the 32767-byte limit`);
    this.writeUnsignedVarint(n + 1);
    this.utf8(s, n);
  }

  writeCompactNullableString(s: string | null): void {
    if (s === null) this.writeUnsignedVarint(0);
    else this.writeCompactString(s);
  }

  // ---- bytes ----

  writeBytes(b: Uint8Array): void {
    this.writeInt32(b.length);
    this.writeRawBytes(b);
  }

  writeNullableBytes(b: Uint8Array | null): void {
    if (b === null) this.writeInt32(-1);
    else this.writeBytes(b);
  }

  writeCompactBytes(b: Uint8Array): void {
    this.writeUnsignedVarint(b.length + 1);
    this.writeRawBytes(b);
  }

  writeCompactNullableBytes(b: Uint8Array | null): void {
    if (b === null) this.writeUnsignedVarint(0);
    else this.writeCompactBytes(b);
  }

  // ---- array counts ----

  writeArrayLength(n: number): void {
    this.writeInt32(n);
  }

  /** Count for classic arrays, -1 for null. */
  writeNullableArrayLength(n: number): void {
    this.writeInt32(n);
  }

  writeCompactArrayLength(n: number): void {
    this.writeUnsignedVarint(n + 1);
  }

  /** Count for compact arrays, -1 for null (written as 0). */
  writeCompactNullableArrayLength(n: number): void {
    this.writeUnsignedVarint(n + 1);
  }
}

function outOfRange(type: string, v: number): RangeError {
  return new RangeError(`${v} is not a valid ${type}`);
}

function sizeOfUnsigned(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/**
 * A Writer that does not copy byte strings of at least `minBytes`: it cuts its buffer
 * there and keeps the caller's Buffer as its own part, so the frame is parts() written
 * back to back. Its buffer is sized for everything else: the exact size less the lengths
 * of the byte strings it will not copy (the caller adds those up beforehand, with the same
 * threshold).
 */
export class GatherWriter extends Writer {
  private readonly out: Buffer[] = [];
  private partStart = 0;
  /** Bytes kept by reference rather than copied. */
  gathered = 0;

  constructor(
    buf: Buffer,
    private readonly minBytes: number,
  ) {
    super(buf);
  }

  override writeRawBytes(bytes: Uint8Array): void {
    if (bytes.length < this.minBytes) {
      super.writeRawBytes(bytes);
      return;
    }
    if (this.offset > this.partStart) this.out.push(this.buf.subarray(this.partStart, this.offset));
    this.out.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    this.partStart = this.offset;
    this.gathered += bytes.length;
  }

  /** The frame: copied runs of the buffer and the byte strings kept by reference, in order. */
  parts(): Buffer[] {
    if (this.offset > this.partStart) this.out.push(this.buf.subarray(this.partStart, this.offset));
    this.partStart = this.offset;
    return this.out;
  }
}
