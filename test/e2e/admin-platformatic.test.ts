/**
 * The admin path with @platformatic/kafka 1.35: metadata (with topic ids), topics
 * created with configs and assignments, partitions added, a decrease refused,
 * configs described and altered incrementally, unknown topics, deletion.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { startTestBroker, type TestBroker } from './fixture.ts';

const TOPIC = 2;
const BROKER = 4;

/** Kafka error ids (apiId) anywhere in a @platformatic/kafka error tree. */
function apiIds(err: unknown): string[] {
  const out: string[] = [];
  const walk = (e: unknown): void => {
    if (e === null || typeof e !== 'object') return;
    const x = e as { apiId?: string; errors?: unknown[]; cause?: unknown };
    if (x.apiId !== undefined) out.push(x.apiId);
    for (const inner of x.errors ?? []) walk(inner);
    walk(x.cause);
  };
  walk(err);
  return out;
}

async function rejectsWith(promise: Promise<unknown>, id: string): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(apiIds(err).includes(id), `expected ${id}, got ${apiIds(err).join(',')}: ${String(err)}`);
    return true;
  });
}

void describe('@platformatic/kafka admin', { timeout: 30_000 }, () => {
  let broker: TestBroker;
  let admin: Admin;

  before(async () => {
    broker = await startTestBroker();
    admin = new Admin({ clientId: 'runnel-e2e', bootstrapBrokers: [broker.bootstrap], retries: 1, retryDelay: 50 });
  });
  after(async () => {
    await admin?.close();
    await broker?.stop();
  });

  void it('reads cluster metadata', async () => {
    const meta = await admin.metadata({ topics: [] });
    assert.equal(meta.id, broker.clusterId);
    assert.equal(meta.controllerId, broker.nodeId);
    assert.deepEqual([...meta.brokers.keys()], [broker.nodeId]);
    assert.equal(meta.brokers.get(broker.nodeId)!.port, broker.port);
  });

  void it('creates topics (defaults, configs, explicit assignments) and reports ids', async () => {
    const created = await admin.createTopics({
      topics: ['pl-a', 'pl-b'],
      partitions: 2,
      replicas: 1,
      configs: [{ name: 'retention.ms', value: '3600000' }],
    });
    assert.deepEqual(created.map((t) => [t.name, t.partitions, t.replicas]).sort(), [
      ['pl-a', 2, 1],
      ['pl-b', 2, 1],
    ]);
    assert.equal(created[0]!.configuration['retention.ms'], '3600000');
    const assigned = await admin.createTopics({
      topics: ['pl-assigned'],
      partitions: -1,
      replicas: -1,
      assignments: [
        { partition: 0, brokers: [broker.nodeId] },
        { partition: 1, brokers: [broker.nodeId] },
      ],
    });
    assert.equal(assigned[0]!.partitions, 2);
    const meta = await admin.metadata({ topics: ['pl-a', 'pl-assigned'] });
    const a = meta.topics.get('pl-a')!;
    assert.equal(a.id, created.find((t) => t.name === 'pl-a')!.id);
    assert.equal(a.partitionsCount, 2);
    assert.equal(a.partitions[0]!.leader, broker.nodeId);
    assert.equal(meta.topics.get('pl-assigned')!.partitionsCount, 2);
    const topics = await admin.listTopics();
    assert.ok(topics.includes('pl-a') && topics.includes('pl-assigned'));
  });

  void it('refuses what Kafka refuses', async () => {
    await rejectsWith(admin.createTopics({ topics: ['pl-a'] }), 'TOPIC_ALREADY_EXISTS');
    await rejectsWith(admin.createTopics({ topics: ['pl-rf'], replicas: 2 }), 'INVALID_REPLICATION_FACTOR');
    await rejectsWith(
      admin.createTopics({ topics: ['pl-cfg'], configs: [{ name: 'cleanup.policy', value: 'never' }] }),
      'INVALID_CONFIG',
    );
  });

  void it('adds partitions and refuses a decrease with INVALID_PARTITIONS', async () => {
    await admin.createPartitions({ topics: [{ name: 'pl-b', count: 4 }] });
    const meta = await admin.metadata({ topics: ['pl-b'], forceUpdate: true });
    assert.equal(meta.topics.get('pl-b')!.partitionsCount, 4);
    await rejectsWith(admin.createPartitions({ topics: [{ name: 'pl-b', count: 3 }] }), 'INVALID_PARTITIONS');
  });

  void it('describes configs with synonyms and documentation, alters them incrementally', async () => {
    const [described] = await admin.describeConfigs({
      resources: [{ resourceType: TOPIC, resourceName: 'pl-a' }],
      includeSynonyms: true,
      includeDocumentation: true,
    });
    const retention = described!.configs.find((c) => c.name === 'retention.ms')!;
    assert.equal(retention.value, '3600000');
    assert.equal(retention.configSource, 1); // DYNAMIC_TOPIC_CONFIG
    assert.deepEqual(
      retention.synonyms.map((s) => s.source),
      [1, 5],
    );
    assert.ok((retention.documentation ?? '').length > 0);

    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: TOPIC,
          resourceName: 'pl-a',
          configs: [
            { name: 'retention.ms', configOperation: 1 },
            { name: 'cleanup.policy', configOperation: 0, value: 'compact' },
          ],
        },
      ],
    });
    const [after] = await admin.describeConfigs({
      resources: [{ resourceType: TOPIC, resourceName: 'pl-a', configurationKeys: ['retention.ms', 'cleanup.policy'] }],
    });
    const byName = new Map(after!.configs.map((c) => [c.name, c]));
    assert.equal(byName.get('retention.ms')!.configSource, 5); // DEFAULT_CONFIG
    assert.equal(byName.get('cleanup.policy')!.value, 'compact');

    await rejectsWith(
      admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: TOPIC,
            resourceName: 'pl-a',
            configs: [{ name: 'min.insync.replicas', configOperation: 0, value: '0' }],
          },
        ],
      }),
      'INVALID_CONFIG',
    );
  });

  void it('describes and alters broker configs', async () => {
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: BROKER,
          resourceName: String(broker.nodeId),
          configs: [{ name: 'log.retention.ms', configOperation: 0, value: '7200000' }],
        },
      ],
    });
    const [described] = await admin.describeConfigs({
      resources: [
        { resourceType: BROKER, resourceName: String(broker.nodeId), configurationKeys: ['log.retention.ms'] },
      ],
    });
    assert.equal(described!.configs[0]!.value, '7200000');
    assert.equal(described!.configs[0]!.configSource, 2); // DYNAMIC_BROKER_CONFIG
  });

  void it('deletes topics; an unknown topic is UNKNOWN_TOPIC_OR_PARTITION', async () => {
    await admin.deleteTopics({ topics: ['pl-assigned'] });
    assert.ok(!(await admin.listTopics()).includes('pl-assigned'));
    await rejectsWith(admin.deleteTopics({ topics: ['pl-never'] }), 'UNKNOWN_TOPIC_OR_PARTITION');
  });
});
