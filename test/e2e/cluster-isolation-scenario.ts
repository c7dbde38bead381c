/**
 * The scenario of cluster-isolation*.test.ts: a partition leader cut off from the rest of the cluster, on three real `runnel start`
 * processes whose inter-node traffic (Raft, broker -> controller, replication) runs through
 * per-pair proxies (startProcessCluster({ proxied: true })); clients still reach every
 * node directly.
 *
 * While cut off, the old leader acknowledges no acks=all write (they time out or fail with
 * NOT_ENOUGH_REPLICAS / NOT_LEADER_OR_FOLLOWER / REQUEST_TIMED_OUT); the two others elect a
 * new leader and keep accepting acks=all writes. Once healed the old leader truncates what
 * it wrote alone, rejoins the ISR, and every replica's log holds every acknowledged record
 * exactly once, at its acknowledged offset, and nothing it wrote while cut off.
 */
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import {
  type Acked,
  checkProducer,
  type ProcessCluster,
  readAll,
  replicaRecords,
  waitUntil,
} from './cluster-process-helpers.ts';

function kafka(bootstrap: string[], retries: number, requestTimeout = 6000): Kafka {
  return new Kafka({
    clientId: 'isolation',
    brokers: bootstrap,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout,
    retry: { retries, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

/** The Kafka error name (or client-side failure) under kafkajs's wrappers. */
function errorType(err: unknown): string {
  let e = err as { type?: string; name?: string; originalError?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    if (typeof e.type === 'string' && e.type !== 'UNKNOWN') return e.type;
    if (e.name === 'KafkaJSRequestTimeoutError') return 'CLIENT_REQUEST_TIMEOUT';
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return String(err);
}

const REFUSALS = new Set([
  'REQUEST_TIMED_OUT',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'NOT_LEADER_OR_FOLLOWER',
  'CLIENT_REQUEST_TIMEOUT',
]);

export interface IsolationOptions {
  /** Cut off the node that is both the partition's leader and the active controller (else one that is not the controller). */
  leaderIsController: boolean;
}

/**
 * Creates a 6-partition RF=3 topic, picks a partition whose leader is (or is not) the active
 * controller, cuts that leader off, and checks what the file header says. Returns the
 * figures as a line for the test output.
 */
export async function isolateLeader(c: ProcessCluster, options: IsolationOptions): Promise<string> {
  const TOPIC = options.leaderIsController ? 'isolated-controller' : 'isolated';
  const all = [1, 2, 3];
  const admin = kafka(c.bootstrap, 8, 30_000).admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      {
        topic: TOPIC,
        numPartitions: 6,
        replicationFactor: 3,
        configEntries: [{ name: 'min.insync.replicas', value: '2' }],
      },
    ],
    waitForLeaders: true,
  });
  await admin.disconnect();
  // Every partition in sync, then the partition this case cuts off: one led by the active
  // controller, or one led by another node.
  const partitions = [0, 1, 2, 3, 4, 5];
  await waitUntil(
    async () => {
      for (const p of partitions) if ((await c.partitionState(TOPIC, p))?.isr.length !== 3) return false;
      return true;
    },
    30_000,
    'a full ISR',
    100,
  );
  const controllerBefore = await c.activeController();
  let P = -1;
  for (const p of partitions) {
    const leader = (await c.partitionState(TOPIC, p))?.leader;
    if ((leader === controllerBefore) === options.leaderIsController) {
      P = p;
      break;
    }
  }
  assert.ok(
    P >= 0,
    `a partition ${options.leaderIsController ? '' : 'not '}led by the active controller ${controllerBefore}`,
  );

  const acked: Acked[] = [];
  let seq = 0;
  /** acks=all sends of `count` records through `bootstrap`, each recorded when acknowledged. */
  const sendAll = async (bootstrap: string[], count: number): Promise<void> => {
    const producer = kafka(bootstrap, 20).producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (let k = 0; k < count; k++) {
        const s = seq++;
        const [answer] = await producer.send({
          topic: TOPIC,
          acks: -1,
          timeout: 5000,
          messages: [{ partition: P, key: `ok-${s}`, value: 'v' }],
        });
        acked.push({ seq: s, partition: P, offset: Number(answer!.baseOffset) });
      }
    } finally {
      await producer.disconnect();
    }
  };

  await sendAll(c.bootstrap, 20);
  const oldLeader = (await c.partitionState(TOPIC, P))!.leader;
  const others = all.filter((i) => i !== oldLeader);

  c.isolate(oldLeader);
  const cutAt = performance.now();

  // Writes straight to the isolated leader: none may be acknowledged.
  const alone = kafka([c.address(oldLeader)], 0).producer();
  await alone.connect();
  const refusals: string[] = [];
  let aloneAcked = 0;
  let electedMs = -1;
  for (let k = 0; k < 40 && (k < 3 || electedMs < 0); k++) {
    try {
      await alone.send({
        topic: TOPIC,
        acks: -1,
        timeout: 2000,
        messages: [{ partition: P, key: `alone-${k}`, value: 'x' }],
      });
      aloneAcked++;
    } catch (err) {
      refusals.push(errorType(err));
    }
    if (electedMs < 0) {
      const s = await c.partitionState(TOPIC, P, others);
      if (s !== undefined && others.includes(s.leader)) electedMs = performance.now() - cutAt;
    }
  }
  await alone.disconnect().catch(() => {});
  assert.equal(aloneAcked, 0, `the isolated leader acknowledged ${aloneAcked} acks=all writes`);
  assert.ok(electedMs >= 0, 'the two others elected a new leader');
  const unexpected = refusals.filter((r) => !REFUSALS.has(r));
  assert.deepEqual(unexpected, [], `refusals: ${refusals.join(', ')}`);

  // The majority side keeps accepting acks=all writes.
  await sendAll(
    others.map((i) => c.address(i)),
    20,
  );
  const newLeader = (await c.partitionState(TOPIC, P, others))!.leader;

  c.heal(oldLeader);
  const healedAt = performance.now();
  await waitUntil(
    async () => {
      const s = await c.partitionState(TOPIC, P, others);
      return s !== undefined && s.isr.length === 3;
    },
    60_000,
    'the old leader back in the ISR',
    100,
  );
  const rejoinMs = performance.now() - healedAt;
  await sendAll(c.bootstrap, 10);

  const consumed = await readAll(c.bootstrap, TOPIC);
  assert.deepEqual(checkProducer(consumed, 'ok', acked, true), []);
  assert.equal(consumed.filter((r) => r.key.startsWith('alone-')).length, 0, 'nothing written alone is readable');

  const controllerAfter = await c.activeController(others);
  const line =
    `isolated leader ${oldLeader} of partition ${P} (active controller was ${controllerBefore}, then ${controllerAfter}), ` +
    `new leader ${newLeader}: elected ${electedMs.toFixed(0)} ms after the cut, old leader back in the ISR ` +
    `${rejoinMs.toFixed(0)} ms after healing; refusals ${[...new Set(refusals)].join(',')} (${refusals.length})`;

  // Every replica's log, read from its directory once the processes are gone.
  for (const i of all) await c.kill(i);
  const logs = await Promise.all(all.map((i) => replicaRecords(c.dataDir(i), TOPIC, P)));
  for (const [k, log] of logs.entries()) {
    const node = all[k]!;
    assert.deepEqual(checkProducer(log, 'ok', acked, true), [], `replica on node ${node}`);
    assert.equal(log.filter((r) => r.key.startsWith('alone-')).length, 0, `node ${node} truncated its lone writes`);
    assert.deepEqual(
      log.map((r) => `${r.offset}:${r.key}`),
      logs[0]!.map((r) => `${r.offset}:${r.key}`),
      `node ${node}'s log is node ${all[0]}'s`,
    );
  }
  return line;
}
