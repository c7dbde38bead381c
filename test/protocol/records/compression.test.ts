import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { compressFrameSync, compressSync as lz4BlockCompress } from 'lz4-napi';
import { compressSync as snappyRaw } from 'snappy';
import {
  CompressionType,
  CorruptRecordError,
  compress,
  decompress,
  isXerialSnappy,
  lz4CompressFrame,
  lz4DecompressFrame,
  snappyCompressRaw,
  snappyCompressXerial,
  snappyDecompress,
  xxhash32,
} from '../../../src/protocol/records/index.ts';

const CODECS = [
  CompressionType.None,
  CompressionType.Gzip,
  CompressionType.Snappy,
  CompressionType.Lz4,
  CompressionType.Zstd,
] as const;
const MiB = 1 << 20;

function isCorrupt(kind?: string) {
  return (e: unknown) => e instanceof CorruptRecordError && (kind === undefined || e.kind === kind);
}

/** Data that compresses somewhat: runs, repeats and noise. */
const payload = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 5000 }))
        .map(([b, n]) => new Uint8Array(n).fill(b)),
    ),
    { maxLength: 20 },
  )
  .map((parts) => Buffer.concat(parts));

void describe('xxhash32', () => {
  void it('matches the published test vectors', () => {
    assert.equal(xxhash32(Buffer.from('')), 0x02cc5d05);
    assert.equal(xxhash32(Buffer.from('a')), 0x550d7456);
    assert.equal(xxhash32(Buffer.from('abc')), 0x32d153ff);
    assert.equal(xxhash32(Buffer.from('Nobody inspects the spammish repetition')), 0xe2293b2f);
    assert.equal(xxhash32(Buffer.from(''), 1), 0x0b2cb792);
  });
});

