/**
 * A coordinator shard loads only once the local replica leads its partition: the metadata
 * names a new leader before the broker's replica manager has made it one (a follower append
 * may still be landing), so a load that read the log at once could miss records.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplicaManager } from '../../../src/broker/replica/replica-manager.ts';
import { DEFAULT_GROUP_CONFIG } from '../../../src/coordinator/group/config.ts';
import { GroupCoordinator } from '../../../src/coordinator/group/coordinator.ts';
import { groupRecordSerde } from '../../../src/coordinator/group/records.ts';
import { MemoryCoordinatorLog } from '../../../src/coordinator/runtime/memory-log.ts';
import { ReplicaCoordinatorLog } from '../../../src/coordinator/runtime/replica-log.ts';
import {
  CoordinatorRuntime,
  type CoordinatorShard,
  type RecordSerde,
  type SerializedRecord,
} from '../../../src/coordinator/runtime/runtime.ts';
import { seededRandom } from '../../../src/env/random.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { fixedTopics, settle, TestClock } from '../helpers.ts';

/** An in-memory log whose local replica becomes leader (at an epoch) when the test says. */
class FollowerFirstLog extends MemoryCoordinatorLog {
  leaderEpoch: number | undefined;
  reads = 0;
  isLeader(_partition: number, leaderEpoch: number): boolean {
    return this.leaderEpoch !== undefined && this.leaderEpoch >= leaderEpoch;
  }
  override readAll(
    partition: number,
    onRecord: (record: SerializedRecord, offset: number, producerId?: bigint) => void,
  ): Promise<void> {
    this.reads++;
    return super.readAll(partition, onRecord);
  }
}

class Sum implements CoordinatorShard<number> {
  value = 0;
  replay(record: number): void {
    this.value += record;
  }
}

const serde: RecordSerde<number> = {
  serialize: (n) => ({ key: Buffer.from('k'), value: Buffer.from(String(n)) }),
  deserialize: (r) => Number(r.value!.toString()),
};

function runtimeOver(log: FollowerFirstLog, clock: TestClock) {
  const shards: Sum[] = [];
  const runtime = new CoordinatorRuntime<Sum, number>({
    clock,
    log,
    serde,
    newShard: () => {
      const s = new Sum();
      shards.push(s);
      return s;
    },
  });
  return { runtime, shards };
}

void describe('coordinator load waits for the local replica to lead', () => {
  void it('replays records that landed while the replica was still a follower', async () => {
    const clock = new TestClock();
    const log = new FollowerFirstLog();
    const { runtime, shards } = runtimeOver(log, clock);
    await log.append(0, [serde.serialize(1)], clock.nowMs());
    const loading = runtime.load(0, 7);
    await settle();
    assert.equal(runtime.status(0), 'loading');
    assert.equal(log.reads, 0, 'the log is not read before the replica leads');
    const op = await runtime.write(0, () => ({ records: [], response: 'x' }));
    assert.equal(op.errorCode, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    // A follower append lands, then the replica manager makes this node leader at epoch 6: not enough.
    await log.append(0, [serde.serialize(10)], clock.nowMs());
    log.leaderEpoch = 6;
    await clock.advance(50);
    assert.equal(runtime.status(0), 'loading');
    log.leaderEpoch = 7;
    await clock.advance(500);
    await loading;
    assert.equal(runtime.status(0), 'active');
    assert.equal(log.reads, 1);
    assert.equal(shards[0]!.value, 11, 'the shard holds every record of the log');
    assert.equal(clock.pendingTimers, 0, 'no polling left');
  });

  void it('stops waiting when the shard is unloaded, without reading the log', async () => {
    const clock = new TestClock();
    const log = new FollowerFirstLog();
    const { runtime } = runtimeOver(log, clock);
    const loading = runtime.load(0, 3);
    await clock.advance(100);
    await runtime.unload(0);
    await loading;
    assert.equal(runtime.status(0), 'absent');
    assert.equal(log.reads, 0);
    assert.equal(clock.pendingTimers, 0, 'the poll timer is cancelled');
    // Leadership coming back later loads normally.
    log.leaderEpoch = 4;
    await runtime.load(0, 4);
    assert.equal(runtime.status(0), 'active');
  });

  void it('loads at once from a log that does not tell, or whose replica already leads', async () => {
    const clock = new TestClock();
    const plain = new MemoryCoordinatorLog();
    const runtime = new CoordinatorRuntime<Sum, number>({ clock, log: plain, serde, newShard: () => new Sum() });
    await runtime.load(0, 5);
    assert.equal(runtime.status(0), 'active');
    const log = new FollowerFirstLog();
    log.leaderEpoch = 5;
    const { runtime: r2 } = runtimeOver(log, clock);
    await r2.load(0, 5);
    assert.equal(r2.status(0), 'active');
    assert.equal(clock.pendingTimers, 0);
  });

  void it('FindCoordinator waits for a group shard loading on leadership, then names this node', async () => {
    const clock = new TestClock();
    const log = new FollowerFirstLog();
    const coordinator = new GroupCoordinator({
      nodeId: 1,
      clock,
      random: seededRandom(1),
      config: { ...DEFAULT_GROUP_CONFIG, numPartitions: 1 },
      log,
      topics: fixedTopics({ t: 1 }),
    });
    await log.append(0, [groupRecordSerde.serialize({ kind: 'group', group: 'g', value: null })], clock.nowMs());
    const loading = coordinator.loadShard(0, 2);
    const found = coordinator.findCoordinator('g');
    log.leaderEpoch = 2;
    await clock.advance(100);
    assert.deepEqual(await found, { errorCode: ErrorCode.NONE, nodeId: 1 });
    await loading;
    await coordinator.close();
  });
});

void describe('ReplicaCoordinatorLog.isLeader', () => {
  void it('is the local partition leading at the epoch or later', () => {
    const partitions = new Map<string, { isLeader(): boolean; leaderEpoch: number }>([
      ['__consumer_offsets:0', { isLeader: () => true, leaderEpoch: 4 }],
      ['__consumer_offsets:1', { isLeader: () => false, leaderEpoch: 4 }],
    ]);
    const replicas = {
      getPartition: (topic: string, partition: number) => partitions.get(`${topic}:${partition}`),
    } as unknown as ReplicaManager;
    const log = new ReplicaCoordinatorLog({ topic: '__consumer_offsets', replicas, commitTimeoutMs: 5000 });
    assert.equal(log.isLeader(0, 4), true);
    assert.equal(log.isLeader(0, -1), true);
    assert.equal(log.isLeader(0, 5), false, 'an older epoch than the metadata names');
    assert.equal(log.isLeader(1, -1), false, 'still a follower');
    assert.equal(log.isLeader(2, -1), false, 'no local replica');
  });
});
