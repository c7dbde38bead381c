import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Consumer } from '../../src/client/consumer.ts';
import {
  KafkaProtocolError,
  ProducerFencedError,
  TransactionAbortableError,
  TransactionFatalError,
  TransactionStateError,
} from '../../src/client/errors.ts';
import { Producer } from '../../src/client/producer.ts';
import { stringDeserializer } from '../../src/client/serde.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { ATTR_TRANSACTIONAL, iterateBatches } from '../../src/protocol/records/index.ts';
import { FakeKafka } from './fake-broker.ts';

/** Everything a read_committed (or read_uncommitted) consumer sees of a topic's partitions, as strings. */
async function readAll(
  kafka: FakeKafka,
  topic: string,
  partitions: number,
  isolationLevel: 'read_committed' | 'read_uncommitted',
): Promise<string[]> {
  const consumer = new Consumer({
    bootstrapServers: kafka.bootstrap,
    autoOffsetReset: 'earliest',
    isolationLevel,
    valueDeserializer: stringDeserializer,
  });
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
  const out: string[] = [];
  // Read until two polls in a row come back empty (the fake answers at once when it has data).
  for (let empty = 0; empty < 2; ) {
    const records = await consumer.poll({ timeoutMs: 100 });
    if (records.length === 0) empty++;
    else empty = 0;
    for (const r of records) out.push(r.value ?? '');
  }
  await consumer.close();
  return out.sort();
}

