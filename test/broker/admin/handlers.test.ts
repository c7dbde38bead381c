/**
 * Metadata-side handlers called directly (no sockets) on a controller over an in-memory
 * log: leaders that are gone, offline replicas, DescribeTopicPartitions' limit and cursor,
 * and DescribeConfigs of the cluster-wide broker defaults.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { RequestContext } from '../../../src/broker/handler.ts';
import { metadataHandler } from '../../../src/broker/handlers/03-metadata.ts';
import { describeConfigsHandler } from '../../../src/broker/handlers/32-describe-configs.ts';
import { describeTopicPartitionsHandler } from '../../../src/broker/handlers/75-describe-topic-partitions.ts';
import type { BrokerServices } from '../../../src/broker/services.ts';
import { BrokerConfig } from '../../../src/config/index.ts';
import type { Clock } from '../../../src/env/clock.ts';
import { seededRandom } from '../../../src/env/random.ts';
import { MetadataPublisher } from '../../../src/metadata/cache.ts';
import { QuorumController } from '../../../src/metadata/controller.ts';
import { emptyImage } from '../../../src/metadata/image.ts';
import { MetadataLog, metadataLogConfig } from '../../../src/metadata/metadata-log.ts';
import { replay } from '../../../src/metadata/replay.ts';
import { ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { MetadataRecordType } from '../../../src/protocol/generated/metadata-records.ts';
import { MemoryLog } from '../../../src/storage/memory-log.ts';

const clock: Clock = { nowMs: () => 1_000, monotonicMs: () => 0, schedule: () => () => {} };

function ctx(apiVersion: number): RequestContext {
  return {
    header: { requestApiKey: 3, requestApiVersion: apiVersion, correlationId: 1, clientId: 't' },
    apiVersion,
    connection: undefined as never,
    listenerName: 'PLAINTEXT',
    clientId: 't',
    receivedAtMs: 0,
  };
}

void describe('metadata handlers', () => {
  let services: BrokerServices;
  let publisher: MetadataPublisher;

  before(async () => {
    publisher = new MetadataPublisher(emptyImage('cluster-x'));
    const config = new BrokerConfig({});
    const controller = new QuorumController({
      nodeId: 1,
      log: new MetadataLog(
        new MemoryLog({ topic: '__cluster_metadata', partition: 0, config: metadataLogConfig, clock }),
        clock,
      ),
      publisher,
      clock,
      random: seededRandom(9),
      settings: { numPartitions: 1, defaultReplicationFactor: 1, deleteTopicEnable: true },
      rules: config,
    });
    await controller.bootstrap();
    for (const nodeId of [1, 2]) {
      await controller.registerBroker({
        nodeId,
        incarnationId: ZERO_UUID,
        endpoints: [{ name: 'PLAINTEXT', host: `h${nodeId}`, port: 9090 + nodeId, securityProtocol: 0 }],
        rack: null,
        logDirs: [],
      });
    }
    await controller.createTopics(
      [
        {
          name: 'two',
          numPartitions: -1,
          replicationFactor: -1,
          configs: [],
          assignments: [
            { partitionIndex: 0, brokerIds: [2, 1] },
            { partitionIndex: 1, brokerIds: [1, 2] },
          ],
        },
        { name: 'wide', numPartitions: 5, replicationFactor: 1, configs: [], assignments: [] },
      ],
      false,
    );
    await controller.incrementalAlterConfigs(
      [{ resourceType: 4, resourceName: '', configs: [{ name: 'log.retention.ms', op: 0, value: '1234' }] }],
      false,
    );
    services = { nodeId: 1, metadata: publisher, controller, config } as unknown as BrokerServices;
  });

  void it('a fenced leader gives LEADER_NOT_AVAILABLE and shows as an offline replica', async () => {
    // Broker 2 is fenced (a record a multi-node controller would write).
    const image = publisher.image();
    const fenced = replay(image, [
      {
        offset: image.offset + 1,
        message: { typeId: MetadataRecordType.FenceBrokerRecord, version: 0, record: { id: 2, epoch: 0n } },
      },
    ]);
    await publisher.publish(fenced.image, fenced.delta);
    const r = (await metadataHandler.handle(
      {
        topics: [{ topicId: ZERO_UUID, name: 'two' }],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: true,
      },
      ctx(12),
      services,
    ))!;
    assert.deepEqual(
      r.brokers.map((b) => b.nodeId),
      [1],
    );
    const [p0, p1] = r.topics[0]!.partitions;
    assert.equal(p0!.errorCode, ErrorCode.LEADER_NOT_AVAILABLE);
    assert.equal(p0!.leaderId, -1);
    assert.deepEqual(p0!.offlineReplicas, [2]);
    assert.equal(p1!.errorCode, ErrorCode.NONE);
    assert.equal(p1!.leaderId, 1);
    assert.notEqual(r.topics[0]!.topicAuthorizedOperations, -2147483648);
    await publisher.publish(image, fenced.delta);
  });

  void it('DescribeTopicPartitions stops inside a topic and resumes from the cursor', async () => {
    const page1 = (await describeTopicPartitionsHandler.handle(
      { topics: [], responsePartitionLimit: 3, cursor: null },
      ctx(0),
      services,
    ))!;
    assert.deepEqual(
      page1.topics.map((t) => [t.name, t.partitions.length]),
      [
        ['two', 2],
        ['wide', 1],
      ],
    );
    assert.deepEqual(page1.nextCursor, { topicName: 'wide', partitionIndex: 1 });
    const page2 = (await describeTopicPartitionsHandler.handle(
      { topics: [], responsePartitionLimit: 3000, cursor: page1.nextCursor },
      ctx(0),
      services,
    ))!;
    assert.deepEqual(
      page2.topics.map((t) => [t.name, t.partitions.map((p) => p.partitionIndex)]),
      [['wide', [1, 2, 3, 4]]],
    );
    assert.equal(page2.nextCursor, null);
  });

  void it('DescribeConfigs of broker "" shows only the cluster-wide dynamic defaults', async () => {
    const r = (await describeConfigsHandler.handle(
      {
        resources: [{ resourceType: 4, resourceName: '', configurationKeys: null }],
        includeSynonyms: true,
        includeDocumentation: false,
      },
      ctx(4),
      services,
    ))!;
    assert.deepEqual(
      r.results[0]!.configs.map((c) => [c.name, c.value, c.configSource]),
      [['log.retention.ms', '1234', 3]],
    );
    const topic = (await describeConfigsHandler.handle(
      {
        resources: [{ resourceType: 2, resourceName: 'wide', configurationKeys: ['retention.ms'] }],
        includeSynonyms: true,
        includeDocumentation: false,
      },
      ctx(4),
      services,
    ))!;
    // The cluster-wide log.retention.ms is the topic's default now.
    assert.equal(topic.results[0]!.configs[0]!.value, '1234');
    assert.equal(topic.results[0]!.configs[0]!.configSource, 3);
  });
});
