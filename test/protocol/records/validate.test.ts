import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BATCH_HEADER_SIZE,
  BatchOffset,
  buildControlBatch,
  buildRecordBatch,
  ControlRecordType,
  CorruptRecordError,
  completeBatchesSize,
  computeBatchCrc,
  decodeControlKey,
  decodeEndTxnMarker,
  decodeRecordBatch,
  encodeControlKey,
  encodeEndTxnMarker,
  iterateBatches,
  validateBatch,
} from '../../../src/protocol/records/index.ts';

function batch(n = 3, compression: 'none' | 'gzip' = 'none'): Buffer {
  return buildRecordBatch({
    records: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `v${i}`, timestamp: 100 + i })),
    compression,
  });
}

function withCrc(b: Buffer): Buffer {
  b.writeUInt32BE(computeBatchCrc(b, 0, b.length), BatchOffset.Crc);
  return b;
}

void describe('validateBatch', () => {
  void it('accepts well-formed batches', () => {
    assert.equal(validateBatch(batch()), null);
    assert.equal(validateBatch(batch(5, 'gzip')), null);
    assert.equal(validateBatch(batch(5, 'gzip'), 0, { maxUncompressedBytes: 1 << 20 }), null);
  });

  void it('truncated and invalid lengths', () => {
    assert.equal(validateBatch(Buffer.alloc(5)), 'truncated');
    const b = batch();
    assert.equal(validateBatch(b.subarray(0, b.length - 1)), 'truncated');
    const short = Buffer.from(b);
    short.writeInt32BE(10, BatchOffset.BatchLength);
    assert.equal(validateBatch(short), 'invalid-length');
  });

  void it('magic other than 2', () => {
    const b = batch();
    b.writeInt8(1, BatchOffset.Magic);
    assert.equal(validateBatch(b), 'unsupported-magic');
  });

  void it('unknown compression code', () => {
    const b = batch();
    b.writeInt16BE(5, BatchOffset.Attributes);
    assert.equal(validateBatch(withCrc(b)), 'unsupported-compression');
  });

  void it('lastOffsetDelta inconsistent with recordsCount', () => {
    const b = batch();
    b.writeInt32BE(5, BatchOffset.LastOffsetDelta);
    assert.equal(validateBatch(withCrc(b)), 'invalid-offset-delta');
  });

  void it('recordsCount larger or smaller than the records present', () => {
    for (const count of [2, 4]) {
      const b = batch();
      b.writeInt32BE(count, BatchOffset.RecordsCount);
      b.writeInt32BE(count - 1, BatchOffset.LastOffsetDelta);
      assert.equal(validateBatch(withCrc(b)), 'invalid-record-count');
      assert.throws(
        () => decodeRecordBatch(b),
        (e: unknown) => e instanceof CorruptRecordError && e.kind === 'invalid-record-count',
      );
    }
    const empty = batch();
    empty.writeInt32BE(0, BatchOffset.RecordsCount);
    assert.equal(validateBatch(withCrc(empty)), 'invalid-record-count');
  });

  void it('record offset deltas that do not run 0, 1, 2', () => {
    const b = batch();
    // first record: length varint (1 byte), attributes, timestampDelta (1 byte), offsetDelta
    const offsetDeltaAt = BATCH_HEADER_SIZE + 3;
    assert.equal(b[offsetDeltaAt], 0);
    b[offsetDeltaAt] = 2; // zigzag 1
    assert.equal(validateBatch(withCrc(b)), 'invalid-offset-delta');
  });

  void it('a record whose fields overrun its length', () => {
    const b = batch();
    b[BATCH_HEADER_SIZE + 4] = 0x7e; // key length 63 inside a 10-byte record
    assert.equal(validateBatch(withCrc(b)), 'invalid-record');
  });
});