void describe('compression codecs', () => {
  void it('every codec round-trips arbitrary data', () => {
    fc.assert(
      fc.property(payload, fc.constantFrom(...CODECS), (data, codec) => {
        assert.deepEqual(decompress(codec, compress(codec, data), MiB), data);
      }),
      { numRuns: 200 },
    );
  });

  void it('a decompression bomb stops at maxBytes with decompressed-too-large, for every codec', () => {
    const zeros = Buffer.alloc(8 * MiB);
    for (const codec of CODECS) {
      const packed = compress(codec, zeros);
      assert.throws(() => decompress(codec, packed, MiB), isCorrupt('decompressed-too-large'), `codec ${codec}`);
      assert.equal(decompress(codec, packed, 8 * MiB).length, 8 * MiB);
    }
  });

  void it('garbage input is a typed error for every codec', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.constantFrom(...CODECS.slice(1)),
        (junk, codec) => {
          try {
            decompress(codec, Buffer.from(junk), 64 * 1024);
          } catch (e) {
            assert.ok(isCorrupt()(e), String(e));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

void describe('snappy', () => {
  const text = Buffer.from('snappy snappy snappy! '.repeat(5000));

  void it('decodes raw blocks (what librdkafka and @platformatic/kafka send)', () => {
    assert.deepEqual(snappyDecompress(snappyRaw(text), MiB), text);
    assert.deepEqual(snappyDecompress(snappyCompressRaw(text), MiB), text);
  });

  void it('decodes the xerial framing (what the Java client sends), built here from its definition', () => {
    // magic 0x82 'SNAPPY' 0, version 1, compatible version 1, then [int32 BE length, raw block]*
    const header = Buffer.from('82534e415050590000000001000000 01'.replace(/ /g, ''), 'hex');
    const a = snappyRaw(text.subarray(0, 40000));
    const b = snappyRaw(text.subarray(40000));
    const len = (n: number) => {
      const l = Buffer.alloc(4);
      l.writeInt32BE(n);
      return l;
    };
    const framed = Buffer.concat([header, len(a.length), a, len(b.length), b]);
    assert.ok(isXerialSnappy(framed));
    assert.deepEqual(snappyDecompress(framed, MiB), text);
  });

  void it('encodes with the xerial framing in 32 KiB chunks', () => {
    const framed = snappyCompressXerial(text);
    assert.equal(framed.subarray(0, 8).toString('hex'), '82534e4150505900');
    assert.equal(framed.readInt32BE(8), 1);
    assert.equal(framed.readInt32BE(12), 1);
    let pos = 16;
    let chunks = 0;
    while (pos < framed.length) {
      pos += 4 + framed.readInt32BE(pos);
      chunks++;
    }
    assert.equal(pos, framed.length);
    assert.equal(chunks, Math.ceil(text.length / 32768));
    assert.deepEqual(snappyDecompress(framed, MiB), text);
  });

  void it('a xerial chunk length past the end, or a bad block, is a typed error', () => {
    const framed = snappyCompressXerial(text);
    const cut = framed.subarray(0, framed.length - 10);
    assert.throws(() => snappyDecompress(cut, MiB), isCorrupt('decompression-failed'));
    const bad = Buffer.from(framed);
    bad.writeInt32BE(-5, 16);
    assert.throws(() => snappyDecompress(bad, MiB), isCorrupt('decompression-failed'));
    assert.throws(() => snappyDecompress(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), MiB), isCorrupt());
  });
});

void describe('lz4 frames', () => {
  const text = Buffer.from('lz4 frame content, fairly repetitive. '.repeat(10000));

  void it('writes what the Java client writes: FLG 0x60, BD 64 KiB, header checksum, end mark', () => {
    const frame = lz4CompressFrame(text);
    assert.equal(frame.readUInt32LE(0), 0x184d2204);
    assert.equal(frame[4], 0x60);
    assert.equal(frame[5], 0x40);
    assert.equal(frame[6], (xxhash32(frame.subarray(4, 6)) >>> 8) & 0xff);
    assert.equal(frame.readUInt32LE(frame.length - 4), 0);
    assert.deepEqual(lz4DecompressFrame(frame, MiB), text);
  });

  void it('decodes frames from another implementation (lz4_flex via lz4-napi), with and without checksums', () => {
    for (const options of [{}, { contentChecksum: true }, { blockChecksums: true, contentChecksum: true }]) {
      assert.deepEqual(lz4DecompressFrame(compressFrameSync(text, options), MiB), text);
    }
  });

  void it('decodes a hand-built frame: content size, a stored block, a compressed block, content checksum', () => {
    const first = Buffer.from('stored block; ');
    const second = text.subarray(0, 5000);
    const block = lz4BlockCompress(second).subarray(4); // raw block without lz4-napi's size prefix
    const content = Buffer.concat([first, second]);
    const descriptor = Buffer.alloc(10);
    descriptor[0] = 0x60 | 0x08 | 0x04; // version 01, independent, content size, content checksum
    descriptor[1] = 0x40;
    descriptor.writeBigUInt64LE(BigInt(content.length), 2);
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    const frame = Buffer.concat([
      u32(0x184d2204),
      descriptor,
      Buffer.from([(xxhash32(descriptor) >>> 8) & 0xff]),
      u32(first.length | 0x80000000),
      first,
      u32(block.length),
      block,
      u32(0),
      u32(xxhash32(content)),
    ]);
    assert.deepEqual(lz4DecompressFrame(frame, MiB), content);
    // the same frame with the pre-KIP-57 Kafka header checksum (over magic + descriptor) also decodes
    const broken = Buffer.from(frame);
    broken[14] = (xxhash32(broken.subarray(0, 14)) >>> 8) & 0xff;
    assert.deepEqual(lz4DecompressFrame(broken, MiB), content);
    // content size larger than the bound is refused before decoding
    assert.throws(() => lz4DecompressFrame(frame, 100), isCorrupt('decompressed-too-large'));
    // a wrong content checksum is caught
    const badSum = Buffer.from(frame);
    badSum[badSum.length - 1]! ^= 1;
    assert.throws(() => lz4DecompressFrame(badSum, MiB), isCorrupt('decompression-failed'));
  });

  void it('a bad header checksum, a truncated frame and a bad match offset are typed errors', () => {
    const frame = lz4CompressFrame(text);
    const badHc = Buffer.from(frame);
    badHc[6]! ^= 0xff;
    assert.throws(() => lz4DecompressFrame(badHc, MiB), isCorrupt('decompression-failed'));
    assert.throws(
      () => lz4DecompressFrame(frame.subarray(0, frame.length - 5), MiB),
      isCorrupt('decompression-failed'),
    );
    // a block whose first sequence has a match pointing before the output start
    const block = Buffer.from([0x10, 0x41, 0x05, 0x00, 0x00]);
    const hdr = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x00]);
    hdr[6] = (xxhash32(hdr.subarray(4, 6)) >>> 8) & 0xff;
    const size = Buffer.alloc(4);
    size.writeUInt32LE(block.length);
    assert.throws(
      () => lz4DecompressFrame(Buffer.concat([hdr, size, block, Buffer.alloc(4)]), MiB),
      isCorrupt('decompression-failed'),
    );
  });

  void it('kafkajs-lz4 style (node-lz4 encoder defaults): 4 MiB block size, content checksum, one big block', () => {
    const content = Buffer.from('{"event":"click","user":12345,"page":"/home"}\n'.repeat(3000));
    const block = lz4BlockCompress(content).subarray(4);
    const descriptor = Buffer.from([0x64, 0x70]); // version 01, independent, content checksum; BD 4 MiB
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    const frame = Buffer.concat([
      u32(0x184d2204),
      descriptor,
      Buffer.from([(xxhash32(descriptor) >>> 8) & 0xff]),
      u32(block.length),
      block,
      u32(0),
      u32(xxhash32(content)),
    ]);
    assert.deepEqual(lz4DecompressFrame(frame, MiB), content);
    assert.deepEqual(decompress(CompressionType.Lz4, frame, MiB), content);
  });

  void it('overlapping matches (run-length style) decode', () => {
    const run = Buffer.alloc(100000, 0x61);
    assert.deepEqual(lz4DecompressFrame(lz4CompressFrame(run), MiB), run);
  });
});

void describe('decoders past their magic: random payloads give typed errors only', () => {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n >>> 0);
    return b;
  };

  void it('lz4: random block contents inside a valid frame header', () => {
    const hdr = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x00]);
    hdr[6] = (xxhash32(hdr.subarray(4, 6)) >>> 8) & 0xff;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.boolean(), (block, endMark) => {
        const frame = Buffer.concat([
          hdr,
          u32(block.length),
          Buffer.from(block),
          endMark ? Buffer.alloc(4) : Buffer.alloc(0),
        ]);
        try {
          const out = lz4DecompressFrame(frame, 4096);
          assert.ok(out.length <= 4096);
        } catch (e) {
          assert.ok(isCorrupt()(e), String(e));
        }
      }),
      { numRuns: 3000 },
    );
  });

  void it('lz4: mutated real frames', () => {
    const frame = lz4CompressFrame(Buffer.from('mutate me, mutate me, mutate me please. '.repeat(300)));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (edits) => {
          const b = Buffer.from(frame);
          for (const [at, v] of edits) b[7 + (at % (b.length - 7))] = v;
          try {
            lz4DecompressFrame(b, 1 << 16);
          } catch (e) {
            assert.ok(isCorrupt()(e), String(e));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  void it('snappy: random raw blocks with a small length preamble, and random xerial chunks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 127 }), fc.uint8Array({ maxLength: 200 }), (len, body) => {
        for (const data of [
          Buffer.concat([Buffer.from([len]), Buffer.from(body)]),
          Buffer.concat([
            snappyCompressXerial(Buffer.alloc(0)),
            Buffer.from([0, 0, 0, body.length + 1, len]),
            Buffer.from(body),
          ]),
        ]) {
          try {
            snappyDecompress(data, 1 << 16);
          } catch (e) {
            assert.ok(isCorrupt()(e), String(e));
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  void it('zstd and gzip: random bytes after a valid magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (body) => {
        for (const [codec, magic] of [
          [CompressionType.Zstd, Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
          [CompressionType.Gzip, Buffer.from([0x1f, 0x8b, 0x08, 0x00])],
        ] as const) {
          try {
            decompress(codec, Buffer.concat([magic, Buffer.from(body)]), 1 << 16);
          } catch (e) {
            assert.ok(isCorrupt()(e), String(e));
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

void describe('gzip', () => {
  void it('decodes multi-member streams and bounds them', () => {
    const a = Buffer.from('first member ');
    const b = Buffer.from('second member');
    const two = Buffer.concat([gzipSync(a), gzipSync(b)]);
    assert.deepEqual(decompress(CompressionType.Gzip, two, MiB), Buffer.concat([a, b]));
    assert.throws(() => decompress(CompressionType.Gzip, two, 10), isCorrupt('decompressed-too-large'));
  });
});
