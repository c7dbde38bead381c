/**
 * imageToRecords: replaying the records (also through their wire encoding) rebuilds the image,
 * for images built from random record sequences.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { emptyImage, type MetadataImage } from '../../../src/metadata/image.ts';
import { imageToRecords } from '../../../src/metadata/image-records.ts';
import type { MetadataMessage } from '../../../src/metadata/metadata-log.ts';
import { replay } from '../../../src/metadata/replay.ts';
import {
  decodeMetadataRecord,
  encodeMetadataRecord,
  MetadataRecordType as R,
} from '../../../src/protocol/generated/metadata-records.ts';
import { CLUSTER_ID, incarnation, topicIdOf } from './helpers.ts';

const NAMES = ['a', 'b', 'c.d', 'e_f'];
const ids = fc.integer({ min: 0, max: 4 });
const list = fc.array(ids, { maxLength: 4 });
const nullableList = fc.option(list, { nil: null });

/** Abstract steps; interpret() turns them into records valid for the state so far. */
const step = fc.oneof(
  fc.record({
    kind: fc.constant('register' as const),
    id: ids,
    gen: fc.integer({ min: 0, max: 3 }),
    rack: fc.option(fc.constantFrom('r1', 'r2'), { nil: null }),
    fenced: fc.boolean(),
    shutdown: fc.boolean(),
    port: fc.integer({ min: 1, max: 65535 }),
    maxVersion: fc.integer({ min: 1, max: 25 }),
  }),
  fc.record({ kind: fc.constant('unregister' as const), id: ids }),
  fc.record({ kind: fc.constant('fence' as const), id: ids, how: fc.integer({ min: 0, max: 4 }) }),
  fc.record({
    kind: fc.constant('topic' as const),
    name: fc.constantFrom(...NAMES),
    partitions: fc.array(
      fc.record({ replicas: list, isr: list, leader: fc.integer({ min: -1, max: 4 }), epoch: fc.nat(9) }),
      { maxLength: 3 },
    ),
  }),
  fc.record({
    kind: fc.constant('change' as const),
    name: fc.constantFrom(...NAMES),
    partition: fc.nat(3),
    isr: nullableList,
    replicas: nullableList,
    adding: nullableList,
    removing: nullableList,
    elr: nullableList,
    leader: fc.integer({ min: -2, max: 4 }),
    lrs: fc.integer({ min: -1, max: 1 }),
  }),
  fc.record({ kind: fc.constant('remove' as const), name: fc.constantFrom(...NAMES) }),
  fc.record({
    kind: fc.constant('config' as const),
    type: fc.constantFrom(2, 4),
    resource: fc.constantFrom('a', 'b', '', '1'),
    name: fc.constantFrom('x', 'y'),
    value: fc.option(fc.constantFrom('1', 'v:2'), { nil: null }),
  }),
  fc.record({
    kind: fc.constant('feature' as const),
    name: fc.constantFrom('metadata.version', 'kraft.version'),
    level: fc.nat(22),
  }),
  fc.record({ kind: fc.constant('pids' as const), broker: ids, next: fc.nat(1_000_000) }),
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

function interpret(steps: Step[]): MetadataImage {
  let image = emptyImage(CLUSTER_ID);
  const apply = (m: MetadataMessage) => {
    image = replay(image, [{ offset: image.offset + 1, message: m }]).image;
  };
  for (const s of steps) {
    switch (s.kind) {
      case 'register':
        apply({
          typeId: R.RegisterBrokerRecord,
          version: 3,
          record: {
            brokerId: s.id,
            isMigratingZkBroker: false,
            incarnationId: incarnation(s.id, s.gen),
            brokerEpoch: BigInt(image.offset + 1),
            endPoints: [{ name: 'PLAINTEXT', host: 'h', port: s.port, securityProtocol: 0 }],
            features: [{ name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: s.maxVersion }],
            rack: s.rack,
            fenced: s.fenced,
            inControlledShutdown: s.shutdown,
            logDirs: [],
          },
        });
        break;
      case 'unregister':
        apply({ typeId: R.UnregisterBrokerRecord, version: 0, record: { brokerId: s.id, brokerEpoch: -1n } });
        break;
      case 'fence': {
        const epoch = BigInt(image.brokers.get(s.id)?.brokerEpoch ?? -1);
        if (s.how === 0) apply({ typeId: R.FenceBrokerRecord, version: 0, record: { id: s.id, epoch } });
        else if (s.how === 1) apply({ typeId: R.UnfenceBrokerRecord, version: 0, record: { id: s.id, epoch } });
        else {
          apply({
            typeId: R.BrokerRegistrationChangeRecord,
            version: 1,
            record: {
              brokerId: s.id,
              brokerEpoch: epoch,
              fenced: s.how === 2 ? 1 : s.how === 3 ? -1 : 0,
              inControlledShutdown: s.how === 4 ? 1 : 0,
              logDirs: [],
            },
          });
        }
        break;
      }
      case 'topic': {
        if (image.topicsByName.has(s.name)) break;
        const topicId = topicIdOf(s.name);
        if (image.topicsById.has(topicId)) break;
        apply({ typeId: R.TopicRecord, version: 0, record: { name: s.name, topicId } });
        s.partitions.forEach((p, partitionId) => {
          apply({
            typeId: R.PartitionRecord,
            version: 0,
            record: {
              partitionId,
              topicId,
              replicas: p.replicas,
              isr: p.isr,
              removingReplicas: [],
              addingReplicas: [],
              leader: p.leader,
              leaderRecoveryState: 0,
              leaderEpoch: p.epoch,
              partitionEpoch: p.epoch * 2,
              directories: [],
              eligibleLeaderReplicas: null,
              lastKnownElr: null,
            },
          });
        });
        break;
      }
      case 'change': {
        const topic = image.topicsByName.get(s.name);
        if (topic === undefined || !topic.partitions.has(s.partition)) break;
        apply({
          typeId: R.PartitionChangeRecord,
          version: 2,
          record: {
            partitionId: s.partition,
            topicId: topic.topicId,
            isr: s.isr,
            leader: s.leader,
            replicas: s.replicas,
            removingReplicas: s.removing,
            addingReplicas: s.adding,
            leaderRecoveryState: s.lrs,
            directories: null,
            eligibleLeaderReplicas: s.elr,
            lastKnownElr: s.elr === null ? null : [...s.elr].reverse(),
          },
        });
        break;
      }
      case 'remove': {
        const topic = image.topicsByName.get(s.name);
        if (topic !== undefined) apply({ typeId: R.RemoveTopicRecord, version: 0, record: { topicId: topic.topicId } });
        break;
      }
      case 'config':
        apply({
          typeId: R.ConfigRecord,
          version: 0,
          record: { resourceType: s.type, resourceName: s.resource, name: s.name, value: s.value },
        });
        break;
      case 'feature':
        apply({ typeId: R.FeatureLevelRecord, version: 0, record: { name: s.name, featureLevel: s.level } });
        break;
      case 'pids':
        apply({
          typeId: R.ProducerIdsRecord,
          version: 0,
          record: { brokerId: s.broker, brokerEpoch: -1n, nextProducerId: BigInt(s.next) },
        });
        break;
    }
  }
  return image;
}

function rebuild(records: readonly MetadataMessage[], offset: number): MetadataImage {
  const start = offset - records.length + 1;
  const image = replay(
    emptyImage(CLUSTER_ID),
    records.map((message, i) => ({ offset: start + i, message })),
  ).image;
  return { ...image, offset };
}

void describe('imageToRecords', () => {
  void it('property: replaying the records (and their encoded bytes) rebuilds the image', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40, size: 'max' }), (steps) => {
        const image = interpret(steps);
        const records = imageToRecords(image);
        assert.deepStrictEqual(rebuild(records, image.offset), image);
        const decoded = records.map((m) => decodeMetadataRecord(encodeMetadataRecord(m.typeId, m.version, m.record)));
        assert.deepStrictEqual(rebuild(decoded, image.offset), image);
      }),
      { numRuns: 200 },
    );
  });

  void it('writes metadata.version first and nothing for an empty image', () => {
    assert.deepEqual(imageToRecords(emptyImage(CLUSTER_ID)), []);
    const image = interpret([
      { kind: 'feature', name: 'kraft.version', level: 1 },
      { kind: 'feature', name: 'metadata.version', level: 21 },
    ]);
    assert.deepEqual(
      imageToRecords(image).map((m) => (m.record as { name: string }).name),
      ['metadata.version', 'kraft.version'],
    );
  });
});
