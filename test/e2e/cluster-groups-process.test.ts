/**
 * Group coordinator failover on three real `runnel start` processes. Two consumer groups
 * whose groups hash to the same __consumer_offsets partition (RF=3) consume an RF=3 topic:
 * a kafkajs group of two members and a librdkafka (confluent-kafka) consumer. The node
 * coordinating both groups is killed with SIGKILL while records are produced. Both groups
 * find the new coordinator and consume every record produced after the kill; the offsets
 * committed before the kill survive (no record committed before it comes again); no record
 * is skipped (every offset of every partition is delivered); the new coordinator takes
 * commits; and a new kafkajs member, after the old ones left, starts exactly at the
 * committed offsets.
 *
 * kafkajs keeps sending heartbeats to the dead coordinator's address and only looks the
 * coordinator up again after its runner exhausts its retries and restarts the consumer; each
 * retry waits for the fetch long-poll first. The members therefore use a short
 * `maxWaitTimeInMs`, a short retry policy and Kafka's minimum session timeout (the new
 * coordinator keeps the old member ids until their sessions expire), as a user wanting a
 * quick failover would. See docs/cluster-tests.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Admin, type Consumer, Kafka, logLevel } from 'kafkajs';
import { partitionFor } from '../../src/coordinator/runtime/hash.ts';
import {
  type Delivered,
  type ProcessCluster,
  type RunningPyConsumer,
  startProcessCluster,
  startPythonConsumer,
  waitUntil,
} from './cluster-process-helpers.ts';
import { RawClient } from './helpers/raw-client.ts';

const TOPIC = 'grouped';
const PARTITIONS = 4;
const OFFSETS_PARTITIONS = 6;
const GROUP = 'failover-group';
/** A second group on the same __consumer_offsets partition (so the same coordinator), for librdkafka. */
const RDK_GROUP = (() => {
  const target = partitionFor(GROUP, OFFSETS_PARTITIONS);
  for (let i = 0; ; i++) {
    if (partitionFor(`failover-rdkafka-${i}`, OFFSETS_PARTITIONS) === target) return `failover-rdkafka-${i}`;
  }
})();
/** Kafka's default group.min.session.timeout.ms: the shortest session a member may ask for. */
const SESSION_TIMEOUT_MS = 6000;

