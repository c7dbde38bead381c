/**
 * `runnel perf produce` of 10,000 records, then `runnel perf consume` reading them all, with
 * the result line on stdout and progress lines on stderr.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin } from '../../src/client/admin.ts';
import { Consumer } from '../../src/client/consumer.ts';
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

  void it('produces in transactions with --transactional-id', async () => {
    const admin = new Admin({ bootstrapServers: b });
    await admin.createTopics([{ topic: 'cli-perf-txn', numPartitions: 1 }]);
    await admin.close();
    const p = await runnelOk(b, [
      'perf',
      'produce',
      '--topic',
      'cli-perf-txn',
      '--num-records',
      '2000',
      '--record-size',
      '50',
      '--throughput',
      '2000',
      '--transactional-id',
      'cli-perf-1',
      '--transaction-duration-ms',
      '100',
    ]);
    assert.match(p.stdout, /^2000 records sent/);
    const committed = Number(/^(\d+) transactions committed$/m.exec(p.stderr)?.[1]);
    assert.ok(committed >= 2, p.stderr);
    // Every record, and one COMMIT marker per transaction after them.
    const consumer = new Consumer({ bootstrapServers: b, autoOffsetReset: 'earliest' });
    const tp = { topic: 'cli-perf-txn', partition: 0 };
    consumer.assign([tp]);
    let records = 0;
    while (records < 2000) records += (await consumer.poll({ timeoutMs: 1000 })).length;
    await consumer.close();
    const admin2 = new Admin({ bootstrapServers: b });
    const [end] = await admin2.listOffsets([{ ...tp, spec: 'latest' }]);
    await admin2.close();
    assert.equal(end!.offset, 2000 + committed);
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
