/**
 * Rack-aware replica placement on an in-process cluster of three broker+controller nodes
 * with broker.rack a, a, b, driven by kafkajs' admin: every partition's replicas are
 * distinct brokers on as many racks as the replication factor allows, leaders are spread
 * over the brokers, added partitions follow the same rule, and a replication factor above
 * the broker count is refused with INVALID_REPLICATION_FACTOR.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';

const RACKS: Record<number, string> = { 1: 'a', 2: 'a', 3: 'b' };
const BROKERS = 3;
const PARTITIONS = 12;

interface PartitionView {
  partitionId: number;
  leader: number;
  replicas: number[];
}

function checkSpread(partitions: PartitionView[], rf: number): void {
  assert.equal(partitions.length > 0, true);
  const rackCount = new Set(Object.values(RACKS)).size;
  const leads = new Map<number, number>();
  for (const p of partitions) {
    assert.equal(p.replicas.length, rf, `partition ${p.partitionId} has ${rf} replicas`);
    assert.equal(new Set(p.replicas).size, rf, `partition ${p.partitionId}: distinct brokers ${p.replicas}`);
    const racks = new Set(p.replicas.map((r) => RACKS[r]));
    assert.equal(racks.size, Math.min(rf, rackCount), `partition ${p.partitionId}: racks of ${p.replicas}`);
    assert.equal(p.leader, p.replicas[0], `partition ${p.partitionId}: the preferred replica leads`);
    leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
  }
  const most = Math.max(...leads.values());
  assert.ok(
    most <= Math.ceil(partitions.length / BROKERS) + 1,
    `leaders spread: ${JSON.stringify([...leads])} over ${partitions.length} partitions`,
  );
}

/** The Kafka error type names anywhere in a kafkajs error (aggregate or wrapped). */
function errorTypes(err: unknown): string[] {
  const out: string[] = [];
  const walk = (e: unknown, depth: number): void => {
    if (typeof e !== 'object' || e === null || depth > 4) return;
    const x = e as { type?: unknown; errors?: unknown; originalError?: unknown; cause?: unknown };
    if (typeof x.type === 'string') out.push(x.type);
    if (Array.isArray(x.errors)) for (const inner of x.errors) walk(inner, depth + 1);
    walk(x.originalError, depth + 1);
    walk(x.cause, depth + 1);
  };
  walk(err, 0);
  return out;
}

void describe('rack-aware placement on three brokers (racks a, a, b)', () => {
  let cluster: TestCluster;
  let kafka: Kafka;
  before(async () => {
    cluster = await startTestCluster({
      brokers: BROKERS,
      nodeConfig: (i) => ({ 'broker.rack': RACKS[i]! }),
    });
    await cluster.waitFor(
      () => {
        const brokers = cluster.activeController()?.controller?.image().brokers;
        return brokers !== undefined && [...brokers.values()].filter((b) => !b.fenced).length === BROKERS;
      },
      20_000,
      'three unfenced brokers',
    );
    kafka = new Kafka({
      clientId: 'cluster-placement',
      brokers: cluster.bootstrap,
      logLevel: logLevel.NOTHING,
      retry: { retries: 8, initialRetryTime: 100 },
    });
  });
  after(async () => {
    await cluster?.close();
  });

  async function partitionsOf(topic: string): Promise<PartitionView[]> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
      return meta!.partitions
        .map((p) => ({ partitionId: p.partitionId, leader: p.leader, replicas: p.replicas }))
        .sort((x, y) => x.partitionId - y.partitionId);
    } finally {
      await admin.disconnect();
    }
  }

  void it('the brokers registered their racks', () => {
    const brokers = cluster.activeController()!.controller!.image().brokers;
    for (const [id, rack] of Object.entries(RACKS)) assert.equal(brokers.get(Number(id))?.rack, rack);
  });

  void it('RF=3 and RF=2 topics: distinct brokers, distinct racks where possible, leaders spread', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      assert.equal(
        await admin.createTopics({
          topics: [
            { topic: 'placed-rf3', numPartitions: PARTITIONS, replicationFactor: 3 },
            { topic: 'placed-rf2', numPartitions: PARTITIONS, replicationFactor: 2 },
          ],
          waitForLeaders: true,
        }),
        true,
      );
    } finally {
      await admin.disconnect();
    }
    const rf3 = await partitionsOf('placed-rf3');
    assert.equal(rf3.length, PARTITIONS);
    checkSpread(rf3, 3);
    const rf2 = await partitionsOf('placed-rf2');
    assert.equal(rf2.length, PARTITIONS);
    checkSpread(rf2, 2);
  });

  void it('added partitions are placed the same way', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: 'placed-rf2', count: PARTITIONS + 6 }] });
    } finally {
      await admin.disconnect();
    }
    let all: PartitionView[] = [];
    // Every broker serves Metadata from its own image: poll (bounded) until the one asked has them.
    for (let attempt = 0; attempt < 40; attempt++) {
      all = await partitionsOf('placed-rf2');
      if (all.length === PARTITIONS + 6 && all.every((p) => p.leader >= 0)) break;
      await delay(50);
    }
    assert.equal(all.length, PARTITIONS + 6);
    checkSpread(
      all.filter((p) => p.partitionId >= PARTITIONS),
      2,
    );
  });

  void it('RF above the broker count is refused with INVALID_REPLICATION_FACTOR', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await assert.rejects(
        admin.createTopics({ topics: [{ topic: 'placed-rf4', numPartitions: 3, replicationFactor: 4 }] }),
        (err: unknown) => {
          assert.ok(errorTypes(err).includes('INVALID_REPLICATION_FACTOR'), `got ${errorTypes(err)}`);
          return true;
        },
      );
      const topics = await admin.listTopics();
      assert.equal(topics.includes('placed-rf4'), false);
    } finally {
      await admin.disconnect();
    }
  });
});
