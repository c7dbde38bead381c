/**
 * Consumer groups of real clients read what kafkajs produced, through Fetch (long polls,
 * sessions where the client uses them): kafkajs's consumer and @platformatic/kafka's.
 * Every message arrives, in order within its partition.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from './fixture.ts';

const COUNT = 5000;

void describe('clients: consumer groups read through Fetch', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': '4' } });
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    for (let start = 0; start < COUNT; start += 500) {
      await producer.send({
        topic: 'groups',
        acks: -1,
        messages: Array.from({ length: 500 }, (_, i) => ({ key: `k${(start + i) % 17}`, value: String(start + i) })),
      });
    }
    await producer.disconnect();
  });
  after(() => broker.stop());

  function checkOrder(seen: Map<number, number[]>): void {
    let total = 0;
    for (const [, offsets] of seen) {
      total += offsets.length;
      offsets.forEach((o, i) => {
        assert.equal(o, i, 'offsets in order, none missing');
      });
    }
    assert.equal(total, COUNT);
  }

  void it('kafkajs consumer', { timeout: 60_000 }, async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: 'kjs-group', maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'groups', fromBeginning: true });
    const seen = new Map<number, number[]>();
    let count = 0;
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const list = seen.get(partition) ?? [];
            list.push(Number(message.offset));
            seen.set(partition, list);
            if (++count === COUNT) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    checkOrder(seen);
  });

  void it('@platformatic/kafka consumer', { timeout: 60_000 }, async () => {
    const { Consumer, stringDeserializers } = await import('@platformatic/kafka');
    const consumer = new Consumer({
      groupId: 'plt-group',
      clientId: 'plt-consumer',
      bootstrapBrokers: [broker.bootstrap],
      deserializers: stringDeserializers,
      maxWaitTime: 200,
    });
    const seen = new Map<number, number[]>();
    try {
      const stream = await consumer.consume({ topics: ['groups'], mode: 'earliest', autocommit: true });
      let count = 0;
      for await (const message of stream) {
        const list = seen.get(message.partition) ?? [];
        list.push(Number(message.offset));
        seen.set(message.partition, list);
        if (++count === COUNT) break;
      }
      await new Promise<void>((resolve) => {
        stream.close(() => resolve());
      });
    } finally {
      await new Promise<void>((resolve) => {
        consumer.close(true, () => resolve());
      });
    }
    checkOrder(seen);
  });
});
