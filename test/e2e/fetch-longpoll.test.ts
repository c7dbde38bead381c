/**
 * A fetch waiting on max.wait.ms (10 s) answers within milliseconds of a produce to its
 * partition, with the new records; without a produce it answers at max.wait.ms.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records/index.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { RawClient } from './helpers/raw-client.ts';
import { fetchRequest, produceRequest } from './helpers/requests.ts';

void describe('fetch long poll', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': '1' } });
  });
  after(() => broker.stop());

  void it('wakes within milliseconds of a produce', { timeout: 30_000 }, async () => {
    const producer = await RawClient.connect(broker.bootstrap);
    const consumer = await RawClient.connect(broker.bootstrap);
    try {
      // Create the topic (auto-create through Metadata) and write one record.
      await producer.send(ApiKey.Metadata, 12, {
        topics: [{ name: 'poll', topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
        allowAutoTopicCreation: true,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      });
      const first = buildRecordBatch({ records: [{ key: 'a', value: 'first', timestamp: Date.now() }] });
      const p0 = await producer.send(ApiKey.Produce, 9, produceRequest('poll', 0, first));
      assert.equal(p0.responses[0]!.partitionResponses[0]!.errorCode, ErrorCode.NONE);

      const started = performance.now();
      const waiting = consumer.send(ApiKey.Fetch, 12, fetchRequest('poll', 0, 1, { maxWaitMs: 10_000, minBytes: 1 }));
      await new Promise((r) => setTimeout(r, 200)); // let the fetch park
      const producedAt = performance.now();
      const second = buildRecordBatch({ records: [{ key: 'b', value: 'second', timestamp: Date.now() }] });
      await producer.send(ApiKey.Produce, 9, produceRequest('poll', 0, second, 1));
      const response = await waiting;
      const wokeAfterMs = performance.now() - producedAt;
      const totalMs = performance.now() - started;
      const part = response.responses[0]!.partitions[0]!;
      assert.equal(part.errorCode, ErrorCode.NONE);
      const values = decodeRecordBatches(part.records!).flatMap((b) => b.records.map((r) => r.value?.toString()));
      assert.deepEqual(values, ['second']);
      assert.ok(totalMs >= 150, `the fetch waited (${totalMs} ms)`);
      assert.ok(wokeAfterMs < 1000, `woke ${wokeAfterMs.toFixed(1)} ms after the produce (max.wait.ms 10000)`);
    } finally {
      producer.close();
      consumer.close();
    }
  });

  void it('answers empty at max.wait.ms when nothing comes', { timeout: 30_000 }, async () => {
    const consumer = await RawClient.connect(broker.bootstrap);
    try {
      const started = performance.now();
      const r = await consumer.send(ApiKey.Fetch, 12, fetchRequest('poll', 0, 2, { maxWaitMs: 300 }));
      const ms = performance.now() - started;
      assert.equal(r.responses[0]!.partitions[0]!.records!.length, 0);
      assert.ok(ms >= 250 && ms < 3000, `waited ${ms} ms`);
    } finally {
      consumer.close();
    }
  });
});
