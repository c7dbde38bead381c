/**
 * The admin path with kafkajs 2.2.4: metadata, topics created, described, grown and
 * deleted, configs described and altered, errors for what Kafka refuses, and topics that
 * survive a restart (the metadata log is replayed).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';

/** kafkajs's ConfigResourceTypes (Kafka's resource type ids). */
const ConfigResourceTypes = { TOPIC: 2, BROKER: 4 } as const;

import { startTestBroker, type TestBroker } from './fixture.ts';

const TIMEOUT = { timeout: 30_000 };

function client(broker: TestBroker) {
  return new Kafka({
    clientId: 'runnel-e2e',
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 50 },
  });
}

async function rejectsWith(promise: Promise<unknown>, type: string): Promise<void> {
  await assert.rejects(promise, (err: Error & { type?: string; errors?: { type?: string }[] }) => {
    const types: (string | undefined)[] = [];
    const walk = (e: unknown): void => {
      if (e === null || typeof e !== 'object') return;
      const x = e as { type?: string; errors?: unknown[]; cause?: unknown; originalError?: unknown };
      types.push(x.type);
      for (const inner of x.errors ?? []) walk(inner);
      walk(x.cause);
      walk(x.originalError);
    };
    walk(err);
    assert.ok(types.includes(type), `expected ${type}, got ${types.join(',')}: ${err.message}`);
    return true;
  });
}

