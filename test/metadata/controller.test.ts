/**
 * The metadata controller on an in-memory log with injected time and a seeded Random:
 * every operation's records, validation answers, and replay after a "restart" (a new
 * controller reading the same log) giving the same image.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerConfig } from '../../src/config/index.ts';
import type { Clock } from '../../src/env/clock.ts';
import { StorageError } from '../../src/env/disk.ts';
import { seededRandom } from '../../src/env/random.ts';
import { MetadataPublisher, type MetadataUpdate } from '../../src/metadata/cache.ts';
import {
  AlterConfigOp,
  type CreateTopicSpec,
  controllerErrorCode,
  PRODUCER_ID_BLOCK_SIZE,
  QuorumController,
  validateTopicName,
} from '../../src/metadata/controller.ts';
import { ConfigResourceType, emptyImage, type MetadataImage, topicConfigs } from '../../src/metadata/image.ts';
import { MetadataLog, metadataLogConfig } from '../../src/metadata/metadata-log.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { MemoryLog } from '../../src/storage/memory-log.ts';

const clock: Clock = { nowMs: () => 1_700_000_000_000, monotonicMs: () => 0, schedule: () => () => {} };

function topic(name: string, numPartitions = 1, extra: Partial<CreateTopicSpec> = {}): CreateTopicSpec {
  return { name, numPartitions, replicationFactor: -1, assignments: [], configs: [], ...extra };
}

async function setup(options: { settings?: Partial<{ deleteTopicEnable: boolean }>; log?: MemoryLog } = {}) {
  const memory =
    options.log ?? new MemoryLog({ topic: '__cluster_metadata', partition: 0, config: metadataLogConfig, clock });
  const publisher = new MetadataPublisher(emptyImage('test-cluster'));
  const updates: MetadataUpdate[] = [];
  publisher.subscribe((u) => {
    updates.push(u);
  });
  const controller = new QuorumController({
    nodeId: 1,
    log: new MetadataLog(memory, clock),
    publisher,
    clock,
    random: seededRandom(7),
    settings: { numPartitions: 1, defaultReplicationFactor: 1, deleteTopicEnable: true, ...options.settings },
    rules: new BrokerConfig({}),
  });
  await controller.load();
  await controller.bootstrap();
  await controller.registerBroker({
    nodeId: 1,
    incarnationId: 'AAAAAAAAAAAAAAAAAAAAAQ',
    endpoints: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9092, securityProtocol: 0 }],
    rack: null,
    logDirs: [],
  });
  return { controller, publisher, updates, memory };
}

/** The parts of an image that must survive a replay from the log. */
function summary(image: MetadataImage) {
  return {
    offset: image.offset,
    topics: [...image.topicsByName.values()].map((t) => ({
      name: t.name,
      id: t.topicId,
      partitions: [...t.partitions.values()],
    })),
    configs: [...image.configs].map(([k, v]) => [k, [...v]]),
    features: [...image.features],
    producerIds: image.producerIds,
    brokers: [...image.brokers.keys()],
  };
}

