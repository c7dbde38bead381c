import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KafkaProtocolError, KafkaRequestTimeoutError, KafkaTimeoutError } from '../../src/client/errors.ts';
import { partitionForKey, UNKNOWN_PARTITION } from '../../src/client/partitioner/index.ts';
import { Producer } from '../../src/client/producer.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { iterateBatches } from '../../src/protocol/records/index.ts';
import { FakeKafka } from './fake-broker.ts';
import { ManualClock, settled, tick, waitFor } from './helpers.ts';

void describe('producer against the fake broker', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(2);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('sends records and reports offsets in order', async () => {
    kafka.createTopic('p-basic', 1);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0 });
    const metas = await producer.send([
      { topic: 'p-basic', value: 'a' },
      { topic: 'p-basic', value: 'b', key: 'k' },
    ]);
    assert.deepEqual(
      metas.map((m) => [m.topic, m.partition, m.offset]),
      [
        ['p-basic', 0, 0],
        ['p-basic', 0, 1],
      ],
    );
    const one = await producer.send({ topic: 'p-basic', value: 'c', partition: 0 });
    assert.equal(one.offset, 2);
    assert.deepEqual(await kafka.values('p-basic', 0), ['a', 'b', 'c']);
    await producer.close();
  });

  void it('flush() covers sends still waiting for metadata', async () => {
    kafka.createTopic('p-flush-pending', 1);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 1000 });
    let done = false;
    const sent = producer.send({ topic: 'p-flush-pending', value: 'x' }).then(() => {
      done = true;
    });
    await producer.flush();
    await Promise.resolve();
    assert.equal(done, true, 'the send completed before flush() returned');
    await sent;
    await producer.close();
  });
});

