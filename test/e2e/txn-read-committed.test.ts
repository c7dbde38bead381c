/**
 * The read_committed view of transactions with real clients: a kafkajs transactional
 * producer writes a committed, an aborted and an open transaction; kafkajs
 * (readUncommitted: false), kcat (isolation.level=read_committed) and confluent-kafka
 * (isolation.level=read_committed) see the committed records only, and the open
 * transaction's records (and a plain record after them) only once it commits: the last
 * stable offset holds them back. read_uncommitted sees everything. After a crash with an
 * open transaction (producer state snapshot before the abort, the .txnindex file deleted)
 * the last stable offset and the aborted-transaction index are rebuilt from the snapshot
 * and the log after it.
 */
import assert from 'node:assert/strict';
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Admin, type Consumer, Kafka, logLevel, type Producer } from 'kafkajs';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { kcat, python } from './helpers/kcat.ts';
import { RawClient } from './helpers/raw-client.ts';
import { fetchRequest } from './helpers/requests.ts';

const CONFIG = {
  'transaction.state.log.num.partitions': '2',
  'offsets.topic.num.partitions': '2',
};

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const CONFLUENT_READ = `
import json, sys
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic, isolation = sys.argv[1], sys.argv[2], sys.argv[3]
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-rc-' + isolation, 'auto.offset.reset': 'earliest',
              'enable.partition.eof': True, 'isolation.level': isolation, 'enable.auto.commit': False})
c.assign([TopicPartition(topic, 0, 0)])
values = []
while True:
    m = c.poll(10)
    if m is None:
        raise SystemExit('no end of partition within 10 s')
    if m.error():
        if m.error().code() == -191:  # _PARTITION_EOF
            break
        raise SystemExit(str(m.error()))
    values.append(m.value().decode())
lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), 10)
c.close()
print(json.dumps(values))
`;

async function kcatValues(bootstrap: string, topic: string, isolation: string): Promise<string[]> {
  const out = await kcat([
    '-b',
    bootstrap,
    '-C',
    '-t',
    topic,
    '-p',
    '0',
    '-o',
    'beginning',
    '-e',
    '-q',
    '-X',
    `isolation.level=${isolation}`,
    '-f',
    '%s\\n',
  ]);
  return out.split('\n').filter((l) => l !== '');
}

