import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin } from '../../src/client/admin.ts';
import { BrokerConnection } from '../../src/client/connection.ts';
import { Consumer } from '../../src/client/consumer.ts';
import { FetchSessionHandler, type SessionPartitionState } from '../../src/client/fetch-session.ts';
import { Producer } from '../../src/client/producer.ts';
import { stringDeserializer } from '../../src/client/serde.ts';
import { systemClock } from '../../src/env/clock.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';
import { FakeKafka } from './fake-broker.ts';
import { waitFor } from './helpers.ts';

const part = (partition: number, fetchOffset: number): SessionPartitionState => ({
  topic: 't',
  partition,
  fetchOffset,
  partitionMaxBytes: 1000,
  currentLeaderEpoch: -1,
});

void describe('fetch session handler (KIP-227)', () => {
  void it('opens with a full request, then sends only what changed and what to forget', () => {
    const h = new FetchSessionHandler(0);
    const first = h.build([part(0, 0), part(1, 0), part(2, 0)], true);
    assert.equal(first.full, true);
    assert.deepEqual([first.sessionId, first.sessionEpoch, first.toSend.length], [0, 0, 3]);
    assert.equal(h.onResponse(first, 0, 77), true);
    assert.deepEqual(h.state, { sessionId: 77, epoch: 1 });

    const second = h.build([part(0, 10), part(1, 0), part(2, 0)], true);
    assert.equal(second.full, false);
    assert.deepEqual([second.sessionId, second.sessionEpoch], [77, 1]);
    assert.deepEqual(
      second.toSend.map((p) => p.partition),
      [0],
    );
    assert.deepEqual(second.forgotten, []);
    h.onResponse(second, 0, 77);

    // Partition 2 paused (not wanted): forgotten; nothing else changed.
    const third = h.build([part(0, 10), part(1, 0)], true);
    assert.deepEqual([third.sessionEpoch, third.toSend.length], [2, 0]);
    assert.deepEqual(third.forgotten, [{ topic: 't', partitions: [2] }]);
    h.onResponse(third, 0, 77);
    // Back again: sent in full, as the session no longer has it.
    const fourth = h.build([part(0, 10), part(1, 0), part(2, 5)], true);
    assert.deepEqual(
      fourth.toSend.map((p) => [p.partition, p.fetchOffset]),
      [[2, 5]],
    );
    assert.equal(fourth.sessionEpoch, 3);
  });

  void it('starts over after FETCH_SESSION_ID_NOT_FOUND, reopens after INVALID_FETCH_SESSION_EPOCH or a lost answer', () => {
    const h = new FetchSessionHandler(0);
    h.onResponse(h.build([part(0, 0)], true), 0, 5);
    const r = h.build([part(0, 1)], true);
    assert.equal(h.onResponse(r, ErrorCode.FETCH_SESSION_ID_NOT_FOUND, 0), false);
    const again = h.build([part(0, 1)], true);
    assert.deepEqual([again.full, again.sessionId, again.sessionEpoch, again.toSend.length], [true, 0, 0, 1]);
    h.onResponse(again, 0, 6);
    const r2 = h.build([part(0, 2)], true);
    assert.equal(h.onResponse(r2, ErrorCode.INVALID_FETCH_SESSION_EPOCH, 0), false);
    // Same id, epoch 0: the broker closes session 6 and opens a new one.
    const reopen = h.build([part(0, 2)], true);
    assert.deepEqual([reopen.full, reopen.sessionId, reopen.sessionEpoch], [true, 6, 0]);
    h.onResponse(reopen, 0, 8);
    h.build([part(0, 3)], true);
    h.onFailure();
    assert.deepEqual(h.state, { sessionId: 8, epoch: 0 });
  });

  void it('stays full when the broker keeps no session, and is sessionless below Fetch v7', () => {
    const h = new FetchSessionHandler(0);
    const r = h.build([part(0, 0)], true);
    h.onResponse(r, 0, 0);
    const next = h.build([part(0, 0)], true);
    assert.deepEqual([next.full, next.sessionId, next.sessionEpoch, next.toSend.length], [true, 0, 0, 1]);
    const old = h.build([part(0, 0)], false);
    assert.deepEqual([old.full, old.sessionId, old.sessionEpoch], [true, 0, -1]);
  });
});