void describe('producer batching, memory, retries', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(2);
  });
  after(async () => {
    await kafka.stop();
  });

  const produceBatches = (topic: string, partition: number): number[] =>
    kafka.partitionBatches(topic, partition).map((b) => [...iterateBatches(b)][0]!.header.recordsCount);

  void it('holds records for linger.ms, then sends them as one batch', async () => {
    kafka.createTopic('p-linger', 1);
    const clock = new ManualClock();
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 50, clock });
    await producer.connect();
    const sends = [1, 2, 3].map((i) => producer.send({ topic: 'p-linger', value: `v${i}` }));
    const done = settled(Promise.all(sends));
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(kafka.partitionBatches('p-linger', 0).length, 0, 'nothing sent before linger.ms');
    await clock.advance(49);
    assert.equal(kafka.partitionBatches('p-linger', 0).length, 0);
    await clock.advance(1);
    await waitFor(done, 5000, 'sends');
    assert.deepEqual(produceBatches('p-linger', 0), [3]);
    await producer.close();
  });

  void it('sends a batch as soon as it reaches batch.size, without waiting for linger', async () => {
    kafka.createTopic('p-size', 1);
    const clock = new ManualClock();
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 60000, batchSize: 222, clock });
    await producer.connect();
    const value = Buffer.alloc(90, 1);
    const first = producer.send([1, 2].map(() => ({ topic: 'p-size', value })));
    await first; // two records of ~111 bytes (estimated) fill a 222-byte batch
    assert.deepEqual(produceBatches('p-size', 0), [2]);
    const third = settled(producer.send({ topic: 'p-size', value }));
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(third(), false, 'the open batch waits for linger');
    await producer.flush();
    assert.deepEqual(produceBatches('p-size', 0), [2, 1]);
    await producer.close();
  });

  void it('makes send wait for buffer.memory and fails it after max.block.ms', async () => {
    kafka.createTopic('p-mem', 1);
    const clock = new ManualClock();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Produce ? { kind: 'hold', until: held } : undefined));
    const producer = new Producer({
      bootstrapServers: kafka.bootstrap,
      lingerMs: 0,
      bufferMemory: 1000,
      maxBlockMs: 1000,
      requestTimeoutMs: 1_000_000,
      clock,
    });
    await producer.connect();
    const value = Buffer.alloc(400);
    const a = producer.send({ topic: 'p-mem', value });
    const b = producer.send({ topic: 'p-mem', value });
    const c = producer.send({ topic: 'p-mem', value });
    const cDone = settled(c);
    await waitFor(() => (kafka.requestCounts.get(ApiKey.Produce) ?? 0) >= 1, 5000, 'first produce');
    assert.equal(cDone(), false, 'third send waits for room');
    release();
    remove();
    await Promise.all([a, b, c]);
    // Now hold forever: the buffer fills and a waiting send times out after max.block.ms.
    const removeDrop = kafka.inject((req) => (req.apiKey === ApiKey.Produce ? { kind: 'drop' } : undefined));
    const d = producer.send({ topic: 'p-mem', value });
    const e = producer.send({ topic: 'p-mem', value });
    const f = producer.send({ topic: 'p-mem', value });
    d.catch(() => {});
    e.catch(() => {});
    const fails = assert.rejects(f, KafkaTimeoutError);
    await tick();
    await clock.advance(1000);
    await fails;
    removeDrop();
    await producer.close({ force: true });
  });

  void it('retries after NOT_LEADER_OR_FOLLOWER with a metadata refresh, in order and without duplicates', async () => {
    kafka.createTopic('p-leader', 2, () => 0);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0, retryBackoffMs: 5 });
    await producer.send({ topic: 'p-leader', value: 'x0', partition: 0 });
    const metadataBefore = kafka.requestCounts.get(ApiKey.Metadata) ?? 0;
    kafka.setLeader('p-leader', 0, 1);
    const sends: Promise<unknown>[] = [];
    for (let i = 1; i <= 50; i++) sends.push(producer.send({ topic: 'p-leader', value: `x${i}`, partition: 0 }));
    await Promise.all(sends);
    assert.ok((kafka.requestCounts.get(ApiKey.Metadata) ?? 0) > metadataBefore, 'metadata refreshed');
    assert.deepEqual(
      await kafka.values('p-leader', 0),
      Array.from({ length: 51 }, (_, i) => `x${i}`),
    );
    await producer.close();
  });

  void it('resends the same sequences on dropped responses and retriable errors: no duplicates, no reordering', async () => {
    kafka.createTopic('p-idem', 3);
    let n = 0;
    const remove = kafka.inject((req) => {
      if (req.apiKey !== ApiKey.Produce) return undefined;
      n++;
      if (n % 7 === 3) return { kind: 'drop' }; // never answered: the client times out and resends
      if (n % 5 === 2) return { kind: 'error', code: ErrorCode.NOT_ENOUGH_REPLICAS };
      return undefined;
    });
    const producer = new Producer({
      bootstrapServers: kafka.bootstrap,
      lingerMs: 1,
      batchSize: 300,
      requestTimeoutMs: 200,
      retryBackoffMs: 5,
      retryBackoffMaxMs: 20,
    });
    const sends: Promise<unknown>[] = [];
    const expected: string[][] = [[], [], []];
    for (let i = 0; i < 600; i++) {
      const partition = i % 3;
      const value = `r${i}-${'z'.repeat(40)}`;
      expected[partition]!.push(value);
      sends.push(producer.send({ topic: 'p-idem', value, partition }));
    }
    await Promise.all(sends);
    remove();
    for (let p = 0; p < 3; p++) assert.deepEqual(await kafka.values('p-idem', p), expected[p]);
    await producer.close();
  });

  void it('answers the appended-but-lost case with the original offsets (broker dedup)', async () => {
    kafka.createTopic('p-lost', 1);
    const producer = new Producer({
      bootstrapServers: kafka.bootstrap,
      lingerMs: 0,
      requestTimeoutMs: 150,
      retryBackoffMs: 5,
    });
    await producer.send({ topic: 'p-lost', value: 'a' });
    // The broker appends the next batch but its response is lost: patch the sockets' write once.
    const restore: (() => void)[] = [];
    for (const s of kafka.sockets) {
      const orig = s.write.bind(s);
      let swallowed = false;
      (s as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => {
        if (!swallowed && b.length > 40) {
          swallowed = true;
          return true;
        }
        return orig(b);
      };
      restore.push(() => {
        (s as unknown as { write: typeof orig }).write = orig;
      });
    }
    const meta = await producer.send({ topic: 'p-lost', value: 'b' });
    for (const r of restore) r();
    assert.equal(meta.offset, 1);
    assert.deepEqual(await kafka.values('p-lost', 0), ['a', 'b']);
    await producer.close();
  });

  void it('does not retry unknown error codes', async () => {
    kafka.createTopic('p-unknown', 1);
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Produce ? { kind: 'error', code: 9999 } : undefined));
    const before = kafka.requestCounts.get(ApiKey.Produce) ?? 0;
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0, retryBackoffMs: 1 });
    await assert.rejects(producer.send({ topic: 'p-unknown', value: 'x' }), (e: unknown) => {
      assert.ok(e instanceof KafkaProtocolError);
      assert.equal(e.code, 9999);
      assert.equal(e.retriable, false);
      return true;
    });
    assert.equal((kafka.requestCounts.get(ApiKey.Produce) ?? 0) - before, 1);
    remove();
    await producer.close();
  });

  void it('fails a request after request.timeout.ms when no retries are left', async () => {
    kafka.createTopic('p-timeout', 1);
    const clock = new ManualClock();
    const producer = new Producer({
      bootstrapServers: kafka.bootstrap,
      lingerMs: 0,
      requestTimeoutMs: 1000,
      retries: 0,
      enableIdempotence: false,
      acks: 1,
      clock,
    });
    await producer.connect();
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Produce ? { kind: 'drop' } : undefined));
    const seen = kafka.requestCounts.get(ApiKey.Produce) ?? 0;
    const p = producer.send({ topic: 'p-timeout', value: 'x' });
    await waitFor(() => (kafka.requestCounts.get(ApiKey.Produce) ?? 0) > seen, 5000, 'produce seen');
    const fails = assert.rejects(p, KafkaRequestTimeoutError);
    const done = settled(p);
    await clock.advance(999);
    assert.equal(done(), false);
    await clock.advance(1);
    await fails;
    remove();
    await producer.close({ force: true });
  });

  void it('fails with delivery.timeout.ms when the broker never answers', async () => {
    kafka.createTopic('p-delivery', 1);
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Produce ? { kind: 'drop' } : undefined));
    const producer = new Producer({
      bootstrapServers: kafka.bootstrap,
      lingerMs: 0,
      requestTimeoutMs: 50,
      deliveryTimeoutMs: 200,
      retryBackoffMs: 10,
    });
    await assert.rejects(producer.send({ topic: 'p-delivery', value: 'x' }), KafkaTimeoutError);
    remove();
    await producer.close({ force: true });
  });
});