void describe('transactions: read_committed with kafkajs, kcat and confluent-kafka', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let kafka: Kafka;
  let admin: Admin;
  const producers: Producer[] = [];
  const consumers: Consumer[] = [];

  const txnProducer = async (transactionalId: string): Promise<Producer> => {
    const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
    producers.push(p);
    await p.connect();
    return p;
  };

  /** A kafkajs consumer from the beginning; `values` fills as records arrive; `fetches` counts fetch rounds. */
  const consume = async (topic: string, groupId: string, readUncommitted: boolean) => {
    const c = kafka.consumer({ groupId, readUncommitted, maxWaitTimeInMs: 100 });
    consumers.push(c);
    const state = { values: [] as string[], fetches: 0 };
    c.on(c.events.FETCH, () => {
      state.fetches++;
    });
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) => {
        state.values.push(message.value?.toString() ?? '');
      },
    });
    return state;
  };

  before(async () => {
    broker = await startTestBroker({ config: CONFIG });
    kafka = new Kafka({
      clientId: 'runnel-rc',
      brokers: [broker.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 500 },
    });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'rc', numPartitions: 1 }] });
  });

  after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => {});
    for (const p of producers) await p.disconnect().catch(() => {});
    await admin?.disconnect().catch(() => {});
    await broker?.stop();
  });

  void it('committed visible, aborted invisible to read_committed, the open transaction held by the LSO', async () => {
    const p = await txnProducer('rc-1');
    const t1 = await p.transaction();
    await t1.send({ topic: 'rc', messages: [{ value: 'c1' }, { value: 'c2' }] });
    await t1.commit();
    const t2 = await p.transaction();
    await t2.send({ topic: 'rc', messages: [{ value: 'a1' }, { value: 'a2' }] });
    await t2.abort();
    const partition = broker.services.replicas.getPartition('rc', 0)!;
    // c1 c2 COMMIT a1 a2 ABORT: the coordinator writes markers after answering EndTxn.
    await waitFor(() => partition.log.logEndOffset() === 6, 'the ABORT marker');
    const openStart = partition.log.logEndOffset();
    const t3 = await p.transaction();
    await t3.send({ topic: 'rc', messages: [{ value: 'o1' }] });
    // A plain record after the open transaction is held back too (it is above the LSO).
    const plain = kafka.producer();
    producers.push(plain);
    await plain.connect();
    await plain.send({ topic: 'rc', messages: [{ value: 'p1' }] });

    assert.equal(partition.lastStableOffset(), openStart);
    assert.equal(partition.highWatermark(), openStart + 2);
    assert.deepEqual(
      partition.log.abortedTxns(0, openStart).map((t) => [t.firstOffset, t.lastOffset]),
      [[3, 5]],
    );
    // DescribeProducers reports the open transaction's start offset.
    const raw = await RawClient.connect(broker.bootstrap);
    try {
      const described = await raw.send(ApiKey.DescribeProducers, 0, {
        topics: [{ name: 'rc', partitionIndexes: [0] }],
      });
      const starts = described.topics[0]!.partitions[0]!.activeProducers.map((x) => x.currentTxnStartOffset);
      assert.ok(starts.includes(BigInt(openStart)), `open transaction at ${openStart}: ${starts}`);
      const f = await raw.send(ApiKey.Fetch, 12, { ...fetchRequest('rc', 0, 0), isolationLevel: 1 });
      const part = f.responses[0]!.partitions[0]!;
      assert.equal(part.lastStableOffset, BigInt(openStart));
      assert.equal(part.highWatermark, BigInt(openStart + 2));
      assert.deepEqual(
        part.abortedTransactions?.map((a) => a.firstOffset),
        [3n],
      );
      const u = await raw.send(ApiKey.Fetch, 12, fetchRequest('rc', 0, 0));
      assert.equal(u.responses[0]!.partitions[0]!.abortedTransactions, null);
      // ListOffsets LATEST under read_committed is the LSO.
      const lo = await raw.send(ApiKey.ListOffsets, 5, {
        replicaId: -1,
        isolationLevel: 1,
        timeoutMs: 0,
        topics: [
          { name: 'rc', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }] },
        ],
      });
      assert.equal(lo.topics[0]!.partitions[0]!.offset, BigInt(openStart));
    } finally {
      raw.close();
    }

    const committed = await consume('rc', 'rc-committed', false);
    const uncommitted = await consume('rc', 'rc-uncommitted', true);
    await waitFor(() => committed.values.length >= 2, 'kafkajs read_committed: c1, c2');
    await waitFor(() => uncommitted.values.length >= 6, 'kafkajs read_uncommitted: everything');
    assert.deepEqual(uncommitted.values, ['c1', 'c2', 'a1', 'a2', 'o1', 'p1']);
    // Several more fetch rounds at the LSO deliver nothing more while the transaction is open.
    const fetchesNow = committed.fetches;
    await waitFor(() => committed.fetches >= fetchesNow + 3, 'more read_committed fetches');
    assert.deepEqual(committed.values, ['c1', 'c2']);
    assert.deepEqual(await kcatValues(broker.bootstrap, 'rc', 'read_committed'), ['c1', 'c2']);
    assert.deepEqual(JSON.parse(await python(CONFLUENT_READ, [broker.bootstrap, 'rc', 'read_committed'])), [
      'c1',
      'c2',
    ]);

    await t3.commit();
    await waitFor(() => committed.values.length >= 4, 'kafkajs read_committed after the commit');
    assert.deepEqual(committed.values, ['c1', 'c2', 'o1', 'p1']);
    assert.deepEqual(await kcatValues(broker.bootstrap, 'rc', 'read_committed'), ['c1', 'c2', 'o1', 'p1']);
    assert.deepEqual(await kcatValues(broker.bootstrap, 'rc', 'read_uncommitted'), [
      'c1',
      'c2',
      'a1',
      'a2',
      'o1',
      'p1',
    ]);
    assert.deepEqual(JSON.parse(await python(CONFLUENT_READ, [broker.bootstrap, 'rc', 'read_committed'])), [
      'c1',
      'c2',
      'o1',
      'p1',
    ]);
  });

  void it('a crash with an open transaction: the LSO and the aborted index are rebuilt from the snapshot and the log', async () => {
    for (const c of consumers.splice(0)) await c.disconnect().catch(() => {});
    await admin.createTopics({ topics: [{ topic: 'rc-crash', numPartitions: 1 }] });
    const p = await txnProducer('rc-crash');
    const t1 = await p.transaction();
    await t1.send({ topic: 'rc-crash', messages: [{ value: 'x1' }] });
    await t1.commit();
    let partition = broker.services.replicas.getPartition('rc-crash', 0)!;
    // A snapshot here: what follows is replayed from the log after the crash.
    await partition.snapshotProducerState(true);
    const t2 = await p.transaction();
    await t2.send({ topic: 'rc-crash', messages: [{ value: 'y1' }, { value: 'y2' }] });
    await t2.abort();
    await waitFor(() => partition.log.logEndOffset() === 5, 'the ABORT marker'); // x1 COMMIT y1 y2 ABORT
    const openStart = partition.log.logEndOffset();
    const t3 = await p.transaction();
    await t3.send({ topic: 'rc-crash', messages: [{ value: 'z1' }] });
    const abortedBefore = partition.log.abortedTxns(0, 100);
    assert.deepEqual(
      abortedBefore.map((t) => [t.firstOffset, t.lastOffset]),
      [[2, 4]],
    );
    assert.equal(partition.lastStableOffset(), openStart);
    for (const pr of producers.splice(0)) await pr.disconnect().catch(() => {});

    await broker.kill();
    // Lose the index file as a crash before its write would: the replay writes it again.
    const dir = join(broker.dir, 'rc-crash-0');
    for (const name of readdirSync(dir)) if (name.endsWith('.txnindex')) unlinkSync(join(dir, name));
    assert.ok(readdirSync(dir).some((n) => n.endsWith('.snapshot')));
    broker = await startTestBroker({ config: CONFIG, dir: broker.dir, port: broker.port });

    partition = broker.services.replicas.getPartition('rc-crash', 0)!;
    await waitFor(() => partition.highWatermark() === openStart + 1, 'the high watermark after restart');
    assert.equal(partition.lastStableOffset(), openStart);
    assert.deepEqual(partition.log.abortedTxns(0, 100), abortedBefore);
    assert.ok(readdirSync(dir).some((n) => n.endsWith('.txnindex')));
    assert.deepEqual(await kcatValues(broker.bootstrap, 'rc-crash', 'read_committed'), ['x1']);
  });
});
