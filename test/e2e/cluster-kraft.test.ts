/**
 * KRaft on an in-process cluster: three broker+controller nodes (a 3-voter quorum) and a
 * broker-only fourth node (an observer), with kafkajs as the client. The quorum elects
 * an active controller; topics created on any broker reach every broker's Metadata; the
 * quorum keeps working with a voter down and the voter catches up when it returns; a
 * broker cut off from the controllers is fenced (gone from Metadata and DescribeCluster)
 * and unfenced once it heartbeats again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { clusterIdFromVoters } from '../../src/broker/start.ts';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';

function admin(bootstrap: string | string[]) {
  return new Kafka({
    clientId: 'cluster-kraft',
    brokers: Array.isArray(bootstrap) ? bootstrap : [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100 },
  }).admin();
}

/** The brokers each node's Metadata lists and the topics it knows. */
async function metadataOf(bootstrap: string, topics: string[]) {
  const a = admin(bootstrap);
  await a.connect();
  try {
    const cluster = await a.describeCluster();
    const meta = topics.length > 0 ? (await a.fetchTopicMetadata({ topics })).topics : [];
    return { brokers: cluster.brokers.map((b) => b.nodeId).sort(), topics: meta };
  } finally {
    await a.disconnect();
  }
}

void describe('KRaft cluster', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster({ brokers: 4, controllers: 3 });
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
  });
  after(async () => {
    await cluster?.close();
  });

  void it('elects one active controller and every node agrees on the leader and cluster id', () => {
    const active = cluster.activeController()!;
    assert.ok(active.nodeId >= 1 && active.nodeId <= 3, 'a voter leads');
    const actives = [1, 2, 3, 4].filter((i) => cluster.broker(i).controller?.isActive() === true);
    assert.deepEqual(actives, [active.nodeId]);
    for (const i of [1, 2, 3, 4]) {
      assert.equal(cluster.broker(i).raft.leaderAndEpoch().leaderId, active.nodeId, `node ${i} knows the leader`);
      assert.equal(cluster.broker(i).clusterId, active.clusterId);
    }
    assert.equal(cluster.broker(4).controller, undefined, 'node 4 is broker-only');
  });

  void it('a topic created through a broker that is not the controller shows on every broker', async () => {
    const active = cluster.activeController()!.nodeId;
    const via = [1, 2, 3, 4].find((i) => i !== active)!;
    const a = admin(cluster.broker(via).bootstrap);
    await a.connect();
    try {
      assert.equal(
        await a.createTopics({ topics: [{ topic: 'everywhere', numPartitions: 3, replicationFactor: 3 }] }),
        true,
      );
    } finally {
      await a.disconnect();
    }
    await cluster.waitFor(
      () => [1, 2, 3, 4].every((i) => cluster.broker(i).services.metadata.image().topicsByName.has('everywhere')),
      10_000,
      'the topic on every node',
    );
    for (const i of [1, 2, 3, 4]) {
      const m = await metadataOf(cluster.broker(i).bootstrap, ['everywhere']);
      assert.deepEqual(m.brokers, [1, 2, 3, 4], `node ${i} lists every broker`);
      assert.equal(m.topics[0]?.partitions.length, 3);
      for (const p of m.topics[0]!.partitions) assert.equal(p.replicas.length, 3);
    }
    // The broker-only node got a broker epoch from the controller (the offset of its registration).
    assert.ok(cluster.broker(4).services.brokerEpoch() > 0n);
  });

  void it('keeps working with a voter down; the voter catches up when it returns', async () => {
    const victim = cluster.activeController()!.nodeId;
    await cluster.kill(victim);
    await cluster.waitFor(
      () => cluster.activeController() !== undefined && cluster.activeController()!.nodeId !== victim,
      20_000,
      'a new active controller',
    );
    // One broker: it answers CreateTopics once its own image has the topic (read your writes).
    const via = [1, 2, 3, 4].find((i) => cluster.isRunning(i))!;
    const a = admin(cluster.broker(via).bootstrap);
    await a.connect();
    try {
      assert.equal(
        await a.createTopics({ topics: [{ topic: 'while-down', numPartitions: 1, replicationFactor: 2 }] }),
        true,
      );
    } finally {
      await a.disconnect();
    }
    const back = await cluster.restart(victim);
    await cluster.waitFor(
      () => back.services.metadata.image().topicsByName.has('while-down'),
      20_000,
      'the restarted voter to catch up',
    );
    assert.ok(back.services.metadata.image().topicsByName.has('everywhere'));
    assert.equal(back.controller?.isActive(), false);
  });

  void it('a broker cut off from the controllers is fenced, and unfenced when it returns', async () => {
    const fencedIn = (i: number) => cluster.activeController()?.services.metadata.image().brokers.get(i)?.fenced;
    // Every replica back in sync first (the voter restarted above may still be catching up):
    // otherwise fencing node 4 can leave a partition without an eligible leader, and Metadata
    // rightly answers LEADER_NOT_AVAILABLE for it, which kafkajs's describeCluster throws on.
    const allInSync = (): boolean => {
      const image = cluster.activeController()?.services.metadata.image();
      if (image === undefined) return false;
      for (const topic of image.topicsByName.values()) {
        for (const p of topic.partitions.values()) if (p.isr.length !== p.replicas.length) return false;
      }
      return true;
    };
    await cluster.waitFor(allInSync, 15_000, 'every replica in sync');
    cluster.isolate(4);
    await cluster.waitFor(() => fencedIn(4) === true, 15_000, 'node 4 fenced');
    const via = cluster.activeController()!;
    const m = await metadataOf(via.bootstrap, []);
    assert.deepEqual(m.brokers, [1, 2, 3], 'a fenced broker is not listed');
    cluster.heal(4);
    await cluster.waitFor(() => fencedIn(4) === false, 15_000, 'node 4 unfenced');
  });

  void it('derives one cluster id from the voters', () => {
    const voters = [
      { id: 2, host: 'b', port: 2 },
      { id: 1, host: 'a', port: 1 },
    ];
    assert.equal(clusterIdFromVoters(voters), clusterIdFromVoters([...voters].reverse()));
    assert.notEqual(clusterIdFromVoters(voters), clusterIdFromVoters([{ id: 1, host: 'a', port: 1 }]));
    assert.match(clusterIdFromVoters(voters), /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});

void describe('KRaft with controller-only nodes', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster({
      brokers: 4,
      controllers: 3,
      controllerOnly: true,
      // Snapshots every few records: a voter that was away catches up through FetchSnapshot.
      config: { 'metadata.log.max.record.bytes.between.snapshots': '512' },
    });
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
  });
  after(async () => {
    await cluster?.close();
  });

  void it('a broker-only node joins a quorum of controllers and serves clients', async () => {
    assert.deepEqual(cluster.bootstrap, [cluster.broker(4).bootstrap]);
    const a = admin(cluster.bootstrap);
    await a.connect();
    try {
      assert.equal(
        await a.createTopics({ topics: [{ topic: 'on-broker-4', numPartitions: 2, replicationFactor: 1 }] }),
        true,
      );
      const m = await a.fetchTopicMetadata({ topics: ['on-broker-4'] });
      assert.equal(m.topics[0]?.partitions.length, 2);
      const c = await a.describeCluster();
      assert.deepEqual(
        c.brokers.map((b) => b.nodeId),
        [4],
        'controllers are not brokers',
      );
    } finally {
      await a.disconnect();
    }
  });

  void it('a voter that missed snapshotted records catches up through FetchSnapshot', async () => {
    const active = cluster.activeController()!.nodeId;
    const away = [1, 2, 3].find((i) => i !== active)!;
    await cluster.kill(away);
    const a = admin(cluster.bootstrap);
    await a.connect();
    try {
      for (let i = 0; i < 8; i++) {
        await a.createTopics({ topics: [{ topic: `missed-${i}`, numPartitions: 1, replicationFactor: 1 }] });
      }
    } finally {
      await a.disconnect();
    }
    const leader = cluster.activeController()!;
    await cluster.waitFor(() => leader.metadataLog.snapshotsWritten > 0, 10_000, 'a snapshot on the leader');
    const back = await cluster.restart(away);
    await cluster.waitFor(
      () => back.services.metadata.image().topicsByName.has('missed-7'),
      20_000,
      'the returning voter to catch up',
    );
    assert.ok(back.raft.node.stats.snapshotsFetched > 0, 'it fetched a snapshot from the leader');
    assert.ok(back.services.metadata.image().topicsByName.has('on-broker-4'));
  });
});