void describe('iterateBatches', () => {
  void it('yields positions and headers, stopping at a partial trailing batch', () => {
    const a = batch(2);
    const b = batch(4, 'gzip');
    for (let cut = 0; cut < b.length; cut += 7) {
      const blob = Buffer.concat([a, b, b.subarray(0, cut)]);
      const seen = [...iterateBatches(blob)];
      assert.deepEqual(
        seen.map((x) => [x.position, x.header.recordsCount]),
        [
          [0, 2],
          [a.length, 4],
        ],
      );
      assert.equal(completeBatchesSize(blob), a.length + b.length);
    }
  });

  void it('an impossible batch length is a typed error carrying its position, not an endless loop', () => {
    const first = batch();
    const blob = Buffer.concat([first, Buffer.alloc(20)]);
    assert.throws(
      () => [...iterateBatches(blob)],
      (e: unknown) => e instanceof CorruptRecordError && e.kind === 'invalid-length' && e.position === first.length,
    );
  });

  void it('decode errors carry the position of the batch at fault (where log recovery truncates)', () => {
    const a = batch();
    const b = batch(4, 'gzip');
    b[b.length - 1]! ^= 1;
    const blob = Buffer.concat([a, b]);
    assert.throws(
      () => decodeRecordBatch(blob, a.length),
      (e: unknown) => e instanceof CorruptRecordError && e.kind === 'crc-mismatch' && e.position === a.length,
    );
    const c = batch(3);
    c.writeInt32BE(2, BatchOffset.RecordsCount);
    withCrc(c);
    assert.throws(
      () => decodeRecordBatch(Buffer.concat([a, c]), a.length),
      (e: unknown) => e instanceof CorruptRecordError && e.kind === 'invalid-record-count' && e.position === a.length,
    );
  });
});

void describe('control records', () => {
  void it('key and end-transaction marker layouts', () => {
    assert.equal(encodeControlKey(ControlRecordType.Commit).toString('hex'), '00000001');
    assert.equal(encodeControlKey(ControlRecordType.Abort).toString('hex'), '00000000');
    assert.equal(encodeEndTxnMarker(7).toString('hex'), '000000000007');
    assert.deepEqual(decodeControlKey(Buffer.from('00000001', 'hex')), { version: 0, type: 1 });
    assert.deepEqual(decodeEndTxnMarker(Buffer.from('000000000007', 'hex')), { version: 0, coordinatorEpoch: 7 });
    // later versions may append fields; the prefix still reads
    assert.deepEqual(decodeControlKey(Buffer.from('0001000100ff', 'hex')), { version: 1, type: 1 });
  });

  void it('bad control keys and markers are typed errors', () => {
    for (const bad of [null, Buffer.alloc(3), Buffer.from('ffff0001', 'hex')]) {
      assert.throws(
        () => decodeControlKey(bad),
        (e: unknown) => e instanceof CorruptRecordError && e.kind === 'invalid-control-record',
      );
    }
    assert.throws(() => decodeEndTxnMarker(Buffer.alloc(5)), CorruptRecordError);
  });

  void it('a COMMIT marker batch is transactional + control with one control record', () => {
    const buf = buildControlBatch({
      type: ControlRecordType.Commit,
      coordinatorEpoch: 3,
      producerId: 77n,
      producerEpoch: 2,
      timestamp: 1_700_000_000_000,
      baseOffset: 10,
      partitionLeaderEpoch: 4,
    });
    assert.equal(validateBatch(buf), null);
    const b = decodeRecordBatch(buf);
    assert.equal(b.isControl, true);
    assert.equal(b.isTransactional, true);
    assert.equal(b.producerId, 77n);
    assert.equal(b.producerEpoch, 2);
    assert.equal(b.baseSequence, -1);
    assert.equal(b.baseOffset, 10);
    assert.equal(b.partitionLeaderEpoch, 4);
    assert.equal(b.records.length, 1);
    assert.deepEqual(decodeControlKey(b.records[0]!.key), { version: 0, type: ControlRecordType.Commit });
    assert.deepEqual(decodeEndTxnMarker(b.records[0]!.value), { version: 0, coordinatorEpoch: 3 });
    assert.equal(b.records[0]!.timestamp, 1_700_000_000_000);
  });

  void it('an ABORT marker', () => {
    const b = decodeRecordBatch(
      buildControlBatch({
        type: ControlRecordType.Abort,
        coordinatorEpoch: 0,
        producerId: 1n,
        producerEpoch: 0,
        timestamp: 0,
      }),
    );
    assert.equal(decodeControlKey(b.records[0]!.key).type, ControlRecordType.Abort);
  });
});
