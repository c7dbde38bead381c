/**
 * The transactions bench section: how a transaction is split into sends, the round-robin
 * partitions, the figures and ratios computed from hand-made runs, and one short run of the
 * whole section (Runnel idempotent, Runnel transactional at 100 and 1,000 records, kafkajs
 * transactional) against an in-process broker. No timed assertions: only that every mode ran
 * and produced its figures. About 5 s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type ModeRun,
  modeFigures,
  PARTITIONS,
  partitionOf,
  ratioFigure,
  runTransactionsBench,
  sendSizes,
} from '../../bench/transactions.ts';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';

void describe('bench transactions: workload', () => {
  void it('splits a transaction into full sends and the rest', () => {
    assert.deepEqual(sendSizes(100), [100]);
    assert.deepEqual(sendSizes(1000), [500, 500]);
    assert.deepEqual(sendSizes(1234), [500, 500, 234]);
    assert.deepEqual(sendSizes(7, 3), [3, 3, 1]);
    assert.throws(() => sendSizes(0), RangeError);
    assert.throws(() => sendSizes(10, 0), RangeError);
    assert.throws(() => sendSizes(2.5), RangeError);
  });

  void it('spreads records round-robin so a transaction of 16 or more touches every partition', () => {
    for (const start of [0, 5, 99, 1000]) {
      const seen = new Set(Array.from({ length: PARTITIONS }, (_, i) => partitionOf(start + i)));
      assert.equal(seen.size, PARTITIONS, `from ${start}`);
    }
    assert.equal(partitionOf(17), 1);
    assert.equal(partitionOf(5, 4), 1);
  });
});

void describe('bench transactions: figures', () => {
  const idempotent: ModeRun = { label: 'runnel idempotent', records: 20_000, commits: 0, elapsedMs: 2000, commitMs: 0 };
  const txn100: ModeRun = { label: 'runnel txn/100', records: 5000, commits: 50, elapsedMs: 2000, commitMs: 400 };

  const byName = (figures: ReturnType<typeof modeFigures>) => new Map(figures.map((f) => [f.name, f]));

  void it('gives records/s and MB/s, and no commit figures or self-ratio for idempotent produce', () => {
    const figures = byName(modeFigures(idempotent, idempotent));
    assert.deepEqual([...figures.keys()], ['runnel idempotent', 'runnel idempotent records']);
    assert.equal(figures.get('runnel idempotent records')?.value, 10_000);
    assert.equal(figures.get('runnel idempotent records')?.unit, 'records/s');
    // 10,000 records of 1 KiB a second.
    assert.equal(figures.get('runnel idempotent')?.value, (10_000 * 1024) / (1024 * 1024));
    assert.equal(figures.get('runnel idempotent')?.unit, 'MB/s');
  });

  void it('gives commits/s, mean commit latency and the ratio to idempotent for a transactional run', () => {
    const figures = byName(modeFigures(txn100, idempotent));
    assert.equal(figures.get('runnel txn/100 records')?.value, 2500);
    assert.equal(figures.get('runnel txn/100 commits')?.value, 25);
    assert.equal(figures.get('runnel txn/100 commits')?.unit, 'commits/s');
    assert.equal(figures.get('runnel txn/100 commit latency')?.value, 8);
    assert.equal(figures.get('runnel txn/100 commit latency')?.unit, 'ms');
    const ratio = figures.get('runnel txn/100 vs runnel idempotent');
    assert.equal(ratio?.value, 25);
    assert.equal(ratio?.unit, '%');
    // Without a baseline, no ratio.
    assert.equal(
      modeFigures(txn100).some((f) => f.unit === '%'),
      false,
    );
  });

  void it('compares two transactional runs as a plain ratio', () => {
    const kafkajs: ModeRun = { label: 'kafkajs txn/100', records: 2000, commits: 20, elapsedMs: 1000, commitMs: 40 };
    assert.deepEqual(ratioFigure(txn100, kafkajs), {
      name: 'runnel txn/100 / kafkajs txn/100',
      value: 1.25,
      unit: 'x',
    });
  });

  void it('gives nothing for a run that measured nothing', () => {
    assert.deepEqual(modeFigures({ ...txn100, records: 0 }), []);
    assert.deepEqual(modeFigures({ ...txn100, elapsedMs: 0 }), []);
    // An empty baseline gives no ratio rather than Infinity.
    assert.equal(
      modeFigures(txn100, { ...idempotent, records: 0 }).some((f) => f.unit === '%'),
      false,
    );
  });
});

void describe('bench transactions: a short run against a broker', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({
      config: { 'transaction.state.log.num.partitions': '2', 'offsets.topic.num.partitions': '2' },
    });
  });
  after(() => broker.stop());

  void it('runs every mode and reports its figures', async () => {
    const figures = await runTransactionsBench({
      quick: true,
      bootstrap: broker.bootstrap,
      durationMs: 300,
      warmupMs: 100,
    });
    const names = new Set(figures.map((f) => f.name));
    for (const label of ['runnel idempotent', 'runnel txn/100', 'runnel txn/1000', 'kafkajs txn/100']) {
      assert.ok(names.has(`${label} records`), `${label} records`);
      assert.ok(names.has(label), `${label} MB/s`);
    }
    for (const label of ['runnel txn/100', 'runnel txn/1000', 'kafkajs txn/100']) {
      assert.ok(names.has(`${label} commits`), `${label} commits`);
      assert.ok(names.has(`${label} commit latency`), `${label} commit latency`);
    }
    assert.ok(names.has('runnel txn/100 vs runnel idempotent'));
    assert.ok(names.has('runnel txn/1000 vs runnel idempotent'));
    assert.ok(names.has('runnel txn/100 / kafkajs txn/100'));
    for (const f of figures) assert.ok(Number.isFinite(f.value) && f.value > 0, `${f.name}: ${f.value}`);
    // At least one whole transaction per transactional mode: records are multiples of its size.
    const records = (label: string) => figures.find((f) => f.name === `${label} records`)!.value;
    const commits = (label: string) => figures.find((f) => f.name === `${label} commits`)!.value;
    for (const [label, size] of [
      ['runnel txn/100', 100],
      ['runnel txn/1000', 1000],
    ] as const) {
      assert.ok(Math.abs(records(label) / commits(label) - size) < 1e-6, `${label}: ${size} records per commit`);
    }
  });
});
