/**
 * Encoded sizes of the variable-length protocol primitives. Fixed-width
 * primitives are literal numbers in generated code (int8 = 1, int16 = 2, ...).
 */
import { sizeOfUnsignedVarint } from './varint.ts';

export { sizeOfUnsignedVarint, sizeOfVarint, sizeOfVarlong, sizeOfVarlongNumber } from './varint.ts';

/** UTF-8 byte length of `s` (no caching: Buffer.byteLength is fast enough). */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export function sizeOfString(s: string): number {
  return 2 + Buffer.byteLength(s, 'utf8');
}

export function sizeOfNullableString(s: string | null): number {
  return s === null ? 2 : 2 + Buffer.byteLength(s, 'utf8');
}

export function sizeOfCompactString(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  return sizeOfUnsignedVarint(n + 1) + n;
}

export function sizeOfCompactNullableString(s: string | null): number {
  if (s === null) return 1;
  const n = Buffer.byteLength(s, 'utf8');
  return sizeOfUnsignedVarint(n + 1) + n;
}

export function sizeOfBytes(b: Uint8Array): number {
  return 4 + b.length;
}

export function sizeOfNullableBytes(b: Uint8Array | null): number {
  return b === null ? 4 : 4 + b.length;
}

export function sizeOfCompactBytes(b: Uint8Array): number {
  return sizeOfUnsignedVarint(b.length + 1) + b.length;
}

export function sizeOfCompactNullableBytes(b: Uint8Array | null): number {
  return b === null ? 1 : sizeOfUnsignedVarint(b.length + 1) + b.length;
}

/** Size of a compact array count (n >= 0) or null (n = -1). */
export function sizeOfCompactArrayLength(n: number): number {
  return sizeOfUnsignedVarint(n + 1);
}
