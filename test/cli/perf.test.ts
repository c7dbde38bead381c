/**
 * `runnel perf produce` of 10,000 records, then `runnel perf consume` reading them all, with
 * the result line on stdout and progress lines on stderr.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';
import { runnel, runnelOk } from './helpers.ts';

let broker: TestBroker;
let b: string;

before(async () => {
  broker = await startTestBroker();
  b = broker.bootstrap;
});
after(() => broker.stop());

void describe('runnel perf', () => {
  void it('produces 10,000 records and consumes them', async () => {
    await runnelOk(b, ['topics', 'create', '--topic', 'cli-perf', '--partitions', '3']);
    const p = await runnelOk(b, [
      'perf',
      'produce',
      '--topic',
      'cli-perf',
      '--num-records',
      '10000',
      '--record-size',
      '100',
      '--throughput',
      '-1',
      '--producer-props',
      'acks=all',
      'linger.ms=2',
      '--reporting-interval',
      '100',
    ]);
    assert.match(
      p.stdout,
      /^10000 records sent, [\d.]+ records\/s \([\d.]+ MB\/s\), [\d.]+ ms avg latency, [\d.]+ ms max latency, [\d.]+ ms p50, [\d.]+ ms p95, [\d.]+ ms p99, [\d.]+ ms p99\.9\n$/,
    );
    const c = await runnelOk(b, [
      'perf',
      'consume',
      '--topic',
      'cli-perf',
      '--messages',
      '10000',
      '--reporting-interval',
      '100',
    ]);
    assert.match(c.stdout, /^10000 records read in [\d.]+ s, [\d.]+ records\/s, 0\.95 MB, [\d.]+ MB\/s\n$/);
  });

  void it('throttles with --throughput and reports progress', async () => {
    const p = await runnelOk(b, [
      'perf',
      'produce',
      '--topic',
      'cli-perf',
      '--num-records',
      '300',
      '--record-size',
      '10',
      '--throughput',
      '500',
      '--reporting-interval',
      '200',
    ]);
    const rate = Number(/ ([\d.]+) records\/s/.exec(p.stdout)![1]);
    assert.ok(rate <= 650, `rate ${rate}`);
    assert.match(p.stderr, /records sent, [\d.]+ records\/s/);
  });

  void it('fails when fewer records arrive than asked', async () => {
    const r = await runnel(b, ['perf', 'consume', '--topic', 'cli-perf', '--messages', '20000', '--timeout', '500']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^runnel: read 10300 of 20000 records/m);
  });
});
