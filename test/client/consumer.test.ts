import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Consumer, type ConsumerOptions } from '../../src/client/consumer.ts';
import { KafkaAbortError } from '../../src/client/errors.ts';
import { Producer } from '../../src/client/producer.ts';
import { stringDeserializer } from '../../src/client/serde.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { buildControlBatch, buildRecordBatch, ControlRecordType } from '../../src/protocol/records/index.ts';
import { FakeKafka } from './fake-broker.ts';
import { waitFor } from './helpers.ts';

async function produce(kafka: FakeKafka, topic: string, values: string[], partition = 0, opts = {}): Promise<void> {
  const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0, ...opts });
  await producer.send(values.map((value) => ({ topic, value, partition })));
  await producer.close();
}

async function take<T>(it: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  for await (const x of it) {
    out.push(x);
    if (out.length >= n) break;
  }
  return out;
}

void describe('consumer against the fake broker', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('reads assigned partitions from the beginning with for await, all codecs', async () => {
    kafka.createTopic('c-assign', 1);
    for (const compressionType of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
      await produce(kafka, 'c-assign', [`${compressionType}-1`, `${compressionType}-2`], 0, { compressionType });
    }
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
    });
    consumer.assign([{ topic: 'c-assign', partition: 0 }]);
    const records = await take(consumer, 10);
    assert.deepEqual(
      records.map((r) => [r.offset, r.value]),
      ['none', 'gzip', 'snappy', 'lz4', 'zstd'].flatMap((c, i) => [
        [2 * i, `${c}-1`],
        [2 * i + 1, `${c}-2`],
      ]),
    );
    await consumer.close();
  });

  void it('seeks, seeks to end, and finds offsets for times', async () => {
    kafka.createTopic('c-seek', 1);
    await produce(kafka, 'c-seek', ['a', 'b', 'c', 'd']);
    const consumer = new Consumer({ bootstrapServers: kafka.bootstrap, valueDeserializer: stringDeserializer });
    const tp = { topic: 'c-seek', partition: 0 };
    consumer.assign([tp]);
    consumer.seek(tp, 2);
    assert.deepEqual(
      (await take(consumer, 2)).map((r) => r.value),
      ['c', 'd'],
    );
    await consumer.seekToBeginning();
    assert.equal((await consumer.poll({ timeoutMs: 2000 }))[0]?.value, 'a');
    await consumer.seekToEnd([tp]);
    assert.equal(consumer.position(tp), 4);
    const [o] = await consumer.offsetsForTimes([{ ...tp, timestamp: 0 }]);
    assert.equal(o!.offset, 0);
    assert.deepEqual(await consumer.endOffsets([tp]), [{ ...tp, offset: 4, timestamp: -1 }]);
    await consumer.close();
  });

  void it('auto.offset.reset=latest skips what was there before', async () => {
    kafka.createTopic('c-latest', 1);
    await produce(kafka, 'c-latest', ['old']);
    const consumer = new Consumer({ bootstrapServers: kafka.bootstrap, valueDeserializer: stringDeserializer });
    consumer.assign([{ topic: 'c-latest', partition: 0 }]);
    assert.deepEqual(await consumer.poll({ timeoutMs: 50 }), []);
    await produce(kafka, 'c-latest', ['new']);
    const [r] = await take(consumer, 1);
    assert.equal(r!.value, 'new');
    await consumer.close();
  });

  void it('pauses and resumes a partition without a rebalance', async () => {
    kafka.createTopic('c-pause', 2);
    await produce(kafka, 'c-pause', ['p0'], 0);
    await produce(kafka, 'c-pause', ['p1'], 1);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
    });
    consumer.assign([
      { topic: 'c-pause', partition: 0 },
      { topic: 'c-pause', partition: 1 },
    ]);
    consumer.pause([{ topic: 'c-pause', partition: 1 }]);
    const first = await consumer.poll({ timeoutMs: 2000 });
    assert.deepEqual(
      first.map((r) => r.value),
      ['p0'],
    );
    assert.deepEqual(await consumer.poll({ timeoutMs: 100 }), []);
    consumer.resume([{ topic: 'c-pause', partition: 1 }]);
    assert.deepEqual(
      (await consumer.poll({ timeoutMs: 2000 })).map((r) => r.value),
      ['p1'],
    );
    await consumer.close();
  });

  void it('decodes every record field: timestamps far apart either way, null and empty keys, headers', async () => {
    const t = kafka.createTopic('c-fields', 1);
    const p = t.partitions[0]!;
    // Timestamp deltas: 0, -1 (older than the first), +2^50 (a varlong beyond 7 bytes), +1.7e12.
    const base = 2 ** 40;
    const batch = buildRecordBatch({
      records: [
        { key: 'k0', value: 'v0', timestamp: base },
        { key: null, value: null, timestamp: base - 1 },
        { key: '', value: 'v2', timestamp: base + 2 ** 50, headers: [{ key: 'h', value: 'x' }, { key: 'n' }] },
        { value: Buffer.alloc(300, 7), timestamp: base + 1.7e12 },
      ],
    });
    batch.writeBigInt64BE(BigInt(p.nextOffset), 0);
    p.batches.push(batch);
    p.nextOffset += 4;
    const consumer = new Consumer({ bootstrapServers: kafka.bootstrap, autoOffsetReset: 'earliest' });
    consumer.assign([{ topic: 'c-fields', partition: 0 }]);
    const records = await take(consumer, 4);
    await consumer.close();
    assert.deepEqual(
      records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.length ?? null]),
      [
        [0, base, 'k0', 2],
        [1, base - 1, null, null],
        [2, base + 2 ** 50, '', 2],
        [3, base + 1.7e12, null, 300],
      ],
    );
    assert.deepEqual(
      records[2]!.headers.map((h) => [h.key, h.value?.toString() ?? null]),
      [
        ['h', 'x'],
        ['n', null],
      ],
    );
    assert.ok(records[3]!.value!.equals(Buffer.alloc(300, 7)));
  });

  void it('skips control batches and, under read_committed, aborted transactions', async () => {
    const t = kafka.createTopic('c-txn', 1);
    const p = t.partitions[0]!;
    const append = (b: Buffer): void => {
      b.writeBigInt64BE(BigInt(p.nextOffset), 0);
      p.batches.push(b);
      p.nextOffset += b.readInt32BE(23) + 1;
    };
    const txn = (producerId: bigint, values: string[]) =>
      buildRecordBatch({
        records: values.map((value) => ({ value, timestamp: 1 })),
        producerId,
        producerEpoch: 0,
        baseSequence: 0,
        transactional: true,
      });
    append(txn(7n, ['aborted-1', 'aborted-2'])); // offsets 0-1
    append(txn(8n, ['committed-1'])); // offset 2
    append(
      buildControlBatch({
        type: ControlRecordType.Abort,
        coordinatorEpoch: 0,
        producerId: 7n,
        producerEpoch: 0,
        timestamp: 1,
      }),
    ); // 3
    append(
      buildControlBatch({
        type: ControlRecordType.Commit,
        coordinatorEpoch: 0,
        producerId: 8n,
        producerEpoch: 0,
        timestamp: 1,
      }),
    ); // 4
    append(buildRecordBatch({ records: [{ value: 'plain', timestamp: 1 }] })); // 5
    const removeHook = kafka.inject(() => undefined);
    // The fake lists the aborted transaction for the fetch response.
    const origFetch = kafka.abortedTransactions;
    kafka.abortedTransactions = (topic) => (topic === 'c-txn' ? [{ producerId: 7n, firstOffset: 0n }] : []);
    for (const [isolationLevel, expected] of [
      ['read_uncommitted', ['aborted-1', 'aborted-2', 'committed-1', 'plain']],
      ['read_committed', ['committed-1', 'plain']],
    ] as const) {
      const consumer = new Consumer({
        bootstrapServers: kafka.bootstrap,
        autoOffsetReset: 'earliest',
        isolationLevel,
        valueDeserializer: stringDeserializer,
      });
      consumer.assign([{ topic: 'c-txn', partition: 0 }]);
      const got = await take(consumer, expected.length);
      assert.deepEqual(
        got.map((r) => r.value),
        [...expected],
      );
      assert.deepEqual(await consumer.poll({ timeoutMs: 50 }), []);
      assert.equal(consumer.position({ topic: 'c-txn', partition: 0 }), 6);
      await consumer.close();
    }
    kafka.abortedTransactions = origFetch;
    removeHook();
  });

  void it('close() ends a for await loop; an AbortSignal cancels a poll', async () => {
    kafka.createTopic('c-close', 1);
    const consumer = new Consumer({ bootstrapServers: kafka.bootstrap });
    consumer.assign([{ topic: 'c-close', partition: 0 }]);
    const loop = (async () => {
      let n = 0;
      for await (const _ of consumer) n++;
      return n;
    })();
    await consumer.poll({ timeoutMs: 20 }).catch(() => []);
    await consumer.close();
    assert.equal(await loop, 0);
    const other = new Consumer({ bootstrapServers: kafka.bootstrap });
    other.assign([{ topic: 'c-close', partition: 0 }]);
    const ac = new AbortController();
    const p = other.poll({ timeoutMs: 60_000, signal: ac.signal });
    setImmediate(() => ac.abort());
    await assert.rejects(p, KafkaAbortError);
    await other.close();
  });

  void it("asks for Kafka's fetch sizes (or as configured), whatever the buffer bound", async () => {
    kafka.createTopic('c-sizes', 2);
    await produce(kafka, 'c-sizes', ['a', 'b'], 0);
    const seen: { maxBytes: number; partitionMaxBytes: number[] }[] = [];
    const remove = kafka.inject((req) => {
      if (!req.unsupported && req.apiKey === ApiKey.Fetch && req.body.topics.length > 0) {
        seen.push({
          maxBytes: req.body.maxBytes,
          partitionMaxBytes: req.body.topics.flatMap((t) => t.partitions.map((p) => p.partitionMaxBytes)),
        });
      }
      return undefined;
    });
    try {
      const read = async (opts: Partial<ConsumerOptions>): Promise<(typeof seen)[number]> => {
        seen.length = 0;
        const consumer = new Consumer({ bootstrapServers: kafka.bootstrap, autoOffsetReset: 'earliest', ...opts });
        consumer.assign([0, 1].map((partition) => ({ topic: 'c-sizes', partition })));
        await take(consumer, 2);
        await consumer.close();
        return seen[0]!;
      };
      assert.deepEqual(await read({}), { maxBytes: 52428800, partitionMaxBytes: [1048576, 1048576] });
      assert.deepEqual(await read({ fetchBufferMaxBytes: 1000 }), {
        maxBytes: 52428800,
        partitionMaxBytes: [1048576, 1048576],
      });
      assert.deepEqual(await read({ fetchMaxBytes: 5000, maxPartitionFetchBytes: 700 }), {
        maxBytes: 5000,
        partitionMaxBytes: [700, 700],
      });
    } finally {
      remove();
    }
  });

  void it('measures how long fetches wait for their answers, and the bytes they bring', async () => {
    kafka.createTopic('c-latency', 1);
    await produce(kafka, 'c-latency', ['x'.repeat(100), 'y'.repeat(100)], 0);
    const remove = kafka.inject((req) => (req.apiKey === ApiKey.Fetch ? { kind: 'delay', ms: 150 } : undefined));
    const consumer = new Consumer({ bootstrapServers: kafka.bootstrap, autoOffsetReset: 'earliest' });
    try {
      assert.deepEqual(
        [consumer.metrics().fetches, consumer.metrics().fetchLatencyAvgMs, consumer.metrics().fetchedBytes],
        [0, 0, 0],
      );
      consumer.assign([{ topic: 'c-latency', partition: 0 }]);
      await take(consumer, 2);
      const m = consumer.metrics();
      assert.ok(m.fetches >= 1, `fetches ${m.fetches}`);
      assert.ok(m.fetchLatencyAvgMs >= 140, `average ${m.fetchLatencyAvgMs} ms`);
      assert.ok(m.fetchLatencyMaxMs >= m.fetchLatencyAvgMs);
      const batches = kafka.partitionBatches('c-latency', 0);
      assert.equal(
        m.fetchedBytes,
        batches.reduce((n, b) => n + b.length, 0),
      );
    } finally {
      remove();
      await consumer.close();
    }
  });

  void it('the record iterator serves next() calls in order and ends on return()', async () => {
    kafka.createTopic('c-iter', 1);
    await produce(kafka, 'c-iter', ['a', 'b', 'c', 'd'], 0);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
    });
    consumer.assign([{ topic: 'c-iter', partition: 0 }]);
    try {
      const it = consumer.records();
      // Asked for before the first poll has answered, and between records already buffered.
      const firstTwo = await Promise.all([it.next(), it.next()]);
      assert.deepEqual(
        firstTwo.map((r) => (r.done === true ? null : [r.value.offset, r.value.value])),
        [
          [0, 'a'],
          [1, 'b'],
        ],
      );
      assert.deepEqual(await it.return(), { value: undefined, done: true });
      assert.deepEqual(await it.next(), { value: undefined, done: true });
    } finally {
      await consumer.close();
    }
  });

  void it('bounds buffered bytes: stops fetching until the application reads', async () => {
    kafka.createTopic('c-bound', 1);
    await produce(
      kafka,
      'c-bound',
      Array.from({ length: 20 }, (_, i) => `v${i}`.padEnd(500, '.')),
      0,
      { batchSize: 600 },
    );
    const before = kafka.requestCounts.get(ApiKey.Fetch) ?? 0;
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      maxPartitionFetchBytes: 1200,
      fetchBufferMaxBytes: 1000,
      maxPollRecords: 1,
      valueDeserializer: stringDeserializer,
    });
    consumer.assign([{ topic: 'c-bound', partition: 0 }]);
    const [first] = await consumer.poll({ timeoutMs: 2000 });
    assert.equal(first!.offset, 0);
    // The pipelined fetch lands; then, with >= 1000 bytes buffered, no fetch is in flight or sent.
    await waitFor(
      () => consumer.metrics().bufferedBytes >= 1000 && consumer.metrics().fetchesInFlight === 0,
      5000,
      'buffer full',
    );
    const fetches = (kafka.requestCounts.get(ApiKey.Fetch) ?? 0) - before;
    assert.ok(fetches <= 2, `fetches while the buffer is full: ${fetches}`);
    assert.ok(consumer.metrics().bufferedBytes < 1000 + 1200, 'at most one fetch beyond the bound');
    const rest = await take(consumer, 19);
    assert.deepEqual(
      rest.map((r) => r.offset),
      Array.from({ length: 19 }, (_, i) => i + 1),
    );
    await consumer.close();
  });
});

