/**
 * The Runnel client's transactions against the real Runnel broker's transaction coordinator:
 * commit and abort (records and markers in the log), offsets committed with the transaction,
 * zombie fencing, and a consume-transform-produce loop with a group. What a read_committed
 * consumer sees uses the broker's read_committed fetch (last stable offset, aborted
 * transactions).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin } from '../../src/client/admin.ts';
import { Consumer } from '../../src/client/consumer.ts';
import { ProducerFencedError } from '../../src/client/errors.ts';
import { Producer } from '../../src/client/producer.ts';
import { stringDeserializer } from '../../src/client/serde.ts';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';

const T = { timeout: 60_000 };

void describe('client transactions against the Runnel broker', () => {
  let broker: TestBroker;
  let admin: Admin;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    broker = await startTestBroker({
      config: {
        'transaction.state.log.num.partitions': '2',
        'offsets.topic.num.partitions': '2',
        'group.initial.rebalance.delay.ms': '0',
      },
    });
    admin = new Admin({ bootstrapServers: broker.bootstrap });
    await admin.createTopics([
      { topic: 'txe-out', numPartitions: 2 },
      { topic: 'txe-in', numPartitions: 1 },
      { topic: 'txe-fence', numPartitions: 1 },
    ]);
  });
  after(async () => {
    for (const close of closers) await close().catch(() => {});
    await admin.close();
    await broker.stop();
  });

  const producer = (transactionalId: string): Producer => {
    const p = new Producer({ bootstrapServers: broker.bootstrap, transactionalId, retryBackoffMs: 20 });
    closers.push(() => p.close({ force: true }));
    return p;
  };

  /** Values a fresh consumer sees in a topic, waiting until `n` arrived (or 5 s), and its end positions. */
  const readValues = async (
    topic: string,
    partitions: number,
    n: number,
    isolationLevel: 'read_committed' | 'read_uncommitted' = 'read_committed',
  ): Promise<{ values: string[]; positions: number[] }> => {
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      autoOffsetReset: 'earliest',
      isolationLevel,
      valueDeserializer: stringDeserializer,
      fetchMaxWaitMs: 50,
    });
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
    const out: string[] = [];
    const deadline = Date.now() + 5000;
    while (out.length < n && Date.now() < deadline) {
      for (const r of await consumer.poll({ timeoutMs: 200 })) out.push(r.value ?? '');
    }
    // Nothing more than expected shows up.
    for (const r of await consumer.poll({ timeoutMs: 200 })) out.push(r.value ?? '');
    const positions = Array.from({ length: partitions }, (_, partition) => consumer.position({ topic, partition }));
    await consumer.close();
    return { values: out.sort(), positions };
  };
  const committedValues = async (topic: string, partitions: number, n: number): Promise<string[]> =>
    (await readValues(topic, partitions, n)).values;

  void it('commits and aborts: records and markers in the log; offsets go with the commit', T, async () => {
    const p = producer('txe-1');
    await p.initTransactions();
    p.beginTransaction();
    await p.send([
      { topic: 'txe-out', partition: 0, value: 'aborted-0' },
      { topic: 'txe-out', partition: 1, value: 'aborted-1' },
    ]);
    await p.abortTransaction();
    p.beginTransaction();
    await p.send([
      { topic: 'txe-out', partition: 0, value: 'committed-0' },
      { topic: 'txe-out', partition: 1, value: 'committed-1' },
    ]);
    await p.sendOffsetsToTransaction([{ topic: 'txe-in', partition: 0, offset: 5 }], 'txe-group');
    const before = await admin.listGroupOffsets('txe-group').catch(() => []);
    assert.ok(!before.some((o) => o.topic === 'txe-in' && o.offset === 5), 'not committed before EndTxn');
    await p.commitTransaction();
    // Each partition: the aborted record, the ABORT marker, the committed record, the COMMIT marker.
    const all = await readValues('txe-out', 2, 4, 'read_uncommitted');
    assert.deepEqual(all.values, ['aborted-0', 'aborted-1', 'committed-0', 'committed-1']);
    assert.deepEqual(all.positions, [4, 4]);
    const offsets = await admin.listGroupOffsets('txe-group');
    assert.ok(
      offsets.some((o) => o.topic === 'txe-in' && o.partition === 0 && o.offset === 5),
      JSON.stringify(offsets),
    );
  });

  void it('a second producer with the same transactional id fences the first', T, async () => {
    const zombie = producer('txe-fence');
    await zombie.initTransactions();
    zombie.beginTransaction();
    await zombie.send({ topic: 'txe-fence', value: 'zombie' });
    const live = producer('txe-fence');
    await live.initTransactions();
    await assert.rejects(zombie.commitTransaction(), ProducerFencedError);
    assert.equal(zombie.transactionState, 'fatal-error');
    live.beginTransaction();
    await live.send({ topic: 'txe-fence', value: 'live' });
    await live.commitTransaction();
    // zombie, ABORT (written by the coordinator when it fenced the zombie), live, COMMIT.
    const all = await readValues('txe-fence', 1, 2, 'read_uncommitted');
    assert.deepEqual(all.values, ['live', 'zombie']);
    assert.deepEqual(all.positions, [4]);
  });

  void it('a read_committed consumer sees committed records only', T, async () => {
    assert.deepEqual(await committedValues('txe-out', 2, 2), ['committed-0', 'committed-1']);
    assert.deepEqual(await committedValues('txe-fence', 1, 1), ['live']);
  });

  void it('consume-transform-produce with a group: output and consumed offsets commit together', T, async () => {
    const seed = new Producer({ bootstrapServers: broker.bootstrap });
    closers.push(() => seed.close());
    await seed.send(Array.from({ length: 10 }, (_, i) => ({ topic: 'txe-in', value: `in-${i}` })));
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      groupId: 'txe-ctp',
      enableAutoCommit: false,
      autoOffsetReset: 'earliest',
      isolationLevel: 'read_committed',
      valueDeserializer: stringDeserializer,
    });
    closers.push(() => consumer.close());
    consumer.subscribe(['txe-in']);
    const p = producer('txe-ctp');
    await p.initTransactions();
    let done = 0;
    const deadline = Date.now() + 20_000;
    while (done < 10 && Date.now() < deadline) {
      const records = await consumer.poll({ timeoutMs: 200 });
      if (records.length === 0) continue;
      p.beginTransaction();
      await p.send(records.map((r) => ({ topic: 'txe-out', partition: 0, value: `out-${r.value}` })));
      const last = records[records.length - 1]!;
      await p.sendOffsetsToTransaction(
        [{ topic: last.topic, partition: last.partition, offset: last.offset + 1 }],
        consumer.groupMetadata(),
      );
      await p.commitTransaction();
      done += records.length;
    }
    assert.equal(done, 10);
    const committed = await consumer.committed([{ topic: 'txe-in', partition: 0 }]);
    assert.equal(committed[0]!.offset, 10);
    const out = await readValues('txe-out', 2, 14, 'read_uncommitted');
    assert.equal(out.values.filter((v) => v.startsWith('out-in-')).length, 10);
  });
});
