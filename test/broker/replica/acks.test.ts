/**
 * acks=-1 on a replicated partition, with a manual clock: the answer waits for the
 * follower's fetch to move the high watermark, and times out (REQUEST_TIMED_OUT) when no
 * follower fetch comes; produce to a follower is NOT_LEADER_OR_FOLLOWER; a follower fetch
 * with an older epoch is FENCED_LEADER_EPOCH.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleFetch } from '../../../src/broker/fetch/fetch.ts';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { batch, type Harness, harness } from './helpers.ts';

function produce(h: Harness, acks: number, timeoutMs = 1000) {
  return handleProduce(
    {
      transactionalId: null,
      acks,
      timeoutMs,
      topicData: [{ name: 't', partitionData: [{ index: 0, records: batch(2) }] }],
    },
    9,
    { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
  ).then(({ response }) => response.responses[0]!.partitionResponses[0]!);
}

function followerFetch(h: Harness, fetchOffset: number, currentLeaderEpoch = 1, maxWaitMs = 0) {
  return handleFetch(
    {
      clusterId: null,
      replicaId: 2,
      replicaState: { replicaId: -1, replicaEpoch: -1n },
      maxWaitMs,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic: 't',
          topicId: '',
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch,
              fetchOffset: BigInt(fetchOffset),
              lastFetchedEpoch: fetchOffset > 0 ? 1 : -1,
              logStartOffset: 0n,
              partitionMaxBytes: 1 << 20,
              replicaDirectoryId: '',
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    },
    12,
    { replicas: h.replicas, sessions: h.sessions, clock: h.clock },
  ).then((r) => r.responses[0]!.partitions[0]!);
}

async function ticks(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

void describe('acks=-1 with a follower', () => {
  void it('waits for the follower, times out without it', async () => {
    const h = await harness([{ name: 't', partitions: 1, leader: 1, replicas: [1, 2], isr: [1, 2], leaderEpoch: 1 }]);
    let answered: { errorCode: number } | undefined;
    const first = produce(h, -1).then((r) => {
      answered = r;
      return r;
    });
    await ticks();
    assert.equal(answered, undefined, 'waiting for the ISR');
    h.clock.advance(1001);
    assert.equal((await first).errorCode, ErrorCode.REQUEST_TIMED_OUT);
    assert.equal(h.replicas.getPartition('t', 0)!.highWatermark(), 0);

    const second = produce(h, -1, 30_000);
    await ticks();
    const fetched = await followerFetch(h, 0);
    assert.equal(fetched.errorCode, ErrorCode.NONE);
    assert.ok((fetched.records?.length ?? 0) > 0, 'the follower reads past the high watermark');
    assert.equal(fetched.highWatermark, 0n);
    const caughtUp = await followerFetch(h, 4);
    assert.equal(caughtUp.highWatermark, 4n);
    assert.equal((await second).errorCode, ErrorCode.NONE);

    assert.equal((await followerFetch(h, 4, 0)).errorCode, ErrorCode.FENCED_LEADER_EPOCH);
    assert.equal((await followerFetch(h, 4, 2)).errorCode, ErrorCode.UNKNOWN_LEADER_EPOCH);
    h.replicas.abandon();
  });

  void it('a parked follower fetch wakes on a leader append (the HW has not moved)', async () => {
    const h = await harness([{ name: 't', partitions: 1, leader: 1, replicas: [1, 2], isr: [1, 2], leaderEpoch: 1 }]);
    let woken = false;
    const parked = followerFetch(h, 0, 1, 10_000).then((r) => {
      woken = true;
      return r;
    });
    await ticks();
    assert.equal(woken, false, 'parked: nothing to read');
    const produced = produce(h, -1, 30_000);
    await ticks(10);
    assert.equal(woken, true, 'woken by the append, not by the clock');
    assert.ok(((await parked).records?.length ?? 0) > 0);
    assert.equal((await followerFetch(h, 2)).highWatermark, 2n);
    assert.equal((await produced).errorCode, ErrorCode.NONE);
    h.replicas.abandon();
  });

  void it('a follower refuses produce', async () => {
    const h = await harness([{ name: 't', partitions: 1, leader: 2, replicas: [2, 1], isr: [2, 1], leaderEpoch: 1 }]);
    assert.equal(h.replicas.getPartition('t', 0)!.isFollower(), true);
    assert.equal((await produce(h, -1)).errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    assert.equal((await produce(h, 1)).errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    h.replicas.abandon();
  });
});
