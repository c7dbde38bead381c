import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runCodecBench } from '../../../bench/codec.ts';

void it('bench/codec.ts runs (quick) and reports positive MB/s figures', async () => {
  const figures = await runCodecBench({ quick: true });
  assert.ok(figures.length >= 3);
  for (const f of figures) {
    assert.equal(f.unit, 'MB/s');
    assert.ok(Number.isFinite(f.value) && f.value > 0, f.name);
  }
});
