/**
 * max.message.bytes: a batch of exactly the limit is accepted, one byte more is refused
 * with MESSAGE_TOO_LARGE (raw Produce and kafkajs), and the broker keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildRecordBatch } from '../../src/protocol/records/index.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { RawClient } from './helpers/raw-client.ts';
import { produceRequest } from './helpers/requests.ts';

const MAX = 1_048_588;

function batchOfSize(size: number): Buffer {
  // One record: size the value so the whole batch is exactly `size` bytes.
  const probe = buildRecordBatch({ records: [{ key: 'k', value: Buffer.alloc(1000), timestamp: Date.now() }] });
  let valueLen = size - (probe.length - 1000);
  for (;;) {
    const b = buildRecordBatch({ records: [{ key: 'k', value: Buffer.alloc(valueLen, 7), timestamp: Date.now() }] });
    if (b.length === size) return b;
    valueLen += size - b.length;
  }
}

void describe('produce limits', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': '1' } });
  });
  after(() => broker.stop());

  void it('a batch at max.message.bytes is accepted, one byte over is MESSAGE_TOO_LARGE', {
    timeout: 60_000,
  }, async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'limits', messages: [{ value: 'create' }] });
    const raw = await RawClient.connect(broker.bootstrap);
    try {
      const atLimit = await raw.send(ApiKey.Produce, 9, produceRequest('limits', 0, batchOfSize(MAX)));
      assert.equal(atLimit.responses[0]!.partitionResponses[0]!.errorCode, ErrorCode.NONE);
      const over = await raw.send(ApiKey.Produce, 9, produceRequest('limits', 0, batchOfSize(MAX + 1)));
      const r = over.responses[0]!.partitionResponses[0]!;
      assert.equal(r.errorCode, ErrorCode.MESSAGE_TOO_LARGE);
      assert.match(r.errorMessage ?? '', /max.message.bytes/);
    } finally {
      raw.close();
    }
    // kafkajs sees the same error, then produces normally.
    await assert.rejects(
      producer.send({ topic: 'limits', messages: [{ value: Buffer.alloc(MAX + 100) }] }),
      (err: Error & { type?: string }) => err.type === 'MESSAGE_TOO_LARGE' || /larger than/.test(err.message),
    );
    const ok = await producer.send({ topic: 'limits', acks: -1, messages: [{ value: 'after' }] });
    assert.equal(ok[0]!.errorCode, 0);
    assert.equal(ok[0]!.baseOffset, '2');
    await producer.disconnect();
  });
});
