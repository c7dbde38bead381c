/**
 * Consumer groups with kafkajs 2.2.4: partitions split among members and spread again
 * when one more joins, two groups each read everything, a restarted consumer resumes
 * from its committed offsets (at-least-once), admin describe/list/delete groups and
 * setOffsets/resetOffsets, and committed offsets that survive a broker crash.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Consumer, Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from './fixture.ts';

const TIMEOUT = { timeout: 120_000 };

function client(broker: TestBroker) {
  return new Kafka({
    clientId: 'runnel-groups',
    brokers: [broker.bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 50, maxRetryTime: 500 },
  });
}

/** Waits (bounded) until cond() holds, checking on each turn of a short timer. */
async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Member {
  consumer: Consumer;
  /** Partitions of topic t assigned at the latest join. */
  assigned: number[];
  seen: string[];
}

async function startMember(kafka: Kafka, groupId: string, topic: string): Promise<Member> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 100,
    maxWaitTimeInMs: 100,
  });
  const member: Member = { consumer, assigned: [], seen: [] };
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    member.assigned = [...(e.payload.memberAssignment[topic] ?? [])].sort();
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      member.seen.push(message.value!.toString());
    },
  });
  return member;
}

void describe('consumer groups with kafkajs', TIMEOUT, () => {
  let broker: TestBroker;
  let kafka: Kafka;
  let admin: ReturnType<Kafka['admin']>;
  const members: Member[] = [];

  before(async () => {
    broker = await startTestBroker();
    kafka = client(broker);
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    for (const m of members) await m.consumer.disconnect().catch(() => {});
    await admin?.disconnect();
    await broker?.stop();
  });

  async function produce(topic: string, count: number, prefix = 'v'): Promise<void> {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `${prefix}${i}` })),
    });
    await producer.disconnect();
  }

  void it('two members split the partitions; a third joins and they spread', async () => {
    await admin.createTopics({ topics: [{ topic: 'split', numPartitions: 6 }] });
    await produce('split', 60);
    const a = await startMember(kafka, 'split-group', 'split');
    const b = await startMember(kafka, 'split-group', 'split');
    members.push(a, b);
    await waitFor(() => a.assigned.length === 3 && b.assigned.length === 3, 'a 3/3 split');
    assert.deepEqual([...a.assigned, ...b.assigned].sort(), [0, 1, 2, 3, 4, 5]);
    await waitFor(() => new Set([...a.seen, ...b.seen]).size === 60, 'all 60 records read');
    const c = await startMember(kafka, 'split-group', 'split');
    members.push(c);
    await waitFor(
      () => a.assigned.length === 2 && b.assigned.length === 2 && c.assigned.length === 2,
      'a 2/2/2 spread',
    );
    assert.deepEqual([...a.assigned, ...b.assigned, ...c.assigned].sort(), [0, 1, 2, 3, 4, 5]);
    const [group] = (await admin.describeGroups(['split-group'])).groups;
    assert.equal(group!.state, 'Stable');
    assert.equal(group!.members.length, 3);
    for (const m of members.splice(0)) await m.consumer.disconnect();
    const [after] = (await admin.describeGroups(['split-group'])).groups;
    assert.equal(after!.state, 'Empty');
  });

  void it('two groups each read everything', async () => {
    await admin.createTopics({ topics: [{ topic: 'fanout', numPartitions: 3 }] });
    await produce('fanout', 30);
    const g1 = await startMember(kafka, 'fan-1', 'fanout');
    const g2 = await startMember(kafka, 'fan-2', 'fanout');
    members.push(g1, g2);
    await waitFor(() => new Set(g1.seen).size === 30 && new Set(g2.seen).size === 30, 'both groups read 30');
    for (const m of members.splice(0)) await m.consumer.disconnect();
  });

  void it('a restarted consumer resumes from its committed offsets', async () => {
    await admin.createTopics({ topics: [{ topic: 'resume', numPartitions: 2 }] });
    await produce('resume', 20, 'first-');
    const m1 = await startMember(kafka, 'resume-group', 'resume');
    await waitFor(() => m1.seen.length === 20, 'first 20');
    await m1.consumer.disconnect(); // commits on the way out
    const offsets = await admin.fetchOffsets({ groupId: 'resume-group', topics: ['resume'] });
    const total = offsets[0]!.partitions.reduce((n, p) => n + Number(p.offset), 0);
    assert.equal(total, 20);
    await produce('resume', 10, 'second-');
    const m2 = await startMember(kafka, 'resume-group', 'resume');
    members.push(m2);
    await waitFor(() => m2.seen.length >= 10, 'the 10 new ones');
    assert.ok(
      m2.seen.every((v) => v.startsWith('second-')),
      `re-read old records: ${m2.seen.join(',')}`,
    );
    await m2.consumer.disconnect();
    members.splice(0);
  });

  void it('admin: list, describe, setOffsets, resetOffsets, deleteGroups', async () => {
    await admin.createTopics({ topics: [{ topic: 'adm', numPartitions: 2 }] });
    await produce('adm', 10);
    await admin.setOffsets({
      groupId: 'adm-group',
      topic: 'adm',
      partitions: [
        { partition: 0, offset: '3' },
        { partition: 1, offset: '1' },
      ],
    });
    let offsets = await admin.fetchOffsets({ groupId: 'adm-group', topics: ['adm'] });
    assert.deepEqual(offsets[0]!.partitions.map((p) => [p.partition, p.offset]).sort(), [
      [0, '3'],
      [1, '1'],
    ]);
    await admin.resetOffsets({ groupId: 'adm-group', topic: 'adm', earliest: true });
    offsets = await admin.fetchOffsets({ groupId: 'adm-group', topics: ['adm'] });
    // kafkajs commits -2 (earliest) and lets the consumer resolve it, as Kafka stores it.
    assert.ok(offsets[0]!.partitions.every((p) => p.offset === '-2'));
    const listed = await admin.listGroups();
    assert.ok(listed.groups.some((g) => g.groupId === 'adm-group'));
    const m = await startMember(kafka, 'adm-group', 'adm');
    await waitFor(() => m.seen.length === 10, 'reads from the reset offsets');
    await assert.rejects(admin.deleteGroups(['adm-group']));
    await m.consumer.disconnect();
    await admin.deleteGroups(['adm-group']);
    const gone = await admin.fetchOffsets({ groupId: 'adm-group', topics: ['adm'] });
    assert.ok(gone[0]!.partitions.every((p) => p.offset === '-1'));
    assert.ok(!(await admin.listGroups()).groups.some((g) => g.groupId === 'adm-group'));
  });

  void it('committed offsets survive a broker crash (no clean shutdown)', async () => {
    await admin.createTopics({ topics: [{ topic: 'durable', numPartitions: 1 }] });
    await produce('durable', 5);
    await admin.setOffsets({ groupId: 'durable-group', topic: 'durable', partitions: [{ partition: 0, offset: '4' }] });
    await admin.disconnect();
    broker = await broker.restart({ crash: true });
    kafka = client(broker);
    admin = kafka.admin();
    await admin.connect();
    let offsets: Awaited<ReturnType<typeof admin.fetchOffsets>> = [];
    await waitFor(async () => {
      offsets = await admin.fetchOffsets({ groupId: 'durable-group', topics: ['durable'] }).catch(() => []);
      return offsets.length > 0;
    }, 'offsets after restart');
    assert.equal(offsets[0]!.partitions[0]!.offset, '4');
  });
});
