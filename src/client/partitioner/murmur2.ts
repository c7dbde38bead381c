/**
 * The 32-bit murmur2 hash as the Java client computes it (`Utils.murmur2`: seed 0x9747b28c,
 * little-endian 4-byte blocks, result read as a signed 32-bit int) and the partition of a keyed
 * record (`toPositive(murmur2(keyBytes)) % numPartitions`, as `BuiltInPartitioner.partitionForKey`).
 * Matching these bit for bit is what makes a record keyed by Runnel land on the same partition as
 * the same key produced by the Java client, librdkafka (murmur2_random) or kafkajs.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** murmur2 of `data`, as a signed 32-bit integer (the Java `int`). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const blocks = length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const at = i << 2;
    let k = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = blocks << 2;
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2]! << 16;
      h ^= data[tail + 1]! << 8;
      h ^= data[tail]!;
      h = Math.imul(h, M);
      break;
    case 2:
      h ^= data[tail + 1]! << 8;
      h ^= data[tail]!;
      h = Math.imul(h, M);
      break;
    case 1:
      h ^= data[tail]!;
      h = Math.imul(h, M);
      break;
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The Java client's `Utils.toPositive`: clears the sign bit (not `Math.abs`). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition of a record with these serialized key bytes, as the Java client's default partitioning. */
export function partitionForKey(keyBytes: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    throw new RangeError(`numPartitions must be a positive integer, got ${numPartitions}`);
  }
  return toPositive(murmur2(keyBytes)) % numPartitions;
}
