/**
 * `runnel topics`, `configs` and `cluster` against a broker started in-process, and the
 * error paths: an unknown topic and an unreachable bootstrap server give a non-zero exit
 * code and one line on stderr.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';
import { runnel, runnelOk, tableRows } from './helpers.ts';

let broker: TestBroker;
let b: string;

before(async () => {
  broker = await startTestBroker();
  b = broker.bootstrap;
});
after(() => broker.stop());

void describe('runnel topics', () => {
  void it('creates, lists, describes, alters and deletes a topic', async () => {
    const created = await runnelOk(b, [
      'topics',
      'create',
      '--topic',
      'cli-orders',
      '--partitions',
      '3',
      '--replication-factor',
      '1',
      '--config',
      'retention.ms=86400000',
      '--config',
      'cleanup.policy=delete',
    ]);
    assert.match(created.stdout, /created topic cli-orders/);

    const list = await runnelOk(b, ['topics', 'list', '--exclude-internal']);
    assert.ok(list.stdout.split('\n').includes('cli-orders'), list.stdout);

    const d = await runnelOk(b, ['topics', 'describe', '--topic', 'cli-orders']);
    const [summary] = tableRows(d.stdout, 'TOPIC  ID');
    assert.equal(summary![0], 'cli-orders');
    assert.match(summary![1]!, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(summary![2], '3');
    assert.equal(summary![3], '1');
    assert.equal(summary![4], 'cleanup.policy=delete,retention.ms=86400000');
    const parts = tableRows(d.stdout, 'TOPIC  PARTITION');
    assert.deepEqual(
      parts.map((r) => r.slice(0, 2)),
      [
        ['cli-orders', '0'],
        ['cli-orders', '1'],
        ['cli-orders', '2'],
      ],
    );
    for (const r of parts) assert.deepEqual(r.slice(2), ['1', '1', '1']);

    await runnelOk(b, [
      'topics',
      'alter',
      '--topic',
      'cli-orders',
      '--partitions',
      '5',
      '--config',
      'retention.ms=1000',
    ]);
    const d2 = await runnelOk(b, ['topics', 'describe', '--topic', 'cli-orders']);
    assert.equal(tableRows(d2.stdout, 'TOPIC  ID')[0]![2], '5');
    assert.equal(tableRows(d2.stdout, 'TOPIC  ID')[0]![4], 'cleanup.policy=delete,retention.ms=1000');
    assert.equal(tableRows(d2.stdout, 'TOPIC  PARTITION').length, 5);

    await runnelOk(b, ['topics', 'delete', '--topic', 'cli-orders']);
    const list2 = await runnelOk(b, ['topics', 'list']);
    assert.ok(!list2.stdout.split('\n').includes('cli-orders'));
  });

  void it('fails with one line for an unknown topic', async () => {
    const r = await runnel(b, ['topics', 'describe', '--topic', 'no-such-topic']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'runnel: topic no-such-topic does not exist\n');
    assert.equal(r.stdout, '');
  });
});

void describe('runnel configs', () => {
  void it('alters and describes topic configs', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-conf', '--partitions', '1']);
    await runnelOk(b, [
      'configs',
      'alter',
      '--entity-type',
      'topics',
      '--entity-name',
      'cli-conf',
      '--add-config',
      'retention.ms=60000,segment.bytes=1048576',
    ]);
    let d = await runnelOk(b, ['configs', 'describe', '--entity-type', 'topics', '--entity-name', 'cli-conf']);
    assert.deepEqual(tableRows(d.stdout, 'NAME'), [
      ['retention.ms', '60000', 'dynamic-topic', 'no'],
      ['segment.bytes', '1048576', 'dynamic-topic', 'no'],
    ]);
    await runnelOk(b, [
      'configs',
      'alter',
      '--entity-type',
      'topics',
      '--entity-name',
      'cli-conf',
      '--delete-config',
      'segment.bytes',
    ]);
    d = await runnelOk(b, ['configs', 'describe', '--entity-type', 'topics', '--entity-name', 'cli-conf', '--all']);
    const rows = tableRows(d.stdout, 'NAME');
    assert.deepEqual(
      rows.find((r) => r[0] === 'retention.ms'),
      ['retention.ms', '60000', 'dynamic-topic', 'no'],
    );
    assert.equal(rows.find((r) => r[0] === 'segment.bytes')![2], 'default');
  });

  void it('describes a broker', async () => {
    const d = await runnelOk(b, ['configs', 'describe', '--entity-type', 'brokers', '--entity-name', '1', '--all']);
    assert.ok(tableRows(d.stdout, 'NAME').some((r) => r[0] === 'num.partitions'));
  });
});

void describe('runnel cluster', () => {
  void it('prints the cluster id, controller and brokers', async () => {
    const r = await runnelOk(b, ['cluster']);
    assert.match(r.stdout, /^cluster id: [A-Za-z0-9_-]{22}\ncontroller: 1\n/);
    assert.deepEqual(tableRows(r.stdout, 'ID'), [['1', '127.0.0.1', String(broker.port), '-', 'yes']]);
  });
});

void describe('errors', () => {
  void it('an unreachable bootstrap server: exit 1 and one line', async () => {
    const port = await closedPort();
    const r = await runnel(`127.0.0.1:${port}`, ['topics', 'list']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `runnel: cannot reach 127.0.0.1:${port}: connection refused\n`);
  });

  void it('bad flags: non-zero exit, no stack trace', async () => {
    const r = await runnel(b, ['topics', 'create', '--topic', 'x', '--partitions', 'many']);
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const r2 = await runnel(b, ['groups', 'reset-offsets', '--group', 'g', '--topic', 't']);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /^runnel: give exactly one of/);
  });

  void it('--help shows examples for every sub-command', async () => {
    const commands = [
      ['topics'],
      ['topics', 'create'],
      ['produce'],
      ['consume'],
      ['groups'],
      ['groups', 'reset-offsets'],
      ['configs'],
      ['cluster'],
      ['perf'],
      ['perf', 'produce'],
    ];
    // Three at a time: ten tsx start-ups at once overran the per-command limit on a loaded machine.
    const results: Awaited<ReturnType<typeof runnel>>[] = [];
    for (let i = 0; i < commands.length; i += 3) {
      results.push(...(await Promise.all(commands.slice(i, i + 3).map((cmd) => runnel(null, [...cmd, '--help'])))));
    }
    results.forEach((r, i) => {
      const name = commands[i]!.join(' ');
      assert.equal(r.code, 0, name);
      assert.match(r.stdout, /Examples:\n {2}.*runnel /, name);
    });
  });
});

/** A port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
