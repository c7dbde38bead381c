/**
 * The Raft simulation in CI: SIM_SEEDS seeds (default 2000, about 20 s on one core here;
 * budget about a minute on two slow cores), each checking the invariants after every
 * event, plus determinism: a seed run twice gives the same trace hash.
 * A failure names the seed; `npm run sim -- --seed S --verbose` replays it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSeed } from '../../src/sim/run.ts';

const SEEDS = Number(process.env.SIM_SEEDS ?? 2000);
const FIRST = Number(process.env.SIM_FIRST_SEED ?? 1);

void describe('raft simulation', () => {
  void it('the same seed replays the same event trace', async () => {
    for (const seed of [1, 42, 4242]) {
      const a = await runSeed({ seed });
      const b = await runSeed({ seed });
      assert.equal(a.traceHash, b.traceHash, `seed ${seed}`);
      assert.equal(a.steps, b.steps);
      assert.equal(a.committedEnd, b.committedEnd);
    }
    const c = await runSeed({ seed: 2 });
    const d = await runSeed({ seed: 3 });
    assert.notEqual(c.traceHash, d.traceHash);
  });

  void it('through the wire bytes (generated codecs, record batches) a run is the same run', async () => {
    for (let seed = 100; seed < 130; seed++) {
      const plain = await runSeed({ seed });
      const wire = await runSeed({ seed, wire: true });
      assert.equal(wire.ok, true, wire.error);
      assert.equal(wire.traceHash, plain.traceHash, `seed ${seed}`);
    }
  });

  void it('--steps bounds a run', async () => {
    const r = await runSeed({ seed: 7, maxSteps: 50 });
    assert.equal(r.steps, 50);
    assert.equal(r.ok, true);
  });

  void it(`${SEEDS} seeds keep every invariant and stay live after faults heal`, { timeout: 300_000 }, async () => {
    const failures: string[] = [];
    let committed = 0;
    let snapshotsFetched = 0;
    let truncations = 0;
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
      const r = await runSeed({ seed });
      committed += r.committedEnd;
      snapshotsFetched += r.stats.snapshotsFetched;
      truncations += r.stats.truncations;
      if (!r.ok)
        failures.push(`seed ${seed}: ${r.error?.split('\n')[0]} (replay: npm run sim -- --seed ${seed} --verbose)`);
    }
    assert.deepEqual(failures, []);
    assert.ok(committed > SEEDS * 50, 'the runs commit records');
    if (SEEDS >= 200) {
      assert.ok(snapshotsFetched > 0, 'some runs install snapshots from the leader');
      assert.ok(truncations > 0, 'some runs truncate diverged logs');
    }
  });
});
