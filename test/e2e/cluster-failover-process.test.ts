/**
 * Leader kill loop on three real `runnel start` processes (each broker and controller):
 * an RF=3 topic with min.insync.replicas=2, two idempotent acks=all producers writing
 * continuously (kafkajs, and librdkafka through confluent-kafka), and the leader of the
 * partition being produced killed with SIGKILL and restarted again and again. Afterwards
 * every acknowledged record is in the topic at the offset it was acknowledged with, each
 * producer's records are in order in every partition, and none is there twice.
 *
 * The victim is the leader of partition 0 unless that node is also the active controller;
 * then the leader of another partition that is not (a controller failover adds a Raft
 * election and new broker sessions on top, which the benchmark measures separately). The
 * failover time is from the SIGKILL to the first acks=all produce to that partition that
 * succeeds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import {
  type Acked,
  checkProducer,
  firstAckedProduce,
  type ProcessCluster,
  readAll,
  startProcessCluster,
  startPythonProducer,
  waitUntil,
} from './cluster-process-helpers.ts';

const TOPIC = 'failover';
const PARTITIONS = 3;
const KILLS = Number(process.env.FAILOVER_KILLS ?? 20);

function kafka(bootstrap: string[], clientId: string, requestTimeout = 5000): Kafka {
  return new Kafka({
    clientId,
    brokers: bootstrap,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

/**
 * kafkajs idempotent producer: one send at a time, one record per partition per send
 * (three brokers per send; the answer's base offsets are the records' offsets). Before
 * 15ce246 two acknowledgements in a 20-kill run here carried the offset of another record
 * (a retry answered from producer state of truncated records). A send that fails after
 * its retries starts a new producer (a new producer id).
 */
function startKafkajsProducer(bootstrap: string[]) {
  const acked: Acked[] = [];
  const failures: string[] = [];
  let stopping = false;
  let seq = 0;
  const loop = (async () => {
    let producer: Producer | undefined;
    while (!stopping) {
      try {
        if (producer === undefined) {
          producer = kafka(bootstrap, 'kj').producer({ idempotent: true, maxInFlightRequests: 1 });
          await producer.connect();
        }
        const first = seq;
        seq += PARTITIONS;
        const messages = Array.from({ length: PARTITIONS }, (_, k) => ({
          partition: (first + k) % PARTITIONS,
          key: `kj-${first + k}`,
          value: 'v'.repeat(100),
        }));
        const answers = await producer.send({ topic: TOPIC, acks: -1, timeout: 5000, messages });
        for (const m of messages) {
          const a = answers.find((x) => x.partition === m.partition);
          if (a?.baseOffset !== undefined) {
            acked.push({ seq: Number(m.key.slice(3)), partition: m.partition, offset: Number(a.baseOffset) });
          }
        }
      } catch (err) {
        if (failures.length < 100) failures.push(String(err));
        await producer?.disconnect().catch(() => {});
        producer = undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await producer?.disconnect().catch(() => {});
  })();
  return {
    acked,
    failures,
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

void describe('leader kill loop on three processes', { timeout: 240_000 }, () => {
  let cluster: ProcessCluster | undefined;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    cluster = await startProcessCluster({ nodes: 3, logLevel: 'info' });
  });
  after(async () => {
    for (const c of cleanups) await Promise.resolve(c()).catch(() => {});
    await cluster?.close();
  });

  void it(`SIGKILLs the produced partition's leader ${KILLS} times: no acknowledged record lost, none duplicated, order kept`, async () => {
    const c = cluster!;
    const admin = kafka(c.bootstrap, 'setup', 30_000).admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic: TOPIC,
          numPartitions: PARTITIONS,
          replicationFactor: 3,
          configEntries: [{ name: 'min.insync.replicas', value: '2' }],
        },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();

    const kj = startKafkajsProducer(c.bootstrap);
    cleanups.push(() => kj.stop());
    const py = startPythonProducer(c.bootstrap, TOPIC, 'py', PARTITIONS, 200);
    cleanups.push(() => py.kill());

    await waitUntil(() => kj.acked.length > 20 && py.acked.length > 20, 30_000, 'both producers writing');

    const failovers: number[] = [];
    const victims: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const controller = await c.activeController();
      const states = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => c.partitionState(TOPIC, p)));
      const candidates = states.map((s, p) => ({ p, leader: s?.leader ?? -1 })).filter((x) => x.leader > 0);
      const pick = candidates.find((x) => x.leader !== controller) ?? candidates[0];
      assert.ok(pick !== undefined, `round ${k}: no partition has a leader`);
      const before = kj.acked.length + py.acked.length;
      const t0 = performance.now();
      await c.kill(pick.leader);
      failovers.push(await firstAckedProduce(c, TOPIC, pick.p, t0, 30_000));
      victims.push(pick.leader);
      await c.start(pick.leader);
      // Back in every ISR, so that the next kill leaves min.insync.replicas in-sync replicas.
      let isrStates: unknown[] = [];
      await waitUntil(
        async () => {
          isrStates = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => c.partitionState(TOPIC, p)));
          return isrStates.every((s) => (s as { isr: number[] } | undefined)?.isr.length === 3);
        },
        30_000,
        `node ${pick.leader} back in every ISR (round ${k})`,
        100,
      ).catch((err: unknown) => {
        throw new Error(`${err}: ${JSON.stringify(isrStates)}; node ${pick.leader} stderr: ${c.stderrOf(pick.leader)}`);
      });
      // The producers keep getting acknowledgements across the rounds.
      await waitUntil(() => kj.acked.length + py.acked.length > before, 30_000, `acknowledgements after round ${k}`);
    }

    await kj.stop();
    const pyProduced = await py.stop();
    const consumed = await readAll(c.bootstrap, TOPIC);

    const sorted = [...failovers].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    console.log(
      `failover ms over ${failovers.length} kills (victims ${victims.join(',')}): median ${median.toFixed(0)}, ` +
        `max ${sorted.at(-1)!.toFixed(0)}, all ${failovers.map((f) => f.toFixed(0)).join(' ')}; ` +
        `acknowledged kafkajs ${kj.acked.length} (failed sends ${kj.failures.length}), ` +
        `librdkafka ${py.acked.length} of ${pyProduced}; consumed ${consumed.length}`,
    );
    assert.deepEqual(
      py.errors.filter((e) => e.startsWith('F')),
      [],
      'no fatal error in the librdkafka idempotent producer',
    );
    assert.ok(kj.acked.length > 100 && py.acked.length > 100, 'both producers got acknowledgements');
    assert.deepEqual(checkProducer(consumed, 'kj', kj.acked, true), []);
    assert.deepEqual(checkProducer(consumed, 'py', py.acked, true), []);
  });
});