void describe('consumer and leader changes', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(2);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('follows a partition to its new leader after NOT_LEADER_OR_FOLLOWER', async () => {
    kafka.createTopic('c-move', 1, () => 0);
    await produce(kafka, 'c-move', ['a', 'b']);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      retryBackoffMs: 5,
      valueDeserializer: stringDeserializer,
    });
    consumer.assign([{ topic: 'c-move', partition: 0 }]);
    assert.deepEqual(
      (await take(consumer, 2)).map((r) => r.value),
      ['a', 'b'],
    );
    kafka.setLeader('c-move', 0, 1);
    await produce(kafka, 'c-move', ['c']);
    const before = kafka.requestCounts.get(ApiKey.Metadata) ?? 0;
    const [r] = await take(consumer, 1);
    assert.equal(r!.value, 'c');
    assert.ok((kafka.requestCounts.get(ApiKey.Metadata) ?? 0) > before, 'metadata refreshed');
    await consumer.close();
  });
});

void describe('consumer groups against the fake broker', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('joins a group, consumes, auto-commits what was handed out, and resumes from the commit', async () => {
    kafka.createTopic('g-topic', 3);
    for (let p = 0; p < 3; p++) await produce(kafka, 'g-topic', [`a${p}`, `b${p}`], p);
    const assigned: string[] = [];
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'g1',
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 100,
      valueDeserializer: stringDeserializer,
      rebalanceListener: {
        onPartitionsAssigned: (tps) => {
          assigned.push(...tps.map((tp) => `${tp.topic}-${tp.partition}`));
        },
      },
    });
    consumer.subscribe(['g-topic']);
    const got = await take(consumer, 6);
    assert.deepEqual(got.map((r) => r.value).sort(), ['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
    assert.deepEqual(assigned.sort(), ['g-topic-0', 'g-topic-1', 'g-topic-2']);
    await consumer.close();
    // Closing committed the offsets after every record handed out.
    const offsets = kafka.groups.get('g1')!.offsets;
    assert.deepEqual([...offsets.values()], [2n, 2n, 2n]);
    await produce(kafka, 'g-topic', ['c0'], 0);
    const again = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'g1',
      valueDeserializer: stringDeserializer,
    });
    again.subscribe('g-topic');
    const [r] = await take(again, 1);
    assert.equal(r!.value, 'c0');
    await again.close();
  });

  void it('two members split the partitions; the subscription metadata carries the topics', async () => {
    kafka.createTopic('g-two', 4);
    const a = new Consumer({ bootstrapServers: kafka.bootstrap, groupId: 'g2', heartbeatIntervalMs: 50 });
    const b = new Consumer({ bootstrapServers: kafka.bootstrap, groupId: 'g2', heartbeatIntervalMs: 50 });
    a.subscribe(['g-two']);
    b.subscribe(['g-two']);
    let done = false;
    const loop = async (c: Consumer): Promise<void> => {
      while (!done) await c.poll({ timeoutMs: 50 });
    };
    const loops = [loop(a), loop(b)];
    await waitFor(() => a.assignment().length === 2 && b.assignment().length === 2, 10_000, 'a 2/2 split');
    done = true;
    await Promise.all(loops);
    assert.equal(a.assignment().length, 2);
    assert.equal(b.assignment().length, 2);
    assert.deepEqual(
      kafka.subscriptions('g2').map((s) => s.topics),
      [['g-two'], ['g-two']],
    );
    await a.close();
    await b.close();
  });

  void it('commits manually, sync and async', async () => {
    kafka.createTopic('g-manual', 1);
    await produce(kafka, 'g-manual', ['x', 'y', 'z']);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'g3',
      enableAutoCommit: false,
      autoOffsetReset: 'earliest',
    });
    consumer.subscribe(['g-manual']);
    const records = await consumer.poll({ timeoutMs: 3000, maxRecords: 2 });
    assert.equal(records.length, 2);
    await consumer.commit();
    assert.equal(kafka.groups.get('g3')!.offsets.get('g-manual:0'), 2n);
    await consumer.commit([{ topic: 'g-manual', partition: 0, offset: 3 }]);
    assert.equal(kafka.groups.get('g3')!.offsets.get('g-manual:0'), 3n);
    assert.deepEqual(await consumer.committed([{ topic: 'g-manual', partition: 0 }]), [
      { topic: 'g-manual', partition: 0, offset: 3 },
    ]);
    await consumer.close();
  });

  void it('for await: commit() inside the loop covers the records before the current one, per partition', async () => {
    kafka.createTopic('g-iter', 2);
    await produce(kafka, 'g-iter', ['a0', 'a1', 'a2'], 0);
    await produce(kafka, 'g-iter', ['b0', 'b1'], 1);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'g-iter',
      enableAutoCommit: false,
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
    });
    consumer.subscribe(['g-iter']);
    const committedAt = new Map<string, [bigint | undefined, bigint | undefined]>();
    let n = 0;
    for await (const r of consumer) {
      await consumer.commit();
      const offsets = kafka.groups.get('g-iter')!.offsets;
      committedAt.set(r.value!, [offsets.get('g-iter:0'), offsets.get('g-iter:1')]);
      if (++n === 5) break;
    }
    await consumer.close();
    // Each record's commit holds the records handed out before it, in both partitions.
    const order = [...committedAt.keys()];
    const seen = { 0: 0n, 1: 0n };
    for (const v of order) {
      const [c0, c1] = committedAt.get(v)!;
      assert.equal(c0 ?? 0n, seen[0], `committed p0 at ${v}`);
      assert.equal(c1 ?? 0n, seen[1], `committed p1 at ${v}`);
      const partition = v.startsWith('a') ? 0 : 1;
      seen[partition] = BigInt(Number(v.slice(1)) + 1);
    }
    assert.deepEqual(order.slice().sort(), ['a0', 'a1', 'a2', 'b0', 'b1']);
  });

  void it('subscribes by RegExp', async () => {
    kafka.createTopic('rx-one', 1);
    kafka.createTopic('rx-two', 1);
    kafka.createTopic('other', 1);
    await produce(kafka, 'rx-one', ['1']);
    await produce(kafka, 'rx-two', ['2']);
    await produce(kafka, 'other', ['3']);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'g4',
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
    });
    consumer.subscribe(/^rx-/);
    const got = await take(consumer, 2);
    assert.deepEqual(got.map((r) => r.value).sort(), ['1', '2']);
    await consumer.close();
  });
});

