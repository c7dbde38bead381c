/**
 * librdkafka's classic balanced consumer (kcat -G): two kcat processes split the
 * partitions; one is killed with SIGKILL (no LeaveGroup) and, once its session times
 * out, its partitions move to the survivor, which reads what is produced to them.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { KCAT } from './helpers/kcat.ts';

const TIMEOUT = { timeout: 90_000 };

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface KcatMember {
  child: ChildProcess;
  assigned: number[];
  values: string[];
  exited: Promise<void>;
}

function balancedKcat(bootstrap: string, group: string, topic: string): KcatMember {
  const child = spawn(
    KCAT,
    [
      '-u',
      '-b',
      bootstrap,
      '-G',
      group,
      '-X',
      'session.timeout.ms=6000',
      '-X',
      'heartbeat.interval.ms=300',
      '-X',
      'auto.offset.reset=earliest',
      '-f',
      '%p:%s\\n',
      topic,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const m: KcatMember = {
    child,
    assigned: [],
    values: [],
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
  };
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (;;) {
      const nl = err.indexOf('\n');
      if (nl < 0) break;
      const line = err.slice(0, nl);
      err = err.slice(nl + 1);
      const a = /rebalanced \(memberid [^)]*\): (assigned|revoked): (.*)$/.exec(line);
      if (a === null) continue;
      const parts = [...a[2]!.matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]));
      m.assigned = a[1] === 'assigned' ? parts.sort((x, y) => x - y) : [];
    }
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    m.values.push(...lines);
  });
  return m;
}

void describe('consumer groups with kcat (librdkafka balanced consumer)', TIMEOUT, () => {
  let broker: TestBroker;
  let kafka: Kafka;
  const children: KcatMember[] = [];

  before(async () => {
    broker = await startTestBroker();
    kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  });
  after(async () => {
    for (const c of children) {
      c.child.kill('SIGKILL');
      await c.exited;
    }
    await broker?.stop();
  });

  void it('splits partitions; a killed member loses them after its session timeout', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'kt', numPartitions: 4 }] });
    const a = balancedKcat(broker.bootstrap, 'kg', 'kt');
    children.push(a);
    await waitFor(() => a.assigned.length === 4, 'a alone owns all 4');
    const b = balancedKcat(broker.bootstrap, 'kg', 'kt');
    children.push(b);
    await waitFor(() => a.assigned.length === 2 && b.assigned.length === 2, 'a 2/2 split');
    assert.deepEqual([...a.assigned, ...b.assigned].sort(), [0, 1, 2, 3]);
    const [described] = (await admin.describeGroups(['kg'])).groups;
    assert.equal(described!.state, 'Stable');
    assert.equal(described!.members.length, 2);

    const killedAt = Date.now();
    b.child.kill('SIGKILL');
    await b.exited;
    await waitFor(() => a.assigned.length === 4, 'a takes back all 4', 20_000);
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs >= 4000, `moved after ${tookMs} ms, before the 6 s session timeout could pass`);

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'kt',
      messages: [0, 1, 2, 3].map((p) => ({ partition: p, value: `after-${p}` })),
    });
    await producer.disconnect();
    await waitFor(() => [0, 1, 2, 3].every((p) => a.values.includes(`${p}:after-${p}`)), 'a reads every partition');
    await admin.disconnect();
  });
});
