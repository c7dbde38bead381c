/**
 * Transactions from the coordinator's side with kafkajs 2.2.4's transactional producer:
 * InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn, the
 * COMMIT/ABORT markers landing in the partitions as control batches, offsets committed in
 * a transaction visible after commit only, zombie fencing, a transaction left open past
 * its timeout aborted by the coordinator, and Describe/ListTransactions and
 * DescribeProducers over the wire, and a raw read_committed fetch (last stable offset,
 * aborted transactions).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs';
import type { BrokerServices } from '../../src/broker/services.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import {
  ControlRecordType,
  decodeControlKey,
  decodeRecordBatch,
  iterateBatches,
} from '../../src/protocol/records/index.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { RawClient } from './helpers/raw-client.ts';
import { fetchRequest } from './helpers/requests.ts';

const TIMEOUT = { timeout: 60_000 };

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface LoggedBatch {
  producerId: bigint;
  producerEpoch: number;
  transactional: boolean;
  /** COMMIT / ABORT for a marker, else the record values. */
  marker?: 'COMMIT' | 'ABORT';
  values: string[];
}

/** Every batch of a partition's log, as stored (control batches included). */
async function logOf(services: BrokerServices, topic: string, partition: number): Promise<LoggedBatch[]> {
  const p = services.replicas.getPartition(topic, partition);
  assert.ok(p, `${topic}-${partition} is hosted`);
  const read = await p.log.read(p.log.logStartOffset(), 16 << 20, {
    maxOffset: p.log.logEndOffset(),
    minOneBatch: true,
  });
  if (read.kind !== 'records') return [];
  const out: LoggedBatch[] = [];
  for (const { position } of iterateBatches(read.records)) {
    const b = decodeRecordBatch(read.records, position);
    const entry: LoggedBatch = {
      producerId: b.producerId,
      producerEpoch: b.producerEpoch,
      transactional: b.isTransactional,
      values: b.isControl ? [] : b.records.map((r) => r.value?.toString() ?? ''),
    };
    if (b.isControl) {
      entry.marker = decodeControlKey(b.records[0]!.key).type === ControlRecordType.Commit ? 'COMMIT' : 'ABORT';
    }
    out.push(entry);
  }
  return out;
}

