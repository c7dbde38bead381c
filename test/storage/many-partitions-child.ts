/**
 * The work of many-partitions.test.ts, run in a child process: node:test tracks every
 * promise of the process under test, which makes this promise-heavy run three times
 * slower in-process. Prints one JSON line of measurements; any failed check throws.
 */
import assert from 'node:assert/strict';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { logConfig } from '../../src/storage/config.ts';
import { forEachLimited, LogManager } from '../../src/storage/log-manager.ts';
import { listBatches } from '../../src/storage/records.ts';
import { batchOf, ManualClock } from './helpers.ts';

const partitions = Number(process.argv[2] ?? 10_000);
const maxOpenFiles = Number(process.argv[3] ?? 256);
const indexCacheBytes = 1 << 20;

const disk = memoryDisk();
const options = {
  dataDir: '/data',
  disk,
  clock: new ManualClock(),
  maxOpenFiles,
  indexCacheBytes,
  defaultConfig: logConfig({ segmentBytes: 4096, indexIntervalBytes: 256 }),
};
const name = (i: number): [string, number] => [`topic${i % 10}`, Math.floor(i / 10)];
const ids = Array.from({ length: partitions }, (_, i) => i);

let m = await LogManager.open(options);
await forEachLimited(ids, 64, async (i) => {
  await m.getOrCreateLog(...name(i));
});
const batch = batchOf(5, 1000, 100);
for (let round = 0; round < 3; round++) {
  // 500 appends in flight at a time: borrowers wait on the pool
  await forEachLimited(ids, 500, async (i) => {
    const r = await m.getLog(...name(i))!.append(Buffer.from(batch), { leaderEpoch: 0 });
    assert.equal(r.baseOffset, round * 5);
  });
  assert.ok(m.pool.openCount() <= maxOpenFiles);
}
const poolMax = m.pool.maxOpenCount();
await m.close();
assert.equal(disk.openFileCount(), 0, 'everything closed');

m = await LogManager.open(options);
assert.equal(m.allLogs().length, partitions);
await forEachLimited(ids, 500, async (i) => {
  const log = m.getLog(...name(i))!;
  assert.equal(log.logEndOffset(), 15);
  const r = await log.read(7, 1);
  assert.ok(r.kind === 'records');
  assert.equal(listBatches(r.records)[0]!.baseOffset, 5);
});
const cachedBytes = m.indexCache.cachedBytes();
await m.close();
process.stdout.write(
  `${JSON.stringify({ partitions, maxOpenFiles, diskMaxOpen: disk.maxOpenFileCount(), poolMax, cachedBytes, indexCacheBytes })}\n`,
);
