import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../../src/env/clock.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import { RaftDriver } from '../../src/raft/client.ts';
import { raftConfig } from '../../src/raft/config.ts';
import type { RaftMessage } from '../../src/raft/types.ts';
import { Recorder } from './harness.ts';

/** A clock that moves only when the test says so. */
class ManualClock implements Clock {
  now = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  nowMs(): number {
    return this.now;
  }
  monotonicMs(): number {
    return this.now;
  }
  schedule(delayMs: number, fn: () => void): () => void {
    const t = { at: this.now + delayMs, fn, live: true };
    this.timers.push(t);
    return () => {
      t.live = false;
    };
  }
  /** Fires the timers due at the current time; returns how many. */
  fireDue(): number {
    const due = this.timers.filter((t) => t.live && t.at <= this.now);
    this.timers = this.timers.filter((t) => t.live && t.at > this.now);
    for (const t of due) t.fn();
    return due.length;
  }
}

void describe('RaftDriver (RaftClient)', () => {
  void it('three drivers elect a leader, replicate an append, deliver it to every listener, and recover after restart', async () => {
    const clock = new ManualClock();
    const inflight: RaftMessage[] = [];
    const disks = new Map([1, 2, 3].map((id) => [id, memoryDisk()]));
    const drivers = new Map<number, RaftDriver>();
    const recorders = new Map<number, Recorder>();
    const open = async (id: number): Promise<RaftDriver> => {
      const rec = new Recorder();
      recorders.set(id, rec);
      const d = await RaftDriver.open({
        config: raftConfig(id, [1, 2, 3]),
        disk: disks.get(id)!,
        dir: '/meta/__cluster_metadata-0',
        clock,
        random: seededRandom(id),
        transport: (m) => inflight.push(m),
        listener: rec,
      });
      drivers.set(id, d);
      return d;
    };
    for (const id of [1, 2, 3]) await open(id);
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 1000; i++) {
        clock.fireDue();
        const batch = inflight.splice(0);
        for (const m of batch) await drivers.get(m.to)?.receive(m);
        if (inflight.length === 0) return;
      }
    };
    const leaderOf = (): RaftDriver | undefined =>
      [...drivers.values()].find((d) => d.leaderAndEpoch().leaderId === d.node.config.nodeId);
    let leader: RaftDriver | undefined;
    for (let t = 0; t < 10_000 && !(leader && leader.highWatermark() > 0); t += 10) {
      clock.now += 10;
      await settle();
      leader = leaderOf();
    }
    assert.ok(leader, 'a leader');
    const epoch = leader.leaderAndEpoch().epoch;
    for (const d of drivers.values())
      assert.deepEqual(d.leaderAndEpoch(), { leaderId: leader.node.config.nodeId, epoch });
    const offset = leader.scheduleAppend(epoch, [Buffer.from('topic-a'), Buffer.from('partition-a-0')]);
    for (let t = 0; t < 200; t += 10) {
      clock.now += 10;
      await settle();
    }
    assert.equal(leader.highWatermark(), offset + 1);
    for (const id of [1, 2, 3])
      assert.deepEqual(recorders.get(id)!.dataRecords(), ['topic-a', 'partition-a-0'], `node ${id}`);
    // Restart a follower from its disk: it replays the committed batch again once it learns the high watermark.
    const followerId = [1, 2, 3].find((id) => id !== leader.node.config.nodeId)!;
    await drivers.get(followerId)!.close();
    disks.get(followerId)!.crash();
    await open(followerId);
    for (let t = 0; t < 1000; t += 10) {
      clock.now += 10;
      await settle();
    }
    assert.deepEqual(recorders.get(followerId)!.dataRecords(), ['topic-a', 'partition-a-0']);
    for (const d of drivers.values()) await d.close();
  });
});

void describe('RaftDriver on a failing disk', () => {
  void it('stops (records the failure, sends nothing more) when an fsync fails, rather than announce what is not durable', async () => {
    const { faultyDisk } = await import('../../src/env/disk-faults.ts');
    const clock = new ManualClock();
    const sent: RaftMessage[] = [];
    const disk = faultyDisk(memoryDisk(), seededRandom(9));
    const d = await RaftDriver.open({
      config: raftConfig(1, [1, 2, 3]),
      disk,
      dir: '/m',
      clock,
      random: seededRandom(1),
      transport: (m) => sent.push(m),
    });
    // The election timeout makes it a candidate: the quorum state must be written first.
    disk.failNext('sync', { count: 10 });
    let realVotes = 0;
    for (let t = 0; t < 5000 && d.failure === undefined; t += 10) {
      clock.now += 10;
      clock.fireDue();
      await d.receive({ ...emptyVote(), to: 99 }); // a no-op step: waits for the timer's step
      // Peers would grant the pre-vote: answer each one.
      for (const m of sent.splice(0)) {
        if (m.type === 'vote-request' && m.preVote) await d.receive(grant(m));
        else if (m.type === 'vote-request') realVotes++;
      }
    }
    assert.ok(d.failure, 'the failure is recorded');
    assert.equal(realVotes, 0, 'no vote request leaves without a durable vote for itself');
    assert.equal(d.node.stateName(), 'candidate');
    await d.close();
  });
});

function grant(request: RaftMessage): RaftMessage {
  return {
    type: 'vote-response',
    preVote: true,
    from: request.to,
    to: request.from,
    correlationId: request.correlationId,
    body: {
      errorCode: 0,
      topics: [
        {
          topicName: '__cluster_metadata',
          partitions: [{ partitionIndex: 0, errorCode: 0, leaderId: -1, leaderEpoch: 0, voteGranted: true }],
        },
      ],
      nodeEndpoints: [],
    },
  };
}

function emptyVote(): RaftMessage {
  return {
    type: 'vote-response',
    preVote: true,
    from: 2,
    to: 1,
    correlationId: -1,
    body: { errorCode: 0, topics: [], nodeEndpoints: [] },
  };
}