void describe('transactions: kafkajs transactional producer', TIMEOUT, () => {
  let broker: TestBroker;
  let kafka: Kafka;
  let admin: Admin;
  const producers: Producer[] = [];

  const txnProducer = async (transactionalId: string, transactionTimeout = 30_000): Promise<Producer> => {
    const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout });
    producers.push(p);
    await p.connect();
    return p;
  };

  before(async () => {
    broker = await startTestBroker({
      config: {
        'transaction.state.log.num.partitions': '4',
        'offsets.topic.num.partitions': '4',
        'transaction.abort.timed.out.transaction.cleanup.interval.ms': '200',
      },
    });
    kafka = new Kafka({
      clientId: 'runnel-txn',
      brokers: [broker.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 500 },
    });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: 'out', numPartitions: 2 },
        { topic: 'src', numPartitions: 1 },
      ],
    });
  });

  after(async () => {
    for (const p of producers) await p.disconnect().catch(() => {});
    await admin?.disconnect().catch(() => {});
    await broker?.stop();
  });

  void it('commit: records and a COMMIT marker in each partition, offsets committed with the transaction', async () => {
    const p = await txnProducer('txn-commit');
    const txn = await p.transaction();
    await txn.send({
      topic: 'out',
      messages: [
        { partition: 0, value: 'a' },
        { partition: 1, value: 'b' },
      ],
    });
    await txn.sendOffsets({
      consumerGroupId: 'g-commit',
      topics: [{ topic: 'src', partitions: [{ partition: 0, offset: '5' }] }],
    });
    const before = await admin.fetchOffsets({ groupId: 'g-commit', topics: ['src'] });
    assert.equal(before[0]!.partitions[0]!.offset, '-1', 'not visible before the commit');
    await txn.commit();

    for (const [partition, value] of [
      [0, 'a'],
      [1, 'b'],
    ] as const) {
      await waitFor(async () => (await logOf(broker.services, 'out', partition)).some((b) => b.marker), 'marker');
      const log = await logOf(broker.services, 'out', partition);
      assert.equal(
        log.length,
        2,
        JSON.stringify(log, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
      );
      assert.deepEqual(log[0]!.values, [value]);
      assert.equal(log[0]!.transactional, true);
      assert.equal(log[1]!.marker, 'COMMIT');
      assert.equal(log[1]!.producerId, log[0]!.producerId);
      assert.equal(log[1]!.producerEpoch, log[0]!.producerEpoch);
    }
    await waitFor(
      async () =>
        (await admin.fetchOffsets({ groupId: 'g-commit', topics: ['src'] }))[0]!.partitions[0]!.offset === '5',
      'offset 5 committed',
    );
    const d = await broker.services.transactions.describe('txn-commit');
    await waitFor(
      async () => (await broker.services.transactions.describe('txn-commit')).transactionState === 'CompleteCommit',
      'CompleteCommit',
    );
    assert.equal(d.errorCode, 0);
  });

  void it('abort: an ABORT marker, and offsets sent in the transaction are not committed', async () => {
    const p = await txnProducer('txn-abort');
    const first = await p.transaction();
    await first.sendOffsets({
      consumerGroupId: 'g-abort',
      topics: [{ topic: 'src', partitions: [{ partition: 0, offset: '3' }] }],
    });
    await first.commit();
    const txn = await p.transaction();
    await txn.send({ topic: 'out', messages: [{ partition: 0, value: 'aborted' }] });
    await txn.sendOffsets({
      consumerGroupId: 'g-abort',
      topics: [{ topic: 'src', partitions: [{ partition: 0, offset: '9' }] }],
    });
    await txn.abort();
    await waitFor(async () => {
      const log = await logOf(broker.services, 'out', 0);
      return log.at(-1)?.marker === 'ABORT' && log.at(-2)?.values[0] === 'aborted';
    }, 'ABORT marker after the aborted record');
    await waitFor(
      async () => (await broker.services.transactions.describe('txn-abort')).transactionState === 'CompleteAbort',
      'CompleteAbort',
    );
    const offsets = await admin.fetchOffsets({ groupId: 'g-abort', topics: ['src'] });
    assert.equal(offsets[0]!.partitions[0]!.offset, '3');
  });

  void it('fences a zombie: the older producer with the same transactional id is refused', async () => {
    const zombie = await txnProducer('txn-zombie');
    const t1 = await zombie.transaction();
    await t1.send({ topic: 'out', messages: [{ partition: 1, value: 'zombie-1' }] });
    // A new incarnation (kafkajs sends InitProducerId on its first transaction()): the
    // coordinator aborts the zombie's open transaction and bumps the epoch.
    const fresh = await txnProducer('txn-zombie');
    const t2 = await fresh.transaction();
    await assert.rejects(
      async () => {
        await t1.send({ topic: 'out', messages: [{ partition: 0, value: 'zombie-2' }] });
        await t1.commit();
      },
      (err: Error) => /fenced|epoch/i.test(`${err.name} ${err.message} ${(err as { type?: string }).type ?? ''}`),
    );
    await t2.send({ topic: 'out', messages: [{ partition: 1, value: 'fresh' }] });
    await t2.commit();
    const log = await logOf(broker.services, 'out', 1);
    const zombieBatch = log.find((b) => b.values.includes('zombie-1'))!;
    const freshBatch = log.find((b) => b.values.includes('fresh'))!;
    assert.equal(freshBatch.producerId, zombieBatch.producerId);
    assert.ok(freshBatch.producerEpoch > zombieBatch.producerEpoch);
    // The zombie's transaction was aborted at the bumped epoch.
    assert.ok(log.some((b) => b.marker === 'ABORT' && b.producerEpoch === zombieBatch.producerEpoch + 1));
  });

  void it('aborts a transaction left open past its timeout', async () => {
    const p = await txnProducer('txn-timeout', 1000);
    const txn = await p.transaction();
    await txn.send({ topic: 'out', messages: [{ partition: 0, value: 'forgotten' }] });
    await waitFor(
      async () => (await broker.services.transactions.describe('txn-timeout')).transactionState === 'CompleteAbort',
      'the coordinator to abort the timed-out transaction',
    );
    const log = await logOf(broker.services, 'out', 0);
    const i = log.findIndex((b) => b.values.includes('forgotten'));
    assert.ok(i >= 0);
    assert.ok(log.slice(i + 1).some((b) => b.marker === 'ABORT' && b.producerId === log[i]!.producerId));
    await assert.rejects(() => txn.commit());
  });

  void it('DescribeTransactions, ListTransactions and DescribeProducers over the wire', async () => {
    const p = await txnProducer('txn-open');
    const txn = await p.transaction();
    await txn.send({ topic: 'out', messages: [{ partition: 1, value: 'open' }] });
    const found = await broker.services.transactions.findCoordinator('txn-open');
    assert.equal(found.errorCode, 0);
    const raw = await RawClient.connect(broker.bootstrap);
    try {
      const described = await raw.send(ApiKey.DescribeTransactions, 0, { transactionalIds: ['txn-open', 'nope'] });
      const [open, nope] = described.transactionStates;
      assert.equal(open!.errorCode, 0);
      assert.equal(open!.transactionState, 'Ongoing');
      assert.deepEqual(open!.topics, [{ topic: 'out', partitions: [1] }]);
      assert.equal(nope!.errorCode, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
      const listed = await raw.send(ApiKey.ListTransactions, 1, {
        stateFilters: ['Ongoing', 'NoSuchState'],
        producerIdFilters: [],
        durationFilter: -1n,
      });
      assert.deepEqual(listed.unknownStateFilters, ['NoSuchState']);
      assert.deepEqual(
        listed.transactionStates.map((t) => t.transactionalId),
        ['txn-open'],
      );
      assert.equal(listed.transactionStates[0]!.producerId, open!.producerId);
      const producers = await raw.send(ApiKey.DescribeProducers, 0, {
        topics: [{ name: 'out', partitionIndexes: [1, 7] }],
      });
      const [p1, p7] = producers.topics[0]!.partitions;
      assert.equal(p1!.errorCode, 0);
      assert.ok(p1!.activeProducers.some((x) => x.producerId === open!.producerId));
      assert.equal(p7!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    } finally {
      raw.close();
    }
    await txn.abort();
  });

  void it('a read_committed fetch lists the aborted transactions and stops at the last stable offset', async () => {
    const raw = await RawClient.connect(broker.bootstrap);
    try {
      const p = broker.services.replicas.getPartition('out', 0)!;
      // An open transaction on partition 0: the last stable offset must stay before it.
      const open = await txnProducer('txn-lso');
      const txn = await open.transaction();
      await txn.send({ topic: 'out', messages: [{ partition: 0, value: 'pending' }] });
      const lsoBefore = p.log.logEndOffset() - 1;
      const r = await raw.send(ApiKey.Fetch, 12, { ...fetchRequest('out', 0, 0), isolationLevel: 1 });
      const part = r.responses[0]!.partitions[0]!;
      await txn.abort();
      assert.equal(part.lastStableOffset, BigInt(lsoBefore));
      assert.ok((part.abortedTransactions ?? []).length >= 2, 'aborted transactions of the earlier tests');
    } finally {
      raw.close();
    }
  });
});
