/**
 * The benchmark's results model: ratios to ceilings and peers, goal verdicts, and the two
 * renderings, on hand-made figures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderConsoleTable, renderMarkdown } from '../../bench/harness/report.ts';
import { compare, type Figure, figure, missingSection } from '../../bench/harness/results.ts';

const figures: Figure[] = [
  figure('machine', 'machine', 'ceiling', 'loopback-MBps', 1000),
  figure('nats', 'NATS JS', 'peer', 'produce-MBps', 100),
  figure('nats', 'NATS JS', 'peer', 'e2e-p99-ms', 20),
  figure('redis', 'Redis', 'peer', 'produce-MBps', 200),
  figure('redis', 'Redis', 'peer', 'e2e-p99-ms', 2),
  figure('runnel', 'Runnel', 'subject', 'produce-MBps', 600),
  figure('runnel', 'Runnel', 'subject', 'produce-MBps-rf3', 200),
  figure('runnel', 'Runnel', 'subject', 'e2e-p99-ms', 4),
  figure('runnel', 'Runnel', 'subject', 'ready-ms', null, 'n/a (not built yet)'),
  missingSection('storage', 'storage', 'skipped: bench/storage.ts not written yet'),
];

function rowOf(rows: ReturnType<typeof compare>, source: string, metric: string) {
  const row = rows.find((r) => r.figure.source === source && r.figure.metric === metric);
  assert.ok(row, `${source} ${metric}`);
  return row;
}

void describe('bench results', () => {
  void it('sets figures against the ceiling and the peers', () => {
    const rows = compare(figures, { fixedRateMBps: 50 });
    const produce = rowOf(rows, 'Runnel', 'produce-MBps');
    assert.equal(produce.ceilingRatio, 0.6);
    assert.equal(produce.peers.get('NATS JS')?.advantage, 6);
    assert.equal(produce.peers.get('Redis')?.advantage, 3);
    // Lower is better for latency: 20 ms against 4 ms is 5x better, 2 ms against 4 ms is 0.5x.
    const p99 = rowOf(rows, 'Runnel', 'e2e-p99-ms');
    assert.equal(p99.peers.get('NATS JS')?.advantage, 5);
    assert.equal(p99.peers.get('Redis')?.advantage, 0.5);
    // Peers are compared with the ceiling but not with each other.
    const nats = rowOf(rows, 'NATS JS', 'produce-MBps');
    assert.equal(nats.ceilingRatio, 0.1);
    assert.equal(nats.peers.size, 0);
    assert.deepEqual(nats.goals, []);
  });

  void it('checks the goals and says n/a for what was not measured', () => {
    const rows = compare(figures, { fixedRateMBps: 50 });
    const verdicts = (source: string, metric: string) => rowOf(rows, source, metric).goals.map((g) => g.status);
    assert.deepEqual(verdicts('Runnel', 'produce-MBps'), ['pass', 'pass']); // 60% of loopback; 6x and 3x
    assert.deepEqual(verdicts('Runnel', 'produce-MBps-rf3'), ['miss']); // 200 < 40% of 600
    assert.deepEqual(verdicts('Runnel', 'e2e-p99-ms'), ['pass']);
    assert.deepEqual(verdicts('Runnel', 'ready-ms'), ['n/a']);
    // The latency goal is stated at 50 MB/s; a run at another rate cannot pass or miss it.
    const slower = compare(figures, { fixedRateMBps: 20 });
    assert.deepEqual(
      rowOf(slower, 'Runnel', 'e2e-p99-ms').goals.map((g) => g.status),
      ['n/a'],
    );
  });

  void it('renders an aligned table and a markdown page', () => {
    const rows = compare(figures, { fixedRateMBps: 50 });
    const table = renderConsoleTable(rows).split('\n');
    assert.equal(table.length, rows.length + 2);
    const valueColumn = table[0]!.indexOf('value');
    assert.ok(table.slice(2).every((line) => line.length > valueColumn));
    assert.match(table.find((line) => line.startsWith('Runnel '))!, /60%\s+6\.00x\s+3\.00x\s+pass/);
    const markdown = renderMarkdown(rows, {
      machine: {
        date: '2026-01-01T00:00:00Z',
        nproc: 2,
        cpuModel: 'test CPU',
        memoryGiB: 4,
        kernel: '6.0',
        node: 'v20.0.0',
        commit: 'abc1234',
        loadAverage: { start: 0.5, end: 0.7 },
      },
      setup: ['Mode: test'],
      notes: ['a note'],
    });
    assert.match(markdown, /- Machine: 2 CPUs/);
    assert.match(
      markdown,
      /\| Runnel \| produce, max rate \| 600 MB\/s \| 1,000 MB\/s \(loopback TCP, 2 processes\) \| 60% \|/,
    );
    assert.match(markdown, /skipped: bench\/storage\.ts not written yet/);
    assert.match(markdown, /- a note/);
  });
});