void describe('producer partitioning', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('keyed records go to murmur2(key) % partitions; an explicit partition wins; a custom partitioner is asked', async () => {
    kafka.createTopic('pp', 6);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0 });
    const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
    const metas = await producer.send(keys.map((key) => ({ topic: 'pp', key, value: 'v' })));
    metas.forEach((m, i) => {
      assert.equal(m.partition, partitionForKey(Buffer.from(keys[i]!), 6));
    });
    const explicit = await producer.send({ topic: 'pp', key: 'key-0', value: 'v', partition: 5 });
    assert.equal(explicit.partition, 5);
    await producer.close();
    const asked: string[] = [];
    const custom = new Producer({
      bootstrapServers: kafka.bootstrap,
      lingerMs: 0,
      partitioner: {
        partition: (topic, key, _value, numPartitions) => {
          asked.push(`${topic}:${key?.toString()}:${numPartitions}`);
          return key === null ? UNKNOWN_PARTITION : 2;
        },
      },
    });
    assert.equal((await custom.send({ topic: 'pp', key: 'x', value: 'v' })).partition, 2);
    const sticky = await custom.send({ topic: 'pp', value: 'v' });
    assert.ok(sticky.partition >= 0 && sticky.partition < 6);
    assert.deepEqual(asked, ['pp:x:6', 'pp:undefined:6']);
    await custom.close();
  });

  void it('headers and timestamps travel with the record', async () => {
    kafka.createTopic('ph', 1);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0 });
    const m = await producer.send({ topic: 'ph', value: 'v', timestamp: 1234, headers: { a: 'b', n: null } });
    assert.equal(m.timestamp, 1234);
    await producer.close();
    const { decodeRecordBatch } = await import('../../src/protocol/records/index.ts');
    const r = decodeRecordBatch(kafka.partitionBatches('ph', 0)[0]!).records[0]!;
    assert.equal(r.timestamp, 1234);
    assert.deepEqual(
      r.headers.map((h) => [h.key, h.value?.toString() ?? null]),
      [
        ['a', 'b'],
        ['n', null],
      ],
    );
  });
});

void describe('producer acks', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('acks=0 resolves once written, with offset -1; acks=1 waits for the leader', async () => {
    kafka.createTopic('acks', 1);
    const fireAndForget = new Producer({ bootstrapServers: kafka.bootstrap, acks: 0, lingerMs: 0 });
    assert.equal(fireAndForget.idempotent, false, 'idempotence turns itself off when acks is not all');
    const m0 = await fireAndForget.send({ topic: 'acks', value: 'zero' });
    assert.equal(m0.offset, -1);
    await fireAndForget.close();
    const leaderOnly = new Producer({ bootstrapServers: kafka.bootstrap, acks: 1, lingerMs: 0 });
    const m1 = await leaderOnly.send({ topic: 'acks', value: 'one' });
    assert.equal(m1.offset, 1);
    await leaderOnly.close();
    assert.deepEqual(await kafka.values('acks', 0), ['zero', 'one']);
  });
});

void describe('producer argument errors', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('rejects a record larger than max.request.size, and a missing topic after max.block.ms', async () => {
    kafka.createTopic('big', 1);
    const clock = new ManualClock();
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, maxRequestSize: 1000, maxBlockMs: 500, clock });
    await assert.rejects(
      producer.send([
        { topic: 'big', value: 'small' },
        { topic: 'big', value: Buffer.alloc(2000) },
      ]),
      (e: unknown) => e instanceof KafkaProtocolError && e.code === ErrorCode.MESSAGE_TOO_LARGE,
    );
    const missing = producer.send({ topic: 'no-such-topic', value: 'x' });
    const fails = assert.rejects(missing, KafkaTimeoutError);
    for (let i = 0; i < 20; i++) await clock.advance(100);
    await fails;
    await producer.close({ force: true });
  });
});
