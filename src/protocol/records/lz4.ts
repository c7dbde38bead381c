/**
 * LZ4 frame format, as Kafka stores lz4-compressed batches (magic v2: the header
 * checksum is computed over the frame descriptor only).
 *
 *   magic 0x184D2204 (LE) | FLG | BD | [content size u64] | [dict id u32] | HC
 *   blocks: u32 LE size (high bit = stored uncompressed; 0 = end mark), data, [u32 block checksum]
 *   [u32 content checksum]
 *
 * Encoding writes what the Java client writes: independent 64 KiB blocks, no block or
 * content checksum. Block compression is lz4-napi's; the frame around it is ours.
 * Decoding is ours end to end (block decoder included) so that every length is
 * bounds-checked and the output never exceeds the caller's `maxBytes`.
 */
import { compressSync } from 'lz4-napi';
import { CorruptRecordError } from './errors.ts';
import { xxhash32 } from './xxhash32.ts';

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const BLOCK_UNCOMPRESSED = 0x80000000;
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
const ENCODE_BLOCK_SIZE = 64 << 10;
/** FLG: version 01, independent blocks, no checksums, no content size. */
const ENCODE_FLG = 0x60;
/** BD: 64 KiB max block size. */
const ENCODE_BD = 0x40;

function fail(message: string): never {
  throw new CorruptRecordError('decompression-failed', `lz4: ${message}`);
}

function tooLarge(maxBytes: number): never {
  throw new CorruptRecordError('decompressed-too-large', `lz4 output exceeds ${maxBytes} bytes`);
}

/** Compresses `data` into one LZ4 frame of independent 64 KiB blocks. */
export function lz4CompressFrame(data: Uint8Array): Buffer {
  const input = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const parts: Buffer[] = [];
  const header = Buffer.alloc(7);
  header.writeUInt32LE(FRAME_MAGIC, 0);
  header[4] = ENCODE_FLG;
  header[5] = ENCODE_BD;
  header[6] = (xxhash32(header, 0, 4, 6) >>> 8) & 0xff;
  parts.push(header);
  let total = header.length;
  for (let pos = 0; pos < input.length; pos += ENCODE_BLOCK_SIZE) {
    const chunk = input.subarray(pos, Math.min(pos + ENCODE_BLOCK_SIZE, input.length));
    // lz4-napi prefixes the raw block with its uncompressed size (u32 LE): drop it.
    const block = compressSync(chunk).subarray(4);
    const size = Buffer.allocUnsafe(4);
    if (block.length < chunk.length) {
      size.writeUInt32LE(block.length, 0);
      parts.push(size, block);
      total += 4 + block.length;
    } else {
      size.writeUInt32LE((chunk.length | BLOCK_UNCOMPRESSED) >>> 0, 0);
      parts.push(size, chunk);
      total += 4 + chunk.length;
    }
  }
  parts.push(Buffer.alloc(4)); // end mark
  return Buffer.concat(parts, total + 4);
}

/** A growable output buffer that never grows past `maxBytes`. */
class Output {
  buf: Buffer;
  length = 0;
  constructor(
    initial: number,
    readonly maxBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.min(Math.max(initial, 64), maxBytes));
  }
  /** Makes room for `n` more bytes, or throws when that would pass maxBytes. */
  reserve(n: number): void {
    const needed = this.length + n;
    if (needed <= this.buf.length) return;
    if (needed > this.maxBytes) tooLarge(this.maxBytes);
    const next = Buffer.allocUnsafe(Math.min(this.maxBytes, Math.max(needed, this.buf.length * 2)));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

/**
 * Decodes one raw LZ4 block `src[ip, end)` into `out` at out.length. `limit` is the most
 * bytes this block may produce. Matches may reach back into earlier blocks of the same
 * frame (which linked-block frames need), never before the start of the output.
 */
function decodeBlock(src: Uint8Array, ip: number, end: number, out: Output, limit: number): void {
  out.reserve(Math.min(limit, out.maxBytes - out.length));
  const dst = out.buf;
  let op = out.length;
  const oend = Math.min(op + limit, dst.length);
  for (;;) {
    if (ip >= end) fail('block ends inside a sequence');
    const token = src[ip++]!;
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= end) fail('truncated literal length');
        b = src[ip++]!;
        litLen += b;
      } while (b === 255);
    }
    if (litLen > end - ip) fail('literals run past the block');
    if (litLen > oend - op) {
      if (op + litLen > out.maxBytes) tooLarge(out.maxBytes);
      fail('block larger than its declared maximum');
    }
    if (litLen < 32) {
      for (let k = 0; k < litLen; k++) dst[op++] = src[ip++]!;
    } else {
      dst.set(src.subarray(ip, ip + litLen), op);
      op += litLen;
      ip += litLen;
    }
    if (ip === end) break; // the last sequence has literals only
    if (end - ip < 2) fail('truncated match offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) fail(`match offset ${offset} out of range`);
    let matchLen = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (ip >= end) fail('truncated match length');
        b = src[ip++]!;
        matchLen += b;
      } while (b === 255);
    }
    if (matchLen > oend - op) {
      if (op + matchLen > out.maxBytes) tooLarge(out.maxBytes);
      fail('block larger than its declared maximum');
    }
    let from = op - offset;
    if (offset >= matchLen && matchLen >= 32) {
      dst.copyWithin(op, from, from + matchLen);
      op += matchLen;
    } else {
      for (let k = 0; k < matchLen; k++) dst[op++] = dst[from++]!;
    }
  }
  out.length = op;
}

