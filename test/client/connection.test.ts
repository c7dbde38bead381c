import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Cluster } from '../../src/client/cluster.ts';
import { BrokerConnection } from '../../src/client/connection.ts';
import { Consumer } from '../../src/client/consumer.ts';
import {
  backoffMs,
  KafkaConnectionError,
  KafkaProtocolError,
  KafkaRequestTimeoutError,
} from '../../src/client/errors.ts';
import { Producer } from '../../src/client/producer.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { FakeKafka } from './fake-broker.ts';
import { ManualClock, waitFor } from './helpers.ts';

const metadataBody = {
  topics: [],
  allowAutoTopicCreation: false,
  includeClusterAuthorizedOperations: false,
  includeTopicAuthorizedOperations: false,
};

void describe('broker connection', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  const connect = async (clock = new ManualClock(), maxInFlight = 5, requestTimeoutMs = 30000) => {
    const c = new BrokerConnection({
      host: '127.0.0.1',
      port: kafka.nodes[0]!.port,
      nodeId: 0,
      clientId: 'test-client',
      requestTimeoutMs,
      connectTimeoutMs: 10000,
      maxInFlight,
      clock,
    });
    await c.connect();
    return c;
  };

  void it('reassembles responses that arrive in pieces of a few bytes (the size prefix split too)', async () => {
    kafka.createTopic('conn-split', 3);
    const c = await connect();
    kafka.splitWritesBytes = 3;
    try {
      const body = { ...metadataBody, topics: [{ topicId: 'AAAAAAAAAAAAAAAAAAAAAA', name: 'conn-split' }] };
      const answers = await Promise.all([c.request(ApiKey.Metadata, body), c.request(ApiKey.Metadata, body)]);
      for (const res of answers) assert.equal(res.topics[0]!.partitions.length, 3);
    } finally {
      kafka.splitWritesBytes = 0;
    }
    const res = await c.request(ApiKey.Metadata, metadataBody);
    assert.equal(res.brokers.length, 1);
    c.close();
  });

  void it('hands out records as views that later reads never overwrite, for small and large responses', async () => {
    // Small fetch answers (many per socket read: views of the read buffer) and large ones (read
    // straight into a buffer of the frame's size), some written in odd-sized pieces.
    kafka.createTopic('conn-views', 2);
    const small = Array.from({ length: 300 }, (_, i) => Buffer.alloc(300, `s${i}.`));
    const large = Array.from({ length: 24 }, (_, i) => Buffer.alloc(100_000, `L${i}:`));
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0, batchSize: 1000 });
    await Promise.all(small.map((value) => producer.send({ topic: 'conn-views', partition: 0, value })));
    await Promise.all(large.map((value) => producer.send({ topic: 'conn-views', partition: 1, value })));
    await producer.close();
    const read = async (partition: number, n: number, maxPartitionFetchBytes: number): Promise<Buffer[]> => {
      const consumer = new Consumer({
        bootstrapServers: kafka.bootstrap,
        autoOffsetReset: 'earliest',
        maxPartitionFetchBytes,
      });
      consumer.assign([{ topic: 'conn-views', partition }]);
      const out: Buffer[] = [];
      for (let i = 0; i < 500 && out.length < n; i++) {
        for (const r of await consumer.poll({ timeoutMs: 200 })) out.push(r.value!);
      }
      await consumer.close();
      return out;
    };
    const smallRead = await read(0, small.length, 1500);
    kafka.splitWritesBytes = 70_001;
    let largeRead: Buffer[];
    try {
      largeRead = await read(1, large.length, 1 << 20);
    } finally {
      kafka.splitWritesBytes = 0;
    }
    // Compared only now, after every later read: a reused read buffer would show here.
    assert.equal(smallRead.length, small.length);
    for (let i = 0; i < small.length; i++) assert.ok(smallRead[i]!.equals(small[i]!), `small record ${i}`);
    assert.equal(largeRead.length, large.length);
    for (let i = 0; i < large.length; i++) assert.ok(largeRead[i]!.equals(large[i]!), `large record ${i}`);
  });

  void it('negotiates the highest version both sides support', async () => {
    kafka.maxVersions.set(ApiKey.Metadata, 7);
    const c = await connect();
    assert.equal(c.versionFor(ApiKey.Metadata), 7);
    assert.equal(c.versionFor(ApiKey.Fetch), 12, 'the client caps Fetch at 12 (topic names)');
    await c.request(ApiKey.Metadata, metadataBody);
    assert.equal(kafka.requestVersions.get(ApiKey.Metadata), 7);
    kafka.maxVersions.delete(ApiKey.Metadata);
    c.close();
  });

  void it('falls back to the ApiVersions version an older broker names in its v0 error reply', async () => {
    kafka.maxVersions.set(ApiKey.ApiVersions, 1);
    const before = kafka.requestCounts.get(ApiKey.ApiVersions) ?? 0;
    const c = await connect();
    assert.equal((kafka.requestCounts.get(ApiKey.ApiVersions) ?? 0) - before, 2);
    assert.equal(kafka.requestVersions.get(ApiKey.ApiVersions), 1);
    assert.equal(c.versionFor(ApiKey.ApiVersions), 1);
    kafka.maxVersions.delete(ApiKey.ApiVersions);
    c.close();
  });

  void it('pipelines requests with at most max.in.flight on the wire', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Metadata ? { kind: 'hold', until: held } : undefined));
    const c = await connect(new ManualClock(), 2);
    const before = kafka.requestCounts.get(ApiKey.Metadata) ?? 0;
    const all = Array.from({ length: 5 }, () => c.request(ApiKey.Metadata, metadataBody));
    await waitFor(() => (kafka.requestCounts.get(ApiKey.Metadata) ?? 0) - before === 2, 5000, 'two requests');
    assert.equal(c.inFlightCount, 2);
    release();
    remove();
    const results = await Promise.all(all);
    assert.equal(results.length, 5);
    assert.equal((kafka.requestCounts.get(ApiKey.Metadata) ?? 0) - before, 5);
    c.close();
  });

  void it('times a request out after request.timeout.ms and closes the connection', async () => {
    const clock = new ManualClock();
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Metadata ? { kind: 'drop' } : undefined));
    const c = await connect(clock, 5, 500);
    const p = c.request(ApiKey.Metadata, metadataBody);
    const fails = assert.rejects(p, KafkaRequestTimeoutError);
    await waitFor(() => clock.pending > 0, 5000, 'timer');
    await clock.advance(500);
    await fails;
    assert.equal(c.isClosed, true);
    await assert.rejects(c.request(ApiKey.Metadata, metadataBody), KafkaConnectionError);
    remove();
  });

  void it('fails requests in flight when the broker closes the connection', async () => {
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Metadata ? { kind: 'close' } : undefined));
    const c = await connect();
    await assert.rejects(c.request(ApiKey.Metadata, metadataBody), (e: unknown) => {
      assert.ok(e instanceof KafkaConnectionError);
      assert.equal(e.retriable, true);
      return true;
    });
    remove();
  });
});

