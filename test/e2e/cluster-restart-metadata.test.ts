/**
 * A restarting broker must not act on the stale metadata it replays from its own disk
 * (Kafka's initial catch-up). Leadership of an RF=3 partition moves twice (its leaders
 * killed and restarted) so that a node that once led it has several leader epochs in its
 * metadata log; that node is then crashed and restarted. Its replica manager's first
 * applied image must already be the caught-up one (the current leader epoch and this
 * incarnation's registration), it must never have led the partition again, and a
 * Produce sent to it right after the restart is answered NOT_LEADER_OR_FOLLOWER.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { Partition } from '../../src/broker/replica/partition.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildSimpleBatch } from '../../src/storage/records.ts';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';
import { RawClient } from './helpers/raw-client.ts';
import { produceRequest } from './helpers/requests.ts';

const TOPIC = 'restart-meta';

void describe('restarting broker and stale metadata', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster({
      brokers: 3,
      config: { 'replica.fetch.wait.max.ms': '100', 'replica.fetch.backoff.ms': '100' },
    });
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
  });
  after(async () => {
    await cluster?.close();
  });

  void it('acts first on the caught-up image, never leads at an old epoch, refuses produce as a follower', {
    timeout: 60_000,
  }, async (t) => {
    const t0 = Date.now();
    const step = (what: string): void => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
    const kafka = new Kafka({ clientId: 'restart-meta', brokers: cluster.bootstrap, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 3 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    step('topic created');

    const partitionOn = (i: number): Partition | undefined =>
      cluster.isRunning(i) ? cluster.broker(i).services.replicas.getPartition(TOPIC, 0) : undefined;
    const leaderOf = (): { id: number; epoch: number } | undefined => {
      for (const i of [1, 2, 3]) {
        const p = partitionOn(i);
        if (p?.isLeader()) return { id: i, epoch: p.leaderEpoch };
      }
      return undefined;
    };
    await cluster.waitFor(() => leaderOf() !== undefined, 10_000, 'a first leader');

    // Two leader changes: kill the leader, wait for a newer one, restart the old one as a follower.
    const history: { id: number; epoch: number }[] = [leaderOf()!];
    for (let round = 0; round < 2; round++) {
      const old = history.at(-1)!;
      step(`round ${round}: killing leader ${old.id} (epoch ${old.epoch})`);
      await cluster.kill(old.id);
      step('killed');
      await cluster.waitFor(
        () => {
          const now = leaderOf();
          return now !== undefined && now.epoch > old.epoch && now.id !== old.id;
        },
        15_000,
        `a leader after epoch ${old.epoch}`,
      );
      history.push(leaderOf()!);
      step(`new leader ${history.at(-1)!.id} (epoch ${history.at(-1)!.epoch}); restarting ${old.id}`);
      await cluster.restart(old.id);
      step('restarted');
      await cluster.waitFor(() => leaderOf()?.id === history.at(-1)!.id, 10_000, 'leader stable');
      await cluster.waitFor(() => partitionOn(old.id)?.isFollower() === true, 10_000, `node ${old.id} following`);
      step(`node ${old.id} following`);
    }
    // The node that led at the middle epoch has older epochs (its own among them) on disk.
    const target = history[1]!.id;
    const current = history[2]!;
    assert.notEqual(target, current.id);
    await cluster.waitFor(
      () => partitionOn(target)?.leaderEpoch === current.epoch,
      10_000,
      `node ${target} at leader epoch ${current.epoch}`,
    );
    const epochBefore = cluster.broker(target).services.replicas.registeredBrokerEpoch(target);

    step(`killing ${target}`);
    await cluster.kill(target);
    const restarted = await cluster.restart(target);
    step(`${target} restarted`);
    const replicas = restarted.services.replicas;

    const first = replicas.firstAppliedImage;
    assert.ok(first !== undefined, 'the replica manager applied an image');
    const firstPartition = first.topicsByName.get(TOPIC)?.partitions.get(0);
    assert.ok(firstPartition !== undefined);
    assert.ok(
      firstPartition.leaderEpoch >= current.epoch,
      `first applied leader epoch ${firstPartition.leaderEpoch} < current ${current.epoch}`,
    );
    assert.notEqual(firstPartition.leader, target);
    const registered = first.brokers.get(target)?.brokerEpoch ?? -1;
    assert.ok(registered > epochBefore, `first image holds the new registration (${registered} > ${epochBefore})`);

    const p = replicas.getPartition(TOPIC, 0);
    assert.ok(p !== undefined);
    assert.equal(p.isLeader(), false);
    assert.ok(p.leaderEpoch >= current.epoch);

    const client = await RawClient.connect(`${restarted.host}:${restarted.port}`);
    try {
      const batch = buildSimpleBatch([{ value: 'stale?' }]);
      const res = await client.send(0, 9, produceRequest(TOPIC, 0, batch, 1));
      assert.equal(res.responses[0]?.partitionResponses[0]?.errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    } finally {
      client.close();
    }
  });
});
