/**
 * Compression codecs by Kafka's attribute code. Everything here is synchronous and
 * bounded: decompression never returns (or allocates for) more than `maxBytes`, and
 * every failure is a CorruptRecordError.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { CompressionType } from './batch-header.ts';
import { CorruptRecordError } from './errors.ts';
import { lz4CompressFrame, lz4DecompressFrame } from './lz4.ts';
import { snappyCompressXerial, snappyDecompress } from './snappy.ts';
import { zstdCompress, zstdDecompress } from './zstd.ts';

export { CompressionType } from './batch-header.ts';

/** Kafka's names for the codecs, as in `compression.type`. */
export type CompressionName = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export const COMPRESSION_NAMES: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export function compressionTypeOf(name: CompressionName): CompressionType {
  return COMPRESSION_NAMES.indexOf(name) as CompressionType;
}

/** Compresses `data` with the codec (None returns `data` itself). */
export function compress(type: CompressionType, data: Buffer): Buffer {
  switch (type) {
    case CompressionType.None:
      return data;
    case CompressionType.Gzip:
      return gzipSync(data);
    case CompressionType.Snappy:
      return snappyCompressXerial(data);
    case CompressionType.Lz4:
      return lz4CompressFrame(data);
    case CompressionType.Zstd:
      return zstdCompress(data);
    default:
      throw new CorruptRecordError('unsupported-compression', `compression type ${type as number}`);
  }
}

/** Decompresses `data` into at most `maxBytes` bytes. */
export function decompress(type: CompressionType, data: Buffer, maxBytes: number): Buffer {
  switch (type) {
    case CompressionType.None:
      if (data.length > maxBytes) {
        throw new CorruptRecordError('decompressed-too-large', `${data.length} bytes exceed ${maxBytes}`);
      }
      return data;
    case CompressionType.Gzip:
      return gunzipBounded(data, maxBytes);
    case CompressionType.Snappy:
      return snappyDecompress(data, maxBytes);
    case CompressionType.Lz4:
      return lz4DecompressFrame(data, maxBytes);
    case CompressionType.Zstd:
      return zstdDecompress(data, maxBytes);
    default:
      throw new CorruptRecordError('unsupported-compression', `compression type ${type as number}`);
  }
}

function gunzipBounded(data: Buffer, maxBytes: number): Buffer {
  if (maxBytes <= 0) {
    throw new CorruptRecordError('decompressed-too-large', `gzip output exceeds ${maxBytes} bytes`);
  }
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new CorruptRecordError('decompressed-too-large', `gzip output exceeds ${maxBytes} bytes`);
    }
    throw new CorruptRecordError('decompression-failed', `gzip: ${(e as Error).message}`);
  }
}
