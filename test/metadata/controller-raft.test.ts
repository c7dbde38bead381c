/**
 * The metadata log over Raft on one node (the `npm start` shape: a quorum of itself):
 * snapshots written when the committed bytes pass metadata.log.max.record.bytes.between.snapshots
 * and loaded at the next start into the same image; a data directory in the pre-Raft
 * format is refused with a message saying what to do.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startBroker } from '../../src/broker/start.ts';
import type { MetadataImage } from '../../src/metadata/image.ts';
import { imageToRecords } from '../../src/metadata/image-records.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { startTestBroker } from '../e2e/fixture.ts';

/**
 * What must survive a snapshot and a restart (leader and partition epochs move on: the
 * clean stop hands leadership away and the new incarnation takes it back).
 */
function summary(image: MetadataImage) {
  return {
    topics: [...image.topicsByName.values()]
      .map((t) => ({
        name: t.name,
        id: t.topicId,
        partitions: [...t.partitions.values()].map((p) => ({ id: p.partitionId, replicas: p.replicas })),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    configs: [...image.configs].map(([k, v]) => [k, [...v].sort()]).sort(),
    features: [...image.features],
    producerIds: image.producerIds,
  };
}

void describe('metadata over Raft (one node)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  void it('is the active controller of its own quorum and answers operations', async () => {
    const broker = await startTestBroker();
    dirs.push(broker.dir);
    try {
      assert.equal(broker.controller?.isActive(), true);
      assert.equal(broker.raft.leaderAndEpoch().leaderId, broker.nodeId);
      const [r] = await broker.services.controller.createTopics(
        [{ name: 'one', numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }],
        false,
      );
      assert.equal(r?.errorCode, ErrorCode.NONE);
      assert.equal(broker.services.metadata.image().topicsByName.get('one')?.partitions.size, 2);
      assert.ok(broker.services.brokerEpoch() >= 0n);
      const described = await broker.services.describeQuorum();
      const p = described.topics[0]!.partitions[0]!;
      assert.equal(p.leaderId, broker.nodeId);
      assert.deepEqual(
        p.currentVoters.map((v) => v.replicaId),
        [broker.nodeId],
      );
    } finally {
      await broker.close();
    }
  });

  void it('writes snapshots past the byte threshold and rebuilds the same image from one', async () => {
    const config = { 'metadata.log.max.record.bytes.between.snapshots': '2048' };
    let broker = await startTestBroker({ config });
    dirs.push(broker.dir);
    for (let i = 0; i < 12; i++) {
      await broker.services.controller.createTopics(
        [{ name: `snap-${i}`, numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] }],
        false,
      );
    }
    await broker.services.controller.incrementalAlterConfigs(
      [{ resourceType: 2, resourceName: 'snap-3', configs: [{ name: 'retention.ms', op: 0, value: '1000' }] }],
      false,
    );
    assert.ok(broker.metadataLog.snapshotsWritten > 0, 'a snapshot was written');
    const files = readdirSync(join(broker.dir, '__cluster_metadata-0'));
    assert.ok(
      files.some((f) => f.startsWith('snapshot-')),
      `snapshot file in ${files.join(', ')}`,
    );
    const before = summary(broker.services.metadata.image());
    broker = await broker.restart();
    try {
      assert.equal(broker.metadataLog.snapshotsLoaded, 1, 'the restart loaded the snapshot');
      assert.deepEqual(summary(broker.services.metadata.image()), before);
      // The snapshot's records are what imageToRecords writes for the image it rebuilt.
      assert.ok(imageToRecords(broker.services.metadata.image()).length > 12);
    } finally {
      await broker.close();
    }
  });

  void it('refuses a data directory written before the Raft quorum, saying what to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runnel-old-'));
    dirs.push(dir);
    mkdirSync(join(dir, '__cluster_metadata-0'));
    writeFileSync(join(dir, '__cluster_metadata-0', '00000000000000000000.log'), Buffer.alloc(0));
    writeFileSync(
      join(dir, 'meta.properties'),
      'version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=1\ndirectory.id=AAAAAAAAAAAAAAAAAAAAAQ\n',
    );
    await assert.rejects(
      startBroker({ config: { 'log.dirs': dir, listeners: 'PLAINTEXT://127.0.0.1:0' }, announce: () => {} }),
      (err: Error) => /earlier Runnel/.test(err.message) && err.message.includes(dir),
    );
  });
});
