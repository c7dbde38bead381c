/**
 * Message formats v0/v1 (legacy.ts): known bytes, round trips for every codec v0/v1 have,
 * inner offsets of compressed wrappers, the v0 lz4 header checksum, and hostile input
 * giving CorruptRecordError only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 } from '@node-rs/crc32';
import fc from 'fast-check';
import { CompressionType, CorruptRecordError, compress, xxhash32 } from '../../../src/protocol/records/index.ts';
import {
  decodeMessageSet,
  encodeMessageSet,
  isLegacyMessageSet,
  type LegacyMagic,
  type LegacyMessageInput,
} from '../../../src/protocol/records/legacy.ts';

const CODECS = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4];

/** One entry written field by field, independently of legacy.ts. */
function entry(
  offset: number,
  magic: number,
  attributes: number,
  timestamp: number,
  key: Buffer | null,
  value: Buffer | null,
): Buffer {
  const parts: Buffer[] = [Buffer.from([magic, attributes])];
  if (magic === 1) {
    const ts = Buffer.alloc(8);
    ts.writeBigInt64BE(BigInt(timestamp));
    parts.push(ts);
  }
  for (const b of [key, value]) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(b === null ? -1 : b.length);
    parts.push(len);
    if (b !== null) parts.push(b);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(16);
  head.writeBigInt64BE(BigInt(offset), 0);
  head.writeInt32BE(body.length + 4, 8);
  head.writeUInt32BE(crc32(body), 12);
  return Buffer.concat([head, body]);
}

function expectCorrupt(fn: () => unknown, kind?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof CorruptRecordError && (kind === undefined || e.kind === kind));
}

