/**
 * `runnel produce`, `consume` and `groups` against a broker started in-process: records
 * with keys and headers come back exactly; a group's lag is 0 after consuming and back up
 * after `reset-offsets --to-earliest --execute`; kcat reads what runnel wrote and runnel
 * reads what kcat wrote.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';
import { kcat, runnel, runnelOk, startRunnel, tableRows } from './helpers.ts';

let broker: TestBroker;
let b: string;
const dir = mkdtempSync(join(tmpdir(), 'runnel-cli-test-'));

before(async () => {
  broker = await startTestBroker();
  b = broker.bootstrap;
});
after(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface JsonRecord {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  headers: Record<string, string | null>;
  value: string | null;
}

function jsonLines(text: string): JsonRecord[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as JsonRecord);
}

void describe('runnel produce and consume', () => {
  void it('round-trips keys, headers and values from stdin', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-rt', '--partitions', '1']);
    const before = Date.now();
    await runnelOk(
      b,
      ['produce', '--topic', 'cli-rt', '--key-separator', ':', '--header', 'source=cli', '--header', 'trace=a=b'],
      { input: 'k1:v1\nk2:v2:with colon\nk3:hello world\n' },
    );
    const r = await runnelOk(b, [
      'consume',
      '--topic',
      'cli-rt',
      '--from-beginning',
      '--max-messages',
      '3',
      '--format',
      'json',
    ]);
    const records = jsonLines(r.stdout);
    assert.deepEqual(
      records.map(({ timestamp: _, ...rest }) => rest),
      [
        { partition: 0, offset: 0, key: 'k1', headers: { source: 'cli', trace: 'a=b' }, value: 'v1' },
        { partition: 0, offset: 1, key: 'k2', headers: { source: 'cli', trace: 'a=b' }, value: 'v2:with colon' },
        { partition: 0, offset: 2, key: 'k3', headers: { source: 'cli', trace: 'a=b' }, value: 'hello world' },
      ],
    );
    for (const rec of records) assert.ok(rec.timestamp >= before - 1000 && rec.timestamp <= Date.now() + 1000);
    assert.match(r.stderr, /consumed 3 records/);

    const one = await runnelOk(b, [
      'consume',
      '--topic',
      'cli-rt',
      '--partition',
      '0',
      '--offset',
      '1',
      '--max-messages',
      '1',
    ]);
    assert.equal(one.stdout, 'v2:with colon\n');
    const fromTime = await runnelOk(b, [
      'consume',
      '--topic',
      'cli-rt',
      '--from-time',
      new Date(before - 60000).toISOString(),
      '--max-messages',
      '1',
    ]);
    assert.equal(fromTime.stdout, 'v1\n');
  });

  void it('produces a file with a progress bar and stops on --timeout-ms', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-file', '--partitions', '2']);
    const file = join(dir, 'lines.txt');
    writeFileSync(file, `${Array.from({ length: 1000 }, (_, i) => `line-${i}`).join('\n')}\n`);
    const p = await runnelOk(b, [
      'produce',
      '--topic',
      'cli-file',
      '--file',
      file,
      '--progress',
      '--compression',
      'lz4',
    ]);
    assert.match(p.stderr, /100%/);
    assert.match(p.stderr, /1000 records sent/);
    const c = await runnelOk(b, ['consume', '--topic', 'cli-file', '--from-beginning', '--timeout-ms', '1500']);
    const values = c.stdout.split('\n').filter((l) => l.length > 0);
    assert.equal(values.length, 1000);
    assert.deepEqual(new Set(values), new Set(Array.from({ length: 1000 }, (_, i) => `line-${i}`)));
  });

  void it('rejects a line without the key separator', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-badkey', '--partitions', '1']);
    const r = await runnel(b, ['produce', '--topic', 'cli-badkey', '--key-separator', ':'], { input: 'a:1\nnokey\n' });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'runnel: line 2 has no key separator ":"\n');
  });
});

void describe('runnel groups', () => {
  void it('describe shows lag 0 after consuming; reset-offsets --to-earliest --execute brings it back', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-grp', '--partitions', '1']);
    await runnelOk(b, ['produce', '--topic', 'cli-grp'], { input: 'a\nb\nc\nd\ne\n' });
    const c = await runnelOk(b, [
      'consume',
      '--topic',
      'cli-grp',
      '--group',
      'cli-g1',
      '--from-beginning',
      '--max-messages',
      '5',
    ]);
    assert.equal(c.stdout, 'a\nb\nc\nd\ne\n');

    const list = await runnelOk(b, ['groups', 'list']);
    assert.ok(tableRows(list.stdout, 'GROUP').some((r) => r[0] === 'cli-g1'));

    const d = await runnelOk(b, ['groups', 'describe', '--group', 'cli-g1']);
    assert.deepEqual(
      tableRows(d.stdout, 'TOPIC PARTITION').map((r) => r.slice(0, 5)),
      [['cli-grp', '0', '5', '5', '0']],
    );

    const plan = await runnelOk(b, [
      'groups',
      'reset-offsets',
      '--group',
      'cli-g1',
      '--topic',
      'cli-grp',
      '--to-earliest',
    ]);
    assert.deepEqual(tableRows(plan.stdout, 'GROUP'), [['cli-g1', 'cli-grp', '0', '5', '0']]);
    assert.match(plan.stderr, /dry run/);
    const still = await runnelOk(b, ['groups', 'describe', '--group', 'cli-g1']);
    assert.equal(tableRows(still.stdout, 'TOPIC PARTITION')[0]![4], '0');

    await runnelOk(b, [
      'groups',
      'reset-offsets',
      '--group',
      'cli-g1',
      '--topic',
      'cli-grp',
      '--to-earliest',
      '--execute',
    ]);
    const d2 = await runnelOk(b, ['groups', 'describe', '--group', 'cli-g1']);
    assert.deepEqual(
      tableRows(d2.stdout, 'TOPIC PARTITION').map((r) => r.slice(0, 5)),
      [['cli-grp', '0', '0', '5', '5']],
    );

    await runnelOk(b, [
      'groups',
      'reset-offsets',
      '--group',
      'cli-g1',
      '--topic',
      'cli-grp',
      '--shift-by',
      '3',
      '--execute',
    ]);
    const d3 = await runnelOk(b, ['groups', 'describe', '--group', 'cli-g1']);
    assert.equal(tableRows(d3.stdout, 'TOPIC PARTITION')[0]![4], '2');

    await runnelOk(b, ['groups', 'delete', '--group', 'cli-g1']);
    const gone = await runnel(b, ['groups', 'describe', '--group', 'cli-g1']);
    assert.equal(gone.code, 1);
  });
  void it('describe shows a live member; reset-offsets refuses while it is there', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-live', '--partitions', '1']);
    await runnelOk(b, ['produce', '--topic', 'cli-live'], { input: 'a\nb\n' });
    const member = startRunnel(b, ['consume', '--topic', 'cli-live', '--group', 'cli-live-g', '--from-beginning']);
    try {
      let rows: string[][] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        const d = await runnel(b, ['groups', 'describe', '--group', 'cli-live-g']);
        if (d.code === 0 && /state Stable, 1 member/.test(d.stdout)) {
          rows = tableRows(d.stdout, 'TOPIC PARTITION');
          break;
        }
      }
      assert.equal(rows.length, 1);
      assert.deepEqual([rows[0]![0], rows[0]![1], rows[0]![3]], ['cli-live', '0', '2']);
      assert.match(rows[0]![5]!, /^runnel-cli-/);
      assert.equal(rows[0]![7], 'runnel-cli');
      const r = await runnel(b, [
        'groups',
        'reset-offsets',
        '--group',
        'cli-live-g',
        '--topic',
        'cli-live',
        '--to-earliest',
        '--execute',
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^runnel: group cli-live-g has 1 active member\(s\)/);
    } finally {
      const out = await member.stop();
      assert.equal(out.stdout, 'a\nb\n');
    }
    // The member committed what it printed when it stopped.
    const d = await runnelOk(b, ['groups', 'describe', '--group', 'cli-live-g']);
    assert.deepEqual(
      tableRows(d.stdout, 'TOPIC PARTITION').map((row) => row.slice(0, 5)),
      [['cli-live', '0', '2', '2', '0']],
    );
  });
});

void describe('interop with kcat', () => {
  void it('kcat reads what runnel produce wrote', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-to-kcat', '--partitions', '1']);
    await runnelOk(b, ['produce', '--topic', 'cli-to-kcat', '--key-separator', '=', '--compression', 'zstd'], {
      input: 'a=1\nb=two words\nc=\n',
    });
    const out = await kcat(['-C', '-b', b, '-t', 'cli-to-kcat', '-e', '-q', '-f', '%k %s\n']);
    assert.equal(out, 'a 1\nb two words\nc \n');
  });

  void it('runnel consume reads what kcat wrote', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'kcat-to-cli', '--partitions', '1']);
    await kcat(['-P', '-b', b, '-t', 'kcat-to-cli', '-K', ':', '-H', 'h=1'], 'x:10\ny:twenty\n');
    const r = await runnelOk(b, [
      'consume',
      '--topic',
      'kcat-to-cli',
      '--from-beginning',
      '--max-messages',
      '2',
      '--format',
      'json',
    ]);
    assert.deepEqual(
      jsonLines(r.stdout).map((rec) => [rec.key, rec.value, rec.headers]),
      [
        ['x', '10', { h: '1' }],
        ['y', 'twenty', { h: '1' }],
      ],
    );
    const plain = await runnelOk(b, ['consume', '--topic', 'kcat-to-cli', '--from-beginning', '--max-messages', '2']);
    assert.equal(plain.stdout, '10\ntwenty\n');
  });
});