void describe('metadata controller', () => {
  void it('registers the broker and finalizes metadata.version', async () => {
    const { publisher } = await setup();
    const image = publisher.image();
    assert.equal(image.brokers.get(1)?.endpoints[0]?.port, 9092);
    assert.equal(image.brokers.get(1)?.fenced, false);
    assert.ok((image.features.get('metadata.version') ?? 0) > 0);
  });

  void it('creates topics with partitions led by the only broker, and publishes a delta', async () => {
    const { controller, publisher, updates } = await setup();
    const [result] = await controller.createTopics([topic('orders', 3)], false);
    assert.equal(result!.errorCode, ErrorCode.NONE);
    const t = publisher.image().topicsByName.get('orders')!;
    assert.equal(t.topicId, result!.topicId);
    assert.equal(t.partitions.size, 3);
    for (const p of t.partitions.values()) {
      assert.deepEqual(p.replicas, [1]);
      assert.deepEqual(p.isr, [1]);
      assert.equal(p.leader, 1);
      assert.equal(p.leaderEpoch, 0);
    }
    const last = updates.at(-1)!;
    assert.ok(last.delta.createdTopics.has(t.topicId));
    assert.deepEqual([...last.delta.changedPartitions.get(t.topicId)!].sort(), [0, 1, 2]);
  });

  void it('validates names, counts, replication factors, duplicates and collisions as Kafka', async () => {
    const { controller } = await setup();
    await controller.createTopics([topic('a.b')], false);
    const results = await controller.createTopics(
      [
        topic('a.b'),
        topic('a_b'),
        topic('bad/name'),
        topic('.'),
        topic('x'.repeat(250)),
        topic('zero', 0),
        topic('rf2', 1, { replicationFactor: 2 }),
        topic('dup'),
        topic('dup'),
        topic('__cluster_metadata'),
        topic('cfg', 1, { configs: [{ name: 'retention.ms', value: 'x' }] }),
        topic('cfg2', 1, { configs: [{ name: 'nope', value: '1' }] }),
        topic('manual', 1, { assignments: [{ partitionIndex: 0, brokerIds: [1] }] }),
        topic('manual2', -1, { assignments: [{ partitionIndex: 0, brokerIds: [2] }] }),
        topic('manual3', -1, { assignments: [{ partitionIndex: 1, brokerIds: [1] }] }),
      ],
      false,
    );
    assert.deepEqual(
      results.map((r) => [r.name.slice(0, 10), r.errorCode]),
      [
        ['a.b', ErrorCode.TOPIC_ALREADY_EXISTS],
        ['a_b', ErrorCode.INVALID_TOPIC_EXCEPTION],
        ['bad/name', ErrorCode.INVALID_TOPIC_EXCEPTION],
        ['.', ErrorCode.INVALID_TOPIC_EXCEPTION],
        ['xxxxxxxxxx', ErrorCode.INVALID_TOPIC_EXCEPTION],
        ['zero', ErrorCode.INVALID_PARTITIONS],
        ['rf2', ErrorCode.INVALID_REPLICATION_FACTOR],
        ['dup', ErrorCode.INVALID_REQUEST],
        ['dup', ErrorCode.INVALID_REQUEST],
        ['__cluster_', ErrorCode.INVALID_REQUEST],
        ['cfg', ErrorCode.INVALID_CONFIG],
        ['cfg2', ErrorCode.INVALID_CONFIG],
        ['manual', ErrorCode.INVALID_REQUEST],
        ['manual2', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
        ['manual3', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
      ],
    );
    assert.match(results[1]!.errorMessage!, /collides with existing topic: a\.b/);
    assert.equal(validateTopicName('x'.repeat(249)), undefined);
    assert.equal(validateTopicName('ok-Name_1.2'), undefined);
    assert.notEqual(validateTopicName('..'), undefined);
    assert.notEqual(validateTopicName(''), undefined);
  });

  void it('validateOnly answers as a real create would, and writes nothing', async () => {
    const { controller, publisher } = await setup();
    const before = publisher.image().offset;
    const [ok, bad] = await controller.createTopics([topic('t', 4), topic('u', -5)], true);
    assert.equal(ok!.errorCode, ErrorCode.NONE);
    assert.equal(ok!.numPartitions, 4);
    assert.equal(bad!.errorCode, ErrorCode.INVALID_PARTITIONS);
    assert.equal(publisher.image().offset, before);
    assert.equal(publisher.image().topicsByName.has('t'), false);
  });

  void it('deletes topics by name and id, with their configs; unknown ones get errors', async () => {
    const { controller, publisher, updates } = await setup();
    const [created] = await controller.createTopics(
      [topic('gone', 2, { configs: [{ name: 'retention.ms', value: '1000' }] })],
      false,
    );
    await controller.createTopics([topic('gone2')], false);
    const results = await controller.deleteTopics([
      { name: 'gone' },
      { name: 'missing' },
      { topicId: 'AAAAAAAAAAAAAAAAAAAAAg' },
    ]);
    assert.deepEqual(
      results.map((r) => r.errorCode),
      [ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID],
    );
    const image = publisher.image();
    assert.equal(image.topicsByName.has('gone'), false);
    assert.equal(image.topicsById.has(created!.topicId), false);
    assert.equal(topicConfigs(image, 'gone').size, 0);
    assert.equal(updates.at(-1)!.delta.deletedTopics[0]!.name, 'gone');
    const id = image.topicsByName.get('gone2')!.topicId;
    assert.equal((await controller.deleteTopics([{ topicId: id }]))[0]!.errorCode, ErrorCode.NONE);
  });

  void it('refuses deletes when delete.topic.enable is false', async () => {
    const { controller } = await setup({ settings: { deleteTopicEnable: false } });
    await controller.createTopics([topic('kept')], false);
    const [r] = await controller.deleteTopics([{ name: 'kept' }]);
    assert.equal(r!.errorCode, ErrorCode.TOPIC_DELETION_DISABLED);
  });

  void it('adds partitions; equal or lower counts are INVALID_PARTITIONS', async () => {
    const { controller, publisher } = await setup();
    await controller.createTopics([topic('grow', 2)], false);
    const results = await controller.createPartitions(
      [
        { name: 'grow', count: 4, assignments: null },
        { name: 'nope', count: 4, assignments: null },
      ],
      false,
    );
    assert.deepEqual(
      results.map((r) => r.errorCode),
      [ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    );
    assert.equal(publisher.image().topicsByName.get('grow')!.partitions.size, 4);
    const [same] = await controller.createPartitions([{ name: 'grow', count: 4, assignments: null }], false);
    assert.equal(same!.errorCode, ErrorCode.INVALID_PARTITIONS);
    const [less] = await controller.createPartitions([{ name: 'grow', count: 1, assignments: null }], false);
    assert.equal(less!.errorCode, ErrorCode.INVALID_PARTITIONS);
    assert.match(less!.errorMessage!, /would not be an increase/);
    const [badAssign] = await controller.createPartitions([{ name: 'grow', count: 6, assignments: [[1]] }], false);
    assert.equal(badAssign!.errorCode, ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    const [assigned] = await controller.createPartitions([{ name: 'grow', count: 5, assignments: [[1]] }], false);
    assert.equal(assigned!.errorCode, ErrorCode.NONE);
    const [dry] = await controller.createPartitions([{ name: 'grow', count: 9, assignments: null }], true);
    assert.equal(dry!.errorCode, ErrorCode.NONE);
    assert.equal(publisher.image().topicsByName.get('grow')!.partitions.size, 5);
  });

  void it('places replicas across racks for new topics and added partitions; RF above the brokers is refused', async () => {
    const { controller, publisher } = await setup();
    // Broker 1 has no rack (a rack of its own); 2 on rack a; 3 and 4 on rack b: three racks.
    const racks = new Map<number, string | null>([
      [1, null],
      [2, 'a'],
      [3, 'b'],
      [4, 'b'],
    ]);
    for (const id of [2, 3, 4]) {
      await controller.registerBroker({
        nodeId: id,
        incarnationId: `AAAAAAAAAAAAAAAAAAAA${['Ag', 'Aw', 'BA'][id - 2]}`,
        endpoints: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9092 + id, securityProtocol: 0 }],
        rack: racks.get(id)!,
        logDirs: [],
      });
    }
    const rackKey = (id: number) => racks.get(id) ?? `none-${id}`;
    const [created] = await controller.createTopics([topic('racked', 12, { replicationFactor: 3 })], false);
    assert.equal(created!.errorCode, ErrorCode.NONE);
    await controller.createPartitions([{ name: 'racked', count: 16, assignments: null }], false);
    const partitions = [...publisher.image().topicsByName.get('racked')!.partitions.values()];
    assert.equal(partitions.length, 16);
    const leads = new Map<number, number>();
    for (const p of partitions) {
      assert.equal(new Set(p.replicas).size, 3, `distinct brokers ${p.replicas}`);
      assert.equal(new Set(p.replicas.map(rackKey)).size, 3, `three racks for ${p.replicas}`);
      assert.deepEqual(p.isr, p.replicas);
      assert.equal(p.leader, p.replicas[0]);
      leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
    }
    assert.ok(Math.max(...leads.values()) <= Math.ceil(16 / 4) + 1, `leaders spread ${JSON.stringify([...leads])}`);
    const [tooMany] = await controller.createTopics([topic('rf5', 1, { replicationFactor: 5 })], false);
    assert.equal(tooMany!.errorCode, ErrorCode.INVALID_REPLICATION_FACTOR);
    assert.match(tooMany!.errorMessage!, /only 4 broker\(s\)/);
    assert.equal(publisher.image().topicsByName.has('rf5'), false);
  });

  void it('alters configs incrementally: SET, DELETE, APPEND, SUBTRACT, validation, validateOnly', async () => {
    const { controller, publisher } = await setup();
    await controller.createTopics([topic('cfg')], false);
    const T = ConfigResourceType.TOPIC;
    const alter = async (configs: { name: string; op: number; value: string | null }[], validateOnly = false) =>
      (await controller.incrementalAlterConfigs([{ resourceType: T, resourceName: 'cfg', configs }], validateOnly))[0]!;
    assert.equal((await alter([{ name: 'retention.ms', op: AlterConfigOp.SET, value: '5000' }])).errorCode, 0);
    assert.equal(topicConfigs(publisher.image(), 'cfg').get('retention.ms'), '5000');
    assert.equal((await alter([{ name: 'cleanup.policy', op: AlterConfigOp.APPEND, value: 'compact' }])).errorCode, 0);
    assert.equal(topicConfigs(publisher.image(), 'cfg').get('cleanup.policy'), 'compact');
    await alter([{ name: 'cleanup.policy', op: AlterConfigOp.APPEND, value: 'delete' }]);
    assert.equal(topicConfigs(publisher.image(), 'cfg').get('cleanup.policy'), 'compact,delete');
    await alter([{ name: 'cleanup.policy', op: AlterConfigOp.SUBTRACT, value: 'compact' }]);
    assert.equal(topicConfigs(publisher.image(), 'cfg').get('cleanup.policy'), 'delete');
    const notList = await alter([{ name: 'retention.ms', op: AlterConfigOp.APPEND, value: '1' }]);
    assert.equal(notList.errorCode, ErrorCode.INVALID_CONFIG);
    const bad = await alter([{ name: 'retention.ms', op: AlterConfigOp.SET, value: 'later' }]);
    assert.equal(bad.errorCode, ErrorCode.INVALID_CONFIG);
    const unknown = await alter([{ name: 'no.such', op: AlterConfigOp.SET, value: '1' }]);
    assert.equal(unknown.errorCode, ErrorCode.INVALID_CONFIG);
    assert.equal((await alter([{ name: 'retention.ms', op: AlterConfigOp.DELETE, value: null }], true)).errorCode, 0);
    assert.equal(topicConfigs(publisher.image(), 'cfg').get('retention.ms'), '5000');
    await alter([{ name: 'retention.ms', op: AlterConfigOp.DELETE, value: null }]);
    assert.equal(topicConfigs(publisher.image(), 'cfg').has('retention.ms'), false);
    const [missing] = await controller.incrementalAlterConfigs(
      [{ resourceType: T, resourceName: 'missing', configs: [] }],
      false,
    );
    assert.equal(missing!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  void it('alters broker configs for this node and the cluster default; others are refused', async () => {
    const { controller, publisher } = await setup();
    const B = ConfigResourceType.BROKER;
    const results = await controller.incrementalAlterConfigs(
      [
        { resourceType: B, resourceName: '1', configs: [{ name: 'log.retention.ms', op: 0, value: '1000' }] },
        { resourceType: B, resourceName: '', configs: [{ name: 'num.partitions', op: 0, value: '3' }] },
        { resourceType: B, resourceName: '7', configs: [{ name: 'num.partitions', op: 0, value: '3' }] },
        { resourceType: B, resourceName: 'x', configs: [] },
      ],
      false,
    );
    assert.deepEqual(
      results.map((r) => r.errorCode),
      [ErrorCode.NONE, ErrorCode.NONE, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST],
    );
    const [readOnly] = await controller.incrementalAlterConfigs(
      [{ resourceType: B, resourceName: '1', configs: [{ name: 'log.dirs', op: 0, value: '/x' }] }],
      false,
    );
    assert.equal(readOnly!.errorCode, ErrorCode.INVALID_CONFIG);
    assert.equal(publisher.image().configs.get(`${B}:`)?.get('num.partitions'), '3');
  });

  void it('legacy AlterConfigs replaces the whole set', async () => {
    const { controller, publisher } = await setup();
    await controller.createTopics([topic('legacy', 1, { configs: [{ name: 'retention.ms', value: '1000' }] })], false);
    await controller.alterConfigs(
      [
        {
          resourceType: ConfigResourceType.TOPIC,
          resourceName: 'legacy',
          configs: [{ name: 'segment.ms', value: '60000' }],
        },
      ],
      false,
    );
    assert.deepEqual([...topicConfigs(publisher.image(), 'legacy')], [['segment.ms', '60000']]);
  });

  void it('hands out producer id blocks that never overlap', async () => {
    const { controller } = await setup();
    const a = await controller.allocateProducerIds(1);
    const b = await controller.allocateProducerIds(1);
    assert.equal(a.firstProducerId, 0);
    assert.equal(a.size, PRODUCER_ID_BLOCK_SIZE);
    assert.equal(b.firstProducerId, PRODUCER_ID_BLOCK_SIZE);
  });

  void it('serializes concurrent operations: one wins a name, the other sees it exists', async () => {
    const { controller } = await setup();
    const [a, b] = await Promise.all([
      controller.createTopics([topic('race')], false),
      controller.createTopics([topic('race')], false),
    ]);
    assert.deepEqual([a[0]!.errorCode, b[0]!.errorCode], [ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS]);
  });

  void it('replaying the log gives the same image (restart)', async () => {
    const first = await setup();
    await first.controller.createTopics(
      [topic('keep', 2, { configs: [{ name: 'retention.ms', value: '42' }] })],
      false,
    );
    await first.controller.createTopics([topic('drop')], false);
    await first.controller.createPartitions([{ name: 'keep', count: 3, assignments: null }], false);
    await first.controller.deleteTopics([{ name: 'drop' }]);
    await first.controller.allocateProducerIds(1);
    const expected = summary(first.publisher.image());

    const publisher = new MetadataPublisher(emptyImage('test-cluster'));
    const again = new QuorumController({
      nodeId: 1,
      log: new MetadataLog(first.memory, clock),
      publisher,
      clock,
      random: seededRandom(1),
      settings: { numPartitions: 1, defaultReplicationFactor: 1, deleteTopicEnable: true },
      rules: new BrokerConfig({}),
    });
    await again.load();
    assert.deepEqual(summary(publisher.image()), expected);
    // A producer id block after the restart starts after the last one handed out.
    assert.equal((await again.allocateProducerIds(1)).firstProducerId, PRODUCER_ID_BLOCK_SIZE);
  });

  void it('a closed controller refuses operations', async () => {
    const { controller } = await setup();
    await controller.close();
    await assert.rejects(controller.createTopics([topic('late')], false), { name: 'ControllerClosedError' });
  });
  void it('a failed append stops the controller: later operations are refused until a restart', async () => {
    const { controller, memory } = await setup();
    const original = memory.append.bind(memory);
    memory.append = () => Promise.reject(new StorageError('io', 'EIO (test)'));
    await assert.rejects(controller.createTopics([topic('lost')], false), { name: 'StorageError' });
    memory.append = original;
    await assert.rejects(controller.createTopics([topic('later')], false), { name: 'ControllerClosedError' });
    assert.equal(controllerErrorCode(new StorageError('io', 'x')), ErrorCode.KAFKA_STORAGE_ERROR);
    assert.throws(() => controllerErrorCode(new TypeError('bug')), TypeError);
  });
});
