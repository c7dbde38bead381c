/**
 * Record contents round trip exactly through the broker across clients: headers, null
 * keys, tombstones and explicit timestamps (kafkajs -> kafka-python), every compression
 * codec librdkafka has (kcat -z) and kafkajs's gzip, and @platformatic/kafka's producer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { kcat, python } from './helpers/kcat.ts';
import { pythonConsume } from './helpers/python-consume.ts';

void describe('clients: record formats and compression', () => {
  let broker: TestBroker;
  let kafka: Kafka;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': '1' } });
    kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  });
  after(() => broker.stop());

  void it('headers, null keys, tombstones and timestamps (kafkajs -> kafka-python)', { timeout: 60_000 }, async () => {
    const producer = kafka.producer();
    await producer.connect();
    const ts = 1_700_000_123_456;
    await producer.send({
      topic: 'formats',
      acks: -1,
      messages: [
        { key: 'k1', value: 'v1', headers: { a: '1', b: 'two' }, timestamp: String(ts) },
        { key: null, value: 'no key', timestamp: String(ts + 1) },
        { key: 'gone', value: null, timestamp: String(ts + 2) },
        { key: 'k2', value: '', headers: { empty: '' }, timestamp: String(ts - 1000) },
      ],
    });
    await producer.disconnect();
    const records = await pythonConsume(broker.bootstrap, 'formats', 4);
    assert.deepEqual(
      records.map((r) => [r.offset, r.key, r.value, r.headers, r.timestamp, r.timestampType]),
      [
        [
          0,
          'k1',
          'v1',
          [
            ['a', '1'],
            ['b', 'two'],
          ],
          ts,
          0,
        ],
        [1, null, 'no key', [], ts + 1, 0],
        [2, 'gone', null, [], ts + 2, 0],
        [3, 'k2', '', [['empty', '']], ts - 1000, 0],
      ],
    );
  });

  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
    void it(`kcat -z ${codec}: produced and consumed intact`, { timeout: 60_000 }, async () => {
      const topic = `codec-${codec}`;
      const lines = Array.from({ length: 500 }, (_, i) => `key${i}\t${codec}-value-${i}-${'abc'.repeat(i % 20)}`);
      await kcat(
        ['-P', '-b', broker.bootstrap, '-t', topic, '-K', '\t', '-z', codec, '-X', 'linger.ms=50'],
        `${lines.join('\n')}\n`,
      );
      const out = await kcat(['-C', '-b', broker.bootstrap, '-t', topic, '-e', '-q', '-f', '%o\t%k\t%s\n']);
      const got = out.split('\n').filter((l) => l !== '');
      assert.deepEqual(
        got,
        lines.map((l, i) => `${i}\t${l}`),
      );
    });
  }

  void it('kafkajs gzip and none, read by kcat', { timeout: 60_000 }, async () => {
    const producer = kafka.producer();
    await producer.connect();
    for (const [name, compression] of [
      ['gzip', CompressionTypes.GZIP],
      ['none', CompressionTypes.None],
    ] as const) {
      const messages = Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: `${name}-${i}` }));
      await producer.send({ topic: `kjs-${name}`, compression, messages });
      const out = await kcat(['-C', '-b', broker.bootstrap, '-t', `kjs-${name}`, '-e', '-q', '-f', '%k=%s\n']);
      assert.deepEqual(
        out.split('\n').filter((l) => l !== ''),
        messages.map((m) => `${m.key}=${m.value}`),
      );
    }
    await producer.disconnect();
  });

  void it('@platformatic/kafka producer, read by kafka-python', { timeout: 60_000 }, async () => {
    const { Producer, stringSerializers } = await import('@platformatic/kafka');
    const producer = new Producer({
      clientId: 'plt',
      bootstrapBrokers: [broker.bootstrap],
      serializers: stringSerializers,
      autocreateTopics: true,
    });
    try {
      const messages = Array.from({ length: 50 }, (_, i) => ({
        topic: 'plt',
        key: `k${i}`,
        value: `v${i}`,
        headers: new Map([['n', String(i)]]),
      }));
      await producer.send({ messages, acks: -1 });
      const records = await pythonConsume(broker.bootstrap, 'plt', 50);
      assert.deepEqual(
        records.map((r) => [r.key, r.value, r.headers]),
        messages.map((m) => [m.key, m.value, [['n', m.headers.get('n')]]]),
      );
    } finally {
      await producer.close();
    }
  });

  void it('kafka-python producer (gzip, headers, acks=all), read by kcat', { timeout: 60_000 }, async () => {
    await python(
      `
import sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1], acks='all', compression_type='gzip', linger_ms=20)
futures = [p.send('py', key=('k%d' % i).encode(), value=('v%d' % i).encode(), headers=[('h', b'x')]) for i in range(100)]
offsets = [f.get(timeout=30).offset for f in futures]
assert offsets == list(range(100)), offsets
p.close()
`,
      [broker.bootstrap],
    );
    const out = await kcat(['-C', '-b', broker.bootstrap, '-t', 'py', '-e', '-q', '-f', '%o %k=%s %h\n']);
    assert.deepEqual(
      out.split('\n').filter((l) => l !== ''),
      Array.from({ length: 100 }, (_, i) => `${i} k${i}=v${i} h=x`),
    );
  });
});
