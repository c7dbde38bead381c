/**
 * Producer partitioning: murmur2 key hashing compatible with the Java client, and the built-in
 * partitioner (keyed by murmur2, unkeyed by the KIP-794 uniform sticky partitioner).
 */
export { murmur2, partitionForKey, toPositive } from './murmur2.ts';
export * from './partitioner.ts';
export { TopicStickyPartitioner } from './sticky.ts';
