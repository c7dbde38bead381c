/**
 * Variable-length integers as Kafka uses them: unsigned LEB128 ("unsigned varint",
 * at most 5 bytes for 32 bits) and zigzag-encoded signed varint (32 bit) / varlong (64 bit).
 */

/** Bytes needed for `value` (0 <= value < 2^32) as an unsigned varint. */
export function sizeOfUnsignedVarint(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Zigzag-encodes a signed 32-bit integer into an unsigned 32-bit value. */
export function zigzagEncode32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Inverse of zigzagEncode32. */
export function zigzagDecode32(value: number): number {
  return (value >>> 1) ^ -(value & 1);
}

/** Zigzag-encodes a signed 64-bit integer into an unsigned 64-bit value. */
export function zigzagEncode64(value: bigint): bigint {
  return BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
}

/** Inverse of zigzagEncode64. */
export function zigzagDecode64(value: bigint): bigint {
  return (value >> 1n) ^ -(value & 1n);
}

/** Bytes needed for a signed 32-bit `value` as a zigzag varint. */
export function sizeOfVarint(value: number): number {
  return sizeOfUnsignedVarint(zigzagEncode32(value));
}

/** Bytes needed for a signed 64-bit `value` as a zigzag varlong (1..10). */
export function sizeOfVarlong(value: bigint): number {
  let v = zigzagEncode64(value);
  let bytes = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    bytes++;
  }
  return bytes;
}

/** Bytes needed for a signed safe-integer `value` as a zigzag varlong (number fast path). */
export function sizeOfVarlongNumber(value: number): number {
  // zigzag without 32-bit operators: 2v for v >= 0, -2v-1 for v < 0.
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  let bytes = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    bytes++;
  }
  return bytes;
}
