import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ATTR_CONTROL,
  ATTR_DELETE_HORIZON,
  ATTR_TIMESTAMP_TYPE_LOG_APPEND,
  ATTR_TRANSACTIONAL,
  assignBatchOffset,
  BATCH_HEADER_SIZE,
  buildRecordBatch,
  COMPRESSION_NAMES,
  CompressionType,
  decodeRecordBatch,
  decodeRecordBatches,
  isBatchCrcValid,
  type RecordInput,
  readBatchHeader,
  setLogAppendTime,
  validateBatch,
} from '../../../src/protocol/records/index.ts';

const bytes = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
);
const header = fc.record({ key: fc.string({ maxLength: 20 }), value: bytes });
const timestamp = fc.integer({ min: 0, max: 2 ** 45 });
const recordInput: fc.Arbitrary<RecordInput> = fc.record({
  key: bytes,
  value: bytes,
  headers: fc.array(header, { maxLength: 4 }),
  timestamp,
});

const batchOptions = fc.record({
  records: fc.array(recordInput, { minLength: 1, maxLength: 30 }),
  compression: fc.constantFrom(...COMPRESSION_NAMES),
  baseOffset: fc.integer({ min: 0, max: 2 ** 50 }),
  partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  producerId: fc.bigInt({ min: -1n, max: 2n ** 62n }),
  producerEpoch: fc.integer({ min: -1, max: 32767 }),
  baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  transactional: fc.boolean(),
  timestampType: fc.constantFrom('create' as const, 'log-append' as const),
});

function toBuffer(b: RecordInput['key']): Buffer | null {
  if (b === null || b === undefined) return null;
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
}