function kafka(bootstrap: string[], clientId = 'groups-failover', requestTimeout = 6000): Kafka {
  return new Kafka({
    clientId,
    brokers: bootstrap,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

function runningNodes(c: ProcessCluster): string[] {
  return [1, 2, 3].filter((i) => c.isRunning(i)).map((i) => c.address(i));
}

async function withAdmin<T>(c: ProcessCluster, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka(runningNodes(c), 'groups-failover-admin', 10_000).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** The group's coordinator as FindCoordinator through a running node answers it; -1 when none. */
async function coordinatorOf(c: ProcessCluster, groupId: string): Promise<number> {
  for (const i of [1, 2, 3].filter((x) => c.isRunning(x))) {
    let raw: RawClient | undefined;
    try {
      raw = await RawClient.connect(c.address(i));
      const answer = await raw.send(10, 1, { key: groupId, keyType: 0, coordinatorKeys: [] });
      if (answer.errorCode === 0) return answer.nodeId;
    } catch {
      // the next node
    } finally {
      raw?.close();
    }
  }
  return -1;
}

/** Committed offsets of a group, partition -> offset (-1: none). */
async function committed(admin: Admin, groupId: string): Promise<Map<number, number>> {
  const [topic] = await admin.fetchOffsets({ groupId, topics: [TOPIC] });
  return new Map(topic!.partitions.map((p) => [p.partition, Number(p.offset)]));
}

async function highWatermarks(admin: Admin): Promise<Map<number, number>> {
  return new Map((await admin.fetchTopicOffsets(TOPIC)).map((p) => [p.partition, Number(p.high)]));
}

/** Waits until both groups have committed every partition to `ends`. */
async function waitCommitted(c: ProcessCluster, ends: Map<number, number>, timeoutMs: number, what: string) {
  await withAdmin(c, (admin) =>
    waitUntil(
      async () => {
        for (const groupId of [GROUP, RDK_GROUP]) {
          const offsets = await committed(admin, groupId).catch(() => new Map<number, number>());
          if (![...ends].every(([p, end]) => offsets.get(p) === end)) return false;
        }
        return true;
      },
      timeoutMs,
      what,
      200,
    ),
  );
}

/** Problems with one group's deliveries: an offset below `end` never delivered, or one committed before the kill delivered again. */
function deliveryProblems(
  who: string,
  delivered: readonly Delivered[],
  ends: Map<number, number>,
  committedBeforeKill: Map<number, number>,
): string[] {
  const problems: string[] = [];
  const times = new Map<string, number>();
  for (const d of delivered)
    times.set(`${d.partition}:${d.offset}`, (times.get(`${d.partition}:${d.offset}`) ?? 0) + 1);
  for (const [p, end] of ends) {
    const missing: number[] = [];
    for (let o = 0; o < end; o++) if (!times.has(`${p}:${o}`)) missing.push(o);
    if (missing.length > 0) problems.push(`${who}: partition ${p} offsets never delivered: ${missing.slice(0, 10)}`);
    const floor = committedBeforeKill.get(p) ?? 0;
    const again = [...times].filter(([k, n]) => n > 1 && k.startsWith(`${p}:`) && Number(k.split(':')[1]) < floor);
    if (again.length > 0) {
      problems.push(`${who}: partition ${p} offsets committed before the kill (< ${floor}) delivered again: ${again}`);
    }
  }
  return problems;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

void describe('group coordinator failover on three processes', { timeout: 150_000 }, () => {
  let cluster: ProcessCluster | undefined;
  const consumers: Consumer[] = [];
  let rdkafka: RunningPyConsumer | undefined;
  /** Set before members are stopped on purpose: a crash then does not restart them. */
  let stopping = false;
  before(async () => {
    cluster = await startProcessCluster({
      nodes: 3,
      config: { 'offsets.topic.num.partitions': String(OFFSETS_PARTITIONS) },
    });
  });
  after(async () => {
    stopping = true;
    // Bounded: a consumer whose brokers are gone may take long to disconnect.
    const bounded = (p: Promise<unknown>) =>
      Promise.race([p.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await Promise.all([
      ...consumers.map((consumer) => bounded(consumer.disconnect())),
      bounded(rdkafka?.stop(3000) ?? Promise.resolve()),
    ]);
    rdkafka?.kill();
    await cluster?.close();
  });

  void it('both groups keep consuming on the new coordinator; commits survive; no record skipped', async (t) => {
    const c = cluster!;
    const t0 = performance.now();
    const phase = (what: string) => t.diagnostic(`${seconds(performance.now() - t0)}: ${what}`);
    await withAdmin(c, (admin) =>
      admin.createTopics({
        topics: [
          {
            topic: TOPIC,
            numPartitions: PARTITIONS,
            replicationFactor: 3,
            configEntries: [{ name: 'min.insync.replicas', value: '2' }],
          },
        ],
        waitForLeaders: true,
      }),
    );

    let seq = 0;
    /** When each record's produce was acknowledged. */
    const producedAt = new Map<string, number>();
    const produce = async (count: number): Promise<string[]> => {
      const keys: string[] = [];
      const producer = kafka(runningNodes(c), 'groups-failover-producer').producer({
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      try {
        for (let sent = 0; sent < count; sent += 50) {
          const messages = Array.from({ length: Math.min(50, count - sent) }, () => ({
            key: `r-${seq++}`,
            value: 'v',
          }));
          await producer.send({ topic: TOPIC, acks: -1, timeout: 5000, messages });
          const at = performance.now();
          for (const m of messages) producedAt.set(m.key, at);
          keys.push(...messages.map((m) => m.key));
        }
      } finally {
        await producer.disconnect();
      }
      return keys;
    };

    // kafkajs members: every delivery, and when each member (re)joined.
    const delivered: (Delivered & { member: number })[] = [];
    const seen = new Set<string>();
    const joins = new Map<number, number[]>();
    const startMember = async (): Promise<Consumer> => {
      const n = consumers.length + 1;
      const consumer = kafka(c.bootstrap, `member-${n}`).consumer({
        groupId: GROUP,
        sessionTimeout: SESSION_TIMEOUT_MS,
        heartbeatInterval: 500,
        rebalanceTimeout: 10_000,
        // Heartbeats run between fetches: a short long-poll lets them notice a dead coordinator soon.
        maxWaitTimeInMs: 500,
        // After these retries on the dead coordinator the consumer restarts and looks it up again.
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 500, restartOnFailure: async () => !stopping },
      });
      consumers.push(consumer);
      joins.set(n, []);
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        joins.get(n)!.push(performance.now());
        phase(`member ${n} joined, partitions ${JSON.stringify(e.payload.memberAssignment[TOPIC] ?? [])}`);
      });
      consumer.on(consumer.events.CRASH, (e) =>
        phase(`member ${n} crashed: ${String(e.payload.error).slice(0, 120)} restart=${e.payload.restart}`),
      );
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({
        autoCommitInterval: 1000,
        eachMessage: async ({ partition, message }) => {
          const key = message.key!.toString();
          seen.add(key);
          delivered.push({ member: n, partition, offset: Number(message.offset), key, atMs: performance.now() });
        },
      });
      return consumer;
    };

    phase(`topic created; producing (librdkafka group ${RDK_GROUP})`);
    const firstKeys = await produce(1000);
    // __consumer_offsets is created by the first FindCoordinator: wait for its leaders.
    await waitUntil(async () => (await coordinatorOf(c, GROUP)) > 0, 60_000, 'a group coordinator', 200);
    rdkafka = startPythonConsumer(c.bootstrap, TOPIC, RDK_GROUP, SESSION_TIMEOUT_MS);
    const rdk = rdkafka;
    const rdkSeen = (key: string) => rdk.delivered.some((d) => d.key === key);
    const members = [await startMember(), await startMember()];
    phase('members started');
    await waitUntil(() => firstKeys.every((k) => seen.has(k)), 60_000, 'kafkajs consuming the first records', 100);
    await waitUntil(
      () => {
        const keys = new Set(rdk.delivered.map((d) => d.key));
        return firstKeys.every((k) => keys.has(k));
      },
      60_000,
      `librdkafka consuming the first records (${rdk.events.join('; ')})`,
      100,
    );
    phase('first records consumed by both groups');
    const ends = await withAdmin(c, highWatermarks);
    await waitCommitted(c, ends, 30_000, 'both groups committing to the end');
    const { beforeKill, rdkBeforeKill } = await withAdmin(c, async (admin) => ({
      beforeKill: await committed(admin, GROUP),
      rdkBeforeKill: await committed(admin, RDK_GROUP),
    }));
    phase('both groups committed to the end');

    const coordinator = await coordinatorOf(c, GROUP);
    assert.ok(coordinator > 0, 'the group has a coordinator');
    assert.equal(await coordinatorOf(c, RDK_GROUP), coordinator, 'both groups have the same coordinator');
    const killedAt = performance.now();
    await c.kill(coordinator);
    phase(`coordinator ${coordinator} killed`);

    // Records produced after the kill reach both groups through the new coordinator.
    const afterKeys = await produce(1000);
    phase('produced after the kill');
    try {
      await waitUntil(
        () => afterKeys.every((k) => seen.has(k)),
        45_000,
        'kafkajs consuming the records produced after the kill',
        100,
      );
      phase('kafkajs group consumed everything produced after the kill');
      await waitUntil(
        () => {
          const keys = new Set(rdk.delivered.map((d) => d.key));
          return afterKeys.every((k) => keys.has(k));
        },
        30_000,
        'librdkafka consuming the records produced after the kill',
        100,
      );
      phase('librdkafka group consumed everything produced after the kill');
      // Both kafkajs members are back in the group (a member may sit in its retries while the other has all partitions).
      await waitUntil(
        () => [1, 2].every((n) => joins.get(n)!.some((at) => at > killedAt)),
        30_000,
        'both kafkajs members rejoining',
        100,
      );
    } catch (err) {
      const stalled = await withAdmin(c, async (admin) => {
        const highs = await highWatermarks(admin);
        const parts = [];
        for (const groupId of [GROUP, RDK_GROUP]) {
          const offsets = await committed(admin, groupId).catch(() => new Map<number, number>());
          parts.push(`${groupId}: ${[...highs].map(([p, h]) => `${p}:${offsets.get(p) ?? '?'}/${h}`).join(' ')}`);
        }
        return parts.join('; ');
      }).catch((e: unknown) => String(e));
      phase(
        `stalled: kafkajs missing ${afterKeys.filter((k) => !seen.has(k)).length}, librdkafka missing ` +
          `${afterKeys.filter((k) => !rdkSeen(k)).length}; committed/end ${stalled}; librdkafka events: ${rdk.events.slice(-10).join('; ')}`,
      );
      throw err;
    }
    const afterSet = new Set(afterKeys);
    const firstAfter = (ds: readonly Delivered[]) =>
      Math.min(...ds.filter((d) => afterSet.has(d.key)).map((d) => d.atMs));
    const allAfter = (ds: readonly Delivered[]) => {
      const firstOf = new Map<string, number>();
      for (const d of ds) if (afterSet.has(d.key) && !firstOf.has(d.key)) firstOf.set(d.key, d.atMs);
      return Math.max(...firstOf.values());
    };
    /** Longest wait of a record produced after the kill, from its acknowledgement to its first delivery. */
    const maxLag = (ds: readonly Delivered[]) => {
      const firstOf = new Map<string, number>();
      for (const d of ds) if (afterSet.has(d.key) && !firstOf.has(d.key)) firstOf.set(d.key, d.atMs);
      return Math.max(...[...firstOf].map(([k, at]) => at - producedAt.get(k)!));
    };
    const timings =
      `kafkajs first record after the kill ${seconds(firstAfter(delivered) - killedAt)}, all ${seconds(allAfter(delivered) - killedAt)}, ` +
      `longest produce-to-consume ${seconds(maxLag(delivered))}; ` +
      `librdkafka first ${seconds(firstAfter(rdk.delivered) - killedAt)}, all ${seconds(allAfter(rdk.delivered) - killedAt)}, ` +
      `longest ${seconds(maxLag(rdk.delivered))}`;
    phase(timings);

    const newCoordinator = await coordinatorOf(c, GROUP);
    assert.ok(newCoordinator > 0 && newCoordinator !== coordinator, `a new coordinator (${newCoordinator})`);
    // The new coordinator takes commits (to the end), over what was committed before the kill.
    const ends2 = await withAdmin(c, highWatermarks);
    await waitCommitted(c, ends2, 30_000, 'both groups committing to the end through the new coordinator');
    phase(`both groups committed to the end on coordinator ${newCoordinator}`);

    // The old members and the librdkafka consumer leave; a new kafkajs member starts at the committed offsets.
    stopping = true;
    for (const m of members) await m.disconnect();
    await rdk.stop();
    await withAdmin(c, (admin) =>
      waitUntil(
        async () => (await admin.describeGroups([GROUP])).groups[0]?.state === 'Empty',
        20_000,
        'the group empty after its members left',
        200,
      ),
    );
    await c.start(coordinator);
    phase('old members gone, old coordinator restarted');
    stopping = false;
    const lastKeys = await produce(100);
    const firstDelivery = delivered.length;
    await startMember();
    await waitUntil(() => lastKeys.every((k) => seen.has(k)), 30_000, 'the new member consuming', 100);
    phase('the new member consumed the last records');
    const newMember = delivered.slice(firstDelivery);
    assert.ok(
      newMember.every((d) => d.member === 3),
      'only the new member consumed',
    );
    for (const [p, end] of ends2) {
      const first = newMember.find((d) => d.partition === p);
      assert.equal(first?.offset, end, `partition ${p}: the new member starts at the committed offset ${end}`);
    }

    const finalEnds = await withAdmin(c, highWatermarks);
    const problems = [
      ...deliveryProblems('kafkajs', delivered, finalEnds, beforeKill),
      ...deliveryProblems('librdkafka', rdk.delivered, ends2, rdkBeforeKill),
    ];
    assert.deepEqual(problems, [], 'every offset delivered; nothing committed before the kill delivered again');
    const redelivered = (ds: readonly Delivered[]) =>
      ds.length - new Set(ds.map((d) => `${d.partition}:${d.offset}`)).size;
    console.log(
      `coordinator ${coordinator} killed, new coordinator ${newCoordinator}; ${timings}; ` +
        `${seq} records; redelivered (at least once, after the last commit): kafkajs ${redelivered(delivered)}, ` +
        `librdkafka ${redelivered(rdk.delivered)}`,
    );
  });
});
