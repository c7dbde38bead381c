/**
 * Zstandard frames via zstd-napi. Compression writes a single frame with the content
 * size in its header (what librdkafka and the Java client write and read). Decompression
 * streams into a buffer that grows only up to the caller's `maxBytes`, and bounds the
 * window the decoder may allocate.
 */
import binding from 'zstd-napi/binding.js';
import { CorruptRecordError } from './errors.ts';

/** 2^27 = 128 MiB: zstd's own default limit for a decoder window. */
const WINDOW_LOG_MAX = 27;
const COMPRESSION_LEVEL = 3;

let cctx: binding.CCtx | undefined;
let dctx: binding.DCtx | undefined;

export function zstdCompress(data: Uint8Array): Buffer {
  cctx ??= new binding.CCtx();
  const dst = Buffer.allocUnsafe(binding.compressBound(data.length));
  const n = cctx.compress(dst, data, COMPRESSION_LEVEL);
  return dst.subarray(0, n);
}

function fail(message: string): never {
  throw new CorruptRecordError('decompression-failed', `zstd: ${message}`);
}

export function zstdDecompress(src: Uint8Array, maxBytes: number): Buffer {
  if (!dctx) {
    dctx = new binding.DCtx();
    dctx.setParameter(binding.DParameter.windowLogMax, WINDOW_LOG_MAX);
  }
  const ctx = dctx;
  let dst = Buffer.allocUnsafe(Math.max(1, Math.min(maxBytes, Math.max(src.length * 4, 64 << 10))));
  let produced = 0;
  let consumed = 0;
  let pending = 1;
  try {
    ctx.reset(binding.ResetDirective.sessionOnly);
    while (consumed < src.length || pending !== 0) {
      if (produced === dst.length) {
        if (dst.length >= maxBytes) {
          throw new CorruptRecordError('decompressed-too-large', `zstd output exceeds ${maxBytes} bytes`);
        }
        const next = Buffer.allocUnsafe(Math.min(maxBytes, dst.length * 2));
        dst.copy(next, 0, 0, produced);
        dst = next;
      }
      const [ret, out, inp] = ctx.decompressStream(dst.subarray(produced), src.subarray(consumed));
      produced += out;
      consumed += inp;
      pending = ret;
      if (out === 0 && inp === 0 && produced < dst.length) {
        fail('truncated frame');
      }
    }
  } catch (e) {
    if (e instanceof CorruptRecordError) throw e;
    return fail((e as Error).message);
  }
  return dst.subarray(0, produced);
}
