/**
 * Fetch from the closest replica (KIP-392) with real clients on three in-process brokers in
 * racks a, b and c (node i in rack "abc"[i-1]), replica.selector.class =
 * RackAwareReplicaSelector. The topic's replicas are [1, 2, 3], so node 1 (rack a) leads.
 * A consumer in rack b first asks the leader, which answers PreferredReadReplica = 2 and no
 * records; the client then fetches every record from node 2, a follower serving up to its
 * high watermark. kcat (librdkafka, client.rack=b -> node 2) and kafkajs (rackId c -> node 3,
 * records produced while it polls included) each prove it from their own side: kcat's fetch
 * debug lines and kafkajs's request events name the broker of every Fetch. A consumer in
 * the leader's rack, or any consumer without replica.selector.class, reads from the leader
 * only. Also: every broker answers FindCoordinator with the group coordinator.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { RACK_AWARE_REPLICA_SELECTOR } from '../../src/broker/replica/replica-manager.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';
import { KCAT } from './helpers/kcat.ts';
import { RawClient } from './helpers/raw-client.ts';

const RACKS = ['a', 'b', 'c'];
const TOPIC = 'racked';
const RECORDS = 30;

const FAST_REPLICATION = {
  'replica.fetch.wait.max.ms': '100',
  'replica.fetch.backoff.ms': '100',
  // A single __consumer_offsets partition: less to create and replicate before kafkajs joins.
  'offsets.topic.num.partitions': '1',
};

/** Starts the cluster, creates TOPIC (replicas [1,2,3], leader 1), produces RECORDS with acks=all. */
async function racked(selector: boolean): Promise<TestCluster> {
  const cluster = await startTestCluster({
    brokers: 3,
    config: selector
      ? { ...FAST_REPLICATION, 'replica.selector.class': RACK_AWARE_REPLICA_SELECTOR }
      : FAST_REPLICATION,
    nodeConfig: (i) => ({ 'broker.rack': RACKS[i - 1]! }),
  });
  try {
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
    const kafka = new Kafka({ clientId: 'rack-setup', brokers: cluster.bootstrap, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: TOPIC, replicaAssignment: [{ partition: 0, replicas: [1, 2, 3] }] }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({
      topic: TOPIC,
      acks: -1,
      messages: Array.from({ length: RECORDS }, (_, k) => ({ key: `k${k}`, value: `v${k}` })),
    });
    await producer.disconnect();
    const parts = [1, 2, 3].map((i) => cluster.broker(i).services.replicas.getPartition(TOPIC, 0));
    // Every replica in sync with the high watermark at the end: a follower then serves it all.
    await cluster.waitFor(
      () =>
        parts.every((p) => p?.highWatermark() === RECORDS) &&
        parts[0]?.isLeader() === true &&
        parts[0]?.leaderState?.isr.length === 3,
      10_000,
      'three replicas in sync at the end',
    );
    return cluster;
  } catch (err) {
    await cluster.close();
    throw err;
  }
}

/**
 * kcat reads the partition from the beginning to its end as a consumer in `rack`; returns
 * the values and the node id of every Fetch it sent that asked for the partition.
 */
async function kcatConsume(
  cluster: TestCluster,
  rack: string,
): Promise<{ values: string[]; fetchedFrom: number[]; migrations: string[] }> {
  const { stdout, stderr } = await kcatWithStderr([
    '-C',
    '-b',
    cluster.bootstrap.join(','),
    '-t',
    TOPIC,
    '-p',
    '0',
    '-o',
    'beginning',
    '-e',
    '-q',
    '-f',
    '%s\\n',
    '-X',
    `client.rack=${rack}`,
    '-d',
    'fetch',
  ]);
  // librdkafka: "... [thrd:127.0.0.1:PORT/N]: 127.0.0.1:PORT/N: Fetch topic racked [0] at offset ..."
  // and, on a PreferredReadReplica answer, "Topic racked [0]: migrating from broker 1 to 2
  // (leader is 1): preferred replica updated".
  const fetchedFrom: number[] = [];
  const migrations: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /\|FETCH\|.*: [^ ]+\/(\d+): Fetch topic racked \[0\] at offset/.exec(line);
    if (m !== null) fetchedFrom.push(Number(m[1]));
    const p = /Topic racked \[0\]: (migrating from broker \d+ to \d+ \(leader is \d+\)): preferred replica/.exec(line);
    if (p !== null) migrations.push(p[1]!);
  }
  return { values: stdout.split('\n').filter((l) => l !== ''), fetchedFrom, migrations };
}

