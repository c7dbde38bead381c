import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleFetch } from '../../../src/broker/fetch/fetch.ts';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import { ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import type { FetchRequest, FetchRequestFetchTopic } from '../../../src/protocol/generated/fetch-request.ts';
import type { FetchResponse } from '../../../src/protocol/generated/fetch-response.ts';
import { decodeRecordBatches } from '../../../src/protocol/records/index.ts';
import { batch, type Harness, harness } from '../replica/helpers.ts';

interface Part {
  partition: number;
  offset: number;
  maxBytes?: number;
  epoch?: number;
}

function topic(name: string, parts: Part[], topicId = ZERO_UUID): FetchRequestFetchTopic {
  return {
    topic: name,
    topicId,
    partitions: parts.map((p) => ({
      partition: p.partition,
      currentLeaderEpoch: p.epoch ?? -1,
      fetchOffset: BigInt(p.offset),
      lastFetchedEpoch: -1,
      logStartOffset: -1n,
      partitionMaxBytes: p.maxBytes ?? 1 << 20,
      replicaDirectoryId: ZERO_UUID,
    })),
  };
}

function req(topics: FetchRequestFetchTopic[], o: Partial<FetchRequest> = {}): FetchRequest {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1n },
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 50 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics,
    forgottenTopicsData: [],
    rackId: '',
    ...o,
  };
}