void describe('cluster', () => {
  void it('reconnects with exponential backoff between reconnect.backoff.ms and reconnect.backoff.max.ms', async () => {
    // A port with nothing listening: every attempt is refused.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    await new Promise<void>((r) => server.close(() => r()));
    const clock = new ManualClock();
    const cluster = new Cluster({
      bootstrapServers: `127.0.0.1:${port}`,
      clock,
      reconnectBackoffMs: 50,
      reconnectBackoffMaxMs: 1000,
      random: { next: () => 0.5, int: () => 0, bytes: (n) => Buffer.alloc(n) },
    });
    await assert.rejects(cluster.connection(-1), KafkaConnectionError);
    const second = cluster.connection(-1);
    const fails = assert.rejects(second, KafkaConnectionError);
    await clock.advance(49);
    await clock.advance(1); // the first backoff is 50 ms
    await fails;
    cluster.close();
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, 50, 1000, 0.5)),
      [50, 100, 200, 400, 800, 1000, 1000],
    );
  });

  void it('retries retriable errors within bounds and never unknown codes', async () => {
    const cluster = new Cluster({
      bootstrapServers: '127.0.0.1:1',
      retries: 3,
      retryBackoffMs: 1,
      retryBackoffMaxMs: 2,
    });
    let calls = 0;
    await assert.rejects(
      cluster.withRetries(async () => {
        calls++;
        throw new KafkaProtocolError(ErrorCode.NOT_ENOUGH_REPLICAS);
      }),
      KafkaProtocolError,
    );
    assert.equal(calls, 4);
    calls = 0;
    await assert.rejects(
      cluster.withRetries(async () => {
        calls++;
        throw new KafkaProtocolError(7777);
      }),
      (e: unknown) => e instanceof KafkaProtocolError && e.name === 'UNKNOWN_ERROR_7777' && !e.retriable,
    );
    assert.equal(calls, 1);
    cluster.close();
  });
});
