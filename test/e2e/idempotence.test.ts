/**
 * Idempotent producers: a batch sent twice (same producer id, epoch and sequence) is
 * stored once and the retry is answered with the original offset, also after a kill -9
 * and restart (producer state rebuilt from snapshot + log tail); sequence gaps are
 * refused; kafkajs's idempotent producer round trips without duplicates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildRecordBatch } from '../../src/protocol/records/index.ts';
import { startTestBroker } from './fixture.ts';
import { startDroppingProxy } from './helpers/dropping-proxy.ts';
import { kcat } from './helpers/kcat.ts';
import { RawClient } from './helpers/raw-client.ts';
import { produceRequest } from './helpers/requests.ts';
import { type SpawnedBroker, spawnBroker } from './helpers/spawn-broker.ts';

async function initProducerId(c: RawClient): Promise<bigint> {
  const r = await c.send(ApiKey.InitProducerId, 4, {
    transactionalId: null,
    transactionTimeoutMs: 60_000,
    producerId: -1n,
    producerEpoch: -1,
  });
  assert.equal(r.errorCode, ErrorCode.NONE);
  assert.equal(r.producerEpoch, 0);
  return r.producerId;
}

function idemBatch(producerId: bigint, seq: number, n: number, tag: string): Buffer {
  return buildRecordBatch({
    producerId,
    producerEpoch: 0,
    baseSequence: seq,
    records: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `${tag}-${i}`, timestamp: Date.now() })),
  });
}

async function createTopic(c: RawClient, name: string): Promise<void> {
  await c.send(ApiKey.Metadata, 12, {
    topics: [{ name, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
}

void describe('idempotent producer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'runnel-idem-'));
  const spawned: SpawnedBroker[] = [];
  after(async () => {
    for (const b of spawned) await b.kill9();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('a retried batch gets its original offset, across kill -9 and restart', { timeout: 60_000 }, async () => {
    const first = await spawnBroker(dir, { 'num.partitions': '1' });
    spawned.push(first);
    let c = await RawClient.connect(first.bootstrap);
    await createTopic(c, 'idem');
    const pid = await initProducerId(c);
    const pid2 = await initProducerId(c);
    assert.notEqual(pid, pid2);
    const send = async (records: Buffer) =>
      (await c.send(ApiKey.Produce, 9, produceRequest('idem', 0, records))).responses[0]!.partitionResponses[0]!;
    const b0 = idemBatch(pid, 0, 3, 'a');
    const b1 = idemBatch(pid, 3, 2, 'b');
    assert.equal((await send(Buffer.from(b0))).baseOffset, 0n);
    assert.equal(
      (await send(buildRecordBatch({ records: [{ value: 'plain', timestamp: Date.now() }] }))).baseOffset,
      3n,
    );
    assert.equal((await send(Buffer.from(b1))).baseOffset, 4n);
    const dup = await send(Buffer.from(b0));
    assert.equal(dup.errorCode, ErrorCode.NONE);
    assert.equal(dup.baseOffset, 0n);
    const gap = await send(idemBatch(pid, 9, 1, 'gap'));
    assert.equal(gap.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    c.close();

    await first.kill9();
    const second = await spawnBroker(dir, {});
    spawned.push(second);
    c = await RawClient.connect(second.bootstrap);
    const again = await send(Buffer.from(b1));
    assert.equal(again.errorCode, ErrorCode.NONE);
    assert.equal(again.baseOffset, 4n, 'the duplicate is known after an unclean restart');
    assert.equal((await send(idemBatch(pid, 5, 1, 'c'))).baseOffset, 6n);
    const pid3 = await initProducerId(c);
    assert.ok(pid3 !== pid && pid3 !== pid2, 'producer ids are not reused after a restart');
    c.close();

    const out = await kcat(['-C', '-b', second.bootstrap, '-t', 'idem', '-e', '-q', '-f', '%o=%s\n']);
    assert.deepEqual(
      out.split('\n').filter((l) => l !== ''),
      ['0=a-0', '1=a-1', '2=a-2', '3=plain', '4=b-0', '5=b-1', '6=c-0'],
    );
    await second.stop();

    // A clean stop writes a snapshot; the state is loaded from it.
    const third = await spawnBroker(dir, {});
    spawned.push(third);
    c = await RawClient.connect(third.bootstrap);
    assert.equal((await send(idemBatch(pid, 5, 1, 'c'))).baseOffset, 6n);
    c.close();
    await third.stop();
  });

  void it('kafkajs idempotent producer: no duplicates', { timeout: 60_000 }, async () => {
    const broker = await startTestBroker({ config: { 'num.partitions': '2' } });
    try {
      const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      for (let i = 0; i < 20; i++) {
        await producer.send({
          topic: 'kjs-idem',
          acks: -1,
          messages: Array.from({ length: 10 }, (_, j) => ({ key: `k${j}`, value: `${i}-${j}` })),
        });
      }
      await producer.disconnect();
      const out = await kcat(['-C', '-b', broker.bootstrap, '-t', 'kjs-idem', '-e', '-q', '-f', '%s\n']);
      const values = out.split('\n').filter((l) => l !== '');
      assert.equal(values.length, 200);
      assert.equal(new Set(values).size, 200);
    } finally {
      await broker.stop();
    }
  });

  void it('kafkajs idempotent producer through a proxy that loses answers: retries, no duplicates', {
    timeout: 60_000,
  }, async () => {
    const proxy = await startDroppingProxy();
    const broker = await startTestBroker({
      config: { 'num.partitions': '1', 'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxy.port}` },
    });
    proxy.setTarget('127.0.0.1', broker.listeners[0]!.port);
    try {
      const kafka = new Kafka({
        brokers: [`127.0.0.1:${proxy.port}`],
        logLevel: logLevel.NOTHING,
        retry: { initialRetryTime: 50, retries: 10 },
      });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({ topic: 'lossy', acks: -1, messages: [{ value: 'warm-up' }] });
      for (let i = 0; i < 10; i++) {
        if (i % 3 === 1) proxy.dropNextProduceAnswers(1);
        const [r] = await producer.send({ topic: 'lossy', acks: -1, messages: [{ value: `m${i}` }] });
        assert.equal(r!.baseOffset, String(i + 1), `m${i} acknowledged at its first offset`);
      }
      await producer.disconnect();
      assert.ok(proxy.dropped >= 3, `answers dropped: ${proxy.dropped}`);
      const out = await kcat(['-C', '-b', broker.bootstrap, '-t', 'lossy', '-e', '-q', '-f', '%o=%s\n']);
      assert.deepEqual(
        out.split('\n').filter((l) => l !== ''),
        ['0=warm-up', ...Array.from({ length: 10 }, (_, i) => `${i + 1}=m${i}`)],
      );
    } finally {
      await broker.stop();
      await proxy.close();
    }
  });
});