void describe('consumer fetch sessions against the fake broker', () => {
  let kafka: FakeKafka;
  before(async () => {
    kafka = await FakeKafka.start(1);
  });
  after(async () => {
    await kafka.stop();
  });

  void it('fetches incrementally, and recovers from a lost session without losing or repeating records', async () => {
    kafka.createTopic('fs-topic', 4);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0 });
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
      fetchMaxWaitMs: 50,
    });
    consumer.assign([0, 1, 2, 3].map((partition) => ({ topic: 'fs-topic', partition })));
    const seen: string[] = [];
    const pollUntil = async (n: number): Promise<void> => {
      for (let i = 0; i < 200 && seen.length < n; i++) {
        for (const r of await consumer.poll({ timeoutMs: 100 })) seen.push(r.value ?? '');
      }
    };
    const logStart = kafka.fetchLog.length;
    await producer.send([0, 1, 2, 3].map((partition) => ({ topic: 'fs-topic', partition, value: `a${partition}` })));
    await pollUntil(4);
    // Only partition 1 gets new records: incremental requests carry it alone (or nothing).
    for (let i = 0; i < 3; i++) {
      await producer.send({ topic: 'fs-topic', partition: 1, value: `b${i}` });
      await pollUntil(5 + i);
    }
    const log = kafka.fetchLog.slice(logStart);
    assert.deepEqual([log[0]!.sessionId, log[0]!.sessionEpoch, log[0]!.partitions], [0, 0, 4]);
    const incremental = log.filter((f) => f.sessionEpoch > 0);
    assert.ok(incremental.length >= 3, `incremental fetches: ${incremental.length}`);
    assert.ok(
      incremental.every((f) => f.partitions <= 4 && f.sessionId === log[1]!.sessionId),
      JSON.stringify(log),
    );
    assert.ok(incremental.some((f) => f.partitions === 0 || f.partitions === 1));
    assert.ok(consumer.metrics().fetchSessions[0]!.epoch > 1);

    // The broker loses the session once: the consumer goes back to a full fetch.
    let injected = 0;
    const remove = kafka.inject((req) => {
      if (req.apiKey !== ApiKey.Fetch || injected > 0) return undefined;
      injected++;
      return { kind: 'error', code: ErrorCode.FETCH_SESSION_ID_NOT_FOUND };
    });
    const afterError = kafka.fetchLog.length;
    await producer.send([0, 2].map((partition) => ({ topic: 'fs-topic', partition, value: `c${partition}` })));
    await pollUntil(9);
    remove();
    await waitFor(() => kafka.fetchLog.length > afterError + 1, 5000, 'a fetch after the error');
    const recovery = kafka.fetchLog.slice(afterError);
    const failed = recovery.findIndex((f) => f.partitions === -1);
    assert.ok(failed >= 0);
    assert.deepEqual(
      [recovery[failed + 1]!.sessionId, recovery[failed + 1]!.sessionEpoch, recovery[failed + 1]!.partitions],
      [0, 0, 4],
    );
    assert.deepEqual(seen.sort(), ['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'c0', 'c2']);
    await consumer.close();
    await producer.close();
  });

  void it('closes its fetch session on close(): the session id with the final epoch (-1) and no partitions', async () => {
    kafka.createTopic('fs-close', 2);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      fetchMaxWaitMs: 20,
    });
    consumer.assign([0, 1].map((partition) => ({ topic: 'fs-close', partition })));
    for (let i = 0; i < 200 && (consumer.metrics().fetchSessions[0]?.epoch ?? 0) < 2; i++) {
      await consumer.poll({ timeoutMs: 50 });
    }
    const { sessionId } = consumer.metrics().fetchSessions[0]!;
    assert.ok(sessionId !== 0 && kafka.hasFetchSession(sessionId));
    const before = kafka.fetchLog.length;
    await consumer.close();
    const last = kafka.fetchLog.slice(before).at(-1);
    assert.deepEqual(last, { sessionId, sessionEpoch: -1, partitions: 0, forgotten: 0 });
    assert.equal(kafka.hasFetchSession(sessionId), false, 'the broker dropped the session');
    assert.deepEqual(
      consumer.metrics().fetchSessions.map((s) => s.sessionId),
      [0],
    );
  });

  void it('forgets a paused partition and adds it back on resume', async () => {
    kafka.createTopic('fs-pause', 2);
    const consumer = new Consumer({
      bootstrapServers: kafka.bootstrap,
      autoOffsetReset: 'earliest',
      fetchMaxWaitMs: 20,
    });
    const tps = [0, 1].map((partition) => ({ topic: 'fs-pause', partition }));
    consumer.assign(tps);
    await consumer.poll({ timeoutMs: 60 });
    const start = kafka.fetchLog.length;
    consumer.pause([tps[1]!]);
    await waitFor(() => kafka.fetchLog.slice(start).some((f) => f.forgotten === 1), 5000, 'a forgotten partition');
    consumer.resume([tps[1]!]);
    const resumed = kafka.fetchLog.length;
    await waitFor(
      () => kafka.fetchLog.slice(resumed).some((f) => f.sessionEpoch > 0 && f.partitions === 1),
      5000,
      'the partition sent again',
    );
    await consumer.close();
  });
});

