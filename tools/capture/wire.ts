/**
 * Just enough hand-written Kafka wire encoding for the capture responder, until the
 * generated codecs (src/protocol/generated) can answer for it. Not for use in src/.
 */

/** An append-only byte builder (the capture tool is not a hot path). */
export class Out {
  private readonly parts: Buffer[] = [];

  private push(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  int8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    return this.push(b);
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  int16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    return this.push(b);
  }
  int32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return this.push(b);
  }
  int64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return this.push(b);
  }
  uvarint(v: number): this {
    const bytes: number[] = [];
    while (v >= 0x80) {
      bytes.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    bytes.push(v);
    return this.push(Buffer.from(bytes));
  }
  raw(b: Buffer): this {
    return this.push(b);
  }
  /** STRING / NULLABLE_STRING, or their COMPACT forms when `flexible`. */
  string(s: string | null, flexible: boolean): this {
    if (s === null) return flexible ? this.uvarint(0) : this.int16(-1);
    const b = Buffer.from(s, 'utf8');
    return (flexible ? this.uvarint(b.length + 1) : this.int16(b.length)).push(b);
  }
  /** ARRAY length, or COMPACT_ARRAY length when `flexible`. */
  arrayLength(n: number, flexible: boolean): this {
    return flexible ? this.uvarint(n + 1) : this.int32(n);
  }
  /** An empty tagged-field section (flexible versions only). */
  tags(flexible: boolean): this {
    return flexible ? this.uvarint(0) : this;
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A bounds-checked reader for the few request fields the responder looks at. */
export class In {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError(`request truncated at ${this.pos}`);
  }
  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uvarint(): number {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.int8() & 0xff;
      v += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return v;
    }
    throw new RangeError('varint too long');
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  string(flexible: boolean): string | null {
    const n = flexible ? this.uvarint() - 1 : this.int16();
    return n < 0 ? null : this.bytes(n).toString('utf8');
  }
  /** Array length; -1 for a null array. */
  arrayLength(flexible: boolean): number {
    return flexible ? this.uvarint() - 1 : this.int32();
  }
  skipTags(flexible: boolean): void {
    if (!flexible) return;
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint();
      this.bytes(this.uvarint());
    }
  }
}
