/**
 * Idempotent producer state across leader failover: a retry answered by a new leader
 * must come from the log that leader has now, never from producer state built from
 * records a truncation removed (suspect of a lost acks=all record in the process
 * failover test). Three replicas over in-memory logs, follower fetches driven by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProducerSnapshotStore } from '../../../src/broker/producer-state/snapshot.ts';
import { type AppendOutcome, Partition } from '../../../src/broker/replica/partition.ts';
import { memoryDisk } from '../../../src/env/disk-memory.ts';
import { readBatchHeader } from '../../../src/protocol/records/batch-header.ts';
import { decodeRecordBatch, iterateBatches } from '../../../src/protocol/records/index.ts';
import { serveFollowerFetch } from '../../../src/replication/leader.ts';
import { logConfig } from '../../../src/storage/config.ts';
import { MemoryLog } from '../../../src/storage/memory-log.ts';
import { batch, ManualClock } from './helpers.ts';

const REPLICAS = [1, 2, 3];
const clock = new ManualClock();
const disk = memoryDisk();

let dirs = 0;

async function replica(id: number, withSnapshots: boolean): Promise<Partition> {
  const log = new MemoryLog({ topic: 't', partition: 0, config: logConfig(), clock });
  const config = {
    log: logConfig(),
    maxMessageBytes: 1_048_588,
    minInsyncReplicas: 2,
    timestampBeforeMaxMs: Number.POSITIVE_INFINITY,
    timestampAfterMaxMs: Number.POSITIVE_INFINITY,
  };
  const dir = `/r${id}-${dirs++}`;
  await disk.mkdirp(dir);
  const store = withSnapshots ? new ProducerSnapshotStore(disk, dir) : undefined;
  return new Partition(id, 't', 0, 'topic-id', log, config, clock, store);
}

function role(p: Partition, leader: number, leaderEpoch: number, isr: number[]): void {
  p.updateRole({ leader, leaderEpoch, replicas: REPLICAS, isr, partitionEpoch: leaderEpoch });
}

function produce(leader: Partition, producerId: bigint, seq: number, key: string): Promise<AppendOutcome> {
  const buf = batch([{ key, value: 'v' }], { producerId, producerEpoch: 0, baseSequence: seq });
  return leader.appendAsLeader(buf, [readBatchHeader(buf, 0)]);
}

/** One follower fetch round: the leader serves, the follower applies. */
async function fetchOnce(leader: Partition, follower: Partition): Promise<string> {
  const f = follower.followerState!;
  const req = f.fetchPartition(1 << 20);
  const { data, highWatermarkMoved } = await serveFollowerFetch(
    leader.leaderState!,
    leader.log,
    {
      replicaId: follower.nodeId,
      brokerEpoch: -1,
      currentLeaderEpoch: req.currentLeaderEpoch,
      fetchOffset: Number(req.fetchOffset),
      lastFetchedEpoch: req.lastFetchedEpoch,
      logStartOffset: Number(req.logStartOffset),
      maxBytes: req.partitionMaxBytes,
    },
    clock.monotonicMs(),
  );
  if (highWatermarkMoved) leader.highWatermarkAdvanced();
  const outcome = await follower.applyFollowerFetch(data, Number(req.fetchOffset), clock.monotonicMs());
  return outcome.kind;
}

/** Fetches until the follower has nothing more to do (bounded). */
async function catchUp(leader: Partition, follower: Partition): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const kind = await fetchOnce(leader, follower);
    if (kind === 'idle' && follower.log.logEndOffset() === leader.log.logEndOffset()) {
      await fetchOnce(leader, follower); // one more: the follower's position moves the HW
      return;
    }
  }
  throw new Error('follower did not catch up');
}

async function keyAt(p: Partition, offset: number): Promise<string | undefined> {
  const read = await p.log.read(offset, 1 << 20, { maxOffset: p.log.logEndOffset(), minOneBatch: true });
  if (read.kind !== 'records') return undefined;
  for (const { header, position } of iterateBatches(read.records)) {
    if (header.baseOffset !== offset) continue;
    return decodeRecordBatch(read.records, position).records[0]?.key?.toString();
  }
  return undefined;
}

for (const withSnapshots of [false, true]) {
  void describe(`producer state across failover (${withSnapshots ? 'with' : 'without'} snapshots)`, () => {
    void it('a retry of a batch the new leader truncated away is appended again, not answered from stale state', async () => {
      const [a, b, c] = [
        await replica(1, withSnapshots),
        await replica(2, withSnapshots),
        await replica(3, withSnapshots),
      ];
      for (const p of [a, b, c]) role(p, 1, 0, REPLICAS);
      const P = 7n;
      const Q = 9n;
      // Epoch 0, leader A: P seq 0 committed on all three.
      const first = produce(a, P, 0, 'p-0');
      await catchUp(a, b);
      await catchUp(a, c);
      assert.equal((await first).kind, 'appended');
      assert.equal(a.highWatermark(), 1);
      // P seq 1 at offset 1 reaches B only; A dies before it commits (no acknowledgement).
      const second = await produce(a, P, 1, 'p-1');
      assert.equal(second.kind === 'appended' && second.baseOffset, 1);
      await fetchOnce(a, b);
      assert.equal(b.log.logEndOffset(), 2);
      if (withSnapshots) await b.snapshotProducerState(true); // a snapshot above the coming truncation
      // Epoch 1, leader C (it lacks offset 1): another producer's record lands at offset 1.
      role(c, 3, 1, [2, 3]);
      role(b, 3, 1, [2, 3]);
      const q = produce(c, Q, 0, 'q-0');
      await catchUp(c, b); // B diverges at offset 1, truncates, fetches Q's record
      assert.equal((await q).kind, 'appended');
      assert.equal(await keyAt(b, 1), 'q-0');
      // Epoch 2, leader B. The producer retries P seq 1 (it never got an answer).
      role(b, 2, 2, [2, 3]);
      role(c, 2, 2, [2, 3]);
      const retry = produce(b, P, 1, 'p-1');
      await catchUp(b, c);
      const out = await retry;
      assert.equal(out.kind, 'appended', `the retry is new to B's log: ${JSON.stringify(out)}`);
      assert.equal(out.kind === 'appended' && out.baseOffset, 2);
      assert.equal(await keyAt(b, 2), 'p-1');
      assert.equal(await keyAt(b, 1), 'q-0');
      // And a second retry of it is now a duplicate pointing at its real offset.
      const again = await produce(b, P, 1, 'p-1');
      assert.equal(again.kind === 'duplicate' && again.baseOffset, 2);
    });
  });
}
