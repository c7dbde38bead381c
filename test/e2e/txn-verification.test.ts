/**
 * KIP-890 part 1 over the wire (transaction.partition.verification.enable):
 *
 * - raw protocol: a transactional batch for a partition never added to the transaction
 *   (no AddPartitionsToTxn) is refused with INVALID_TXN_STATE and not appended; once
 *   added it is appended; after the transaction is aborted, a late write of it is refused
 *   again (the hanging-transaction case). With the setting false the same unadded write
 *   is appended (Kafka's old behaviour) and holds the last stable offset: a hanging
 *   transaction.
 * - real clients with verification on: kafkajs and confluent-kafka (librdkafka) commit
 *   and abort transactions; read_committed sees the committed records only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildRecordBatch, decodeRecordBatches } from '../../src/protocol/records/index.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { python } from './helpers/kcat.ts';
import { RawClient } from './helpers/raw-client.ts';
import { fetchRequest, produceRequest } from './helpers/requests.ts';

const CONFIG = { 'transaction.state.log.num.partitions': '2', 'offsets.topic.num.partitions': '2' };

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function createTopics(broker: TestBroker, topics: string[]): Promise<void> {
  const admin = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 2 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** FindCoordinator + InitProducerId for a transactional id, retrying while the coordinator loads. */