void describe('consumer fetch sessions against the Runnel broker', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    await broker.stop();
  });

  void it('keeps one session across incremental fetches and reads every record once', { timeout: 60_000 }, async () => {
    const admin = new Admin({ bootstrapServers: broker.bootstrap });
    await admin.createTopics([{ topic: 'fs-e2e', numPartitions: 3 }]);
    await admin.close();
    const producer = new Producer({ bootstrapServers: broker.bootstrap, lingerMs: 0 });
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      autoOffsetReset: 'earliest',
      valueDeserializer: stringDeserializer,
      fetchMaxWaitMs: 50,
    });
    consumer.assign([0, 1, 2].map((partition) => ({ topic: 'fs-e2e', partition })));
    const seen: string[] = [];
    for (let round = 0; round < 5; round++) {
      await producer.send({ topic: 'fs-e2e', partition: round % 3, value: `r${round}` });
      for (let i = 0; i < 100 && seen.length < round + 1; i++) {
        for (const r of await consumer.poll({ timeoutMs: 200 })) seen.push(r.value ?? '');
      }
    }
    assert.deepEqual(seen, ['r0', 'r1', 'r2', 'r3', 'r4']);
    const sessions = consumer.metrics().fetchSessions;
    assert.equal(sessions.length, 1);
    assert.ok(sessions[0]!.sessionId !== 0, 'the broker gave a session');
    assert.ok(sessions[0]!.epoch >= 5, `epoch ${sessions[0]!.epoch}: incremental fetches were accepted`);
    await consumer.close();
    await producer.close();
  });

  void it('closes its session on close(): the broker no longer knows it', { timeout: 60_000 }, async () => {
    const admin = new Admin({ bootstrapServers: broker.bootstrap });
    await admin.createTopics([{ topic: 'fs-e2e-close', numPartitions: 2 }]);
    await admin.close();
    const consumer = new Consumer({
      bootstrapServers: broker.bootstrap,
      autoOffsetReset: 'earliest',
      fetchMaxWaitMs: 20,
    });
    consumer.assign([0, 1].map((partition) => ({ topic: 'fs-e2e-close', partition })));
    for (let i = 0; i < 200 && (consumer.metrics().fetchSessions[0]?.epoch ?? 0) < 2; i++) {
      await consumer.poll({ timeoutMs: 50 });
    }
    const { sessionId, epoch } = consumer.metrics().fetchSessions[0]!;
    assert.ok(sessionId !== 0 && epoch >= 2, `session ${sessionId} epoch ${epoch}`);
    await consumer.close();
    // The session's next incremental fetch, from another connection: unknown once it was closed.
    const [host, port] = broker.bootstrap.split(':') as [string, string];
    const conn = new BrokerConnection({
      host,
      port: Number(port),
      clientId: 'fs-probe',
      requestTimeoutMs: 10_000,
      maxInFlight: 1,
      connectTimeoutMs: 10_000,
      clock: systemClock,
      nodeId: -1,
    });
    try {
      await conn.connect();
      const res = await conn.request(
        ApiKey.Fetch,
        {
          clusterId: null,
          replicaId: -1,
          replicaState: { replicaId: -1, replicaEpoch: -1n },
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1024,
          isolationLevel: 0,
          sessionId,
          sessionEpoch: epoch,
          topics: [],
          forgottenTopicsData: [],
          rackId: '',
        },
        { version: 12 },
      );
      assert.equal(res.errorCode, ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    } finally {
      conn.close();
    }
  });
});
