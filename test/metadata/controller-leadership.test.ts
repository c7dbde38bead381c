/**
 * The controller on RaftMetadataLog with a scripted Raft (no network, no disk): it is
 * active only once the LeaderChange batch of its own epoch is replayed, refuses
 * operations (NOT_CONTROLLER) otherwise, answers an operation only after its batch is
 * committed and published, and fails operations whose batch a leadership change overtook.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerConfig } from '../../src/config/index.ts';
import type { Clock } from '../../src/env/clock.ts';
import { seededRandom } from '../../src/env/random.ts';
import { MetadataPublisher } from '../../src/metadata/cache.ts';
import { controllerErrorCode, QuorumController } from '../../src/metadata/controller.ts';
import { emptyImage } from '../../src/metadata/image.ts';
import { type MetadataRaft, RaftMetadataLog } from '../../src/metadata/metadata-log.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { encodeMetadataRecord, MetadataRecordType } from '../../src/protocol/generated/metadata-records.ts';
import { RaftAppendError, type RaftListener } from '../../src/raft/raft.ts';
import type { LeaderAndEpoch, LogBatch } from '../../src/raft/types.ts';

const clock: Clock = { nowMs: () => 1_700_000_000_000, monotonicMs: () => 0, schedule: () => () => {} };

/** A Raft the test drives: appends are kept until commit() delivers them. */
class ScriptedRaft implements MetadataRaft {
  readonly nodeId = 1;
  listener: RaftListener | undefined;
  leader: LeaderAndEpoch = { leaderId: -1, epoch: 0 };
  log: LogBatch[] = [];
  hw = 0;
  register(listener: RaftListener): void {
    this.listener = listener;
    listener.handleLeaderChange(this.leader);
  }
  leaderAndEpoch(): LeaderAndEpoch {
    return this.leader;
  }
  highWatermark(): number {
    return this.hw;
  }
  logEndOffset(): number {
    const last = this.log[this.log.length - 1];
    return last === undefined ? 0 : last.baseOffset + last.records.length;
  }
  scheduleAppend(epoch: number, records: readonly Buffer[]): number {
    if (this.leader.leaderId !== this.nodeId || this.leader.epoch !== epoch) {
      throw new RaftAppendError('not-leader', 'not the leader');
    }
    const baseOffset = this.logEndOffset();
    this.log.push({ baseOffset, epoch, records, control: false });
    return baseOffset + records.length - 1;
  }
  /** This node (or another) leads `epoch` from now; a leader writes its LeaderChange batch. */
  elect(leaderId: number, epoch: number): void {
    this.leader = { leaderId, epoch };
    if (leaderId === this.nodeId) {
      this.log.push({ baseOffset: this.logEndOffset(), epoch, records: [Buffer.alloc(1)], control: true });
    }
    this.listener!.handleLeaderChange(this.leader);
  }
  /** Delivers every batch not yet delivered as committed. */
  commit(): void {
    const fresh = this.log.filter((b) => b.baseOffset >= this.hw);
    this.hw = this.logEndOffset();
    this.listener!.handleCommit(fresh);
  }
}

function setup() {
  const raft = new ScriptedRaft();
  const publisher = new MetadataPublisher(emptyImage('test-cluster'));
  const errors: unknown[] = [];
  const log = new RaftMetadataLog({ raft, publisher, clusterId: 'test-cluster', onError: (e) => errors.push(e) });
  const controller = new QuorumController({
    nodeId: 1,
    log,
    publisher,
    clock,
    random: seededRandom(3),
    settings: { numPartitions: 1, defaultReplicationFactor: 1, deleteTopicEnable: true },
    rules: new BrokerConfig({}),
  });
  log.start();
  return { raft, publisher, log, controller, errors };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

void describe('controller leadership over Raft', () => {
  void it('refuses operations until its own epoch has started, then runs them after the commit', async () => {
    const { raft, publisher, controller, log } = setup();
    assert.equal(controller.isActive(), false);
    await assert.rejects(controller.allocateProducerIds(1), (e) => controllerErrorCode(e) === ErrorCode.NOT_CONTROLLER);

    raft.elect(1, 1);
    assert.equal(controller.isActive(), false, 'leader, but its epoch is not replayed yet');
    raft.commit();
    await log.drained();
    assert.equal(controller.isActive(), true);
    await settle();
    raft.commit(); // the activation's metadata.version record
    await log.drained();
    assert.equal(publisher.image().features.get('metadata.version') !== undefined, true);

    let answered = false;
    const pending = controller.allocateProducerIds(1).then((block) => {
      answered = true;
      return block;
    });
    await settle();
    assert.equal(answered, false, 'no answer before the commit');
    assert.equal(publisher.image().producerIds.nextProducerId, 0);
    raft.commit();
    const block = await pending;
    assert.equal(block.firstProducerId, 0);
    assert.equal(publisher.image().producerIds.nextProducerId, 1000);
  });

  void it('fails an operation whose batch a leadership change overtook, and goes inactive', async () => {
    const { raft, controller, log } = setup();
    raft.elect(1, 1);
    raft.commit();
    await log.drained();
    await settle();
    raft.commit();
    await log.drained();
    const pending = controller.allocateProducerIds(1);
    await settle();
    raft.elect(2, 2);
    await assert.rejects(pending, (e) => controllerErrorCode(e) === ErrorCode.NOT_CONTROLLER);
    assert.equal(controller.isActive(), false);
    await assert.rejects(controller.allocateProducerIds(1), (e) => controllerErrorCode(e) === ErrorCode.NOT_CONTROLLER);
  });

  void it('a stopped Raft client fails the operation waiting for its commit, and close() then returns', async () => {
    const { raft, controller, log } = setup();
    raft.elect(1, 1);
    raft.commit();
    await log.drained();
    await settle();
    raft.commit();
    await log.drained();
    const pending = controller.allocateProducerIds(1);
    await settle();
    log.close(); // the node is killed: its batch will never commit
    await assert.rejects(pending, (e) => controllerErrorCode(e) === ErrorCode.NOT_CONTROLLER);
    await controller.close();
    assert.equal(controller.isActive(), false);
  });

  void it('a follower replays the leader’s committed batches into its image', async () => {
    const { raft, publisher, log } = setup();
    raft.elect(2, 1);
    // Batches written by leader 2 arrive through replication.
    raft.log.push({ baseOffset: 0, epoch: 1, records: [Buffer.alloc(1)], control: true });
    raft.log.push({
      baseOffset: 1,
      epoch: 1,
      records: [
        encodeMetadataRecord(MetadataRecordType.FeatureLevelRecord, 0, { name: 'metadata.version', featureLevel: 21 }),
      ],
      control: false,
    });
    raft.commit();
    await log.drained();
    assert.equal(publisher.image().features.get('metadata.version'), 21);
    assert.equal(log.appliedOffset(), 2);
  });
});
