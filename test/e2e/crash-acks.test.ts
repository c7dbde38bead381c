/**
 * acks=-1 durability across kill -9: a broker in a child process takes produce requests
 * from kafkajs while it is SIGKILLed mid-stream; after a restart on the same directory,
 * every acknowledged message is there at the offset it was acknowledged with.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { partitionForKey } from '../../src/client/partitioner/murmur2.ts';
import { kcat } from './helpers/kcat.ts';
import { type SpawnedBroker, spawnBroker } from './helpers/spawn-broker.ts';

void describe('crash: kill -9 under acks=-1 load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'runnel-crash-'));
  const spawned: SpawnedBroker[] = [];
  after(async () => {
    for (const b of spawned) await b.kill9();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('every acknowledged message survives with its offset', { timeout: 120_000 }, async () => {
    const first = await spawnBroker(dir, { 'num.partitions': '4' });
    spawned.push(first);
    const kafka = new Kafka({
      brokers: [first.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    });
    const producer = kafka.producer();
    await producer.connect();
    const acked = new Map<string, string>(); // "partition/offset" -> value
    let sent = 0;
    let killed = false;
    const load = (async () => {
      for (let round = 0; ; round++) {
        const messages = Array.from({ length: 25 }, (_, i) => ({
          key: `k${(round * 25 + i) % 13}`,
          value: `r${round}-m${i}`,
        }));
        try {
          const res = await producer.send({ topic: 'durable', acks: -1, messages });
          // kafkajs returns one baseOffset per partition; recover each message's offset.
          const byPartition = new Map<number, string[]>();
          for (const m of messages) {
            const p = partitionForKey(Buffer.from(m.key), 4);
            const list = byPartition.get(p) ?? [];
            list.push(m.value);
            byPartition.set(p, list);
          }
          for (const r of res) {
            const values = byPartition.get(r.partition) ?? [];
            values.forEach((v, i) => {
              acked.set(`${r.partition}/${BigInt(r.baseOffset!) + BigInt(i)}`, v);
            });
          }
          sent++;
        } catch {
          if (killed) return;
          throw new Error('produce failed before the kill');
        }
      }
    })();
    while (sent < 40) await new Promise((r) => setTimeout(r, 10));
    killed = true;
    await first.kill9();
    await load;
    await producer.disconnect().catch(() => {});
    assert.ok(acked.size >= 1000, `acked ${acked.size}`);

    const second = await spawnBroker(dir, {});
    spawned.push(second);
    const out = await kcat(
      ['-C', '-b', second.bootstrap, '-t', 'durable', '-e', '-q', '-f', '%p/%o\t%s\n'],
      undefined,
      60_000,
    );
    const stored = new Map<string, string>();
    for (const line of out.split('\n')) {
      if (line === '') continue;
      const [po, v] = line.split('\t') as [string, string];
      stored.set(po, v);
    }
    for (const [po, v] of acked) assert.equal(stored.get(po), v, `acknowledged ${po}`);
    await second.stop();
  });
});