async function initProducer(raw: RawClient, transactionalId: string): Promise<{ producerId: bigint; epoch: number }> {
  let out: { producerId: bigint; epoch: number } | undefined;
  await waitFor(async () => {
    const found = await raw.send(ApiKey.FindCoordinator, 3, { key: transactionalId, keyType: 1, coordinatorKeys: [] });
    if (found.errorCode !== ErrorCode.NONE) return false;
    const init = await raw.send(ApiKey.InitProducerId, 4, {
      transactionalId,
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    if (init.errorCode !== ErrorCode.NONE) return false;
    out = { producerId: init.producerId, epoch: init.producerEpoch };
    return true;
  }, `InitProducerId for ${transactionalId}`);
  return out!;
}

function txnBatch(producerId: bigint, epoch: number, baseSequence: number, value: string): Buffer {
  return buildRecordBatch({
    records: [{ key: null, value: Buffer.from(value), timestamp: Date.now() }],
    producerId,
    producerEpoch: epoch,
    baseSequence,
    transactional: true,
  });
}

async function produceTxn(raw: RawClient, transactionalId: string, topic: string, records: Buffer) {
  const r = await raw.send(ApiKey.Produce, 9, { ...produceRequest(topic, 0, records), transactionalId });
  return r.responses[0]!.partitionResponses[0]!;
}

async function addPartition(
  raw: RawClient,
  transactionalId: string,
  p: { producerId: bigint; epoch: number },
  topic: string,
) {
  const r = await raw.send(ApiKey.AddPartitionsToTxn, 3, {
    transactions: [],
    v3AndBelowTransactionalId: transactionalId,
    v3AndBelowProducerId: p.producerId,
    v3AndBelowProducerEpoch: p.epoch,
    v3AndBelowTopics: [{ name: topic, partitions: [0] }],
  });
  return r.resultsByTopicV3AndBelow[0]!.resultsByPartition[0]!.partitionErrorCode;
}

async function readValues(raw: RawClient, topic: string, isolationLevel: number): Promise<string[]> {
  const values: string[] = [];
  for (const partition of [0, 1]) {
    const f = await raw.send(ApiKey.Fetch, 12, { ...fetchRequest(topic, partition, 0), isolationLevel });
    const part = f.responses[0]!.partitions[0]!;
    // Kafka's consumer rule: a producer's batches from an aborted transaction's first
    // offset up to that producer's next control batch are skipped.
    const starts = (part.abortedTransactions ?? []).map((a) => ({ pid: a.producerId, first: a.firstOffset }));
    const skipping = new Set<bigint>();
    for (const b of decodeRecordBatches(part.records ?? Buffer.alloc(0))) {
      for (const a of starts) {
        if (a.first >= 0n && a.first <= BigInt(b.baseOffset)) {
          skipping.add(a.pid);
          a.first = -1n;
        }
      }
      if (b.isControl) {
        skipping.delete(b.producerId);
        continue;
      }
      if (isolationLevel === 1 && skipping.has(b.producerId)) continue;
      for (const r of b.records) values.push(r.value?.toString() ?? '');
    }
  }
  return values.sort();
}

const CONFLUENT_TXN = `
import json, sys
from confluent_kafka import Producer
bootstrap, topic = sys.argv[1], sys.argv[2]
p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': 'verify-py', 'transaction.timeout.ms': 20000})
p.init_transactions(20)
p.begin_transaction()
p.produce(topic, value=b'py-committed-0', partition=0)
p.produce(topic, value=b'py-committed-1', partition=1)
p.commit_transaction(20)
p.begin_transaction()
p.produce(topic, value=b'py-aborted', partition=0)
p.flush(20)
p.abort_transaction(20)
p.begin_transaction()
p.produce(topic, value=b'py-again', partition=1)
p.commit_transaction(20)
print(json.dumps({'ok': True}))
`;

void describe('transaction verification (KIP-890 part 1) over the wire', { timeout: 120_000 }, () => {
  let on: TestBroker;
  let off: TestBroker;
  const raws: RawClient[] = [];

  before(async () => {
    [on, off] = await Promise.all([
      startTestBroker({ config: CONFIG }),
      startTestBroker({ config: { ...CONFIG, 'transaction.partition.verification.enable': 'false' } }),
    ]);
    await Promise.all([createTopics(on, ['hang', 'clients']), createTopics(off, ['hang'])]);
  });

  after(async () => {
    for (const r of raws) r.close();
    await Promise.all([on?.stop(), off?.stop()]);
  });

  async function connect(broker: TestBroker): Promise<RawClient> {
    const raw = await RawClient.connect(broker.bootstrap);
    raws.push(raw);
    return raw;
  }

  void it('refuses a transactional write to a partition not in the transaction, and a late one after the abort', async () => {
    const raw = await connect(on);
    const id = 'raw-verify';
    const p = await initProducer(raw, id);
    const partition = on.services.replicas.getPartition('hang', 0)!;

    const refused = await produceTxn(raw, id, 'hang', txnBatch(p.producerId, p.epoch, 0, 'never-added'));
    assert.equal(refused.errorCode, ErrorCode.INVALID_TXN_STATE);
    assert.equal(refused.baseOffset, -1n);
    assert.equal(partition.log.logEndOffset(), 0, 'nothing appended');
    assert.equal(partition.producers.hasOngoingTxn(p.producerId), false);

    assert.equal(await addPartition(raw, id, p, 'hang'), ErrorCode.NONE);
    const ok = await produceTxn(raw, id, 'hang', txnBatch(p.producerId, p.epoch, 0, 'added'));
    assert.equal(ok.errorCode, ErrorCode.NONE);
    assert.equal(ok.baseOffset, 0n);

    const end = await raw.send(ApiKey.EndTxn, 3, {
      transactionalId: id,
      producerId: p.producerId,
      producerEpoch: p.epoch,
      committed: false,
    });
    assert.equal(end.errorCode, ErrorCode.NONE);
    await waitFor(() => partition.log.logEndOffset() === 2, 'the ABORT marker');
    // Until the coordinator has written CompleteAbort it answers CONCURRENT_TRANSACTIONS
    // (produce: NOT_ENOUGH_REPLICAS, retriable); wait for the end of the abort.
    await waitFor(
      async () => (await on.services.transactions.describe(id)).transactionState === 'CompleteAbort',
      'CompleteAbort',
    );
    // A late write of the aborted transaction (no new AddPartitionsToTxn): refused.
    const late = await produceTxn(raw, id, 'hang', txnBatch(p.producerId, p.epoch, 1, 'late'));
    assert.equal(late.errorCode, ErrorCode.INVALID_TXN_STATE);
    assert.equal(partition.log.logEndOffset(), 2);
    assert.equal(partition.lastStableOffset(), partition.highWatermark(), 'no hanging transaction');
  });

  void it('with the setting false the unadded write is appended and hangs the last stable offset', async () => {
    const raw = await connect(off);
    const id = 'raw-no-verify';
    const p = await initProducer(raw, id);
    const partition = off.services.replicas.getPartition('hang', 0)!;
    const r = await produceTxn(raw, id, 'hang', txnBatch(p.producerId, p.epoch, 0, 'hanging'));
    assert.equal(r.errorCode, ErrorCode.NONE);
    assert.equal(r.baseOffset, 0n);
    assert.equal(partition.highWatermark(), 1);
    // Nobody will end this transaction: read_committed is stuck before it.
    assert.equal(partition.lastStableOffset(), 0);
    assert.deepEqual(await readValues(raw, 'hang', 1), []);
  });

  void it('kafkajs and confluent-kafka transactions work with verification on', async () => {
    const kafka = new Kafka({ clientId: 'verify-kafkajs', brokers: [on.bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ transactionalId: 'verify-js', maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    try {
      const t1 = await producer.transaction();
      await t1.send({
        topic: 'clients',
        messages: [
          { value: 'js-committed-0', partition: 0 },
          { value: 'js-committed-1', partition: 1 },
        ],
      });
      await t1.commit();
      const t2 = await producer.transaction();
      await t2.send({ topic: 'clients', messages: [{ value: 'js-aborted', partition: 1 }] });
      await t2.abort();
      const t3 = await producer.transaction();
      await t3.send({ topic: 'clients', messages: [{ value: 'js-again', partition: 0 }] });
      await t3.commit();
    } finally {
      await producer.disconnect();
    }
    const out = JSON.parse(await python(CONFLUENT_TXN, [on.bootstrap, 'clients'])) as { ok: boolean };
    assert.equal(out.ok, true);

    const raw = await connect(on);
    const expected = ['js-again', 'js-committed-0', 'js-committed-1', 'py-again', 'py-committed-0', 'py-committed-1'];
    let seen: string[] = [];
    await waitFor(async () => {
      seen = await readValues(raw, 'clients', 1);
      return seen.length >= expected.length;
    }, 'the committed records below the LSO');
    assert.deepEqual(seen, expected);
    const all = await readValues(raw, 'clients', 0);
    assert.ok(all.includes('js-aborted') && all.includes('py-aborted'), `aborted data in the log: ${all}`);
  });
});