void describe('transactional producer against the fake broker', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  const newProducer = (transactionalId: string): Producer =>
    new Producer({ bootstrapServers: kafka.bootstrap, transactionalId, lingerMs: 0, retryBackoffMs: 10 });

  void it('commits records and consumed offsets together; read_committed sees them only after the commit', async () => {
    kafka.createTopic('t-commit', 2);
    const producer = newProducer('tx-commit');
    await producer.initTransactions();
    assert.equal(producer.transactionState, 'ready');
    producer.beginTransaction();
    const addsBefore = kafka.requestCounts.get(ApiKey.AddPartitionsToTxn) ?? 0;
    await producer.send([
      { topic: 't-commit', value: 'a', partition: 0 },
      { topic: 't-commit', value: 'b', partition: 1 },
    ]);
    // One AddPartitionsToTxn carried both partitions before their first batch.
    assert.equal((kafka.requestCounts.get(ApiKey.AddPartitionsToTxn) ?? 0) - addsBefore, 1);
    const batch = kafka.partitionBatches('t-commit', 0)[0]!;
    assert.notEqual([...iterateBatches(batch)][0]!.header.attributes & ATTR_TRANSACTIONAL, 0);
    assert.deepEqual(await readAll(kafka, 't-commit', 2, 'read_committed'), []);
    await producer.sendOffsetsToTransaction([{ topic: 'in', partition: 0, offset: 42 }], 'tx-group');
    assert.equal(kafka.groups.get('tx-group')?.offsets.get('in:0'), undefined);
    await producer.commitTransaction();
    assert.equal(producer.transactionState, 'ready');
    assert.deepEqual(await readAll(kafka, 't-commit', 2, 'read_committed'), ['a', 'b']);
    assert.equal(kafka.groups.get('tx-group')?.offsets.get('in:0'), 42n);
    await producer.close();
  });

  void it('aborts: read_committed skips the aborted records, read_uncommitted sees them', async () => {
    kafka.createTopic('t-abort', 1);
    const producer = newProducer('tx-abort');
    await producer.initTransactions();
    producer.beginTransaction();
    await producer.send({ topic: 't-abort', value: 'aborted-1' });
    await producer.sendOffsetsToTransaction([{ topic: 'in', partition: 0, offset: 7 }], 'tx-group-abort');
    await producer.abortTransaction();
    producer.beginTransaction();
    await producer.send({ topic: 't-abort', value: 'committed-1' });
    await producer.commitTransaction();
    assert.deepEqual(await readAll(kafka, 't-abort', 1, 'read_committed'), ['committed-1']);
    assert.deepEqual(await readAll(kafka, 't-abort', 1, 'read_uncommitted'), ['aborted-1', 'committed-1']);
    assert.equal(kafka.groups.get('tx-group-abort')?.offsets.get('in:0'), undefined);
    await producer.close();
  });

  void it('commit covers sends not awaited yet, still waiting for metadata', async () => {
    kafka.createTopic('t-pending', 1);
    const producer = newProducer('tx-pending');
    await producer.initTransactions();
    for (let t = 0; t < 2; t++) {
      producer.beginTransaction();
      // The topic is not in the producer's metadata yet: these sends are still waiting for it.
      const sends = Array.from({ length: 50 }, (_, i) => producer.send({ topic: 't-pending', value: `${t}-${i}` }));
      await producer.commitTransaction();
      const metas = await Promise.all(sends);
      assert.equal(metas.length, 50);
    }
    const values = await readAll(kafka, 't-pending', 1, 'read_committed');
    assert.equal(values.length, 100);
    // 100 records and one COMMIT marker per transaction.
    assert.equal(kafka.topics.get('t-pending')!.partitions[0]!.nextOffset, 102);
    await producer.close();
  });

  void it('a transaction with nothing in it commits and aborts without EndTxn', async () => {
    const producer = newProducer('tx-empty');
    await producer.initTransactions();
    const before = kafka.requestCounts.get(ApiKey.EndTxn) ?? 0;
    producer.beginTransaction();
    await producer.commitTransaction();
    producer.beginTransaction();
    await producer.abortTransaction();
    assert.equal(kafka.requestCounts.get(ApiKey.EndTxn) ?? 0, before);
    await producer.close();
  });

  void it('refuses calls out of order', async () => {
    kafka.createTopic('t-state', 1);
    const producer = newProducer('tx-state');
    assert.throws(() => producer.beginTransaction(), TransactionStateError);
    await assert.rejects(producer.send({ topic: 't-state', value: 'x' }), TransactionStateError);
    await producer.initTransactions();
    await assert.rejects(producer.initTransactions(), TransactionStateError);
    await assert.rejects(producer.send({ topic: 't-state', value: 'x' }), TransactionStateError);
    await assert.rejects(producer.commitTransaction(), TransactionStateError);
    producer.beginTransaction();
    assert.throws(() => producer.beginTransaction(), TransactionStateError);
    await producer.abortTransaction();
    const plain = new Producer({ bootstrapServers: kafka.bootstrap });
    await assert.rejects(plain.initTransactions(), TransactionStateError);
    await plain.close();
    await producer.close();
  });

  void it('a newer producer with the same transactional id fences the older one (fatal)', async () => {
    kafka.createTopic('t-fence', 1);
    const older = newProducer('tx-fence');
    await older.initTransactions();
    older.beginTransaction();
    await older.send({ topic: 't-fence', value: 'zombie-1' });
    const newer = newProducer('tx-fence');
    await newer.initTransactions(); // aborts what the older one left open
    await assert.rejects(older.commitTransaction(), ProducerFencedError);
    assert.equal(older.transactionState, 'fatal-error');
    await assert.rejects(older.send({ topic: 't-fence', value: 'zombie-2' }), ProducerFencedError);
    assert.throws(() => older.beginTransaction(), ProducerFencedError);
    newer.beginTransaction();
    await newer.send({ topic: 't-fence', value: 'live-1' });
    await newer.commitTransaction();
    assert.deepEqual(await readAll(kafka, 't-fence', 1, 'read_committed'), ['live-1']);
    await older.close();
    await newer.close();
  });

  void it('a produce from a fenced epoch fails the send with ProducerFencedError', async () => {
    kafka.createTopic('t-fence-produce', 1);
    const older = newProducer('tx-fence-produce');
    await older.initTransactions();
    older.beginTransaction();
    await older.send({ topic: 't-fence-produce', value: 'first' });
    const newer = newProducer('tx-fence-produce');
    await newer.initTransactions();
    // The partition is already in the older producer's (now aborted) transaction on its side:
    // its next batch goes straight to the leader, which refuses the old epoch.
    await assert.rejects(older.send({ topic: 't-fence-produce', value: 'second' }), (e: unknown) => {
      assert.ok(e instanceof ProducerFencedError);
      assert.equal(e.code, ErrorCode.INVALID_PRODUCER_EPOCH);
      return true;
    });
    assert.equal(older.transactionState, 'fatal-error');
    await assert.rejects(older.abortTransaction(), ProducerFencedError);
    await older.close();
    await newer.close();
  });

  void it('a record that fails for good makes the transaction abortable; abort and the next one works', async () => {
    kafka.createTopic('t-abortable', 2);
    const producer = newProducer('tx-abortable');
    await producer.initTransactions();
    producer.beginTransaction();
    const remove = kafka.inject((req) =>
      req.apiKey === ApiKey.Produce ? { kind: 'error', code: ErrorCode.TOPIC_AUTHORIZATION_FAILED } : undefined,
    );
    await assert.rejects(producer.send({ topic: 't-abortable', value: 'denied', partition: 0 }), KafkaProtocolError);
    remove();
    assert.equal(producer.transactionState, 'abortable-error');
    await assert.rejects(producer.send({ topic: 't-abortable', value: 'x', partition: 1 }), TransactionAbortableError);
    await assert.rejects(producer.commitTransaction(), TransactionAbortableError);
    await producer.abortTransaction();
    assert.equal(producer.transactionState, 'ready');
    producer.beginTransaction();
    await producer.send({ topic: 't-abortable', value: 'ok', partition: 1 });
    await producer.commitTransaction();
    assert.deepEqual(await readAll(kafka, 't-abortable', 2, 'read_committed'), ['ok']);
    await producer.close();
  });

  void it('a fatal coordinator error (not authorized) leaves only close()', async () => {
    const producer = newProducer('tx-denied');
    const remove = kafka.inject((req) =>
      req.apiKey === ApiKey.InitProducerId
        ? { kind: 'error', code: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED }
        : undefined,
    );
    await assert.rejects(producer.initTransactions(), (e: unknown) => {
      assert.ok(e instanceof TransactionFatalError);
      assert.ok(e.cause instanceof KafkaProtocolError);
      assert.equal(e.cause.code, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
      return true;
    });
    remove();
    assert.equal(producer.transactionState, 'fatal-error');
    assert.throws(() => producer.beginTransaction(), TransactionFatalError);
    await assert.rejects(producer.initTransactions(), TransactionFatalError);
    await producer.close();
  });

  void it('retries CONCURRENT_TRANSACTIONS and a moved coordinator', async () => {
    kafka.createTopic('t-retry', 1);
    const producer = newProducer('tx-retry');
    await producer.initTransactions();
    let concurrent = 2;
    let notCoordinator = 1;
    const remove = kafka.inject((req) => {
      if (req.apiKey === ApiKey.AddPartitionsToTxn && concurrent > 0) {
        concurrent--;
        return { kind: 'error', code: ErrorCode.CONCURRENT_TRANSACTIONS };
      }
      if (req.apiKey === ApiKey.EndTxn && notCoordinator > 0) {
        notCoordinator--;
        return { kind: 'error', code: ErrorCode.NOT_COORDINATOR };
      }
      return undefined;
    });
    const finds = kafka.requestCounts.get(ApiKey.FindCoordinator) ?? 0;
    producer.beginTransaction();
    await producer.send({ topic: 't-retry', value: 'r' });
    await producer.commitTransaction();
    remove();
    assert.equal(concurrent, 0);
    assert.equal(notCoordinator, 0);
    assert.ok((kafka.requestCounts.get(ApiKey.FindCoordinator) ?? 0) > finds, 'coordinator looked up again');
    assert.deepEqual(await readAll(kafka, 't-retry', 1, 'read_committed'), ['r']);
    await producer.close();
  });

  void it("retries a transaction's first AddPartitionsToTxn after CONCURRENT_TRANSACTIONS without waiting retry.backoff.ms", async () => {
    kafka.createTopic('t-concurrent', 1);
    // With a 10-minute retry.backoff.ms, only the short retry for CONCURRENT_TRANSACTIONS
    // (the previous transaction's markers) lets this commit finish within the test's timeout.
    const producer = new Producer({
      bootstrapServers: kafka.bootstrap,
      transactionalId: 'tx-concurrent',
      lingerMs: 0,
      retryBackoffMs: 600_000,
      retryBackoffMaxMs: 600_000,
    });
    await producer.initTransactions();
    let concurrent = 3;
    const remove = kafka.inject((req) => {
      if (req.apiKey === ApiKey.AddPartitionsToTxn && concurrent > 0) {
        concurrent--;
        return { kind: 'error', code: ErrorCode.CONCURRENT_TRANSACTIONS };
      }
      return undefined;
    });
    producer.beginTransaction();
    await producer.send({ topic: 't-concurrent', value: 'c' });
    await producer.commitTransaction();
    remove();
    assert.equal(concurrent, 0);
    assert.deepEqual(await readAll(kafka, 't-concurrent', 1, 'read_committed'), ['c']);
    await producer.close();
  });

  void it('an offset commit from a stale group generation makes the transaction abortable', async () => {
    kafka.createTopic('t-gen', 1);
    kafka.createTopic('t-gen-in', 1);
    const consumer = new Consumer({ bootstrapServers: kafka.bootstrap, groupId: 'tx-gen-group' });
    consumer.subscribe(['t-gen-in']);
    await consumer.poll({ timeoutMs: 200 });
    const meta = consumer.groupMetadata();
    assert.equal(meta.groupId, 'tx-gen-group');
    assert.ok(meta.generationId !== undefined && meta.generationId > 0);
    const producer = newProducer('tx-gen');
    await producer.initTransactions();
    producer.beginTransaction();
    await producer.sendOffsetsToTransaction([{ topic: 't-gen-in', partition: 0, offset: 1 }], meta);
    await assert.rejects(
      producer.sendOffsetsToTransaction([{ topic: 't-gen-in', partition: 0, offset: 2 }], {
        ...meta,
        generationId: meta.generationId! + 5,
      }),
      (e: unknown) => e instanceof KafkaProtocolError && e.code === ErrorCode.ILLEGAL_GENERATION,
    );
    assert.equal(producer.transactionState, 'abortable-error');
    await producer.abortTransaction();
    await consumer.close();
    await producer.close();
  });
});
