/**
 * Committed offsets survive kill -9: a broker in a child process, a kafkajs group
 * consumes and commits, the broker is SIGKILLed (nothing flushed, no clean shutdown) and
 * restarted on the same directory and port; the group resumes from its committed
 * offsets and reads only what came after (at-least-once, nothing re-read that was
 * committed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { type SpawnedBroker, spawnBroker } from './helpers/spawn-broker.ts';

const TIMEOUT = { timeout: 120_000 };

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

void describe('committed offsets across kill -9', TIMEOUT, () => {
  const dir = mkdtempSync(join(tmpdir(), 'runnel-groups-crash-'));
  let broker: SpawnedBroker | undefined;
  after(async () => {
    await broker?.kill9();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('a group resumes from the offsets it committed before the crash', async () => {
    broker = await spawnBroker(dir);
    const port = Number(broker.bootstrap.split(':')[1]);
    let kafka = new Kafka({
      brokers: [broker.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 100 },
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'crash', numPartitions: 2 }] });
    await admin.disconnect();
    let producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'crash',
      messages: Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `before-${i}` })),
    });
    await producer.disconnect();

    const first: string[] = [];
    const c1 = kafka.consumer({ groupId: 'crash-group', heartbeatInterval: 100, maxWaitTimeInMs: 100 });
    await c1.connect();
    await c1.subscribe({ topic: 'crash', fromBeginning: true });
    await c1.run({ eachMessage: async ({ message }) => void first.push(message.value!.toString()) });
    await waitFor(() => first.length === 20, 'the first 20');
    await c1.stop(); // commits what was consumed
    await c1.disconnect();

    await broker.kill9();
    broker = await spawnBroker(dir, {}, port);
    kafka = new Kafka({
      brokers: [broker.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 100 },
    });
    producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'crash',
      messages: Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `after-${i}` })),
    });
    await producer.disconnect();
    const second: string[] = [];
    const c2 = kafka.consumer({ groupId: 'crash-group', heartbeatInterval: 100, maxWaitTimeInMs: 100 });
    await c2.connect();
    await c2.subscribe({ topic: 'crash', fromBeginning: true });
    await c2.run({ eachMessage: async ({ message }) => void second.push(message.value!.toString()) });
    await waitFor(() => second.length >= 10, 'the 10 new ones');
    await c2.disconnect();
    assert.deepEqual(second.sort(), Array.from({ length: 10 }, (_, i) => `after-${i}`).sort());
  });
});
