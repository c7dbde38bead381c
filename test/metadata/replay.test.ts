/**
 * Replay of metadata records into the image, and the metadata log's bytes: each record's
 * value is Kafka's frame (frame version 1, type id, record version, record).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../src/env/clock.ts';
import { emptyImage } from '../../src/metadata/image.ts';
import { MetadataLog, metadataLogConfig } from '../../src/metadata/metadata-log.ts';
import { MetadataReplayError, replay } from '../../src/metadata/replay.ts';
import { MetadataRecordType as R } from '../../src/protocol/generated/metadata-records.ts';
import { decodeRecordBatches } from '../../src/protocol/records/batch.ts';
import { MemoryLog } from '../../src/storage/memory-log.ts';

const clock: Clock = { nowMs: () => 1_000, monotonicMs: () => 0, schedule: () => () => {} };
const TOPIC_ID = 'q1AnwE3WRDWpVXbGxKdX_w';

const partition = (partitionId: number) => ({
  typeId: R.PartitionRecord,
  version: 0,
  record: {
    partitionId,
    topicId: TOPIC_ID,
    replicas: [1, 2],
    isr: [1, 2],
    removingReplicas: [],
    addingReplicas: [],
    leader: 1,
    leaderRecoveryState: 0,
    leaderEpoch: 0,
    partitionEpoch: 0,
    directories: [],
    eligibleLeaderReplicas: null,
    lastKnownElr: null,
  },
});

const change = (leader: number, isr: number[] | null) => ({
  typeId: R.PartitionChangeRecord,
  version: 0,
  record: {
    partitionId: 0,
    topicId: TOPIC_ID,
    isr,
    leader,
    replicas: null,
    removingReplicas: null,
    addingReplicas: null,
    leaderRecoveryState: -1,
    directories: null,
    eligibleLeaderReplicas: null,
    lastKnownElr: null,
  },
});

function at(messages: { typeId: number; version: number; record: unknown }[], from = 0) {
  return messages.map((message, i) => ({ offset: from + i, message }));
}

void describe('metadata replay', () => {
  void it('builds topics and partitions, and applies partition changes with epochs', () => {
    const { image, delta } = replay(
      emptyImage('c'),
      at([{ typeId: R.TopicRecord, version: 0, record: { name: 't', topicId: TOPIC_ID } }, partition(0), partition(1)]),
    );
    assert.equal(image.offset, 2);
    assert.equal(image.topicsByName.get('t')!.partitions.size, 2);
    assert.ok(delta.createdTopics.has(TOPIC_ID));

    const next = replay(image, at([change(2, [2])], 3));
    const p = next.image.topicsById.get(TOPIC_ID)!.partitions.get(0)!;
    assert.equal(p.leader, 2);
    assert.equal(p.leaderEpoch, 1);
    assert.equal(p.partitionEpoch, 1);
    assert.deepEqual(p.isr, [2]);
    // The earlier image is untouched.
    assert.equal(image.topicsById.get(TOPIC_ID)!.partitions.get(0)!.leader, 1);
    assert.deepEqual([...next.delta.changedPartitions.get(TOPIC_ID)!], [0]);

    const isrOnly = replay(next.image, at([change(-2, [1, 2])], 4))
      .image.topicsById.get(TOPIC_ID)!
      .partitions.get(0)!;
    assert.equal(isrOnly.leader, 2);
    assert.equal(isrOnly.leaderEpoch, 1);
    assert.equal(isrOnly.partitionEpoch, 2);
  });

  void it('replays every PartitionChangeRecord field: null keeps, -2 keeps the leader, any leader bumps the epoch', () => {
    const { image } = replay(
      emptyImage('c'),
      at([{ typeId: R.TopicRecord, version: 0, record: { name: 't', topicId: TOPIC_ID } }, partition(0)]),
    );
    const full = {
      ...change(1, [1]),
      record: {
        ...change(1, [1]).record,
        replicas: [1, 2, 3],
        addingReplicas: [3],
        removingReplicas: [2],
        leaderRecoveryState: 1,
        eligibleLeaderReplicas: [2],
        lastKnownElr: [3],
      },
    };
    const p = replay(image, at([full], 2))
      .image.topicsById.get(TOPIC_ID)!
      .partitions.get(0)!;
    // The same leader written again still bumps the leader epoch (Kafka fences that way).
    assert.equal(p.leader, 1);
    assert.equal(p.leaderEpoch, 1);
    assert.equal(p.partitionEpoch, 1);
    assert.deepEqual(p.replicas, [1, 2, 3]);
    assert.deepEqual(p.isr, [1]);
    assert.deepEqual(p.addingReplicas, [3]);
    assert.deepEqual(p.removingReplicas, [2]);
    assert.equal(p.leaderRecoveryState, 1);
    assert.deepEqual(p.elr, [2]);
    assert.deepEqual(p.lastKnownElr, [3]);
    const none = replay(replay(image, at([full], 2)).image, at([change(-2, null)], 3))
      .image.topicsById.get(TOPIC_ID)!
      .partitions.get(0)!;
    assert.deepEqual({ ...none, partitionEpoch: 1 }, p);
    assert.equal(none.partitionEpoch, 2);
    const leaderless = replay(image, at([change(-1, null)], 2))
      .image.topicsById.get(TOPIC_ID)!
      .partitions.get(0)!;
    assert.equal(leaderless.leader, -1);
    assert.equal(leaderless.leaderEpoch, 1);
  });

  void it('fences and unfences brokers, sets and clears configs, tracks features', () => {
    const register = {
      typeId: R.RegisterBrokerRecord,
      version: 3,
      record: {
        brokerId: 3,
        isMigratingZkBroker: false,
        incarnationId: TOPIC_ID,
        brokerEpoch: 10n,
        endPoints: [{ name: 'PLAINTEXT', host: 'h', port: 1, securityProtocol: 0 }],
        features: [{ name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: 21 }],
        rack: 'r1',
        fenced: false,
        inControlledShutdown: false,
        logDirs: [],
      },
    };
    const { image } = replay(
      emptyImage('c'),
      at([
        register,
        { typeId: R.FenceBrokerRecord, version: 0, record: { id: 3, epoch: 10n } },
        { typeId: R.ConfigRecord, version: 0, record: { resourceType: 2, resourceName: 't', name: 'a', value: '1' } },
        { typeId: R.ConfigRecord, version: 0, record: { resourceType: 2, resourceName: 't', name: 'b', value: '2' } },
        { typeId: R.ConfigRecord, version: 0, record: { resourceType: 2, resourceName: 't', name: 'a', value: null } },
        { typeId: R.FeatureLevelRecord, version: 0, record: { name: 'metadata.version', featureLevel: 21 } },
      ]),
    );
    assert.equal(image.brokers.get(3)!.fenced, true);
    assert.equal(image.brokers.get(3)!.rack, 'r1');
    assert.deepEqual(image.brokers.get(3)!.supportedFeatures, [
      { name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: 21 },
    ]);
    assert.deepEqual([...image.configs.get('2:t')!], [['b', '2']]);
    assert.equal(image.features.get('metadata.version'), 21);
    const unfenced = replay(
      image,
      at([{ typeId: R.UnfenceBrokerRecord, version: 0, record: { id: 3, epoch: 10n } }], 6),
    );
    assert.equal(unfenced.image.brokers.get(3)!.fenced, false);
  });

  void it('refuses records that refer to unknown topics (a writer bug)', () => {
    assert.throws(() => replay(emptyImage('c'), at([partition(0)])), MetadataReplayError);
  });

  void it('writes one batch per append, each value framed as Kafka frames metadata records', async () => {
    const memory = new MemoryLog({ topic: '__cluster_metadata', partition: 0, config: metadataLogConfig, clock });
    const log = new MetadataLog(memory, clock);
    const committed = await log.append([
      { typeId: R.TopicRecord, version: 0, record: { name: 't', topicId: TOPIC_ID } },
      partition(0),
    ]);
    assert.deepEqual(
      committed.map((c) => c.offset),
      [0, 1],
    );
    assert.equal(memory.highWatermark(), 2);
    const read = await memory.read(0, 1 << 20);
    assert.equal(read.kind, 'records');
    const batches = decodeRecordBatches(read.kind === 'records' ? read.records : Buffer.alloc(0));
    assert.equal(batches.length, 1);
    const value = batches[0]!.records[0]!.value!;
    // frame version 1, TopicRecord type id 2, version 0, then the (flexible) record
    assert.deepEqual([...value.subarray(0, 3)], [1, 2, 0]);
    assert.equal(batches[0]!.records[1]!.value![1], R.PartitionRecord);
    const back = await log.readFrom(0);
    assert.deepEqual(
      back.map((r) => r.message.typeId),
      [R.TopicRecord, R.PartitionRecord],
    );
  });
});
