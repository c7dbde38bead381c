/**
 * max.request.size splits what is ready into several Produce requests: a batch left for the
 * next request must take no more records (its bytes are already encoded), or records
 * acknowledged with it would be missing from the log. The bench's pattern (many concurrent
 * sends of 1 KB records over 16 partitions, linger 0) found it: 0.3-2% of acknowledged
 * records were missing, mostly in the last partitions of a request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin } from '../../src/client/admin.ts';
import { Producer } from '../../src/client/producer.ts';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';

const PARTITIONS = 16;

void describe('producer: requests split by max.request.size', () => {
  let broker: TestBroker;
  let admin: Admin;
  before(async () => {
    broker = await startTestBroker();
    admin = new Admin({ bootstrapServers: broker.bootstrap });
  });
  after(async () => {
    await admin.close();
    await broker.stop();
  });

  for (const idempotent of [true, false]) {
    void it(`every acknowledged record is in the log (idempotence ${idempotent ? 'on' : 'off'})`, {
      timeout: 60_000,
    }, async () => {
      const topic = `request-size-${idempotent}`;
      await admin.createTopics([{ topic, numPartitions: PARTITIONS }]);
      // Small requests so that most rounds leave batches for the next one.
      const producer = new Producer({
        bootstrapServers: broker.bootstrap,
        lingerMs: 0,
        batchSize: 64 * 1024,
        maxRequestSize: 96 * 1024,
        enableIdempotence: idempotent,
        acks: -1,
      });
      const value = Buffer.alloc(1000, 'x');
      let acked = 0;
      const sends: Promise<void>[] = [];
      for (let round = 0; round < 200; round++) {
        const records = Array.from({ length: 64 }, (_, i) => ({ topic, partition: (round + i) % PARTITIONS, value }));
        sends.push(
          producer.send(records).then((metas) => {
            acked += metas.length;
          }),
        );
        if (sends.length >= 32) await sends.shift();
      }
      await Promise.all(sends);
      await producer.close();
      const ends = await admin.listOffsets(
        Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, spec: 'latest' as const })),
      );
      const inLog = ends.reduce((sum, o) => sum + Number(o.offset), 0);
      assert.equal(acked, 200 * 64);
      assert.equal(inLog, acked, `${inLog} records in the log, ${acked} acknowledged`);
    });
  }
});