async function produce(h: Harness, t: string, partition: number, records: Buffer) {
  const { response } = await handleProduce(
    {
      transactionalId: null,
      acks: 1,
      timeoutMs: 1000,
      topicData: [{ name: t, partitionData: [{ index: partition, records }] }],
    },
    11,
    { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
  );
  return response.responses[0]!.partitionResponses[0]!;
}

function fetch(h: Harness, r: FetchRequest, v = 12): Promise<FetchResponse> {
  return handleFetch(r, v, { replicas: h.replicas, sessions: h.sessions, clock: h.clock });
}

function offsetsOf(records: Buffer | null): number[] {
  const out: number[] = [];
  for (const b of decodeRecordBatches(records ?? Buffer.alloc(0))) for (const r of b.records) out.push(r.offset);
  return out;
}

async function ticks(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

void describe('fetch', () => {
  void it('reads what was produced, with high watermark and log start offset', async () => {
    const h = await harness([{ name: 't', partitions: 2 }]);
    await produce(h, 't', 0, batch(3));
    await produce(h, 't', 0, batch(2));
    const r = await fetch(
      h,
      req([
        topic('t', [
          { partition: 0, offset: 3 },
          { partition: 1, offset: 0 },
        ]),
      ]),
    );
    assert.equal(r.errorCode, ErrorCode.NONE);
    const [p0, p1] = r.responses[0]!.partitions;
    assert.equal(p0!.errorCode, ErrorCode.NONE);
    assert.equal(p0!.highWatermark, 5n);
    assert.equal(p0!.lastStableOffset, 5n);
    assert.equal(p0!.logStartOffset, 0n);
    assert.deepEqual(offsetsOf(p0!.records), [3, 4]);
    assert.equal(p0!.preferredReadReplica, -1);
    assert.equal(p1!.records?.length, 0);
  });

  void it('errors: out of range, unknown topic, unknown topic id (v13+), fenced epoch, not leader', async () => {
    const h = await harness([
      { name: 't', partitions: 1, leaderEpoch: 3 },
      { name: 'o', partitions: 1, leader: 2, replicas: [2] },
    ]);
    await produce(h, 't', 0, batch(2));
    const r = await fetch(
      h,
      req([
        topic('t', [{ partition: 0, offset: 10 }]),
        topic('nope', [{ partition: 0, offset: 0 }]),
        topic('o', [{ partition: 0, offset: 0 }]),
      ]),
    );
    const codes = r.responses.flatMap((t) => t.partitions.map((p) => p.errorCode));
    assert.deepEqual(codes, [
      ErrorCode.OFFSET_OUT_OF_RANGE,
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      ErrorCode.NOT_LEADER_OR_FOLLOWER,
    ]);
    assert.deepEqual(r.responses[2]!.partitions[0]!.currentLeader, { leaderId: 2, leaderEpoch: 0 });
    const fenced = await fetch(h, req([topic('t', [{ partition: 0, offset: 0, epoch: 2 }])]));
    assert.equal(fenced.responses[0]!.partitions[0]!.errorCode, ErrorCode.FENCED_LEADER_EPOCH);
    const future = await fetch(h, req([topic('t', [{ partition: 0, offset: 0, epoch: 4 }])]));
    assert.equal(future.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_LEADER_EPOCH);
    const byId = await fetch(h, req([topic('', [{ partition: 0, offset: 0 }], 'AAAAAAAAAAAAAAAAAAAAAQ')]), 13);
    assert.equal(byId.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
    const id = h.replicas.topicId('t')!;
    const ok = await fetch(h, req([topic('', [{ partition: 0, offset: 0 }], id)]), 13);
    assert.equal(ok.responses[0]!.topicId, id);
    assert.deepEqual(offsetsOf(ok.responses[0]!.partitions[0]!.records), [0, 1]);
  });

  void it('byte limits: at least one whole batch for the first partition, then partition and response bounds', async () => {
    const h = await harness([{ name: 't', partitions: 3 }]);
    const big = batch([{ key: 'k', value: 'x'.repeat(2000) }]);
    await produce(h, 't', 0, big);
    await produce(h, 't', 1, batch(1));
    await produce(h, 't', 2, big);
    const r = await fetch(
      h,
      req(
        [
          topic('t', [
            { partition: 0, offset: 0, maxBytes: 100 },
            { partition: 1, offset: 0, maxBytes: 100 },
            { partition: 2, offset: 0, maxBytes: 100 },
          ]),
        ],
        { maxBytes: 500 },
      ),
    );
    const [p0, p1, p2] = r.responses[0]!.partitions;
    assert.equal(p0!.records!.length, big.length, 'first partition: the whole first batch');
    assert.equal(p1!.records!.length, 0, 'response limit used up');
    assert.equal(p2!.records!.length, 0);
  });

  void it('long poll: parks, wakes on produce before max wait, expires on the clock', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    const pending = fetch(h, req([topic('t', [{ partition: 0, offset: 0 }])], { maxWaitMs: 10_000, minBytes: 1 }));
    let done = false;
    void pending.then(() => {
      done = true;
    });
    await ticks();
    assert.equal(done, false);
    assert.equal(h.replicas.fetchPurgatory.size, 1);
    await produce(h, 't', 0, batch(2));
    const r = await pending;
    assert.deepEqual(offsetsOf(r.responses[0]!.partitions[0]!.records), [0, 1]);
    assert.equal(h.replicas.fetchPurgatory.size, 0);

    const empty = fetch(h, req([topic('t', [{ partition: 0, offset: 2 }])], { maxWaitMs: 500, minBytes: 1 }));
    await ticks();
    h.clock.advance(500);
    const e = await empty;
    assert.equal(e.responses[0]!.partitions[0]!.records!.length, 0);
    assert.equal(e.responses[0]!.partitions[0]!.highWatermark, 2n);
  });

  void it('long poll: min.bytes waits for enough data', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    const one = batch(1);
    const pending = fetch(
      h,
      req([topic('t', [{ partition: 0, offset: 0 }])], { maxWaitMs: 10_000, minBytes: one.length * 2 + 1 }),
    );
    let done = false;
    void pending.then(() => {
      done = true;
    });
    await ticks();
    await produce(h, 't', 0, batch(1));
    await ticks();
    assert.equal(done, false);
    await produce(h, 't', 0, batch(1));
    await produce(h, 't', 0, batch(1));
    const r = await pending;
    assert.deepEqual(offsetsOf(r.responses[0]!.partitions[0]!.records), [0, 1, 2]);
  });

  void it('a parked fetch answers when its partition moves away', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    const pending = fetch(h, req([topic('t', [{ partition: 0, offset: 0 }])], { maxWaitMs: 10_000 }));
    await ticks();
    const id = h.replicas.topicId('t')!;
    await h.publish([{ name: 't', topicId: id, partitions: 1, leader: 2, replicas: [2], leaderEpoch: 1 }]);
    const r = await pending;
    assert.equal(r.responses[0]!.partitions[0]!.errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
  });

  void it('sessions (KIP-227): full, incremental with only changed partitions, forgotten, errors', async () => {
    const h = await harness([{ name: 't', partitions: 3 }]);
    await produce(h, 't', 0, batch(2));
    const full = await fetch(
      h,
      req(
        [
          topic('t', [
            { partition: 0, offset: 0 },
            { partition: 1, offset: 0 },
            { partition: 2, offset: 0 },
          ]),
        ],
        {
          sessionId: 0,
          sessionEpoch: 0,
        },
      ),
    );
    const sessionId = full.sessionId;
    assert.ok(sessionId > 0);
    assert.equal(full.responses[0]!.partitions.length, 3);

    // Nothing changed: an incremental answer with no partitions.
    const inc1 = await fetch(h, req([topic('t', [{ partition: 0, offset: 2 }])], { sessionId, sessionEpoch: 1 }));
    assert.equal(inc1.errorCode, ErrorCode.NONE);
    assert.equal(inc1.sessionId, sessionId);
    assert.equal(inc1.responses.length, 0);

    // New data on partition 1 only: just that partition comes back.
    await produce(h, 't', 1, batch(1));
    const inc2 = await fetch(h, req([], { sessionId, sessionEpoch: 2 }));
    assert.deepEqual(
      inc2.responses[0]!.partitions.map((p) => p.partitionIndex),
      [1],
    );
    assert.deepEqual(offsetsOf(inc2.responses[0]!.partitions[0]!.records), [0]);

    // Forget partition 1; produce to it: not answered.
    await produce(h, 't', 1, batch(1));
    const inc3 = await fetch(
      h,
      req([], {
        sessionId,
        sessionEpoch: 3,
        forgottenTopicsData: [{ topic: 't', topicId: ZERO_UUID, partitions: [1] }],
      }),
    );
    assert.equal(inc3.responses.length, 0);

    const wrongEpoch = await fetch(h, req([], { sessionId, sessionEpoch: 9 }));
    assert.equal(wrongEpoch.errorCode, ErrorCode.INVALID_FETCH_SESSION_EPOCH);
    const unknown = await fetch(h, req([], { sessionId: sessionId + 1, sessionEpoch: 1 }));
    assert.equal(unknown.errorCode, ErrorCode.FETCH_SESSION_ID_NOT_FOUND);

    // Closing (epoch -1) answers a full sessionless fetch and drops the session.
    const close = await fetch(h, req([topic('t', [{ partition: 2, offset: 0 }])], { sessionId, sessionEpoch: -1 }));
    assert.equal(close.sessionId, 0);
    assert.equal(h.sessions.size, 0);
  });

  void it('sessions: the cache is bounded; a full cache answers without a session', async () => {
    const h = await harness([{ name: 't', partitions: 1 }], { sessionSlots: 2 });
    const open = () => fetch(h, req([topic('t', [{ partition: 0, offset: 0 }])], { sessionId: 0, sessionEpoch: 0 }));
    assert.ok((await open()).sessionId > 0);
    assert.ok((await open()).sessionId > 0);
    assert.equal((await open()).sessionId, 0);
    assert.equal(h.sessions.size, 2);
    h.clock.advance(120_000);
    assert.ok((await open()).sessionId > 0, 'a stale session is evicted');
  });

  void it('read_committed sends an empty aborted transaction list; read_uncommitted null', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    await produce(h, 't', 0, batch(1));
    const rc = await fetch(h, req([topic('t', [{ partition: 0, offset: 0 }])], { isolationLevel: 1 }));
    assert.deepEqual(rc.responses[0]!.partitions[0]!.abortedTransactions, []);
    const ru = await fetch(h, req([topic('t', [{ partition: 0, offset: 0 }])]));
    assert.equal(ru.responses[0]!.partitions[0]!.abortedTransactions, null);
  });

  void it('sessions by topic id (v13+): unknown ids answered until forgotten; data by id', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    const id = h.replicas.topicId('t')!;
    const ghost = 'AAAAAAAAAAAAAAAAAAAAAQ';
    const full = await fetch(
      h,
      req([topic('', [{ partition: 0, offset: 0 }], id)], { sessionId: 0, sessionEpoch: 0 }),
      13,
    );
    const sessionId = full.sessionId;
    assert.ok(sessionId > 0);
    const add = await fetch(
      h,
      req([topic('', [{ partition: 0, offset: 0 }], ghost)], { sessionId, sessionEpoch: 1 }),
      13,
    );
    assert.deepEqual(
      add.responses.map((t) => [t.topicId, t.partitions[0]!.errorCode]),
      [[ghost, ErrorCode.UNKNOWN_TOPIC_ID]],
    );
    await produce(h, 't', 0, batch(2));
    const next = await fetch(h, req([], { sessionId, sessionEpoch: 2 }), 13);
    assert.deepEqual(
      next.responses.map((t) => [t.topicId, t.partitions[0]!.errorCode]),
      [
        [id, ErrorCode.NONE],
        [ghost, ErrorCode.UNKNOWN_TOPIC_ID],
      ],
    );
    assert.deepEqual(offsetsOf(next.responses[0]!.partitions[0]!.records), [0, 1]);
    const forgot = await fetch(
      h,
      req([topic('', [{ partition: 0, offset: 2 }], id)], {
        sessionId,
        sessionEpoch: 3,
        forgottenTopicsData: [{ topic: '', topicId: ghost, partitions: [0] }],
      }),
      13,
    );
    assert.equal(forgot.responses.length, 0, 'nothing new, the unknown id forgotten');
  });

  void it('zstd batches are refused to Fetch before v10 (UNSUPPORTED_COMPRESSION_TYPE)', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    await produce(h, 't', 0, batch(3, { compression: 'zstd' }));
    const old = await fetch(h, req([topic('t', [{ partition: 0, offset: 0 }])]), 9);
    assert.equal(old.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    const ok = await fetch(h, req([topic('t', [{ partition: 0, offset: 0 }])]), 10);
    assert.deepEqual(offsetsOf(ok.responses[0]!.partitions[0]!.records), [0, 1, 2]);
  });
});
