/** Record batches (message format v2), CRC32C and compression: the public surface. */
export * from './batch.ts';
export * from './batch-header.ts';
export {
  COMPRESSION_NAMES,
  type CompressionName,
  compress,
  compressionTypeOf,
  decompress,
} from './compression.ts';
export * from './control.ts';
export { CorruptRecordError, type CorruptRecordKind } from './errors.ts';
export { lz4CompressFrame, lz4DecompressFrame } from './lz4.ts';
export type { KafkaRecord, RecordBytes, RecordHeader, RecordInput } from './record.ts';
export { isXerialSnappy, snappyCompressRaw, snappyCompressXerial, snappyDecompress } from './snappy.ts';
export { xxhash32 } from './xxhash32.ts';
export { zstdCompress, zstdDecompress } from './zstd.ts';
