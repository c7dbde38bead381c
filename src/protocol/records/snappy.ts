/**
 * Snappy as it appears in Kafka batches. Two shapes:
 *
 * - raw: one Snappy block (varint uncompressed length, then elements), what librdkafka writes;
 * - xerial framing, what the Java client writes (snappy-java's SnappyOutputStream):
 *     magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00 | int32 version | int32 compatible version
 *     then chunks: int32 BE compressed length | one raw Snappy block
 *
 * Both decode; encoding uses the xerial framing (32 KiB chunks, as snappy-java's
 * default), which every Kafka client reads. Block (de)compression is the `snappy`
 * package's; lengths are checked against the caller's bound before it runs.
 */
import { compressSync, uncompressSync } from 'snappy';
import { CorruptRecordError } from './errors.ts';

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_SIZE = 16;
const XERIAL_VERSION = 1;
const XERIAL_COMPATIBLE_VERSION = 1;
const XERIAL_CHUNK_SIZE = 32 << 10;

function fail(message: string): never {
  throw new CorruptRecordError('decompression-failed', `snappy: ${message}`);
}

/** True when `data` starts with the xerial stream header. */
export function isXerialSnappy(data: Uint8Array): boolean {
  if (data.length < XERIAL_HEADER_SIZE) return false;
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (data[i] !== XERIAL_MAGIC[i]) return false;
  return true;
}

/** The uncompressed length a raw Snappy block declares (its varint preamble). */
function rawLength(data: Uint8Array, start: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = start; i < end && i < start + 5; i++) {
    const b = data[i]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 128;
  }
  return fail('bad block length preamble');
}

function uncompressBlock(block: Buffer): Buffer {
  try {
    return uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** Compresses one raw Snappy block. */
export function snappyCompressRaw(data: Uint8Array): Buffer {
  return compressSync(data);
}

/** Compresses into the xerial framing the Java client writes. */
export function snappyCompressXerial(data: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(XERIAL_HEADER_SIZE);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(XERIAL_VERSION, 8);
  header.writeInt32BE(XERIAL_COMPATIBLE_VERSION, 12);
  parts.push(header);
  let total = header.length;
  for (let pos = 0; pos < data.length; pos += XERIAL_CHUNK_SIZE) {
    const block = compressSync(data.subarray(pos, Math.min(pos + XERIAL_CHUNK_SIZE, data.length)));
    const len = Buffer.allocUnsafe(4);
    len.writeInt32BE(block.length, 0);
    parts.push(len, block);
    total += 4 + block.length;
  }
  return Buffer.concat(parts, total);
}

/** Decompresses raw or xerial-framed Snappy into at most `maxBytes` bytes. */
export function snappyDecompress(data: Buffer, maxBytes: number): Buffer {
  if (!isXerialSnappy(data)) {
    const length = rawLength(data, 0, data.length);
    if (length > maxBytes) {
      throw new CorruptRecordError('decompressed-too-large', `snappy output of ${length} exceeds ${maxBytes} bytes`);
    }
    return uncompressBlock(data);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_SIZE;
  while (pos < data.length) {
    if (data.length - pos < 4) fail('truncated xerial chunk length');
    const size = data.readInt32BE(pos);
    pos += 4;
    if (size < 0 || size > data.length - pos) fail(`xerial chunk of ${size} bytes runs past the input`);
    const block = data.subarray(pos, pos + size);
    const length = rawLength(block, 0, block.length);
    if (length > maxBytes - total) {
      throw new CorruptRecordError('decompressed-too-large', `snappy output exceeds ${maxBytes} bytes`);
    }
    const chunk = uncompressBlock(block);
    chunks.push(chunk);
    total += chunk.length;
    pos += size;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