void describe('rebalancing against the fake broker', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('cooperative-sticky revokes only the partitions that move', async () => {
    kafka.createTopic('coop', 4);
    const revokedA: string[][] = [];
    const a = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'coop-g',
      heartbeatIntervalMs: 20,
      partitionAssignmentStrategy: ['cooperative-sticky'],
      rebalanceListener: {
        onPartitionsRevoked: (tps) => {
          revokedA.push(tps.map((tp) => `${tp.partition}`));
        },
      },
    });
    a.subscribe(['coop']);
    await a.poll({ timeoutMs: 200 });
    assert.equal(a.assignment().length, 4);
    const b = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'coop-g',
      heartbeatIntervalMs: 20,
      partitionAssignmentStrategy: ['cooperative-sticky'],
    });
    b.subscribe(['coop']);
    // Each member polls in its own loop, as applications do (a poll may wait in a rebalance).
    let done = false;
    const loop = async (c: Consumer): Promise<void> => {
      while (!done) await c.poll({ timeoutMs: 50 });
    };
    const loops = [loop(a), loop(b)];
    await waitFor(() => a.assignment().length === 2 && b.assignment().length === 2, 10_000, 'a 2/2 split');
    done = true;
    await Promise.all(loops);
    assert.equal(a.assignment().length, 2);
    assert.equal(b.assignment().length, 2);
    assert.ok(revokedA.length > 0 && revokedA.every((r) => r.length <= 2), `revoked: ${JSON.stringify(revokedA)}`);
    await b.close();
    await a.close();
  });

  void it('leaves the group when the application stops polling for max.poll.interval.ms, rejoins on the next poll', async () => {
    kafka.createTopic('slow', 1);
    let leaves = 0;
    const remove = kafka.inject((req) => {
      if (req.apiKey === ApiKey.LeaveGroup) leaves++;
      return undefined;
    });
    const lost: number[] = [];
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'slow-g',
      heartbeatIntervalMs: 20,
      maxPollIntervalMs: 200,
      rebalanceListener: {
        onPartitionsLost: (tps) => {
          lost.push(tps.length);
        },
      },
    });
    consumer.subscribe(['slow']);
    await consumer.poll({ timeoutMs: 100 });
    assert.equal(consumer.assignment().length, 1);
    await waitFor(() => lost.length === 1, 5000, 'partitions lost after max.poll.interval.ms');
    assert.equal(leaves, 1, 'sent LeaveGroup');
    assert.deepEqual(lost, [1]);
    assert.equal(consumer.assignment().length, 0);
    await consumer.poll({ timeoutMs: 100 });
    assert.equal(consumer.assignment().length, 1, 'rejoined');
    await consumer.close();
    remove();
  });

  void it('static members send group.instance.id and do not leave on close', async () => {
    kafka.createTopic('static', 1);
    const seen: (string | null)[] = [];
    let leaves = 0;
    const remove = kafka.inject((req) => {
      if (!req.unsupported && req.apiKey === ApiKey.JoinGroup) seen.push(req.body.groupInstanceId);
      if (req.apiKey === ApiKey.LeaveGroup) leaves++;
      return undefined;
    });
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      groupId: 'static-g',
      groupInstanceId: 'instance-1',
    });
    consumer.subscribe(['static']);
    await consumer.poll({ timeoutMs: 200 });
    assert.equal(consumer.assignment().length, 1);
    await consumer.close();
    assert.ok(seen.length > 0 && seen.every((id) => id === 'instance-1'));
    assert.equal(leaves, 0);
    remove();
  });
});
