/**
 * Replication on a three-node in-process cluster (startTestCluster) with real clients:
 * kafkajs produces with acks=all, kcat reads back. An RF=3 topic ends identical on every
 * replica; killing the leader elects another from the ISR with every acknowledged record,
 * and the old leader, restarted with a tail it wrote but never replicated, comes back as
 * a follower, truncates that tail (KIP-320 divergence) and rejoins the ISR. A killed
 * follower whose session outlives the test is dropped from the ISR by the leaders' lag
 * check alone: min.insync.replicas=3 then refuses acks=all, 2 still accepts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { Partition } from '../../src/broker/replica/partition.ts';
import { systemClock } from '../../src/env/clock.ts';
import { nodeDisk } from '../../src/env/disk.ts';
import { logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { partitionDirName } from '../../src/storage/log-manager.ts';
import { buildSimpleBatch } from '../../src/storage/records.ts';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';
import { kcat } from './helpers/kcat.ts';

async function contents(p: Partition): Promise<Buffer> {
  const r = await p.log.read(p.log.logStartOffset(), 1 << 24, { maxOffset: p.log.logEndOffset() });
  return r.kind === 'records' ? r.records : Buffer.alloc(0);
}

void describe('replication on three brokers', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster({
      brokers: 3,
      config: {
        'replica.lag.time.max.ms': '1500',
        'replica.fetch.wait.max.ms': '100',
        'replica.fetch.backoff.ms': '100',
      },
    });
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
  });
  after(async () => {
    await cluster?.close();
  });

  void it('acks=all: every replica ends with the same log', async () => {
    const kafka = new Kafka({ clientId: 'h3', brokers: cluster.bootstrap, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic: 'r3',
          numPartitions: 1,
          replicationFactor: 3,
          configEntries: [{ name: 'min.insync.replicas', value: '2' }],
        },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (let i = 0; i < 5; i++) {
      await producer.send({
        topic: 'r3',
        acks: -1,
        messages: Array.from({ length: 4 }, (_, k) => ({ key: `k${k}`, value: `v${i}-${k}` })),
      });
    }
    await producer.disconnect();
    const parts = [1, 2, 3].map((i) => cluster.broker(i).services.replicas.getPartition('r3', 0)!);
    await cluster.waitFor(
      () => parts.every((p) => p.log.logEndOffset() === 20 && p.highWatermark() === 20),
      10_000,
      'replicas at 20',
    );
    const leader = parts.find((p) => p.isLeader())!;
    for (const p of parts) assert.deepEqual(await contents(p), await contents(leader));
  });

  void it('leader killed: a new leader from the ISR keeps every acknowledged record; the old one rejoins as follower', async () => {
    const kafka = new Kafka({
      clientId: 'h3-failover',
      brokers: cluster.bootstrap,
      logLevel: logLevel.NOTHING,
      retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 500 },
    });
    const partitionOn = (i: number) => cluster.broker(i).services.replicas.getPartition('r3', 0)!;
    const oldLeader = [1, 2, 3].find((i) => partitionOn(i).isLeader())!;
    const oldEpoch = partitionOn(oldLeader).leaderEpoch;
    const acknowledged: string[] = [];
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const send = async (tag: string) => {
      const messages = Array.from({ length: 3 }, (_, k) => ({ value: `${tag}-${k}` }));
      await producer.send({ topic: 'r3', acks: -1, messages });
      acknowledged.push(...messages.map((m) => m.value));
    };
    await send('before');
    const oldLogDir = cluster.broker(oldLeader).logDir;
    await cluster.kill(oldLeader);
    // What the old leader wrote last and no follower fetched before it died: a divergent tail.
    const ghost = await FileLog.open({
      dir: join(oldLogDir, partitionDirName('r3', 0)),
      topic: 'r3',
      partition: 0,
      config: logConfig(),
      disk: nodeDisk,
      clock: systemClock,
    });
    await ghost.append(buildSimpleBatch([{ value: 'ghost-0' }, { value: 'ghost-1' }], {}), { leaderEpoch: oldEpoch });
    await ghost.close();
    const others = [1, 2, 3].filter((i) => i !== oldLeader);
    await cluster.waitFor(
      () => others.some((i) => partitionOn(i).isLeader() && partitionOn(i).leaderEpoch > oldEpoch),
      15_000,
      'a new leader',
    );
    const newLeader = others.find((i) => partitionOn(i).isLeader())!;
    assert.ok(others.includes(newLeader));
    await send('after');
    await producer.disconnect();

    await cluster.restart(oldLeader);
    await cluster.waitFor(
      () =>
        partitionOn(oldLeader).isFollower() &&
        partitionOn(oldLeader).log.logEndOffset() === partitionOn(newLeader).log.logEndOffset(),
      15_000,
      'the old leader caught up as a follower',
    );
    assert.deepEqual(await contents(partitionOn(oldLeader)), await contents(partitionOn(newLeader)));
    // Caught up, it is proposed back into the ISR by the new leader (AlterPartition).
    await cluster.waitFor(() => partitionOn(newLeader).isr.length === 3, 15_000, 'the old leader back in the ISR');

    // kcat (librdkafka) reads the whole partition from the new leader: every acknowledged
    // record is there, the old leader's unreplicated tail is not.
    const out = await kcat([
      '-b',
      cluster.bootstrap.join(','),
      '-C',
      '-t',
      'r3',
      '-p',
      '0',
      '-o',
      'beginning',
      '-e',
      '-q',
      '-f',
      '%s\n',
    ]);
    const seen = new Set(out.split('\n').filter((l) => l.length > 0));
    for (const v of acknowledged) assert.ok(seen.has(v), `acknowledged ${v} lost`);
    assert.ok(![...seen].some((v) => v.startsWith('ghost')), 'the divergent tail was truncated');
    assert.equal(partitionOn(oldLeader).log.latestEpoch(), partitionOn(newLeader).log.latestEpoch());
  });
});

void describe('ISR shrink by replica lag on three brokers', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster({
      brokers: 3,
      config: {
        'replica.lag.time.max.ms': '1000',
        'replica.fetch.wait.max.ms': '100',
        'replica.fetch.backoff.ms': '100',
        'broker.session.timeout.ms': '60000',
      },
    });
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
  });
  after(async () => {
    await cluster?.close();
  });

  void it('a killed follower leaves the ISR after replica.lag.time.max.ms: min.insync.replicas=3 refuses, 2 still works', async () => {
    const kafka = new Kafka({ clientId: 'h3-isr', brokers: cluster.bootstrap, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    // Leader L, then the active controller C, then the follower F that will be killed: F leads
    // nothing and killing it leaves the quorum and its leader alone.
    const active = cluster.activeController()!.nodeId;
    const [leaderNode, follower] = [1, 2, 3].filter((i) => i !== active) as [number, number];
    const assignment = [{ partition: 0, replicas: [leaderNode, active, follower] }];
    await admin.createTopics({
      topics: [
        { topic: 'min3', replicaAssignment: assignment, configEntries: [{ name: 'min.insync.replicas', value: '3' }] },
        { topic: 'min2', replicaAssignment: assignment, configEntries: [{ name: 'min.insync.replicas', value: '2' }] },
      ],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const running = () => [1, 2, 3].filter((i) => cluster.isRunning(i));
    const leaderOf = (topic: string) =>
      running()
        .map((i) => cluster.broker(i).services.replicas.getPartition(topic, 0))
        .find((p) => p?.isLeader());
    await cluster.waitFor(() => leaderOf('min3') !== undefined && leaderOf('min2') !== undefined, 10_000, 'leaders');
    const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
    await producer.connect();
    await producer.send({ topic: 'min3', acks: -1, messages: [{ value: 'all-three' }] });

    assert.equal(leaderOf('min3')!.nodeId, leaderNode);
    // Its session outlives the test, so the controller does not fence it: the leaders' lag
    // check (AlterPartition) is what drops it.
    await cluster.kill(follower);
    // A follower that is caught up stays in sync while nothing new arrives (Kafka's rule):
    // write with acks=1 so the leaders' log end offsets move past it.
    await producer.send({ topic: 'min3', acks: 1, messages: [{ value: 'leader-only-3' }] });
    await producer.send({ topic: 'min2', acks: 1, messages: [{ value: 'leader-only-2' }] });
    await cluster.waitFor(() => leaderOf('min3')?.isr.length === 2, 15_000, 'min3 ISR shrunk');
    await cluster.waitFor(() => leaderOf('min2')?.isr.length === 2, 15_000, 'min2 ISR shrunk');
    const image = cluster.activeController()!.services.metadata.image();
    assert.equal(image.brokers.get(follower)?.fenced, false, 'shrunk by the leader, not by fencing');
    await assert.rejects(
      producer.send({ topic: 'min3', acks: -1, messages: [{ value: 'refused' }] }),
      // kafkajs: NOT_ENOUGH_REPLICAS (nothing written), not ..._AFTER_APPEND ("written to the log").
      (err: Error) => /rejected since there are fewer in-sync replicas/.test(err.message),
    );
    await producer.send({ topic: 'min2', acks: -1, messages: [{ value: 'two-is-enough' }] });
    await producer.disconnect();
  });
});
