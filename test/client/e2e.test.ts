/**
 * The Runnel client against the real Runnel broker (test/e2e/fixture.ts): produce and consume
 * with a group (classic and KIP-848), admin, and interop with kafkajs 2.2.4 both ways.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { Admin } from '../../src/client/admin.ts';
import { Consumer } from '../../src/client/consumer.ts';
import { Producer } from '../../src/client/producer.ts';
import { stringDeserializer } from '../../src/client/serde.ts';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';

const T = { timeout: 60_000 };

interface Seen {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function sortSeen(a: Seen, b: Seen): number {
  return a.partition - b.partition || a.offset - b.offset;
}

void describe('client end to end against the Runnel broker', () => {
  let broker: TestBroker;
  let admin: Admin;
  before(async () => {
    // Short KIP-848 heartbeats so reconciliation rounds take milliseconds, not seconds.
    broker = await startTestBroker({
      config: {
        'group.consumer.min.heartbeat.interval.ms': '50',
        'group.consumer.heartbeat.interval.ms': '100',
      },
    });
    admin = new Admin({ bootstrapServers: broker.bootstrap });
  });
  after(async () => {
    await admin.close();
    await broker.stop();
  });

  const kafkajs = (): Kafka =>
    new Kafka({ clientId: 'interop', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8 } });

  void it('produces and consumes with a classic group', T, async () => {
    await admin.createTopics([{ topic: 'e2e-group', numPartitions: 4 }]);
    const producer = new Producer({ bootstrapServers: broker.bootstrap, compressionType: 'gzip' });
    const sent = Array.from({ length: 400 }, (_, i) => ({ topic: 'e2e-group', key: `k${i % 37}`, value: `v${i}` }));
    const metas = await producer.send(sent);
    await producer.close();
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      groupId: 'e2e-g',
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
      keyDeserializer: stringDeserializer,
    });
    consumer.subscribe(['e2e-group']);
    const got = new Map<string, string>();
    for await (const r of consumer) {
      got.set(`${r.partition}:${r.offset}`, `${r.key}=${r.value}`);
      if (got.size === 400) break;
    }
    for (let i = 0; i < sent.length; i++) {
      assert.equal(got.get(`${metas[i]!.partition}:${metas[i]!.offset}`), `${sent[i]!.key}=${sent[i]!.value}`);
    }
    await consumer.close();
    const [desc] = await admin.describeGroups(['e2e-g']);
    assert.equal(desc!.type, 'classic');
    assert.equal(
      desc!.offsets.reduce((n, o) => n + o.offset, 0),
      400,
    );
    assert.ok(desc!.offsets.every((o) => o.lag === 0));
  });

  void it(
    "fetches at Kafka's sizes: answers above 4 MiB, read straight into their frames, every byte intact",
    T,
    async () => {
      // 6 partitions x 1.5 MB: the first Fetch (6 x max.partition.fetch.bytes 1 MiB) answers ~6 MB.
      await admin.createTopics([{ topic: 'e2e-large', numPartitions: 6 }]);
      const producer = new Producer({ bootstrapServers: broker.bootstrap, batchSize: 256 * 1024 });
      const values = Array.from({ length: 6 * 1500 }, (_, i) => Buffer.alloc(1000, `${i}.`));
      await producer.send(values.map((value, i) => ({ topic: 'e2e-large', partition: i % 6, value })));
      await producer.close();
      const consumer = new Consumer({ bootstrapServers: broker.bootstrap, autoOffsetReset: 'earliest' });
      consumer.assign(Array.from({ length: 6 }, (_, partition) => ({ topic: 'e2e-large', partition })));
      const got: Buffer[][] = Array.from({ length: 6 }, () => []);
      let largest = 0;
      let n = 0;
      for (let i = 0; i < 500 && n < values.length; i++) {
        const records = await consumer.poll({ timeoutMs: 1000 });
        for (const r of records) got[r.partition]!.push(r.value!);
        n += records.length;
        const m = consumer.metrics();
        if (m.fetches > 0) largest = Math.max(largest, m.fetchedBytes / m.fetches);
      }
      await consumer.close();
      assert.ok(largest > 4 * 1024 * 1024, `average answer ${largest} bytes: some answer is above 4 MiB`);
      for (let p = 0; p < 6; p++) {
        const want = values.filter((_, i) => i % 6 === p);
        assert.equal(got[p]!.length, want.length);
        for (let i = 0; i < want.length; i++) assert.ok(got[p]![i]!.equals(want[i]!), `partition ${p} record ${i}`);
      }
    },
  );

  void it('consumes with group.protocol=consumer (KIP-848)', T, async () => {
    await admin.createTopics([{ topic: 'e2e-848', numPartitions: 2 }]);
    const producer = new Producer({ bootstrapServers: broker.bootstrap });
    await producer.send(Array.from({ length: 20 }, (_, i) => ({ topic: 'e2e-848', value: `v${i}` })));
    await producer.close();
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      groupId: 'e2e-848-g',
      groupProtocol: 'consumer',
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
    });
    consumer.subscribe(['e2e-848']);
    const values: string[] = [];
    for await (const r of consumer) {
      values.push(r.value!);
      if (values.length === 20) break;
    }
    assert.equal(new Set(values).size, 20);
    assert.equal(consumer.assignment().length, 2);
    await consumer.commit();
    const [desc] = await admin.describeGroups(['e2e-848-g']);
    assert.equal(desc!.type, 'consumer');
    assert.equal(desc!.members.length, 1);
    assert.equal(desc!.members[0]!.assignment.length, 2);
    assert.deepEqual(desc!.members[0]!.subscription, ['e2e-848']);
    assert.equal(
      desc!.offsets.reduce((n, o) => n + o.offset, 0),
      20,
    );
    await consumer.close();
  });

  void it('two KIP-848 members split the partitions and each record is read once', T, async () => {
    await admin.createTopics([{ topic: 'e2e-848-two', numPartitions: 4 }]);
    const producer = new Producer({ bootstrapServers: broker.bootstrap });
    await producer.send(Array.from({ length: 200 }, (_, i) => ({ topic: 'e2e-848-two', value: `v${i}` })));
    const make = () =>
      new Consumer({
        bootstrapServers: broker.bootstrap,
        groupId: 'e2e-848-two-g',
        groupProtocol: 'consumer',
        autoOffsetReset: 'earliest',
        heartbeatIntervalMs: 200,
        valueDeserializer: stringDeserializer,
      });
    const a = make();
    const b = make();
    a.subscribe(['e2e-848-two']);
    b.subscribe(['e2e-848-two']);
    const seen = new Map<string, number>();
    let done = false;
    const loop = async (c: Consumer<Buffer | null, string | null>): Promise<void> => {
      while (!done) {
        for (const r of await c.poll({ timeoutMs: 100 })) seen.set(r.value!, (seen.get(r.value!) ?? 0) + 1);
        await c.commit();
      }
    };
    const loops = [loop(a), loop(b)];
    const deadline = Date.now() + 30_000;
    while (!(a.assignment().length === 2 && b.assignment().length === 2 && seen.size === 200)) {
      if (Date.now() > deadline)
        throw new Error(`no 2/2 split: ${a.assignment().length}/${b.assignment().length}, ${seen.size} seen`);
      await new Promise((r) => setTimeout(r, 50));
    }
    done = true;
    await Promise.all(loops);
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'every record once',
    );
    await a.close();
    await b.close();
    await producer.close();
  });

  void it('a KIP-848 member that stops polling leaves, then rejoins on its next poll', T, async () => {
    await admin.createTopics([{ topic: 'e2e-848-slow', numPartitions: 1 }]);
    const lost: number[] = [];
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      groupId: 'e2e-848-slow-g',
      groupProtocol: 'consumer',
      maxPollIntervalMs: 400,
      rebalanceListener: {
        onPartitionsLost: (tps) => {
          lost.push(tps.length);
        },
      },
    });
    consumer.subscribe(['e2e-848-slow']);
    await consumer.poll({ timeoutMs: 100 });
    assert.equal(consumer.assignment().length, 1);
    const deadline = Date.now() + 20_000;
    while (lost.length === 0) {
      if (Date.now() > deadline) throw new Error('the member never left');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(consumer.assignment().length, 0);
    await consumer.poll({ timeoutMs: 100 });
    assert.equal(consumer.assignment().length, 1);
    await consumer.close();
  });

  void it('what the Runnel producer writes, kafkajs reads identically', T, async () => {
    await admin.createTopics([{ topic: 'e2e-to-kafkajs', numPartitions: 3 }]);
    // gzip: kafkajs reads lz4, snappy and zstd only through codec plugins.
    const producer = new Producer({ bootstrapServers: broker.bootstrap, compressionType: 'gzip' });
    const sent: Seen[] = [];
    const metas = await producer.send(
      Array.from({ length: 60 }, (_, i) => ({
        topic: 'e2e-to-kafkajs',
        key: i % 5 === 0 ? null : `key-${i}`,
        value: `value-${i}`,
        headers: { h: `x${i}` },
      })),
    );
    metas.forEach((m, i) => {
      sent.push({
        partition: m.partition,
        offset: m.offset,
        key: i % 5 === 0 ? null : `key-${i}`,
        value: `value-${i}`,
        headers: { h: `x${i}` },
      });
    });
    await producer.close();
    const consumer = kafkajs().consumer({ groupId: 'kjs-reader' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'e2e-to-kafkajs', fromBeginning: true });
    const seen: Seen[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            seen.push({
              partition,
              offset: Number(message.offset),
              key: message.key === null ? null : message.key.toString(),
              value: message.value?.toString() ?? null,
              headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
            });
            if (seen.length === 60) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    assert.deepEqual(seen.sort(sortSeen), sent.sort(sortSeen));
  });

  void it('what kafkajs writes, the Runnel consumer reads identically', T, async () => {
    await admin.createTopics([{ topic: 'e2e-from-kafkajs', numPartitions: 3 }]);
    const kp = kafkajs().producer();
    await kp.connect();
    const results = await kp.send({
      topic: 'e2e-from-kafkajs',
      messages: Array.from({ length: 60 }, (_, i) => ({
        key: i % 4 === 0 ? null : `key-${i}`,
        value: `value-${i}`,
        headers: { h: `y${i}` },
        partition: i % 3,
      })),
    });
    await kp.disconnect();
    assert.ok(results.length > 0);
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      groupId: 'runnel-reader',
      autoOffsetReset: 'earliest',
      keyDeserializer: stringDeserializer,
      valueDeserializer: stringDeserializer,
    });
    consumer.subscribe(['e2e-from-kafkajs']);
    const seen: Seen[] = [];
    for await (const r of consumer) {
      seen.push({
        partition: r.partition,
        offset: r.offset,
        key: r.key,
        value: r.value,
        headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value?.toString() ?? ''])),
      });
      if (seen.length === 60) break;
    }
    await consumer.close();
    const expected: Seen[] = [];
    const next = [0, 0, 0];
    for (let i = 0; i < 60; i++) {
      const p = i % 3;
      expected.push({
        partition: p,
        offset: next[p]!++,
        key: i % 4 === 0 ? null : `key-${i}`,
        value: `value-${i}`,
        headers: { h: `y${i}` },
      });
    }
    assert.deepEqual(seen.sort(sortSeen), expected.sort(sortSeen));
  });

  void it('admin: topics, configs, cluster', T, async () => {
    await admin.createTopics([{ topic: 'e2e-admin', numPartitions: 1, configs: { 'retention.ms': '3600000' } }]);
    const [cfg] = await admin.describeConfigs([{ type: 'topic', name: 'e2e-admin', configNames: ['retention.ms'] }]);
    assert.equal(cfg!.configs[0]?.value, '3600000');
    await admin.incrementalAlterConfigs([
      { type: 'topic', name: 'e2e-admin', ops: [{ name: 'retention.ms', value: '7200000' }] },
    ]);
    const [cfg2] = await admin.describeConfigs([{ type: 'topic', name: 'e2e-admin', configNames: ['retention.ms'] }]);
    assert.equal(cfg2!.configs[0]?.value, '7200000');
    await admin.createPartitions([{ topic: 'e2e-admin', count: 3 }]);
    assert.equal((await admin.describeTopics(['e2e-admin']))[0]!.partitions.length, 3);
    const cluster = await admin.describeCluster();
    assert.equal(cluster.brokers.length, 1);
    await admin.deleteTopics(['e2e-admin']);
  });
});

void describe('idempotent producer across a broker restart', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    await broker.stop();
  });

  void it('keeps every acknowledged record once and in order while the broker restarts', T, async () => {
    const admin = new Admin({ bootstrapServers: broker.bootstrap });
    await admin.createTopics([{ topic: 'restart', numPartitions: 2 }]);
    await admin.close();
    const producer = new Producer({
      bootstrapServers: broker.bootstrap,
      lingerMs: 2,
      requestTimeoutMs: 2000,
      retryBackoffMs: 20,
    });
    const total = 3000;
    const sends: Promise<unknown>[] = [];
    let restarted: Promise<void> | null = null;
    for (let i = 0; i < total; i++) {
      sends.push(producer.send({ topic: 'restart', value: `v${i}`, partition: i % 2 }));
      if (i === total / 3) {
        restarted = broker.restart().then((b) => {
          broker = b;
        });
      }
      if (i % 50 === 0) await new Promise<void>((r) => setImmediate(r));
    }
    await restarted;
    await Promise.all(sends);
    await producer.close();
    const consumer = new Consumer({ bootstrapServers: broker.bootstrap, autoOffsetReset: 'earliest' });
    consumer.assign([
      { topic: 'restart', partition: 0 },
      { topic: 'restart', partition: 1 },
    ]);
    const got: string[][] = [[], []];
    let n = 0;
    for await (const r of consumer) {
      got[r.partition]!.push(r.value!.toString());
      if (++n >= total) break;
    }
    assert.deepEqual(await consumer.poll({ timeoutMs: 200 }), []);
    await consumer.close();
    for (const p of [0, 1]) {
      assert.deepEqual(
        got[p],
        Array.from({ length: total / 2 }, (_, k) => `v${2 * k + p}`),
      );
    }
  });
});