void describe('kafkajs admin', TIMEOUT, () => {
  let broker: TestBroker;
  let admin: ReturnType<Kafka['admin']>;

  before(async () => {
    broker = await startTestBroker();
    admin = client(broker).admin();
    await admin.connect();
  });
  after(async () => {
    await admin?.disconnect();
    await broker?.stop();
  });

  void it('describes the cluster: one broker, which is the controller', async () => {
    const cluster = await admin.describeCluster();
    assert.equal(cluster.brokers.length, 1);
    assert.equal(cluster.brokers[0]!.nodeId, broker.nodeId);
    assert.equal(cluster.brokers[0]!.port, broker.port);
    assert.equal(cluster.controller, broker.nodeId);
    assert.equal(cluster.clusterId, broker.clusterId);
  });

  void it('creates topics, lists them and fetches their metadata', async () => {
    assert.equal(
      await admin.createTopics({
        topics: [
          { topic: 'orders', numPartitions: 3 },
          { topic: 'events', configEntries: [{ name: 'retention.ms', value: '60000' }] },
        ],
        waitForLeaders: true,
      }),
      true,
    );
    const topics = await admin.listTopics();
    assert.ok(topics.includes('orders') && topics.includes('events'));
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: ['orders'] });
    assert.equal(meta[0]!.partitions.length, 3);
    for (const p of meta[0]!.partitions) {
      assert.equal(p.leader, broker.nodeId);
      assert.deepEqual(p.replicas, [broker.nodeId]);
      assert.deepEqual(p.isr, [broker.nodeId]);
    }
  });

  void it('refuses an existing topic, bad names, bad partition counts and RF > brokers', async () => {
    assert.equal(await admin.createTopics({ topics: [{ topic: 'orders' }] }), false); // kafkajs hides TOPIC_ALREADY_EXISTS
    await rejectsWith(admin.createTopics({ topics: [{ topic: 'bad name!' }] }), 'INVALID_TOPIC_EXCEPTION');
    await rejectsWith(admin.createTopics({ topics: [{ topic: 'zero', numPartitions: 0 }] }), 'INVALID_PARTITIONS');
    await rejectsWith(
      admin.createTopics({ topics: [{ topic: 'rf3', replicationFactor: 3 }] }),
      'INVALID_REPLICATION_FACTOR',
    );
    await rejectsWith(
      admin.createTopics({ topics: [{ topic: 'orders_x.y' }, { topic: 'orders.x_y' }] }),
      'INVALID_TOPIC_EXCEPTION',
    );
    await rejectsWith(
      admin.createTopics({ topics: [{ topic: 'badcfg', configEntries: [{ name: 'retention.ms', value: 'soon' }] }] }),
      'INVALID_CONFIG',
    );
    await rejectsWith(
      admin.createTopics({ topics: [{ topic: 'badcfg', configEntries: [{ name: 'no.such.config', value: '1' }] }] }),
      'INVALID_CONFIG',
    );
    assert.ok(!(await admin.listTopics()).includes('badcfg'));
  });

  void it('validateOnly creates nothing', async () => {
    assert.equal(
      await admin.createTopics({
        topics: [{ topic: 'dry-run', numPartitions: 2 }],
        validateOnly: true,
        waitForLeaders: false,
      }),
      true,
    );
    assert.ok(!(await admin.listTopics()).includes('dry-run'));
  });

  void it('increases partitions and refuses a decrease with INVALID_PARTITIONS', async () => {
    await admin.createPartitions({ topicPartitions: [{ topic: 'orders', count: 5 }] });
    const { topics } = await admin.fetchTopicMetadata({ topics: ['orders'] });
    assert.equal(topics[0]!.partitions.length, 5);
    await rejectsWith(
      admin.createPartitions({ topicPartitions: [{ topic: 'orders', count: 2 }] }),
      'INVALID_PARTITIONS',
    );
    await rejectsWith(
      admin.createPartitions({ topicPartitions: [{ topic: 'orders', count: 5 }] }),
      'INVALID_PARTITIONS',
    );
    await rejectsWith(
      admin.createPartitions({ topicPartitions: [{ topic: 'nope', count: 5 }] }),
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
  });

  void it('describes and alters topic configs', async () => {
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'events' }],
      includeSynonyms: true,
    });
    const entries = described.resources[0]!.configEntries;
    const retention = entries.find((e) => e.configName === 'retention.ms')!;
    assert.equal(retention.configValue, '60000');
    assert.equal(retention.isDefault, false);
    const cleanup = entries.find((e) => e.configName === 'cleanup.policy')!;
    assert.equal(cleanup.configValue, 'delete');
    assert.equal(cleanup.isDefault, true);

    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: 'events',
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
    });
    const after = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'events', configNames: ['cleanup.policy', 'retention.ms'] }],
      includeSynonyms: false,
    });
    const byName = new Map(after.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    assert.equal(byName.get('cleanup.policy'), 'compact');
    // AlterConfigs replaces the whole set: retention.ms is back to its default.
    assert.equal(byName.get('retention.ms'), '604800000');

    await rejectsWith(
      admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: 'events',
            configEntries: [{ name: 'cleanup.policy', value: 'shred' }],
          },
        ],
      }),
      'INVALID_CONFIG',
    );
    const unknown = await admin
      .describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: 'missing-topic' }],
        includeSynonyms: false,
      })
      .then(
        () => undefined,
        (err: Error & { type?: string }) => err.type,
      );
    assert.equal(unknown, 'UNKNOWN_TOPIC_OR_PARTITION');
  });

  void it('describes the broker configs', async () => {
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.BROKER, name: String(broker.nodeId) }],
      includeSynonyms: false,
    });
    const byName = new Map(described.resources[0]!.configEntries.map((e) => [e.configName, e]));
    assert.equal(byName.get('num.partitions')!.configValue, '1');
    assert.equal(byName.get('log.dirs')!.configValue, broker.dir);
    assert.equal(byName.get('ssl.keystore.password')!.isSensitive, true);
  });

  void it('deletes topics; deleting an unknown topic fails', async () => {
    await admin.createTopics({ topics: [{ topic: 'doomed' }] });
    await admin.deleteTopics({ topics: ['doomed'] });
    assert.ok(!(await admin.listTopics()).includes('doomed'));
    await rejectsWith(admin.deleteTopics({ topics: ['doomed'] }), 'UNKNOWN_TOPIC_OR_PARTITION');
  });

  void it("a producer's first send to an unknown topic auto-creates it with the broker's defaults", async () => {
    const producer = client(broker).producer();
    await producer.connect();
    try {
      const [result] = await producer.send({ topic: 'auto-produced', messages: [{ value: 'first' }] });
      assert.equal(result!.errorCode, 0);
      assert.equal(result!.baseOffset, '0');
    } finally {
      await producer.disconnect();
    }
    const { topics } = await admin.fetchTopicMetadata({ topics: ['auto-produced'] });
    assert.equal(topics[0]!.partitions.length, 1);
  });

  void it('keeps topics and configs across a restart', async () => {
    await admin.disconnect();
    broker = await broker.restart();
    admin = client(broker).admin();
    await admin.connect();
    const topics = await admin.listTopics();
    assert.ok(topics.includes('orders') && topics.includes('events'));
    assert.ok(!topics.includes('doomed'));
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: ['orders'] });
    assert.equal(meta[0]!.partitions.length, 5);
    const described = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'events', configNames: ['cleanup.policy'] }],
      includeSynonyms: false,
    });
    assert.equal(described.resources[0]!.configEntries[0]!.configValue, 'compact');
  });
  void it('keeps topics across a crash (no clean shutdown): the metadata log is fsynced per commit', async () => {
    await admin.createTopics({ topics: [{ topic: 'after-crash', numPartitions: 2 }] });
    await admin.disconnect();
    broker = await broker.restart({ crash: true });
    admin = client(broker).admin();
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: ['after-crash'] });
    assert.equal(topics[0]!.partitions.length, 2);
  });
});
