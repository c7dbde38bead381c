/**
 * UUIDs travel as 16 raw bytes; in memory they are strings in Kafka's display
 * form: URL-safe base64 without padding, 22 characters (e.g. topic ids).
 */

/** The all-zero UUID, Kafka's "no id". */
export const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';

const UUID_PATTERN = /^[A-Za-z0-9_-]{21}[AQgw]$/;

/** True when `s` is a 22-character base64url string that decodes to exactly 16 bytes. */
export function isUuid(s: string): boolean {
  return UUID_PATTERN.test(s);
}

/** Display form of 16 bytes at `offset` in `buf`. */
export function uuidFromBytes(buf: Buffer, offset = 0): string {
  return buf.toString('base64url', offset, offset + 16);
}

/** The 16 bytes of a display-form UUID; throws TypeError on a malformed string. */
export function uuidToBytes(uuid: string): Buffer {
  if (!isUuid(uuid)) throw new TypeError(`not a uuid: ${JSON.stringify(uuid)}`);
  return Buffer.from(uuid, 'base64url');
}

/** Display form from the 8-byte halves Kafka's Java Uuid uses (most/least significant bits). */
export function uuidFromBigints(mostSignificantBits: bigint, leastSignificantBits: bigint): string {
  const b = Buffer.allocUnsafe(16);
  b.writeBigUInt64BE(BigInt.asUintN(64, mostSignificantBits), 0);
  b.writeBigUInt64BE(BigInt.asUintN(64, leastSignificantBits), 8);
  return uuidFromBytes(b);
}

/** Canonical hex form (8-4-4-4-12) of a display-form UUID, for logs and tools. */
export function uuidToHex(uuid: string): string {
  const h = uuidToBytes(uuid).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
