/**
 * 100,000 keyed messages from kafkajs (its default partitioner is the Java client's
 * murmur2), read back with kcat: every key lands in the partition murmur2 gives, each
 * key's messages keep their order, and nothing is lost or duplicated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { partitionForKey } from '../../src/client/partitioner/murmur2.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { kcat } from './helpers/kcat.ts';

const PARTITIONS = 8;
const MESSAGES = 100_000;
const KEYS = 997;

void describe('produce round trip (kafkajs -> kcat)', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': String(PARTITIONS) } });
  });
  after(() => broker.stop());

  void it('100,000 keyed messages: murmur2 partitions, per-key order, no loss', { timeout: 120_000 }, async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, clientId: 'roundtrip' });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    const topic = 'roundtrip';
    const perKeySent = new Map<string, number>();
    const batchSize = 2000;
    for (let start = 0; start < MESSAGES; start += batchSize) {
      const messages = [];
      for (let i = start; i < start + batchSize; i++) {
        const key = `key-${i % KEYS}`;
        const seq = perKeySent.get(key) ?? 0;
        perKeySent.set(key, seq + 1);
        messages.push({ key, value: `${key}:${seq}:${'x'.repeat(i % 50)}` });
      }
      await producer.send({ topic, acks: -1, messages });
    }
    await producer.disconnect();

    const out = await kcat(
      ['-C', '-b', broker.bootstrap, '-t', topic, '-e', '-q', '-f', '%p\t%o\t%k\t%s\n'],
      undefined,
      90_000,
    );
    const lines = out.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, MESSAGES);
    const nextSeq = new Map<string, number>();
    const seenOffsets = new Set<string>();
    for (const line of lines) {
      const [p, o, key, value] = line.split('\t') as [string, string, string, string];
      assert.equal(Number(p), partitionForKey(Buffer.from(key), PARTITIONS), `partition of ${key}`);
      const seq = Number(value.split(':')[1]);
      assert.equal(seq, nextSeq.get(key) ?? 0, `order of ${key}`);
      nextSeq.set(key, seq + 1);
      const po = `${p}/${o}`;
      assert.ok(!seenOffsets.has(po));
      seenOffsets.add(po);
    }
    for (const [key, count] of perKeySent) assert.equal(nextSeq.get(key), count);
  });
});
