/**
 * Which partition of a coordinator topic owns a key: abs(String.hashCode(key)) % count,
 * with Java's String.hashCode (UTF-16 code units, h = 31*h + c in int32) and Kafka's
 * Utils.abs (Integer.MIN_VALUE maps to 0), so a group lands on the same
 * __consumer_offsets partition as it would on a Kafka broker.
 */

/** Java's String.hashCode. */
export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/** Kafka's Utils.abs: like Math.abs, but Integer.MIN_VALUE gives 0. */
export function kafkaAbs(n: number): number {
  return n === -2147483648 ? 0 : Math.abs(n);
}

/** The coordinator partition of `key` among `partitionCount` partitions. */
export function partitionFor(key: string, partitionCount: number): number {
  return kafkaAbs(javaStringHashCode(key)) % partitionCount;
}
