/**
 * The transaction coordinator on three brokers (startTestCluster): a kafkajs transaction
 * whose partitions are led by other brokers than its coordinator gets its markers there
 * over the network (the leaders verify the produce with that coordinator first, KIP-890).
 * Then the coordinator's broker is killed (a crash, no controlled shutdown) in the middle
 * of a transaction, after its sends and before its commit: another broker leads the
 * __transaction_state partition (replicated), loads it, and a new producer incarnation
 * aborts the open transaction and commits a new one; the old producer is fenced
 * (INVALID_PRODUCER_EPOCH / PRODUCER_FENCED). read_committed on every partition then
 * holds every committed record and none of the aborted one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { RunningBroker } from '../../src/broker/start.ts';
import { TRANSACTION_STATE_TOPIC } from '../../src/coordinator/transaction/coordinator.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import {
  ControlRecordType,
  decodeControlKey,
  decodeRecordBatch,
  decodeRecordBatches,
  iterateBatches,
} from '../../src/protocol/records/index.ts';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';
import { RawClient } from './helpers/raw-client.ts';
import { fetchRequest } from './helpers/requests.ts';

/**
 * The values a consumer sees from offset 0 of a partition, read from its leader with
 * Fetch: read_committed drops, as Kafka's consumer does, a producer's batches from an
 * aborted transaction's first offset up to that producer's next marker. Undefined while
 * the leader answers an error or the LSO is below the HW (a marker still on its way).
 */
async function readValues(b: RunningBroker, topic: string, partition: number, committed: boolean) {
  const raw = await RawClient.connect(b.bootstrap);
  try {
    const f = await raw.send(ApiKey.Fetch, 12, {
      ...fetchRequest(topic, partition, 0),
      isolationLevel: committed ? 1 : 0,
    });
    const part = f.responses[0]!.partitions[0]!;
    if (part.errorCode !== 0 || (committed && part.lastStableOffset !== part.highWatermark)) return undefined;
    const starts = (part.abortedTransactions ?? []).map((a) => ({ pid: a.producerId, first: a.firstOffset }));
    const skipping = new Set<bigint>();
    const values: string[] = [];
    for (const batch of decodeRecordBatches(part.records ?? Buffer.alloc(0))) {
      for (const a of starts) {
        if (a.first >= 0n && a.first <= BigInt(batch.baseOffset)) {
          skipping.add(a.pid);
          a.first = -1n;
        }
      }
      if (batch.isControl) {
        skipping.delete(batch.producerId);
        continue;
      }
      if (committed && skipping.has(batch.producerId)) continue;
      for (const r of batch.records) values.push(r.value?.toString() ?? '');
    }
    return values;
  } finally {
    raw.close();
  }
}

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

    // An open transaction (sent, not committed), then the coordinator's broker crashes.
    const open = await producer.transaction();
    await open.send({ topic: 'cx', messages: [{ partition: 0, value: 'open' }] });
    await cluster.kill(coordinator);
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
    // The old incarnation is fenced: its commit fails with the fencing error, not a retry.
    await assert.rejects(
      () => open.commit(),
      (err: { type?: string; name?: string; message?: string }) => {
        assert.ok(
          err.type === 'INVALID_PRODUCER_EPOCH' || err.type === 'PRODUCER_FENCED',
          `fenced, got ${err.name}: ${err.type} ${err.message}`,
        );
        return true;
      },
    );
    await fresh.disconnect();
    await producer.disconnect().catch(() => {});

    // read_committed after the crash: no committed record lost, the aborted one invisible.
    const expected: Record<number, string[]> = { 0: ['v0'], 1: ['v1', 'fresh'], 2: ['v2'] };
    for (const p of [0, 1, 2]) {
      let seen: string[] | undefined;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const leader = leaderOf('cx', p);
        if (leader > 0 && cluster.isRunning(leader)) {
          seen = await readValues(cluster.broker(leader), 'cx', p, true).catch(() => undefined);
          if (seen !== undefined && seen.length >= expected[p]!.length) break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(seen, expected[p], `read_committed cx-${p}`);
    }
    const uncommitted = await readValues(cluster.broker(leaderOf('cx', 0)), 'cx', 0, false);
    assert.deepEqual(uncommitted, ['v0', 'open'], 'the aborted record is in the log, hidden from read_committed');
    assert.ok((await markersOf(cluster.broker(leaderOf('cx', 0)), 'cx', 0)).some((m) => m.startsWith('ABORT@')));
  });
});
