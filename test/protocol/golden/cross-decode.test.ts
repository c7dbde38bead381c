/**
 * The other direction: batches we build, decoded by other clients' record batch readers
 * (@platformatic/kafka's and kafkajs's, in process). A bug shared by our writer and our
 * reader shows up here.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { Reader, readRecordsBatches } from '@platformatic/kafka';
import fc from 'fast-check';
import { buildRecordBatch, type CompressionName, type RecordInput } from '../../../src/protocol/records/index.ts';

const require = createRequire(import.meta.url);
// kafkajs does not export its protocol decoders; these are its internal modules (dev dependency, pinned 2.2.4).
const KafkajsDecoder = require('kafkajs/src/protocol/decoder') as new (buf: Buffer) => unknown;
const kafkajsDecodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{
  firstOffset: string;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  inTransaction: boolean;
  records: {
    key: Buffer | null;
    value: Buffer | null;
    headers: Record<string, Buffer | Buffer[]>;
    timestamp: string;
    offset: string;
  }[];
}>;

const text = fc.string({ maxLength: 50 });
const records = fc.array(
  fc.record({
    key: fc.option(text, { nil: null }),
    value: fc.option(text, { nil: null }),
    // kafkajs collects headers into a plain object: keep keys clear of Object.prototype names
    headers: fc.uniqueArray(fc.record({ key: fc.string({ maxLength: 8 }).map((k) => `x-${k}`), value: text }), {
      maxLength: 3,
      selector: (h) => h.key,
    }),
    timestamp: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
  }),
  { minLength: 1, maxLength: 20 },
);

function strOrNull(b: Buffer | null | undefined): string | null {
  return b === null || b === undefined ? null : b.toString('utf8');
}

function build(rs: RecordInput[], compression: CompressionName, snappyFraming?: 'raw' | 'xerial'): Buffer {
  return buildRecordBatch({
    records: rs,
    compression,
    snappyFraming,
    baseOffset: 42,
    producerId: 9n,
    producerEpoch: 3,
    baseSequence: 11,
  });
}

void describe('our batches, read by @platformatic/kafka', () => {
  for (const compression of ['none', 'gzip', 'snappy', 'lz4'] as const) {
    void it(`${compression}${compression === 'snappy' ? ' (raw framing: it cannot read xerial)' : ''}`, () => {
      fc.assert(
        fc.property(records, (rs) => {
          const [batch] = readRecordsBatches(Reader.from(build(rs, compression, 'raw')));
          assert.ok(batch);
          assert.equal(batch.firstOffset, 42n);
          assert.equal(batch.producerId, 9n);
          assert.equal(batch.producerEpoch, 3);
          assert.equal(batch.firstSequence, 11);
          assert.equal(batch.lastOffsetDelta, rs.length - 1);
          assert.equal(batch.records.length, rs.length);
          batch.records.forEach((r, i) => {
            const want = rs[i]!;
            assert.equal(strOrNull(r.key), want.key);
            assert.equal(strOrNull(r.value), want.value);
            assert.equal(batch.firstTimestamp + r.timestampDelta, BigInt(want.timestamp));
            assert.equal(r.offsetDelta, i);
            assert.deepEqual(
              r.headers.map(([k, v]) => [strOrNull(k), strOrNull(v)]),
              (want.headers ?? []).map((h) => [h.key, h.value]),
            );
          });
        }),
        { numRuns: 100 },
      );
    });
  }
});

void describe('our batches, read by kafkajs', () => {
  for (const compression of ['none', 'gzip'] as const) {
    void it(compression, async () => {
      await fc.assert(
        fc.asyncProperty(records, async (rs) => {
          const batch = await kafkajsDecodeBatch(new KafkajsDecoder(build(rs, compression)));
          assert.equal(batch.firstOffset, '42');
          assert.equal(batch.producerId, '9');
          assert.equal(batch.producerEpoch, 3);
          assert.equal(batch.firstSequence, 11);
          assert.equal(batch.records.length, rs.length);
          batch.records.forEach((r, i) => {
            const want = rs[i]!;
            assert.equal(strOrNull(r.key), want.key);
            assert.equal(strOrNull(r.value), want.value);
            assert.equal(r.timestamp, String(want.timestamp));
            assert.equal(r.offset, String(42 + i));
            // kafkajs gives headers as an object: compare as sorted pairs (integer-like keys reorder)
            const byKey = (a: (string | null)[], b: (string | null)[]) => String(a[0]).localeCompare(String(b[0]));
            assert.deepEqual(
              Object.entries(r.headers)
                .map(([k, v]) => [k, strOrNull(v as Buffer)])
                .sort(byKey),
              (want.headers ?? []).map((h) => [h.key, h.value]).sort(byKey),
            );
          });
        }),
        { numRuns: 100 },
      );
    });
  }
});
