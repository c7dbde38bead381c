import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { partitionConfigFrom } from '../../../src/broker/replica/config.ts';
import { handleProduce, validateProducedBatches } from '../../../src/broker/replica/produce.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import type { ProduceRequest } from '../../../src/protocol/generated/produce-request.ts';
import { BatchOffset, decodeRecordBatches } from '../../../src/protocol/records/index.ts';
import { batch, type Harness, harness } from '../replica/helpers.ts';

function request(
  topic: string,
  partition: number,
  records: Buffer | null,
  acks = -1,
  timeoutMs = 30_000,
): ProduceRequest {
  return {
    transactionalId: null,
    acks,
    timeoutMs,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  };
}

async function produce(h: Harness, req: ProduceRequest, apiVersion = 11) {
  const { response } = await handleProduce(req, apiVersion, { replicas: h.replicas, nowMs: () => h.clock.nowMs() });
  return response.responses[0]!.partitionResponses[0]!;
}

void describe('produce', () => {
  void it('appends, assigns offsets in place and moves the high watermark', async () => {
    const h = await harness([{ name: 't', partitions: 2 }]);
    const r1 = await produce(h, request('t', 0, batch(3)));
    assert.equal(r1.errorCode, ErrorCode.NONE);
    assert.equal(r1.baseOffset, 0n);
    assert.equal(r1.logAppendTimeMs, -1n);
    const r2 = await produce(h, request('t', 0, batch(2)));
    assert.equal(r2.baseOffset, 3n);
    const p = h.replicas.getPartition('t', 0)!;
    assert.equal(p.highWatermark(), 5);
    const read = await p.read(0, 1 << 20, { isolationLevel: 0, minOneBatch: true });
    assert.equal(read.kind, 'records');
    const batches = decodeRecordBatches(read.kind === 'records' ? read.records : Buffer.alloc(0));
    assert.deepEqual(
      batches.map((x) => x.baseOffset),
      [0, 3],
    );
  });

  void it('answers unknown topics and partitions, and partitions led elsewhere', async () => {
    const h = await harness([
      { name: 't', partitions: 1 },
      { name: 'other', partitions: 1, leader: 2, replicas: [2] },
    ]);
    assert.equal((await produce(h, request('nope', 0, batch(1)))).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    assert.equal(
      (await produce(h, request('__consumer_offsets', 0, batch(1)))).errorCode,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
    );
    assert.equal((await produce(h, request('t', 5, batch(1)))).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const r = await produce(h, request('other', 0, batch(1)));
    assert.equal(r.errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    assert.deepEqual(r.currentLeader, { leaderId: 2, leaderEpoch: 0 });
  });

  void it('refuses bad acks, corrupt, oversized, old-format and control batches per partition; takes transactional ones', async () => {
    const h = await harness([{ name: 't', partitions: 1, configs: { 'max.message.bytes': '2000' } }]);
    assert.equal((await produce(h, request('t', 0, batch(1), 2))).errorCode, ErrorCode.INVALID_REQUIRED_ACKS);
    const corrupt = batch(2);
    corrupt[corrupt.length - 1]! ^= 1;
    assert.equal((await produce(h, request('t', 0, corrupt))).errorCode, ErrorCode.CORRUPT_MESSAGE);
    const big = batch([{ key: 'k', value: 'x'.repeat(1990) }]);
    const tooLarge = await produce(h, request('t', 0, big));
    assert.equal(tooLarge.errorCode, ErrorCode.MESSAGE_TOO_LARGE);
    const fits = batch([{ key: 'k', value: 'x'.repeat(2000 - 61 - 20) }]);
    assert.ok(fits.length <= 2000);
    assert.equal((await produce(h, request('t', 0, fits))).errorCode, ErrorCode.NONE);
    const v1 = batch(1);
    v1.writeInt8(1, BatchOffset.Magic);
    // Produce v0-2 up-convert v0/v1 message sets; these bytes are not a valid one.
    assert.equal((await produce(h, request('t', 0, v1), 2)).errorCode, ErrorCode.CORRUPT_MESSAGE);
    assert.equal((await produce(h, request('t', 0, v1), 9)).errorCode, ErrorCode.INVALID_RECORD);
    assert.equal(
      (await produce(h, request('t', 0, batch(1, { isControl: true })))).errorCode,
      ErrorCode.INVALID_RECORD,
    );
    const txn = batch(1, { transactional: true, producerId: 1n, producerEpoch: 0, baseSequence: 0 });
    // The transaction coordinator exists: transactional batches are appended (no last stable offset yet).
    assert.equal((await produce(h, request('t', 0, txn))).errorCode, ErrorCode.NONE);
    assert.equal((await produce(h, request('t', 0, null))).errorCode, ErrorCode.CORRUPT_MESSAGE);
    const countMismatch = batch(2);
    countMismatch.writeInt32BE(5, BatchOffset.LastOffsetDelta); // breaks the CRC too: fix it
    const { computeBatchCrc } = await import('../../../src/protocol/records/index.ts');
    countMismatch.writeUInt32BE(computeBatchCrc(countMismatch, 0, countMismatch.length), BatchOffset.Crc);
    assert.equal((await produce(h, request('t', 0, countMismatch))).errorCode, ErrorCode.INVALID_RECORD);
    // The partition still serves.
    const ok = await produce(h, request('t', 0, batch(1)));
    assert.equal(ok.errorCode, ErrorCode.NONE);
    assert.equal(ok.baseOffset, 2n);
  });

  void it('stamps LogAppendTime when the topic asks for it', async () => {
    const h = await harness([{ name: 't', partitions: 1, configs: { 'message.timestamp.type': 'LogAppendTime' } }]);
    const r = await produce(h, request('t', 0, batch(2)));
    assert.equal(r.logAppendTimeMs, BigInt(h.clock.nowMs()));
  });

  void it('refuses timestamps too far in the future with record errors (v8+)', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    const now = h.clock.nowMs();
    const b = batch([
      { key: 'a', value: '1', timestamp: now },
      { key: 'b', value: '2', timestamp: now + 2 * 3_600_000 },
    ]);
    const r = await produce(h, request('t', 0, b));
    assert.equal(r.errorCode, ErrorCode.INVALID_TIMESTAMP);
    assert.deepEqual(
      r.recordErrors.map((e) => e.batchIndex),
      [1],
    );
  });

  void it('compacted topics need keys', async () => {
    const h = await harness([{ name: 'c', partitions: 1, configs: { 'cleanup.policy': 'compact' } }]);
    const r = await produce(
      h,
      request(
        'c',
        0,
        batch([
          { key: 'a', value: '1' },
          { key: null, value: '2' },
        ]),
      ),
    );
    assert.equal(r.errorCode, ErrorCode.INVALID_RECORD);
    assert.deepEqual(
      r.recordErrors.map((e) => e.batchIndex),
      [1],
    );
    assert.equal((await produce(h, request('c', 0, batch([{ key: 'a', value: null }])))).errorCode, ErrorCode.NONE);
  });

  void it('idempotence: a duplicate batch gets its original offset and is not appended', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    const idem = (seq: number, n: number) => batch(n, { producerId: 1000n, producerEpoch: 0, baseSequence: seq });
    assert.equal((await produce(h, request('t', 0, batch(4)))).baseOffset, 0n);
    const first = await produce(h, request('t', 0, idem(0, 3)));
    assert.equal(first.baseOffset, 4n);
    assert.equal((await produce(h, request('t', 0, batch(1)))).baseOffset, 7n);
    const dup = await produce(h, request('t', 0, idem(0, 3)));
    assert.equal(dup.errorCode, ErrorCode.NONE);
    assert.equal(dup.baseOffset, 4n);
    assert.equal(h.replicas.getPartition('t', 0)!.log.logEndOffset(), 8);
    const gap = await produce(h, request('t', 0, idem(5, 1)));
    assert.equal(gap.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert.equal((await produce(h, request('t', 0, idem(3, 1)))).baseOffset, 8n);
    const fenced = await produce(
      h,
      request('t', 0, batch(1, { producerId: 1000n, producerEpoch: -1 + 0, baseSequence: 4 })),
    );
    assert.equal(fenced.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  void it('acks=-1 waits for the ISR: completes when a follower catches up, times out otherwise', async () => {
    const h = await harness([{ name: 't', partitions: 1, replicas: [1, 2], isr: [1, 2] }]);
    const p = h.replicas.getPartition('t', 0)!;
    const pending = produce(h, request('t', 0, batch(2), -1, 5000));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(p.highWatermark(), 0);
    p.updateFollowerFetchState(2, 2);
    const done = await pending;
    assert.equal(done.errorCode, ErrorCode.NONE);
    assert.equal(p.highWatermark(), 2);

    const late = produce(h, request('t', 0, batch(1), -1, 5000));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    h.clock.advance(5000);
    assert.equal((await late).errorCode, ErrorCode.REQUEST_TIMED_OUT);
    // acks=1 does not wait.
    assert.equal((await produce(h, request('t', 0, batch(1), 1))).errorCode, ErrorCode.NONE);
  });

  void it('acks=-1 with the ISR below min.insync.replicas: NOT_ENOUGH_REPLICAS', async () => {
    const h = await harness([
      { name: 't', partitions: 1, replicas: [1, 2], isr: [1], configs: { 'min.insync.replicas': '2' } },
    ]);
    assert.equal((await produce(h, request('t', 0, batch(1), -1))).errorCode, ErrorCode.NOT_ENOUGH_REPLICAS);
    assert.equal((await produce(h, request('t', 0, batch(1), 1))).errorCode, ErrorCode.NONE);
  });

  void it('validateProducedBatches: several batches up to v2, one from v3, zstd from v7', () => {
    const cfg = partitionConfigFrom({});
    const two = Buffer.concat([batch(2), batch(3)]);
    const v = validateProducedBatches(two, 2, cfg, 1_700_000_000_000);
    assert.ok(v.ok);
    assert.deepEqual(v.ok && v.headers.map((x) => x.recordsCount), [2, 3]);
    const truncated = validateProducedBatches(two.subarray(0, two.length - 3), 2, cfg, 1_700_000_000_000);
    assert.equal(!truncated.ok && truncated.errorCode, ErrorCode.CORRUPT_MESSAGE);
    // From v3 on, exactly one batch per partition; zstd only from v7.
    const many = validateProducedBatches(two, 3, cfg, 1_700_000_000_000);
    assert.equal(!many.ok && many.errorCode, ErrorCode.INVALID_RECORD);
    const zstd = batch(2, { compression: 'zstd' });
    const old = validateProducedBatches(zstd, 6, cfg, 1_700_000_000_000);
    assert.equal(!old.ok && old.errorCode, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    assert.ok(validateProducedBatches(zstd, 7, cfg, 1_700_000_000_000).ok);
  });
});
