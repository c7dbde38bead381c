/**
 * The transaction coordinator on three brokers (startTestCluster): a kafkajs transaction
 * whose partitions are led by other brokers than its coordinator gets its markers there
 * over the network; after the coordinator's broker stops, another broker leads its
 * __transaction_state partition (replicated), loads it, and a new producer incarnation is
 * fenced against the state it replayed (its epoch moves on, the old producer is refused).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { RunningBroker } from '../../src/broker/start.ts';
import { TRANSACTION_STATE_TOPIC } from '../../src/coordinator/transaction/coordinator.ts';
import {
  ControlRecordType,
  decodeControlKey,
  decodeRecordBatch,
  iterateBatches,
} from '../../src/protocol/records/index.ts';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';

async function markersOf(b: RunningBroker, topic: string, partition: number): Promise<string[]> {
  const p = b.services.replicas.getPartition(topic, partition);
  if (p === undefined) return [];
  const read = await p.log.read(p.log.logStartOffset(), 1 << 20, {
    maxOffset: p.log.logEndOffset(),
    minOneBatch: true,
  });
  if (read.kind !== 'records') return [];
  const out: string[] = [];
  for (const { position } of iterateBatches(read.records)) {
    const batch = decodeRecordBatch(read.records, position);
    if (!batch.isControl) continue;
    const type = decodeControlKey(batch.records[0]!.key).type;
    out.push(`${type === ControlRecordType.Commit ? 'COMMIT' : 'ABORT'}@${batch.producerEpoch}`);
  }
  return out;
}

void describe('transactions on three brokers', { timeout: 90_000 }, () => {
  let cluster: TestCluster;
  let kafka: Kafka;

  before(async () => {
    cluster = await startTestCluster({
      brokers: 3,
      config: {
        'transaction.state.log.num.partitions': '3',
        'transaction.state.log.replication.factor': '3',
        'transaction.state.log.min.isr': '2',
        'offsets.topic.num.partitions': '3',
        'offsets.topic.replication.factor': '3',
        'replica.fetch.wait.max.ms': '100',
        'replica.fetch.backoff.ms': '100',
      },
    });
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
    kafka = new Kafka({
      clientId: 'txn-cluster',
      brokers: cluster.bootstrap,
      logLevel: logLevel.NOTHING,
      retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: 'cx', numPartitions: 3, replicationFactor: 3 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
  });

  after(async () => {
    await cluster?.close();
  });

  /** The leader in the metadata of the first running broker. */
  const leaderOf = (topic: string, partition: number): number => {
    const i = [1, 2, 3].find((n) => cluster.isRunning(n))!;
    return cluster.broker(i).services.metadata.image().topicsByName.get(topic)?.partitions.get(partition)?.leader ?? -1;
  };

  void it('markers reach partitions led by other brokers; a failover keeps the state and fences', async () => {
    const producer = kafka.producer({ transactionalId: 'cluster-tx', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const txn = await producer.transaction();
    await txn.send({
      topic: 'cx',
      messages: [0, 1, 2].map((partition) => ({ partition, value: `v${partition}` })),
    });
    await txn.commit();

    const coordinatorPartition = cluster.broker(1).services.transactions.partitionFor('cluster-tx');
    const coordinator = leaderOf(TRANSACTION_STATE_TOPIC, coordinatorPartition);
    assert.ok(coordinator > 0);
    const leaders = [0, 1, 2].map((p) => leaderOf('cx', p));
    assert.ok(
      leaders.some((l) => l !== coordinator),
      `a partition led elsewhere than the coordinator (${coordinator}): ${leaders}`,
    );
    for (const p of [0, 1, 2]) {
      const b = cluster.broker(leaders[p]!);
      let markers: string[] = [];
      const deadline = Date.now() + 10_000;
      while (!(markers = await markersOf(b, 'cx', p)).includes('COMMIT@0') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(markers, ['COMMIT@0'], `cx-${p} on broker ${leaders[p]}`);
    }

    // An open transaction, then the coordinator's broker goes away.
    const open = await producer.transaction();
    await open.send({ topic: 'cx', messages: [{ partition: 0, value: 'open' }] });
    await cluster.stop(coordinator);
    await cluster.waitFor(
      () => {
        const l = leaderOf(TRANSACTION_STATE_TOPIC, coordinatorPartition);
        return l > 0 && l !== coordinator && cluster.isRunning(l);
      },
      20_000,
      'a new leader of the transaction state partition',
    );
    const next = leaderOf(TRANSACTION_STATE_TOPIC, coordinatorPartition);
    await cluster.waitFor(
      () =>
        (cluster.broker(next).services.transactions as { runtime?: { status(p: number): string } }).runtime?.status(
          coordinatorPartition,
        ) === 'active',
      20_000,
      'the shard loaded on the new leader',
    );
    const before = await cluster.broker(next).services.transactions.describe('cluster-tx');
    assert.equal(before.transactionState, 'Ongoing', 'replayed from the replicated log');

    // A new incarnation on the new coordinator: the open transaction is aborted, the epoch moves on.
    const fresh = kafka.producer({ transactionalId: 'cluster-tx', idempotent: true, maxInFlightRequests: 1 });
    await fresh.connect();
    const t2 = await fresh.transaction();
    await t2.send({ topic: 'cx', messages: [{ partition: 1, value: 'fresh' }] });
    await t2.commit();
    const after = await cluster.broker(next).services.transactions.describe('cluster-tx');
    assert.equal(after.producerId, before.producerId);
    assert.ok(
      after.producerEpoch >= before.producerEpoch + 2,
      `epoch ${before.producerEpoch} -> ${after.producerEpoch}`,
    );
    await assert.rejects(() => open.commit());
    await fresh.disconnect();
    await producer.disconnect().catch(() => {});
  });
});