void describe('record batch build -> decode', () => {
  void it('round-trips every field, for every compression codec', () => {
    fc.assert(
      fc.property(batchOptions, (opts) => {
        const buf = buildRecordBatch(opts);
        assert.equal(validateBatch(buf, 0, { maxUncompressedBytes: 1 << 24 }), null);
        const b = decodeRecordBatch(buf);
        assert.equal(b.sizeInBytes, buf.length);
        assert.equal(b.baseOffset, opts.baseOffset);
        assert.equal(b.partitionLeaderEpoch, opts.partitionLeaderEpoch);
        assert.equal(b.producerId, opts.producerId);
        assert.equal(b.producerEpoch, opts.producerEpoch);
        assert.equal(b.baseSequence, opts.baseSequence);
        assert.equal(b.isTransactional, opts.transactional);
        assert.equal(b.isControl, false);
        assert.equal(b.timestampType, opts.timestampType);
        assert.equal(b.compression, COMPRESSION_NAMES.indexOf(opts.compression));
        assert.equal(b.recordsCount, opts.records.length);
        assert.equal(b.lastOffsetDelta, opts.records.length - 1);
        const maxTimestamp = Math.max(...opts.records.map((r) => r.timestamp));
        assert.equal(b.maxTimestamp, maxTimestamp);
        assert.equal(b.baseTimestamp, opts.records[0]!.timestamp);
        b.records.forEach((r, i) => {
          const want = opts.records[i]!;
          assert.equal(r.offset, opts.baseOffset + i);
          assert.equal(r.offsetDelta, i);
          assert.equal(r.timestamp, opts.timestampType === 'log-append' ? maxTimestamp : want.timestamp);
          assert.deepEqual(r.key, toBuffer(want.key));
          assert.deepEqual(r.value, toBuffer(want.value));
          assert.deepEqual(
            r.headers,
            (want.headers ?? []).map((h) => ({ key: h.key, value: toBuffer(h.value) })),
          );
        });
      }),
      { numRuns: 300 },
    );
  });

  void it('string keys, values and header values are written as UTF-8', () => {
    const buf = buildRecordBatch({
      records: [{ key: 'ключ', value: '値 ✓', headers: [{ key: 'ü', value: 'v' }, { key: 'n' }], timestamp: 5 }],
    });
    const [r] = decodeRecordBatch(buf).records;
    assert.equal(r!.key!.toString(), 'ключ');
    assert.equal(r!.value!.toString(), '値 ✓');
    assert.deepEqual(r!.headers, [
      { key: 'ü', value: Buffer.from('v') },
      { key: 'n', value: null },
    ]);
  });

  void it('tombstones, null keys, empty values and empty headers are distinct', () => {
    const buf = buildRecordBatch({
      records: [
        { key: 'k', value: null, timestamp: 1 },
        { key: null, value: Buffer.alloc(0), timestamp: 1 },
        { key: Buffer.alloc(0), value: 'v', headers: [], timestamp: 1 },
      ],
    });
    const rs = decodeRecordBatch(buf).records;
    assert.equal(rs[0]!.value, null);
    assert.equal(rs[1]!.key, null);
    assert.deepEqual(rs[1]!.value, Buffer.alloc(0));
    assert.deepEqual(rs[2]!.key, Buffer.alloc(0));
    assert.deepEqual(rs[2]!.headers, []);
  });

  void it('uncompressed: the exact bytes of a small batch', () => {
    const buf = buildRecordBatch({
      records: [{ key: 'a', value: 'b', timestamp: 1000 }],
      baseOffset: 0,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
    });
    // record: length 8 | attributes 0 | tsDelta 0 | offsetDelta 0 | key len 1 'a' | value len 1 'b' | 0 headers
    assert.equal(buf.subarray(BATCH_HEADER_SIZE).toString('hex'), '100000000261026200');
    assert.equal(buf.length, BATCH_HEADER_SIZE + 9);
    assert.equal(buf.readInt32BE(8), buf.length - 12);
    assert.ok(isBatchCrcValid(buf));
  });

  void it('negative timestamp deltas (a record older than the first)', () => {
    const buf = buildRecordBatch({
      records: [
        { value: 'x', timestamp: 10_000 },
        { value: 'y', timestamp: 9_000 },
      ],
    });
    const b = decodeRecordBatch(buf);
    assert.deepEqual(
      b.records.map((r) => r.timestampDelta),
      [0, -1000],
    );
    assert.equal(b.maxTimestamp, 10_000);
  });

  void it('attribute bits: transactional, control, log append time, delete horizon', () => {
    const buf = buildRecordBatch({
      records: [{ value: 'v', timestamp: 500 }],
      transactional: true,
      isControl: true,
      timestampType: 'log-append',
      deleteHorizonMs: 400,
      compression: CompressionType.Gzip,
    });
    const attributes = buf.readInt16BE(21);
    assert.equal(attributes & 7, CompressionType.Gzip);
    assert.ok(attributes & ATTR_TRANSACTIONAL);
    assert.ok(attributes & ATTR_CONTROL);
    assert.ok(attributes & ATTR_TIMESTAMP_TYPE_LOG_APPEND);
    assert.ok(attributes & ATTR_DELETE_HORIZON);
    const b = decodeRecordBatch(buf);
    assert.equal(b.deleteHorizonMs, 400);
    assert.equal(b.baseTimestamp, 400);
    assert.equal(b.records[0]!.timestampDelta, 100);
  });

  void it('assignBatchOffset and setLogAppendTime keep the CRC valid', () => {
    for (const compression of COMPRESSION_NAMES) {
      const buf = buildRecordBatch({
        records: [
          { value: 'a', timestamp: 1 },
          { value: 'b', timestamp: 2 },
        ],
        compression,
      });
      assignBatchOffset(buf, 0, 1234, 7);
      assert.ok(isBatchCrcValid(buf));
      assert.equal(readBatchHeader(buf).baseOffset, 1234);
      setLogAppendTime(buf, 0, 99);
      const b = decodeRecordBatch(buf);
      assert.equal(b.partitionLeaderEpoch, 7);
      assert.deepEqual(
        b.records.map((r) => [r.offset, r.timestamp]),
        [
          [1234, 99],
          [1235, 99],
        ],
      );
    }
  });

  void it('decodeRecordBatches reads back-to-back batches and leaves out a partial tail', () => {
    const a = buildRecordBatch({ records: [{ value: 'a', timestamp: 1 }], baseOffset: 0 });
    const b = buildRecordBatch({ records: [{ value: 'b', timestamp: 2 }], baseOffset: 1, compression: 'zstd' });
    const blob = Buffer.concat([a, b, a.subarray(0, 20)]);
    const batches = decodeRecordBatches(blob);
    assert.deepEqual(
      batches.map((x) => x.records[0]!.value!.toString()),
      ['a', 'b'],
    );
  });

  void it('rejects an empty record list and unknown compression as programming errors', () => {
    assert.throws(() => buildRecordBatch({ records: [] }), RangeError);
    assert.throws(
      () => buildRecordBatch({ records: [{ timestamp: 0 }], compression: 6 as CompressionType }),
      RangeError,
    );
  });
});
