import { DecodeError } from './errors.ts';

/**
 * A bounds-checked cursor over a Buffer. Every read checks the remaining bytes
 * first and throws DecodeError on truncation; lengths and counts are checked
 * against the remaining bytes before anything is allocated, so a hostile
 * length can never make the reader allocate more than the input holds.
 *
 * Byte strings (bytes, records, raw) are returned as zero-copy subarrays of the input.
 */
export class Reader {
  readonly buf: Buffer;
  offset: number;
  readonly end: number;

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    if (offset < 0 || end > buf.length || offset > end) throw new RangeError('Reader bounds outside buffer');
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.offset;
  }

  /** Throws DecodeError unless `n` more bytes are available. */
  need(n: number): void {
    if (n > this.end - this.offset) {
      throw new DecodeError('truncated', `need ${n} bytes, ${this.end - this.offset} remain`, this.offset);
    }
  }

  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }

  readInt8(): number {
    const o = this.offset;
    if (o + 1 > this.end) this.need(1);
    this.offset = o + 1;
    const b = this.buf[o]!;
    return (b << 24) >> 24;
  }

  readUint8(): number {
    const o = this.offset;
    if (o + 1 > this.end) this.need(1);
    this.offset = o + 1;
    return this.buf[o]!;
  }

  readBool(): boolean {
    return this.readInt8() !== 0;
  }

  readInt16(): number {
    const o = this.offset;
    if (o + 2 > this.end) this.need(2);
    this.offset = o + 2;
    const b = this.buf;
    return ((b[o]! << 24) | (b[o + 1]! << 16)) >> 16;
  }

  readUint16(): number {
    const o = this.offset;
    if (o + 2 > this.end) this.need(2);
    this.offset = o + 2;
    const b = this.buf;
    return (b[o]! << 8) | b[o + 1]!;
  }

  readInt32(): number {
    const o = this.offset;
    if (o + 4 > this.end) this.need(4);
    this.offset = o + 4;
    const b = this.buf;
    return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  }

  readUint32(): number {
    const o = this.offset;
    if (o + 4 > this.end) this.need(4);
    this.offset = o + 4;
    const b = this.buf;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  readInt64(): bigint {
    const o = this.offset;
    if (o + 8 > this.end) this.need(8);
    this.offset = o + 8;
    return this.buf.readBigInt64BE(o);
  }

  readFloat64(): number {
    const o = this.offset;
    if (o + 8 > this.end) this.need(8);
    this.offset = o + 8;
    return this.buf.readDoubleBE(o);
  }

  /** Unsigned LEB128, at most 5 bytes, value in [0, 2^32). */
  readUnsignedVarint(): number {
    const buf = this.buf;
    let o = this.offset;
    // Fast path: most lengths and counts fit in one byte.
    if (o < this.end && buf[o]! < 0x80) {
      this.offset = o + 1;
      return buf[o]!;
    }
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      if (o >= this.end) throw new DecodeError('truncated', 'varint runs past the end', o);
      const b = buf[o++]!;
      if (i === 4 && b > 0x0f) throw new DecodeError('varint-too-long', 'unsigned varint exceeds 32 bits', o - 1);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) {
        this.offset = o;
        return value;
      }
    }
    throw new DecodeError('varint-too-long', 'unsigned varint longer than 5 bytes', o);
  }

  /** Zigzag signed 32-bit varint. */
  readVarint(): number {
    const v = this.readUnsignedVarint();
    return (v >>> 1) ^ -(v & 1);
  }

  /** Zigzag signed 64-bit varlong, at most 10 bytes. */
  readVarlong(): bigint {
    const buf = this.buf;
    let o = this.offset;
    let lo = 0; // first 49 bits as a number (7 bytes)
    let i = 0;
    for (; i < 7; i++) {
      if (o >= this.end) throw new DecodeError('truncated', 'varlong runs past the end', o);
      const b = buf[o++]!;
      lo += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) {
        this.offset = o;
        const u = BigInt(lo);
        return (u >> 1n) ^ -(u & 1n);
      }
    }
    let u = BigInt(lo);
    for (; i < 10; i++) {
      if (o >= this.end) throw new DecodeError('truncated', 'varlong runs past the end', o);
      const b = buf[o++]!;
      if (i === 9 && b > 0x01) throw new DecodeError('varint-too-long', 'varlong exceeds 64 bits', o - 1);
      u |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        this.offset = o;
        return (u >> 1n) ^ -(u & 1n);
      }
    }
    throw new DecodeError('varint-too-long', 'varlong longer than 10 bytes', o);
  }

  /**
   * Zigzag varlong as a number; throws DecodeError('invalid-value') when the value is
   * outside the safe-integer range. For record fields (timestamp deltas) kept as numbers.
   */
  readVarlongNumber(): number {
    const start = this.offset;
    const v = this.readVarlong();
    if (v > 9007199254740991n || v < -9007199254740991n) {
      throw new DecodeError('invalid-value', 'varlong outside the safe integer range', start);
    }
    return Number(v);
  }

  readUuid(): string {
    const o = this.offset;
    if (o + 16 > this.end) this.need(16);
    this.offset = o + 16;
    return this.buf.toString('base64url', o, o + 16);
  }

  /** `n` raw bytes as a zero-copy subarray. */
  readRawBytes(n: number): Buffer {
    if (n < 0) throw new DecodeError('negative-length', `negative length ${n}`, this.offset);
    if (n > this.end - this.offset) {
      throw new DecodeError(
        'length-exceeds-frame',
        `length ${n} exceeds ${this.end - this.offset} remaining`,
        this.offset,
      );
    }
    const o = this.offset;
    this.offset = o + n;
    return this.buf.subarray(o, o + n);
  }

  private utf8(n: number): string {
    if (n > this.end - this.offset) {
      throw new DecodeError(
        'length-exceeds-frame',
        `length ${n} exceeds ${this.end - this.offset} remaining`,
        this.offset,
      );
    }
    const o = this.offset;
    this.offset = o + n;
    return this.buf.toString('utf8', o, o + n);
  }

  /** Compact strings share the int16 limit of classic ones: at most 32767 bytes. */
  private compactUtf8(n: number, at: number): string {
    if (n > 0x7fff && n <= this.end - this.offset) {
      throw new DecodeError('invalid-value', `string length ${n} exceeds 32767`, at);
    }
    return this.utf8(n);
  }

  private checkedLength(n: number, at: number): number {
    if (n < -1) throw new DecodeError('negative-length', `negative length ${n}`, at);
    return n;
  }

  // ---- strings: int16 length (classic) or unsigned varint length + 1 (compact) ----

  readString(): string {
    const at = this.offset;
    const n = this.readInt16();
    if (n < 0) {
      if (n === -1) throw new DecodeError('unexpected-null', 'null for a non-nullable string', at);
      throw new DecodeError('negative-length', `negative string length ${n}`, at);
    }
    return this.utf8(n);
  }

  readNullableString(): string | null {
    const at = this.offset;
    const n = this.checkedLength(this.readInt16(), at);
    return n === -1 ? null : this.utf8(n);
  }

  readCompactString(): string {
    const at = this.offset;
    const n = this.readUnsignedVarint() - 1;
    if (n === -1) throw new DecodeError('unexpected-null', 'null for a non-nullable string', at);
    return this.compactUtf8(n, at);
  }

  readCompactNullableString(): string | null {
    const at = this.offset;
    const n = this.readUnsignedVarint() - 1;
    return n === -1 ? null : this.compactUtf8(n, at);
  }

  // ---- bytes: int32 length (classic) or unsigned varint length + 1 (compact); zero-copy ----

  readBytes(): Buffer {
    const at = this.offset;
    const n = this.readInt32();
    if (n === -1) throw new DecodeError('unexpected-null', 'null for non-nullable bytes', at);
    return this.readRawBytes(n);
  }

  readNullableBytes(): Buffer | null {
    const at = this.offset;
    const n = this.checkedLength(this.readInt32(), at);
    return n === -1 ? null : this.readRawBytes(n);
  }

  readCompactBytes(): Buffer {
    const at = this.offset;
    const n = this.readUnsignedVarint() - 1;
    if (n === -1) throw new DecodeError('unexpected-null', 'null for non-nullable bytes', at);
    return this.readRawBytes(n);
  }

  readCompactNullableBytes(): Buffer | null {
    const n = this.readUnsignedVarint() - 1;
    return n === -1 ? null : this.readRawBytes(n);
  }

  // ---- array counts: checked against remaining bytes (each element takes >= 1 byte) ----

  private checkedCount(n: number, at: number): number {
    if (n > this.end - this.offset) {
      throw new DecodeError(
        'length-exceeds-frame',
        `array count ${n} exceeds ${this.end - this.offset} remaining bytes`,
        at,
      );
    }
    return n;
  }

  readArrayLength(): number {
    const at = this.offset;
    const n = this.readInt32();
    if (n < 0) {
      if (n === -1) throw new DecodeError('unexpected-null', 'null for a non-nullable array', at);
      throw new DecodeError('negative-length', `negative array length ${n}`, at);
    }
    return this.checkedCount(n, at);
  }

  /** Array count or -1 for null. */
  readNullableArrayLength(): number {
    const at = this.offset;
    const n = this.checkedLength(this.readInt32(), at);
    return n === -1 ? -1 : this.checkedCount(n, at);
  }

  readCompactArrayLength(): number {
    const at = this.offset;
    const n = this.readUnsignedVarint() - 1;
    if (n === -1) throw new DecodeError('unexpected-null', 'null for a non-nullable array', at);
    return this.checkedCount(n, at);
  }

  /** Array count or -1 for null. */
  readCompactNullableArrayLength(): number {
    const at = this.offset;
    const n = this.readUnsignedVarint() - 1;
    return n === -1 ? -1 : this.checkedCount(n, at);
  }

  /** Reads a tag section count (each tagged field takes >= 2 bytes). */
  readTaggedFieldCount(): number {
    const at = this.offset;
    const n = this.readUnsignedVarint();
    return this.checkedCount(n, at);
  }

  /** Reads a tagged field's size and checks it fits; returns the offset where the field must end. */
  readTaggedFieldEnd(): number {
    const at = this.offset;
    const n = this.readUnsignedVarint();
    if (n > this.end - this.offset) {
      throw new DecodeError('length-exceeds-frame', `tagged field size ${n} exceeds remaining bytes`, at);
    }
    return this.offset + n;
  }

  /** Throws unless a tagged field was read to exactly its declared end. */
  expectOffset(end: number): void {
    if (this.offset !== end) {
      throw new DecodeError('tagged-field-size', `tagged field ended at ${this.offset}, declared end ${end}`, end);
    }
  }
}
