/**
 * Message format conversion on the broker: Fetch v0-3 down-conversion (down-convert.ts)
 * and Produce v0-2 up-conversion (replica/up-convert.ts), on bytes alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { downConvert, downConvertRead, messageFormatForFetch } from '../../../src/broker/fetch/down-convert.ts';
import { upConvert } from '../../../src/broker/replica/up-convert.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import {
  buildControlBatch,
  buildRecordBatch,
  CompressionType,
  ControlRecordType,
  decodeRecordBatch,
  setLogAppendTime,
} from '../../../src/protocol/records/index.ts';
import { decodeMessageSet, encodeMessageSet, type LegacyMagic } from '../../../src/protocol/records/legacy.ts';

const BIG = 1 << 30;

function batch(baseOffset: number, n: number, compression: CompressionType = CompressionType.None): Buffer {
  return buildRecordBatch({
    baseOffset,
    compression,
    records: Array.from({ length: n }, (_, i) => ({
      key: i % 3 === 0 ? null : `k${baseOffset + i}`,
      value: `v${baseOffset + i}`,
      headers: [{ key: 'dropped', value: 'x' }],
      timestamp: 1_000_000 + baseOffset + i,
    })),
  });
}

function convert(records: Buffer, magic: LegacyMagic, extra: Partial<Parameters<typeof downConvert>[1]> = {}) {
  return downConvert(records, {
    magic,
    fetchOffset: 0,
    maxBytes: BIG,
    minOneMessage: true,
    partialMessage: false,
    ...extra,
  });
}

void describe('down-conversion (Fetch v0-3)', () => {
  void it('maps fetch versions to message formats', () => {
    assert.deepEqual([0, 1, 2, 3].map(messageFormatForFetch), [0, 0, 1, 1]);
  });

  void it('keeps offsets, keys, values, timestamps (v1) and codecs; skips control batches', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<LegacyMagic>(0, 1),
        fc.array(
          fc.record({
            n: fc.integer({ min: 1, max: 8 }),
            codec: fc.integer({ min: 0, max: 3 }),
            control: fc.boolean(),
          }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        (magic, specs) => {
          let offset = 0;
          const parts: Buffer[] = [];
          const expected: { offset: number; key: string | null; value: string; ts: number; codec: number }[] = [];
          for (const s of specs) {
            if (s.control) {
              const c = buildControlBatch({
                type: ControlRecordType.Commit,
                coordinatorEpoch: 0,
                producerId: 1n,
                producerEpoch: 0,
                timestamp: 5,
              });
              c.writeBigInt64BE(BigInt(offset++), 0);
              parts.push(c);
              continue;
            }
            const b = batch(offset, s.n, s.codec);
            for (const r of decodeRecordBatch(b).records) {
              expected.push({
                offset: r.offset,
                key: r.key?.toString() ?? null,
                value: r.value!.toString(),
                ts: r.timestamp,
                codec: s.codec,
              });
            }
            parts.push(b);
            offset += s.n;
          }
          const got = decodeMessageSet(convert(Buffer.concat(parts), magic));
          assert.deepEqual(
            got.map((m) => ({
              offset: m.offset,
              key: m.key?.toString() ?? null,
              value: m.value!.toString(),
              ts: m.timestamp,
              codec: m.compression,
            })),
            expected.map((e) => ({ ...e, ts: magic === 0 ? -1 : e.ts })),
          );
          for (const m of got) assert.equal(m.magic, magic);
        },
      ),
      { numRuns: 150 },
    );
  });

  void it('leaves out records before the fetch offset in uncompressed batches only', () => {
    const plain = decodeMessageSet(convert(batch(10, 5), 1, { fetchOffset: 12 }));
    assert.deepEqual(
      plain.map((m) => m.offset),
      [12, 13, 14],
    );
    const packed = decodeMessageSet(convert(batch(10, 5, CompressionType.Gzip), 1, { fetchOffset: 12 }));
    assert.deepEqual(
      packed.map((m) => m.offset),
      [10, 11, 12, 13, 14],
    );
  });

  void it('keeps LogAppendTime (v1) with the batch time', () => {
    const b = batch(0, 3);
    setLogAppendTime(b, 0, 777);
    const got = decodeMessageSet(convert(b, 1));
    assert.deepEqual(
      got.map((m) => [m.timestamp, m.timestampType]),
      Array(3).fill([777, 'log-append']),
    );
  });

  void it('applies maxBytes on whole messages; the first goes whole (v3) or cut (v0-2)', () => {
    const records = batch(0, 10);
    const all = convert(records, 1);
    const entries = decodeMessageSet(all);
    assert.equal(entries.length, 10);
    const firstSize = all.readInt32BE(8) + 12;
    const secondSize = all.readInt32BE(firstSize + 8) + 12;
    const two = convert(records, 1, { maxBytes: firstSize + secondSize + 3 });
    assert.equal(two.length, firstSize + secondSize);
    assert.equal(decodeMessageSet(two).length, 2);
    // Not even one fits.
    assert.equal(convert(records, 1, { maxBytes: 5, minOneMessage: true }).length, firstSize);
    const cut = convert(records, 1, { maxBytes: 5, minOneMessage: false, partialMessage: true });
    assert.deepEqual(cut, all.subarray(0, 5));
    assert.deepEqual(decodeMessageSet(cut, { allowPartialTail: true }), []);
    assert.equal(convert(records, 1, { maxBytes: 5, minOneMessage: false }).length, 0);
  });
});

void describe('downConvertRead: reading on past what converts to nothing', () => {
  const marker = (offset: number): Buffer => {
    const c = buildControlBatch({
      type: ControlRecordType.Commit,
      coordinatorEpoch: 0,
      producerId: 1n,
      producerEpoch: 0,
      timestamp: 5,
    });
    c.writeBigInt64BE(BigInt(offset), 0);
    return c;
  };
  const options = { magic: 1 as const, fetchOffset: 0, maxBytes: BIG, minOneMessage: true, partialMessage: false };

  void it('skips a read holding only control batches and continues after them', async () => {
    const asked: number[] = [];
    const log = new Map([
      [2, marker(2)],
      [3, batch(3, 2)],
    ]);
    const out = await downConvertRead(Buffer.concat([marker(0), marker(1)]), options, async (offset) => {
      asked.push(offset);
      return log.get(offset) ?? Buffer.alloc(0);
    });
    assert.deepEqual(asked, [2, 3]);
    assert.deepEqual(
      decodeMessageSet(out).map((m) => m.offset),
      [3, 4],
    );
  });

  void it('stops at the end of the log, and after a bounded number of reads', async () => {
    let reads = 0;
    const empty = await downConvertRead(marker(0), options, async () => {
      reads++;
      return Buffer.alloc(0);
    });
    assert.equal(empty.length, 0);
    assert.equal(reads, 1);
    reads = 0;
    const endless = await downConvertRead(marker(0), options, async (offset) => {
      reads++;
      return marker(offset);
    });
    assert.equal(endless.length, 0);
    assert.ok(reads > 0 && reads <= 10, `${reads}`);
  });

  void it('does not read on when the limit (not the content) left the answer empty', async () => {
    let reads = 0;
    const out = await downConvertRead(batch(0, 3), { ...options, maxBytes: 5, minOneMessage: false }, async () => {
      reads++;
      return batch(3, 1);
    });
    assert.equal(out.length, 0);
    assert.equal(reads, 0);
  });
});

void describe('up-conversion (Produce v0-2)', () => {
  void it('turns a message set (any codec, several entries) into one v2 batch', () => {
    for (const magic of [0, 1] as const) {
      for (const compression of [
        CompressionType.None,
        CompressionType.Gzip,
        CompressionType.Snappy,
        CompressionType.Lz4,
      ]) {
        const set = Buffer.concat([
          encodeMessageSet({
            magic,
            compression,
            messages: [0, 1, 2].map((i) => ({
              offset: i,
              timestamp: 100 + i,
              key: i === 1 ? null : `k${i}`,
              value: `v${i}`,
            })),
          }),
          encodeMessageSet({ magic, compression, messages: [{ offset: 3, timestamp: 200, key: 'k3', value: null }] }),
        ]);
        const up = upConvert(set, 1 << 20);
        assert.ok(up.ok);
        const b = decodeRecordBatch(up.batch);
        assert.equal(b.compression, compression);
        assert.equal(b.magic, 2);
        assert.deepEqual(
          b.records.map((r) => [r.offsetDelta, r.key?.toString() ?? null, r.value?.toString() ?? null, r.timestamp]),
          [
            [0, 'k0', 'v0', magic === 0 ? -1 : 100],
            [1, null, 'v1', magic === 0 ? -1 : 101],
            [2, 'k2', 'v2', magic === 0 ? -1 : 102],
            [3, 'k3', null, magic === 0 ? -1 : 200],
          ],
        );
      }
    }
  });

  void it('answers corrupt sets with error codes', () => {
    const set = encodeMessageSet({ magic: 1, messages: [{ offset: 0, timestamp: 1, value: 'x' }] });
    const flipped = Buffer.from(set);
    flipped[flipped.length - 1]! ^= 1;
    const crc = upConvert(flipped, 1 << 20);
    assert.ok(!crc.ok && crc.errorCode === ErrorCode.CORRUPT_MESSAGE);
    const truncated = upConvert(set.subarray(0, set.length - 1), 1 << 20);
    assert.ok(!truncated.ok && truncated.errorCode === ErrorCode.CORRUPT_MESSAGE);
    const big = encodeMessageSet({
      magic: 1,
      compression: CompressionType.Gzip,
      messages: [{ offset: 0, timestamp: 1, value: Buffer.alloc(100_000) }],
    });
    const bomb = upConvert(big, 10_000);
    assert.ok(!bomb.ok && bomb.errorCode === ErrorCode.CORRUPT_MESSAGE);
  });
});
