/**
 * Reused encoded-batch buffers (src/client/producer-buffers.ts): the pool's classes and bound,
 * and that a buffer goes back only once its batch is done, so that a reused buffer never
 * changes the bytes of a batch still in flight or waiting for a retry (records would then
 * arrive with another batch's contents).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Producer } from '../../src/client/producer.ts';
import { BatchBufferPool, MIN_CLASS_BYTES } from '../../src/client/producer-buffers.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { FakeKafka } from './fake-broker.ts';

void describe('producer: reused batch buffers', () => {
  void it('hands out power-of-two classes, reuses what was given back, keeps at most its bound', () => {
    const pool = new BatchBufferPool(4 * MIN_CLASS_BYTES, 1024 * 1024);
    assert.equal(pool.take(100), undefined, 'small batches are not pooled');
    assert.equal(pool.take(2 * 1024 * 1024), undefined, 'nor batches above the largest class');
    const a = pool.take(MIN_CLASS_BYTES + 1)!;
    assert.equal(a.length, 2 * MIN_CLASS_BYTES);
    pool.give(a);
    assert.equal(pool.take(MIN_CLASS_BYTES + 500), a, 'the same class comes back');
    assert.notEqual(pool.take(MIN_CLASS_BYTES + 500), a, 'a buffer is handed out once');
    const big = [pool.take(3 * MIN_CLASS_BYTES)!, pool.take(3 * MIN_CLASS_BYTES)!];
    for (const b of big) pool.give(b);
    assert.equal(pool.freeBytesKept, 4 * MIN_CLASS_BYTES, 'the second one is over the bound and dropped');
  });

  void describe('against the fake broker', () => {
    let kafka: FakeKafka;
    before(async () => {
      kafka = await FakeKafka.start(1);
    });
    after(async () => {
      await kafka.stop();
    });

    void it('every record arrives with its own bytes through dropped responses and retriable errors', {
      timeout: 30_000,
    }, async () => {
      kafka.createTopic('pb-reuse', 4);
      let n = 0;
      const remove = kafka.inject((req) => {
        if (req.apiKey !== ApiKey.Produce) return undefined;
        n++;
        if (n % 7 === 3) return { kind: 'drop' };
        if (n % 5 === 2) return { kind: 'error', code: ErrorCode.NOT_ENOUGH_REPLICAS };
        return undefined;
      });
      // Records of 2 KB, batches of about 20 KB: every batch is encoded into a pooled buffer.
      const producer = new Producer({
        bootstrapServers: kafka.bootstrap,
        lingerMs: 0,
        batchSize: 20_000,
        requestTimeoutMs: 300,
        retryBackoffMs: 5,
        retryBackoffMaxMs: 20,
      });
      const expected: string[][] = [[], [], [], []];
      const sends: Promise<unknown>[] = [];
      try {
        for (let i = 0; i < 800; i++) {
          const partition = (i >> 3) % 4;
          const value = `v${i}-`.padEnd(2000, String.fromCharCode(97 + (i % 26)));
          expected[partition]!.push(value);
          sends.push(producer.send({ topic: 'pb-reuse', partition, value }));
          if (sends.length >= 64) await sends.shift();
        }
        await Promise.all(sends);
        remove();
        for (let p = 0; p < 4; p++) assert.deepEqual(await kafka.values('pb-reuse', p), expected[p]);
      } finally {
        remove();
        for (const s of sends) s.catch(() => {});
        await producer.close({ force: true });
      }
    });
  });
});
