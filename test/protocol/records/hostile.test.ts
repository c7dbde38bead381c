/**
 * Hostile input: corrupted, truncated, mutated and random batches give typed errors
 * (CorruptRecordError, or a validateBatch kind), never another exception, a hang or a
 * huge allocation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BATCH_HEADER_SIZE,
  BatchOffset,
  buildRecordBatch,
  COMPRESSION_NAMES,
  CorruptRecordError,
  computeBatchCrc,
  decodeRecordBatch,
  decodeRecordBatches,
  iterateBatches,
  validateBatch,
} from '../../../src/protocol/records/index.ts';

const MAX = 1 << 20;

function sample(compression: (typeof COMPRESSION_NAMES)[number]): Buffer {
  return buildRecordBatch({
    records: Array.from({ length: 12 }, (_, i) => ({
      key: i % 3 === 0 ? null : `key-${i}`,
      value: i % 4 === 0 ? null : 'value '.repeat(i + 1),
      headers: i % 2 === 0 ? [{ key: 'h', value: `${i}` }] : [],
      timestamp: 1_000 + i,
    })),
    compression,
    producerId: 5n,
    producerEpoch: 1,
    baseSequence: 0,
  });
}

const samples = COMPRESSION_NAMES.map((c) => [c, sample(c)] as const);

/** Recomputes the CRC so that mutations reach the record parser instead of stopping at the CRC. */
function reCrc(buf: Buffer): Buffer {
  if (buf.length >= BATCH_HEADER_SIZE) {
    const size = Math.min(buf.length, Math.max(BATCH_HEADER_SIZE, buf.readInt32BE(8) + 12));
    buf.writeUInt32BE(computeBatchCrc(buf, 0, size), BatchOffset.Crc);
  }
  return buf;
}

function decodeTyped(buf: Buffer, verifyCrc: boolean): void {
  try {
    decodeRecordBatch(buf, 0, { maxUncompressedBytes: MAX, verifyCrc });
  } catch (e) {
    if (!(e instanceof CorruptRecordError)) throw e;
  }
  const kind = validateBatch(buf, 0, { maxUncompressedBytes: MAX });
  assert.ok(kind === null || typeof kind === 'string');
}

void describe('CRC', () => {
  void it('any flipped bit in the CRC-covered bytes is caught, by decode and by validateBatch', () => {
    for (const [, batch] of samples) {
      fc.assert(
        fc.property(fc.integer({ min: BatchOffset.Attributes * 8, max: batch.length * 8 - 1 }), (bit) => {
          const b = Buffer.from(batch);
          b[bit >> 3]! ^= 1 << (bit & 7);
          assert.equal(validateBatch(b), 'crc-mismatch');
          assert.throws(
            () => decodeRecordBatch(b),
            (e: unknown) => e instanceof CorruptRecordError && e.kind === 'crc-mismatch',
          );
        }),
        { numRuns: 200 },
      );
    }
  });

  void it('a flipped bit in the stored CRC itself is caught', () => {
    const b = Buffer.from(samples[0]![1]);
    b[BatchOffset.Crc + 2]! ^= 0x10;
    assert.equal(validateBatch(b), 'crc-mismatch');
  });

  void it('base offset and leader epoch are outside the CRC (the broker rewrites them)', () => {
    const b = Buffer.from(samples[0]![1]);
    b[3]! ^= 0xff;
    b[BatchOffset.PartitionLeaderEpoch]! ^= 0x01;
    assert.equal(validateBatch(b), null);
  });
});

void describe('mutated batches give typed errors only', () => {
  for (const [codec, batch] of samples) {
    void it(`${codec}: random byte overwrites (CRC fixed up, so the parsers see them)`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
          (edits) => {
            const b = Buffer.from(batch);
            for (const [at, v] of edits) b[BatchOffset.Attributes + (at % (b.length - BatchOffset.Attributes))] = v;
            decodeTyped(reCrc(b), true);
            decodeTyped(b, false);
          },
        ),
        { numRuns: 300 },
      );
    });

    void it(`${codec}: truncation at every length`, () => {
      for (let n = 0; n < batch.length; n++) {
        const cut = Buffer.from(batch.subarray(0, n));
        assert.throws(
          () => decodeRecordBatch(cut),
          (e: unknown) => e instanceof CorruptRecordError,
        );
        assert.notEqual(validateBatch(cut), null);
        // with batchLength patched to the cut length and the CRC fixed, the record parser sees the cut
        if (n >= BATCH_HEADER_SIZE) {
          const patched = Buffer.from(cut);
          patched.writeInt32BE(n - 12, 8);
          decodeTyped(reCrc(patched), true);
        }
      }
    });
  }

  void it('random bytes, and random bytes behind a valid-looking header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom(0, 1, 2, 3, 4), (junk, codec) => {
        decodeTyped(Buffer.from(junk), true);
        const b = Buffer.alloc(BATCH_HEADER_SIZE + junk.length);
        b.writeInt32BE(b.length - 12, 8);
        b.writeInt8(2, BatchOffset.Magic);
        b.writeInt16BE(codec, BatchOffset.Attributes);
        b.writeInt32BE(junk.length % 50, BatchOffset.RecordsCount);
        Buffer.from(junk).copy(b, BATCH_HEADER_SIZE);
        decodeTyped(reCrc(b), true);
      }),
      { numRuns: 1000 },
    );
  });

  void it('a huge records count is refused before any allocation', () => {
    const b = Buffer.from(samples[0]![1]);
    b.writeInt32BE(2_000_000_000, BatchOffset.RecordsCount);
    reCrc(b);
    assert.throws(
      () => decodeRecordBatch(b),
      (e: unknown) => e instanceof CorruptRecordError && e.kind === 'invalid-record-count',
    );
    b.writeInt32BE(-1, BatchOffset.RecordsCount);
    reCrc(b);
    assert.equal(validateBatch(b), 'invalid-record-count');
  });

  void it('a huge batch length is truncated, not allocated', () => {
    const b = Buffer.from(samples[0]![1]);
    b.writeInt32BE(0x7fffffff, 8);
    assert.equal(validateBatch(b), 'truncated');
    assert.deepEqual([...iterateBatches(b)], []);
    assert.deepEqual(decodeRecordBatches(b), []);
  });

  void it('a compressed batch that inflates past the bound is decompressed-too-large', () => {
    for (const codec of COMPRESSION_NAMES.slice(1)) {
      const big = buildRecordBatch({ records: [{ value: Buffer.alloc(2 << 20), timestamp: 0 }], compression: codec });
      assert.ok(big.length < 1 << 20);
      assert.throws(
        () => decodeRecordBatch(big, 0, { maxUncompressedBytes: 1 << 20 }),
        (e: unknown) => e instanceof CorruptRecordError && e.kind === 'decompressed-too-large',
        codec,
      );
      assert.equal(validateBatch(big, 0, { maxUncompressedBytes: 1 << 20 }), 'decompressed-too-large');
    }
  });
});
