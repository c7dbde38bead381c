/**
 * A follower fetch sent at one leader epoch whose answer arrives after metadata brought a
 * newer epoch: the answer is dropped, so a FENCED_LEADER_EPOCH meant for the old epoch does
 * not stop the partition (it used to wait for yet another epoch that might never come,
 * leaving a restarted broker out of the ISR; found by the process failover test).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { FollowerState } from '../../src/replication/follower.ts';
import { LeaderState, serveFollowerFetch } from '../../src/replication/leader.ts';
import { logConfig } from '../../src/storage/config.ts';
import { MemoryLog } from '../../src/storage/memory-log.ts';
import { ManualClock } from '../storage/helpers.ts';

const clock = new ManualClock();
const newLog = () => new MemoryLog({ topic: 't', partition: 0, config: logConfig(), clock });

void describe('follower answers across a leader epoch change', () => {
  void it('drops an answer to a fetch sent at an older epoch', async () => {
    const [l, f] = [newLog(), newLog()];
    const leader = new LeaderState({
      localId: 1,
      log: l,
      nowMs: 0,
      leaderEpoch: 5,
      partitionEpoch: 0,
      replicas: [1, 2],
      isr: [1, 2],
    });
    const follower = new FollowerState({
      topic: 't',
      topicId: 'id',
      partition: 0,
      leaderId: 1,
      leaderEpoch: 4,
      log: f,
    });
    const p = follower.fetchPartition(1 << 20);
    const { data } = await serveFollowerFetch(
      leader,
      l,
      {
        replicaId: 2,
        brokerEpoch: -1,
        currentLeaderEpoch: p.currentLeaderEpoch,
        fetchOffset: Number(p.fetchOffset),
        lastFetchedEpoch: p.lastFetchedEpoch,
        logStartOffset: Number(p.logStartOffset),
        maxBytes: p.partitionMaxBytes,
      },
      0,
    );
    assert.equal(data.errorCode, ErrorCode.FENCED_LEADER_EPOCH);
    // Metadata brings epoch 5 while the fetch was in flight.
    follower.updateLeader(1, 5);
    const outcome = await follower.handleResponse(data, Number(p.fetchOffset), 0, p.currentLeaderEpoch);
    assert.deepEqual(outcome, { kind: 'idle', highWatermarkMoved: false });
    assert.equal(follower.isReady(0), true, 'the partition fetches again at the new epoch');
    // The same answer for a fetch at the current epoch still fences.
    const fenced = await follower.handleResponse(data, Number(p.fetchOffset), 0, 5);
    assert.equal(fenced.kind, 'fenced');
  });
});
