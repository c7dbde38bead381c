/**
 * Every served version of Produce (0-11), Fetch (4-17; 0-3 in legacy-formats.test.ts), ListOffsets (0-10),
 * DeleteRecords (0-2), OffsetForLeaderEpoch (0-4), DescribeLogDirs (0-4) and
 * InitProducerId (0-5), over a raw connection with our generated codecs; and kafkajs's
 * admin calls that use ListOffsets and DeleteRecords.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records/index.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { RawClient } from './helpers/raw-client.ts';
import { fetchRequest, produceRequest } from './helpers/requests.ts';

void describe('produce/fetch/offsets APIs at every served version', () => {
  let broker: TestBroker;
  let c: RawClient;
  let topicId: string;
  const T0 = Date.now() - 60_000;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': '1' } });
    c = await RawClient.connect(broker.bootstrap);
    const md = await c.send(ApiKey.Metadata, 12, {
      topics: [{ name: 'v', topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
      allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    topicId = md.topics[0]!.topicId;
  });
  after(async () => {
    c.close();
    await broker.stop();
  });

  void it('Produce v0-11 append (v0-2 also take message format v0/v1)', async () => {
    let expected = 0n;
    for (let v = 0; v <= 11; v++) {
      const records = buildRecordBatch({ records: [{ key: `v${v}`, value: `p${v}`, timestamp: T0 + v * 1000 }] });
      const r = await c.send(ApiKey.Produce, v, produceRequest('v', 0, records));
      const p = r.responses[0]!.partitionResponses[0]!;
      assert.equal(p.errorCode, ErrorCode.NONE, `v${v}`);
      assert.equal(p.baseOffset, expected, `v${v}`);
      expected++;
    }
    const legacy = buildRecordBatch({ records: [{ value: 'old', timestamp: T0 }] });
    legacy.writeInt8(1, 16);
    const r = await c.send(ApiKey.Produce, 2, produceRequest('v', 0, legacy));
    // v0-2 up-convert v0/v1 message sets (test/e2e/legacy-formats.test.ts); this is not a valid one.
    assert.equal(r.responses[0]!.partitionResponses[0]!.errorCode, ErrorCode.CORRUPT_MESSAGE);
  });

  void it('Fetch v4-17 read the same records (v13+ by topic id)', async () => {
    for (let v = 4; v <= 17; v++) {
      const req = fetchRequest('v', 0, 0);
      if (v >= 13) {
        req.topics[0]!.topic = '';
        req.topics[0]!.topicId = topicId;
      }
      const r = await c.send(ApiKey.Fetch, v, req);
      assert.equal(r.errorCode, ErrorCode.NONE, `v${v}`);
      const p = r.responses[0]!.partitions[0]!;
      assert.equal(p.errorCode, ErrorCode.NONE, `v${v}`);
      assert.equal(p.highWatermark, 12n, `v${v}`);
      const values = decodeRecordBatches(p.records!).flatMap((b) => b.records.map((x) => x.value?.toString()));
      assert.deepEqual(
        values,
        Array.from({ length: 12 }, (_, i) => `p${i}`),
        `v${v}`,
      );
    }
    // v0-3 are down-converted to message format v0/v1: test/e2e/legacy-formats.test.ts.
  });

  void it('ListOffsets v0-10: earliest, latest, by timestamp, max timestamp', async () => {
    for (let v = 0; v <= 10; v++) {
      const ask = async (timestamp: bigint) => {
        const r = await c.send(ApiKey.ListOffsets, v, {
          replicaId: -1,
          isolationLevel: 0,
          topics: [
            { name: 'v', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }] },
          ],
          timeoutMs: 1000,
        });
        return r.topics[0]!.partitions[0]!;
      };
      const latest = await ask(-1n);
      assert.equal(latest.errorCode, ErrorCode.NONE, `v${v}`);
      if (v === 0) {
        assert.deepEqual(latest.oldStyleOffsets, [12n]);
        continue;
      }
      assert.equal(latest.offset, 12n, `v${v}`);
      assert.equal((await ask(-2n)).offset, 0n, `v${v}`);
      const byTime = await ask(BigInt(T0 + 4500));
      assert.equal(byTime.offset, 5n, `v${v}`);
      assert.equal(byTime.timestamp, BigInt(T0 + 5000), `v${v}`);
      assert.equal((await ask(BigInt(Date.now() + 3_600_000))).offset, -1n, `v${v}`);
      if (v >= 7) {
        const max = await ask(-3n);
        assert.equal(max.offset, 11n, `v${v}`);
        assert.equal(max.timestamp, BigInt(T0 + 11_000), `v${v}`);
      }
      if (v >= 4) assert.equal(latest.leaderEpoch, 0, `v${v}`);
    }
  });

  void it('OffsetForLeaderEpoch v0-4 and DescribeLogDirs v0-4', async () => {
    for (let v = 0; v <= 4; v++) {
      const r = await c.send(ApiKey.OffsetForLeaderEpoch, v, {
        replicaId: -1,
        topics: [{ topic: 'v', partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] }],
      });
      const p = r.topics[0]!.partitions[0]!;
      assert.equal(p.errorCode, ErrorCode.NONE, `v${v}`);
      assert.equal(p.endOffset, 12n, `v${v}`);
      if (v >= 1) assert.equal(p.leaderEpoch, 0);
    }
    for (let v = 0; v <= 4; v++) {
      const r = await c.send(ApiKey.DescribeLogDirs, v, { topics: [{ topic: 'v', partitions: [0] }] });
      assert.equal(r.results.length, 1);
      const dir = r.results[0]!;
      assert.equal(dir.logDir, broker.logDir);
      const part = dir.topics[0]!.partitions[0]!;
      assert.ok(part.partitionSize > 0n, `v${v}`);
      assert.equal(part.offsetLag, 0n);
    }
  });

  void it('InitProducerId v0-5 hands out distinct ids', async () => {
    const ids = new Set<bigint>();
    for (let v = 0; v <= 5; v++) {
      const r = await c.send(ApiKey.InitProducerId, v, {
        transactionalId: null,
        transactionTimeoutMs: 60_000,
        producerId: -1n,
        producerEpoch: -1,
      });
      assert.equal(r.errorCode, ErrorCode.NONE);
      ids.add(r.producerId);
    }
    assert.equal(ids.size, 6);
  });

  void it('DeleteRecords v0-2 and kafkajs admin (ListOffsets, DeleteRecords)', async () => {
    for (let v = 0; v <= 2; v++) {
      const r = await c.send(ApiKey.DeleteRecords, v, {
        topics: [{ name: 'v', partitions: [{ partitionIndex: 0, offset: BigInt(v + 1) }] }],
        timeoutMs: 1000,
      });
      const p = r.topics[0]!.partitions[0]!;
      assert.equal(p.errorCode, ErrorCode.NONE);
      assert.equal(p.lowWatermark, BigInt(v + 1));
    }
    const tooFar = await c.send(ApiKey.DeleteRecords, 2, {
      topics: [{ name: 'v', partitions: [{ partitionIndex: 0, offset: 100n }] }],
      timeoutMs: 1000,
    });
    assert.equal(tooFar.topics[0]!.partitions[0]!.errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
    const below = await c.send(ApiKey.Fetch, 12, fetchRequest('v', 0, 0));
    assert.equal(below.responses[0]!.partitions[0]!.errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
    assert.equal(below.responses[0]!.partitions[0]!.logStartOffset, 3n);

    const admin = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets('v');
      assert.deepEqual(offsets, [{ partition: 0, offset: '12', high: '12', low: '3' }]);
      const byTs = await admin.fetchTopicOffsetsByTimestamp('v', T0 + 6500);
      assert.deepEqual(byTs, [{ partition: 0, offset: '7' }]);
      await admin.deleteTopicRecords({ topic: 'v', partitions: [{ partition: 0, offset: '-1' }] });
      const after = await admin.fetchTopicOffsets('v');
      assert.equal(after[0]!.low, '12');
    } finally {
      await admin.disconnect();
    }
  });
});