/**
 * Decodes LZ4 frames (one or more, skippable frames ignored) into one buffer of at most
 * `maxBytes`. Verifies the header checksum (also accepting the pre-0.10 Kafka variant
 * that covered the magic too), and block/content checksums when the frame has them.
 */
export function lz4DecompressFrame(src: Uint8Array, maxBytes: number): Buffer {
  const view = Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  const out = new Output(Math.min(view.length * 4, 1 << 20), maxBytes);
  let ip = 0;
  const end = view.length;
  let frames = 0;
  while (ip < end) {
    if (end - ip < 4) fail('truncated frame magic');
    const magic = view.readUInt32LE(ip);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (end - ip < 8) fail('truncated skippable frame');
      const size = view.readUInt32LE(ip + 4);
      if (size > end - ip - 8) fail('skippable frame runs past the input');
      ip += 8 + size;
      continue;
    }
    if (magic !== FRAME_MAGIC) fail(`bad frame magic 0x${magic.toString(16)}`);
    const frameStart = ip;
    ip += 4;
    if (end - ip < 3) fail('truncated frame descriptor');
    const flg = view[ip]!;
    const bd = view[ip + 1]!;
    if (flg >>> 6 !== 1) fail(`unsupported frame version ${flg >>> 6}`);
    if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) fail('reserved descriptor bits set');
    const blockChecksum = (flg & 0x10) !== 0;
    const hasContentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const hasDictId = (flg & 0x01) !== 0;
    const blockMax = BLOCK_MAX_SIZES[(bd >>> 4) & 7]!;
    if (blockMax === 0) fail(`unsupported block size code ${(bd >>> 4) & 7}`);
    const descriptorLen = 2 + (hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0);
    if (end - ip < descriptorLen + 1) fail('truncated frame descriptor');
    if (hasDictId) fail('dictionaries are not supported');
    const descEnd = ip + descriptorLen;
    const hc = view[descEnd]!;
    if (hc !== ((xxhash32(view, 0, ip, descEnd) >>> 8) & 0xff)) {
      if (hc !== ((xxhash32(view, 0, frameStart, descEnd) >>> 8) & 0xff)) fail('header checksum mismatch');
    }
    let contentSize = -1;
    if (hasContentSize) {
      const size = view.readBigUInt64LE(ip + 2);
      if (size > BigInt(maxBytes - out.length)) tooLarge(maxBytes);
      contentSize = Number(size);
      out.reserve(contentSize);
    }
    ip = descEnd + 1;
    const frameOutStart = out.length;
    for (;;) {
      if (end - ip < 4) fail('truncated block size');
      const word = view.readUInt32LE(ip);
      ip += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (size > blockMax) fail(`block of ${size} bytes exceeds the frame's ${blockMax}`);
      if (size > end - ip) fail('block runs past the input');
      if (blockChecksum) {
        if (end - ip - size < 4) fail('truncated block checksum');
        if (view.readUInt32LE(ip + size) !== xxhash32(view, 0, ip, ip + size)) fail('block checksum mismatch');
      }
      if ((word & BLOCK_UNCOMPRESSED) !== 0) {
        out.reserve(size);
        view.copy(out.buf, out.length, ip, ip + size);
        out.length += size;
      } else {
        decodeBlock(view, ip, ip + size, out, blockMax);
      }
      ip += size + (blockChecksum ? 4 : 0);
    }
    if (contentChecksum) {
      if (end - ip < 4) fail('truncated content checksum');
      if (view.readUInt32LE(ip) !== xxhash32(out.buf, 0, frameOutStart, out.length)) fail('content checksum mismatch');
      ip += 4;
    }
    if (contentSize >= 0 && out.length - frameOutStart !== contentSize) fail('content size mismatch');
    frames++;
  }
  if (frames === 0) fail('no lz4 frame');
  return out.buf.subarray(0, out.length);
}