void describe('message format v0/v1', () => {
  void it('writes the layout byte for byte (v0 and v1)', () => {
    const v0 = encodeMessageSet({ magic: 0, messages: [{ offset: 7, key: null, value: 'a' }] });
    assert.deepEqual(v0, entry(7, 0, 0, -1, null, Buffer.from('a')));
    assert.equal(v0.length, 12 + 14 + 1);
    const v1 = encodeMessageSet({ magic: 1, messages: [{ offset: 3, timestamp: 1234, key: 'k', value: null }] });
    assert.deepEqual(v1, entry(3, 1, 0, 1234, Buffer.from('k'), null));
    // CRC-32 IEEE, not CRC-32C: the standard check value.
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.ok(isLegacyMessageSet(v0) && isLegacyMessageSet(v1));
  });

  void it('round trips messages for v0 and v1 with every codec (property)', () => {
    const bytes = fc.option(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      { nil: null },
    );
    fc.assert(
      fc.property(
        fc.constantFrom<LegacyMagic>(0, 1),
        fc.constantFrom(...CODECS),
        fc.nat({ max: 1_000_000 }),
        fc.array(fc.record({ gap: fc.nat({ max: 3 }), ts: fc.nat({ max: 2 ** 45 }), key: bytes, value: bytes }), {
          minLength: 1,
          maxLength: 20,
        }),
        (magic, compression, base, specs) => {
          let offset = base;
          const messages: LegacyMessageInput[] = specs.map((s) => {
            offset += s.gap;
            return { offset: offset++, timestamp: s.ts, key: s.key, value: s.value };
          });
          const buf = encodeMessageSet({ magic, messages, compression });
          const decoded = decodeMessageSet(buf);
          assert.equal(decoded.length, messages.length);
          decoded.forEach((d, i) => {
            const m = messages[i]!;
            assert.equal(d.offset, m.offset);
            assert.equal(d.magic, magic);
            assert.equal(d.timestamp, magic === 0 ? -1 : m.timestamp);
            assert.equal(d.timestampType, 'create');
            assert.equal(d.compression, compression);
            assert.deepEqual(d.key, m.key);
            assert.deepEqual(d.value, m.value);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('resolves inner offsets: absolute in v0, relative to the wrapper in v1', () => {
    const inner = (magic: number, offsets: number[]) =>
      Buffer.concat(offsets.map((o, i) => entry(o, magic, 0, 100 + i, null, Buffer.from(`m${i}`))));
    // v1: relative 0, 1, 2 under a wrapper at 10 -> 8, 9, 10.
    const v1 = entry(10, 1, CompressionType.Gzip, 500, null, compress(CompressionType.Gzip, inner(1, [0, 1, 2])));
    const d1 = decodeMessageSet(v1);
    assert.deepEqual(
      d1.map((m) => [m.offset, m.timestamp, m.value?.toString()]),
      [
        [8, 100, 'm0'],
        [9, 101, 'm1'],
        [10, 102, 'm2'],
      ],
    );
    // v1 LogAppendTime wrapper: its timestamp applies to every inner message.
    const lat = entry(
      10,
      1,
      CompressionType.Gzip | 0x08,
      500,
      null,
      compress(CompressionType.Gzip, inner(1, [0, 1, 2])),
    );
    assert.deepEqual(
      decodeMessageSet(lat).map((m) => [m.timestamp, m.timestampType]),
      Array(3).fill([500, 'log-append']),
    );
    // v0: inner offsets are absolute, the wrapper's own offset is not used for them.
    const v0 = entry(99, 0, CompressionType.Snappy, -1, null, compress(CompressionType.Snappy, inner(0, [4, 5])));
    assert.deepEqual(
      decodeMessageSet(v0).map((m) => m.offset),
      [4, 5],
    );
    // What we write: the wrapper carries the last offset, v1 inner offsets are relative.
    const ours = encodeMessageSet({
      magic: 1,
      compression: CompressionType.Gzip,
      messages: [20, 21, 25].map((offset) => ({ offset, timestamp: offset, value: 'x' })),
    });
    assert.equal(Number(ours.readBigInt64BE(0)), 25);
    assert.equal(ours.readBigInt64BE(12 + 4 + 2), 25n, 'wrapper timestamp = max inner timestamp');
    assert.deepEqual(
      decodeMessageSet(ours).map((m) => m.offset),
      [20, 21, 25],
    );
  });

  void it('writes the pre-0.10 lz4 header checksum for v0 and the correct one for v1', () => {
    const messages = [{ offset: 0, timestamp: 1, value: 'lz4 payload '.repeat(20) }];
    const hc = (magic: LegacyMagic) => {
      const buf = encodeMessageSet({ magic, messages, compression: CompressionType.Lz4 });
      const valueStart = 12 + 4 + 2 + (magic === 1 ? 8 : 0) + 4 + 4;
      const frame = buf.subarray(valueStart);
      return { frame, byte: frame[6]! };
    };
    const v0 = hc(0);
    assert.equal(v0.byte, (xxhash32(v0.frame, 0, 0, 6) >>> 8) & 0xff);
    const v1 = hc(1);
    assert.equal(v1.byte, (xxhash32(v1.frame, 0, 4, 6) >>> 8) & 0xff);
  });

  void it('refuses bad codecs and empty sets when encoding (programming errors)', () => {
    assert.throws(() => encodeMessageSet({ magic: 1, messages: [] }), RangeError);
    assert.throws(
      () => encodeMessageSet({ magic: 1, messages: [{ offset: 0 }], compression: CompressionType.Zstd }),
      RangeError,
    );
  });
});

void describe('message format v0/v1: hostile input', () => {
  const good = encodeMessageSet({
    magic: 1,
    messages: Array.from({ length: 5 }, (_, i) => ({ offset: i, timestamp: i, key: `k${i}`, value: `v${i}` })),
  });

  void it('typed errors for known damage', () => {
    const crc = Buffer.from(good);
    crc[crc.length - 1]! ^= 1;
    expectCorrupt(() => decodeMessageSet(crc), 'crc-mismatch');
    assert.equal(decodeMessageSet(crc, { verifyCrc: false }).length, 5);
    expectCorrupt(() => decodeMessageSet(good.subarray(0, good.length - 3)), 'truncated');
    assert.equal(decodeMessageSet(good.subarray(0, good.length - 3), { allowPartialTail: true }).length, 4);
    expectCorrupt(() => decodeMessageSet(entry(0, 2, 0, 0, null, null)), 'unsupported-magic');
    expectCorrupt(
      () => decodeMessageSet(entry(0, 1, CompressionType.Zstd, 0, null, Buffer.alloc(4))),
      'unsupported-compression',
    );
    const small = Buffer.from(good.subarray(0, 26));
    small.writeInt32BE(3, 8);
    expectCorrupt(() => decodeMessageSet(small), 'invalid-length');
    // A key length running past the message.
    const bad = entry(0, 0, 0, -1, Buffer.from('abc'), null);
    bad.writeInt32BE(100, 12 + 4 + 2);
    expectCorrupt(() => decodeMessageSet(bad, { verifyCrc: false }), 'invalid-record');
    // Nested compression, a wrapper without a value, an inner magic that differs.
    const nestedInner = entry(0, 1, CompressionType.Gzip, 0, null, compress(CompressionType.Gzip, good));
    const nested = entry(0, 1, CompressionType.Gzip, 0, null, compress(CompressionType.Gzip, nestedInner));
    expectCorrupt(() => decodeMessageSet(nested), 'invalid-record');
    expectCorrupt(() => decodeMessageSet(entry(0, 1, CompressionType.Gzip, 0, null, null)), 'invalid-record');
    const v0inner = entry(0, 0, 0, -1, null, Buffer.from('x'));
    expectCorrupt(
      () => decodeMessageSet(entry(0, 1, CompressionType.Gzip, 0, null, compress(CompressionType.Gzip, v0inner))),
      'invalid-record',
    );
    // Garbage inside a compressed wrapper; a decompression bomb against the cap.
    expectCorrupt(
      () => decodeMessageSet(entry(0, 1, CompressionType.Gzip, 0, null, Buffer.from('nope'))),
      'decompression-failed',
    );
    const bomb = encodeMessageSet({
      magic: 1,
      compression: CompressionType.Gzip,
      messages: [{ offset: 0, timestamp: 0, value: Buffer.alloc(1 << 20) }],
    });
    assert.ok(bomb.length < 4096);
    expectCorrupt(() => decodeMessageSet(bomb, { maxUncompressedBytes: 64 << 10 }), 'decompressed-too-large');
    // The bound holds for all wrappers together, not each.
    const many = Buffer.concat(Array.from({ length: 8 }, () => bomb));
    assert.equal(decodeMessageSet(many, { maxUncompressedBytes: 9 << 20 }).length, 8);
    expectCorrupt(() => decodeMessageSet(many, { maxUncompressedBytes: 4 << 20 }), 'decompressed-too-large');
  });

  void it('random, mutated and truncated sets give CorruptRecordError or messages, nothing else', () => {
    const samples = CODECS.flatMap((compression) =>
      ([0, 1] as const).map((magic) =>
        encodeMessageSet({
          magic,
          compression,
          messages: Array.from({ length: 6 }, (_, i) => ({
            offset: i,
            timestamp: i,
            key: `k${i}`,
            value: 'v'.repeat(i * 7),
          })),
        }),
      ),
    );
    const decodeSafely = (buf: Buffer, verifyCrc: boolean) => {
      try {
        decodeMessageSet(buf, { verifyCrc, maxUncompressedBytes: 1 << 20 });
      } catch (e) {
        if (!(e instanceof CorruptRecordError)) throw e;
      }
    };
    fc.assert(
      fc.property(
        fc.nat({ max: samples.length - 1 }),
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
        fc.nat(),
        fc.boolean(),
        (which, flips, cut, verifyCrc) => {
          const buf = Buffer.from(samples[which]!);
          for (const f of flips) buf[f.at % buf.length] = f.byte;
          decodeSafely(buf, verifyCrc);
          decodeSafely(buf.subarray(0, cut % (buf.length + 1)), verifyCrc);
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => decodeSafely(Buffer.from(a), false)),
      { numRuns: 1000 },
    );
  });
});