function kcatWithStderr(args: string[], timeoutMs = 30_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KCAT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kcat timed out: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`kcat exited ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

/**
 * A kafkajs consumer group member in `rack` reads the partition from the beginning until it
 * has every record, then `more` records produced meanwhile (acks=all); returns the values
 * and the node id of every Fetch answered.
 */
async function kafkajsConsume(
  cluster: TestCluster,
  rack: string,
  groupId: string,
  more = 0,
): Promise<{ values: string[]; fetchedFrom: number[] }> {
  const nodeOf = new Map([1, 2, 3].map((i) => [cluster.broker(i).bootstrap, i]));
  const kafka = new Kafka({
    clientId: `rack-${rack}`,
    brokers: cluster.bootstrap,
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({ groupId, rackId: rack, maxWaitTimeInMs: 100 });
  const fetchedFrom: number[] = [];
  consumer.on(consumer.events.REQUEST, (e) => {
    if (e.payload.apiName === 'Fetch') fetchedFrom.push(nodeOf.get(e.payload.broker) ?? -1);
  });
  const values: string[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    const waiters: { count: number; resolve: () => void }[] = [];
    const reach = (count: number): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      const reached = new Promise<void>((resolve) => {
        if (values.length >= count) resolve();
        else waiters.push({ count, resolve });
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`kafkajs got ${values.length} of ${count}`)), 20_000);
      });
      return Promise.race([reached, timeout]).finally(() => clearTimeout(timer));
    };
    await consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value?.toString() ?? '');
        for (const w of waiters) if (values.length >= w.count) w.resolve();
      },
    });
    await reach(RECORDS);
    if (more > 0) {
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      await producer.send({
        topic: TOPIC,
        acks: -1,
        messages: Array.from({ length: more }, (_, k) => ({ value: `v${RECORDS + k}` })),
      });
      await producer.disconnect();
      await reach(RECORDS + more);
    }
  } finally {
    await consumer.disconnect();
  }
  return { values, fetchedFrom };
}

const expected = (n: number): string[] => Array.from({ length: n }, (_, k) => `v${k}`);
const EXPECTED = expected(RECORDS);

void describe('fetch from the closest replica (KIP-392)', { timeout: 90_000 }, () => {
  void describe('with RackAwareReplicaSelector', () => {
    let cluster: TestCluster;
    before(async () => {
      cluster = await racked(true);
    });
    after(async () => {
      await cluster?.close();
    });

    void it('kcat in rack b reads every record from node 2, a follower', async () => {
      const { values, fetchedFrom, migrations } = await kcatConsume(cluster, 'b');
      assert.deepEqual(values, EXPECTED);
      assert.deepEqual(migrations, ['migrating from broker 1 to 2 (leader is 1)']);
      assert.ok(cluster.broker(1).services.replicas.getPartition(TOPIC, 0)?.isLeader());
      assert.equal(cluster.broker(2).services.replicas.getPartition(TOPIC, 0)?.isLeader(), false);
      // The leader answers the first fetch with PreferredReadReplica = 2; all later ones go to 2.
      assert.ok(fetchedFrom.length >= 2, `fetches: ${fetchedFrom.join(',')}`);
      assert.equal(fetchedFrom[0], 1, `the first fetch goes to the leader: ${fetchedFrom.join(',')}`);
      assert.deepEqual(new Set(fetchedFrom.slice(1)), new Set([2]), `fetches: ${fetchedFrom.join(',')}`);
    });

    void it("kcat in the leader's rack a reads from the leader", async () => {
      const { values, fetchedFrom, migrations } = await kcatConsume(cluster, 'a');
      assert.deepEqual(values, EXPECTED);
      assert.deepEqual(migrations, []);
      assert.deepEqual(new Set(fetchedFrom), new Set([1]), `fetches: ${fetchedFrom.join(',')}`);
    });

    void it('kafkajs with rackId c reads every record from node 3, a follower, new ones too', async () => {
      const { values, fetchedFrom } = await kafkajsConsume(cluster, 'c', 'rack-c-group', 10);
      // The last 10 were produced while the consumer long-polled node 3: they reach it once
      // node 3's high watermark passes them.
      assert.deepEqual(values, expected(RECORDS + 10));
      assert.equal(cluster.broker(3).services.replicas.getPartition(TOPIC, 0)?.isLeader(), false);
      assert.equal(fetchedFrom[0], 1, `the first fetch goes to the leader: ${fetchedFrom.join(',')}`);
      assert.ok(fetchedFrom.slice(1).includes(3), `fetches: ${fetchedFrom.join(',')}`);
      // Every fetch after the redirect goes to node 3 (none back to the leader).
      const redirect = fetchedFrom.indexOf(3);
      assert.deepEqual(new Set(fetchedFrom.slice(redirect)), new Set([3]), `fetches: ${fetchedFrom.join(',')}`);
    });

    void it('every broker names the group coordinator (FindCoordinator)', async () => {
      // kafkajs asks one broker again and again: one that does not lead the group's
      // __consumer_offsets partition must name the leader, not answer COORDINATOR_NOT_AVAILABLE.
      const answers = [];
      for (const i of [1, 2, 3]) {
        const client = await RawClient.connect(cluster.broker(i).bootstrap);
        try {
          const r = await client.send(ApiKey.FindCoordinator, 2, {
            key: 'rack-c-group',
            keyType: 0,
            coordinatorKeys: [],
          });
          answers.push({ errorCode: r.errorCode, nodeId: r.nodeId, port: r.port });
        } finally {
          client.close();
        }
      }
      const part = cluster.broker(1).services.groups.partitionFor('rack-c-group');
      const leader = [1, 2, 3].find(
        (i) => cluster.broker(i).services.replicas.getPartition('__consumer_offsets', part)?.isLeader() === true,
      );
      assert.ok(leader !== undefined);
      const expected = { errorCode: 0, nodeId: leader, port: cluster.broker(leader).port };
      assert.deepEqual(answers, [expected, expected, expected]);
    });
  });

  void describe('without replica.selector.class', () => {
    let cluster: TestCluster;
    before(async () => {
      cluster = await racked(false);
    });
    after(async () => {
      await cluster?.close();
    });

    void it('the leader serves every fetch of kcat and kafkajs in rack b', async () => {
      const k = await kcatConsume(cluster, 'b');
      assert.deepEqual(k.values, EXPECTED);
      assert.deepEqual(k.migrations, []);
      assert.deepEqual(new Set(k.fetchedFrom), new Set([1]), `kcat fetches: ${k.fetchedFrom.join(',')}`);
      const j = await kafkajsConsume(cluster, 'b', 'rack-b-group');
      assert.deepEqual(j.values, EXPECTED);
      assert.deepEqual(new Set(j.fetchedFrom), new Set([1]), `kafkajs fetches: ${j.fetchedFrom.join(',')}`);
    });
  });
});
