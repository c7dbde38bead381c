/**
 * The KIP-848 consumer protocol with a real client: @platformatic/kafka consumers with
 * groupProtocol 'consumer' (ConsumerGroupHeartbeat). Two members split the partitions
 * through incremental reconciliation and read everything; when one leaves, the other
 * ends up with all of them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from './fixture.ts';

const TIMEOUT = { timeout: 60_000 };

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type PlatformaticConsumer = Consumer<string, string, string, string>;

function partitionsOf(c: PlatformaticConsumer): number[] {
  return (c.assignments ?? []).flatMap((a) => a.partitions).sort((x, y) => x - y);
}

void describe('KIP-848 consumer groups with @platformatic/kafka', TIMEOUT, () => {
  let broker: TestBroker;
  const consumers: PlatformaticConsumer[] = [];
  const streams: { close(): Promise<void> }[] = [];

  before(async () => {
    broker = await startTestBroker({
      config: { 'group.consumer.heartbeat.interval.ms': '200', 'group.consumer.min.heartbeat.interval.ms': '100' },
    });
  });
  after(async () => {
    for (const s of streams) await s.close().catch(() => {});
    for (const c of consumers) await c.close().catch(() => {});
    await broker?.stop();
  });

  void it('two members split the partitions and read everything; a leaver hands its partitions over', async () => {
    const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'k848', numPartitions: 4 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'k848',
      messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 4, value: `m${i}` })),
    });
    const seen = new Set<string>();
    const start = async (clientId: string): Promise<PlatformaticConsumer> => {
      const c = new Consumer({
        clientId,
        groupId: 'kip848-group',
        bootstrapBrokers: [broker.bootstrap],
        groupProtocol: 'consumer',
        deserializers: stringDeserializers,
        rebalanceTimeout: 60_000,
      });
      consumers.push(c);
      const stream = await c.consume({ topics: ['k848'], mode: 'earliest' });
      streams.push(stream);
      stream.on('data', (m: { value: string }) => seen.add(m.value));
      return c;
    };
    const a = await start('a');
    await waitFor(() => partitionsOf(a).length === 4, 'a owns all 4');
    const b = await start('b');
    await waitFor(() => partitionsOf(a).length === 2 && partitionsOf(b).length === 2, 'a 2/2 split');
    assert.deepEqual([...partitionsOf(a), ...partitionsOf(b)].sort(), [0, 1, 2, 3]);
    await waitFor(() => seen.size === 40, 'all 40 read');
    const [described] = (await admin.describeGroups(['kip848-group'])).groups;
    assert.equal(described!.state, 'Stable');
    assert.equal(described!.members.length, 2);

    await streams[1]!.close();
    await b.close();
    await waitFor(() => partitionsOf(a).length === 4, 'a owns all 4 again');
    await producer.send({ topic: 'k848', messages: [0, 1, 2, 3].map((p) => ({ partition: p, value: `late-${p}` })) });
    await waitFor(() => [0, 1, 2, 3].every((p) => seen.has(`late-${p}`)), 'a reads every partition');
    await producer.disconnect();
    await admin.disconnect();
  });
});
