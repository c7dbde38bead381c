/**
 * 10,000 partitions under a bound of 256 open handles: create, append (many at once, so
 * borrowers wait on the pool), read back, close, reopen. Open handles never exceed the
 * bound and cached index memory stays within its budget.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { logConfig } from '../../src/storage/config.ts';
import { forEachLimited, LogManager } from '../../src/storage/log-manager.ts';
import { listBatches } from '../../src/storage/records.ts';
import { batchOf, ManualClock } from './helpers.ts';

const PARTITIONS = 10_000;
const MAX_OPEN_FILES = 256;

void it(`${PARTITIONS} partitions stay under ${MAX_OPEN_FILES} open files`, { timeout: 120_000 }, async () => {
  const disk = memoryDisk();
  const clock = new ManualClock();
  const options = {
    dataDir: '/data',
    disk,
    clock,
    maxOpenFiles: MAX_OPEN_FILES,
    indexCacheBytes: 1 << 20,
    defaultConfig: logConfig({ segmentBytes: 4096, indexIntervalBytes: 256 }),
  };
  let m = await LogManager.open(options);
  const ids = Array.from({ length: PARTITIONS }, (_, i) => i);
  await forEachLimited(ids, 64, async (i) => {
    await m.getOrCreateLog(`topic${i % 10}`, Math.floor(i / 10));
  });
  const batch = batchOf(5, 1000, 100);
  for (let round = 0; round < 2; round++) {
    // 500 appends in flight at a time
    await forEachLimited(ids, 500, async (i) => {
      const log = m.getLog(`topic${i % 10}`, Math.floor(i / 10))!;
      const r = await log.append(Buffer.from(batch), { leaderEpoch: 0 });
      assert.equal(r.baseOffset, round * 5);
    });
    assert.ok(m.pool.openCount() <= MAX_OPEN_FILES);
  }
  assert.ok(disk.maxOpenFileCount() <= MAX_OPEN_FILES, `max open ${disk.maxOpenFileCount()}`);
  assert.ok(m.pool.maxOpenCount() <= MAX_OPEN_FILES);
  await m.close();
  assert.equal(disk.openFileCount(), 0, 'everything closed');

  m = await LogManager.open(options);
  assert.equal(m.allLogs().length, PARTITIONS);
  await forEachLimited(ids, 500, async (i) => {
    const log = m.getLog(`topic${i % 10}`, Math.floor(i / 10))!;
    assert.equal(log.logEndOffset(), 10);
    const r = await log.read(7, 1);
    assert.ok(r.kind === 'records');
    assert.equal(listBatches(r.records)[0]!.baseOffset, 5);
  });
  assert.ok(disk.maxOpenFileCount() <= MAX_OPEN_FILES, `max open ${disk.maxOpenFileCount()}`);
  assert.ok(m.indexCache.cachedBytes() <= 1 << 20);
  await m.close();
});
