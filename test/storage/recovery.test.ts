/**
 * Recovery at open on the real file system: torn or corrupt tails, damaged or missing
 * indexes, compaction leftovers, and the LogManager's clean-shutdown marker.
 */
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nodeDisk } from '../../src/env/disk.ts';
import { isBatchCrcValid } from '../../src/protocol/records/batch-header.ts';
import { type LogConfig, logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { CLEAN_SHUTDOWN_FILE, LogManager } from '../../src/storage/log-manager.ts';
import { listBatches } from '../../src/storage/records.ts';
import { batchOf, ManualClock, readAll, tempDir } from './helpers.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function freshLog(config: Partial<LogConfig> = {}) {
  const root = await tempDir();
  dirs.push(root);
  const dir = join(root, 't-0');
  const clock = new ManualClock();
  const cfg = logConfig({ segmentBytes: 1000, indexIntervalBytes: 100, ...config });
  const open = (cleanShutdown = false) =>
    FileLog.open({ dir, topic: 't', partition: 0, config: cfg, disk: nodeDisk, clock, cleanShutdown });
  const log = await open();
  for (let i = 0; i < 30; i++) await log.append(batchOf(2, 1000 + i), { leaderEpoch: 1 + (i >= 20 ? 1 : 0) });
  return { dir, open, log };
}

async function segmentFiles(dir: string, suffix: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(suffix)).sort();
}

async function assertValid(log: FileLog, leo: number): Promise<void> {
  assert.equal(log.logEndOffset(), leo);
  const batches = await readAll(log);
  let next = 0;
  for (const b of batches) {
    assert.ok(isBatchCrcValid(b));
    const info = listBatches(b)[0]!;
    assert.equal(info.baseOffset, next);
    next = info.baseOffset + info.lastOffsetDelta + 1;
  }
  assert.equal(next, leo);
}

void describe('recovery at open', () => {
  void it('drops a torn tail (garbage after the last batch)', async () => {
    const { dir, open, log } = await freshLog();
    log.abandon();
    const active = (await segmentFiles(dir, '.log')).at(-1)!;
    const before = (await stat(join(dir, active))).size;
    await appendFile(join(dir, active), Buffer.from([0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 200, 1, 2, 3]));
    const again = await open();
    await assertValid(again, 60);
    assert.equal((await stat(join(dir, active))).size, before);
    assert.equal(again.recoveryStats().bytesTruncated, 15);
    assert.equal((await again.append(batchOf(1), { leaderEpoch: 2 })).baseOffset, 60);
    await again.close();
  });

  void it('truncates at the first bad batch, deleting later segments', async () => {
    const { dir, open, log } = await freshLog();
    log.abandon();
    const logs = await segmentFiles(dir, '.log');
    assert.ok(logs.length >= 3, `${logs.length} segments`);
    await unlink(join(dir, 'recovery-point-offset-checkpoint')); // recover everything
    const victim = join(dir, logs[1]!);
    const bytes = await readFile(victim);
    const second = listBatches(bytes)[1]!;
    bytes[second.position + 70] ^= 0xff; // corrupt a record byte: CRC mismatch
    await writeFile(victim, bytes);
    const again = await open();
    const expectedLeo = second.baseOffset;
    await assertValid(again, expectedLeo);
    assert.deepEqual(await segmentFiles(dir, '.log'), logs.slice(0, 2));
    assert.deepEqual(again.endOffsetForEpoch(1), { leaderEpoch: 1, endOffset: expectedLeo });
    assert.equal(again.latestEpoch(), 1, 'epoch 2 started after the cut');
    await again.close();
  });

  void it('rebuilds missing or damaged indexes, even after a clean shutdown', async () => {
    const { dir, open, log } = await freshLog();
    const ts = await log.offsetForTimestamp(1017);
    await log.close();
    const indexes = await segmentFiles(dir, '.index');
    await unlink(join(dir, indexes[0]!));
    await appendFile(join(dir, (await segmentFiles(dir, '.timeindex'))[1]!), Buffer.from([1, 2, 3]));
    await truncate(join(dir, indexes.at(-1)!), 5);
    const again = await open(true);
    await assertValid(again, 60);
    assert.deepEqual(await again.offsetForTimestamp(1017), ts);
    assert.equal((await stat(join(dir, indexes[0]!))).size % 8, 0);
    const r = await again.read(33, 1);
    assert.ok(r.kind === 'records');
    assert.equal(listBatches(r.records)[0]!.baseOffset, 32);
    await again.close();
  });

  void it('cleans compaction leftovers and finishes an interrupted swap', async () => {
    const { dir, open, log } = await freshLog();
    await log.close();
    const logs = await segmentFiles(dir, '.log');
    // A cleaned segment that never reached .swap: discarded.
    await writeFile(join(dir, `${logs[0]}.cleaned`), Buffer.from('partial'));
    await writeFile(join(dir, 'leader-epoch-checkpoint.tmp'), Buffer.from('partial'));
    // A committed swap: the old segment 1 replaced by a copy holding only its first batch.
    const seg1 = await readFile(join(dir, logs[1]!));
    const first = listBatches(seg1)[0]!;
    await writeFile(join(dir, `${logs[1]}.swap`), seg1.subarray(0, first.sizeInBytes));
    const again = await open(true);
    const names = await readdir(dir);
    assert.ok(!names.some((n) => n.endsWith('.cleaned') || n.endsWith('.swap') || n.endsWith('.tmp')), names.join());
    const batches = await readAll(again);
    const bases = batches.map((b) => listBatches(b)[0]!.baseOffset);
    assert.ok(bases.includes(first.baseOffset));
    assert.ok(!bases.includes(first.baseOffset + 2), 'the swapped segment holds one batch');
    assert.equal(again.logEndOffset(), 60);
    await again.close();
  });
});

void describe('LogManager', () => {
  void it('writes the clean-shutdown marker on close, recovers without it, discovers and deletes logs', async () => {
    const root = await tempDir();
    dirs.push(root);
    const clock = new ManualClock();
    const open = () =>
      LogManager.open({ dataDir: root, disk: nodeDisk, clock, defaultConfig: logConfig({ segmentBytes: 500 }) });
    let m = await open();
    const [a, same] = await Promise.all([m.getOrCreateLog('orders-v2', 0), m.getOrCreateLog('orders-v2', 0)]);
    assert.equal(a, same, 'concurrent creations share one log');
    const b = await m.getOrCreateLog('orders-v2', 3);
    for (let i = 0; i < 10; i++) {
      await a.append(batchOf(2), { leaderEpoch: 0 });
      await b.append(batchOf(1), { leaderEpoch: 0 });
    }
    await m.close();
    assert.ok((await readdir(root)).includes(CLEAN_SHUTDOWN_FILE));
    m = await open();
    assert.ok(!(await readdir(root)).includes(CLEAN_SHUTDOWN_FILE), 'removed at open');
    assert.equal(m.getLog('orders-v2', 0)!.logEndOffset(), 20);
    assert.equal(m.getLog('orders-v2', 3)!.logEndOffset(), 10);
    await m.deleteLog('orders-v2', 3);
    assert.equal(m.getLog('orders-v2', 3), undefined);
    assert.deepEqual((await readdir(root)).sort(), ['orders-v2-0']);
    m.abandon(); // crash: no marker
    m = await open();
    assert.equal(m.getLog('orders-v2', 0)!.logEndOffset(), 20);
    await m.close();
  });

  void it('runs retention, compaction and flush.ms on the injected clock', async () => {
    const root = await tempDir();
    dirs.push(root);
    const clock = new ManualClock();
    const errors: unknown[] = [];
    const m = await LogManager.open({
      dataDir: root,
      disk: nodeDisk,
      clock,
      defaultConfig: logConfig({ segmentBytes: 400, retentionMs: 60_000, flushMs: 5_000 }),
      retentionCheckIntervalMs: 30_000,
      cleanerBackoffMs: 10_000,
      flushCheckIntervalMs: 1_000,
      onError: (err) => errors.push(err),
    });
    const log = await m.getOrCreateLog('t', 0);
    for (let i = 0; i < 20; i++) await log.append(batchOf(2, clock.nowMs()), { leaderEpoch: 0 });
    const compacted = await m.getOrCreateLog(
      'c',
      0,
      logConfig({ segmentBytes: 300, cleanupPolicy: { compact: true, delete: false }, minCleanableDirtyRatio: 0.1 }),
    );
    for (let i = 0; i < 20; i++) await compacted.append(batchOf(3, clock.nowMs()), { leaderEpoch: 0 });
    const sizeBefore = compacted.sizeInBytes();
    m.startBackgroundTasks();
    assert.ok(log.recoveryPointOffset() < 40);
    const settle = () => m.whenIdle();
    clock.advance(5_000);
    await settle();
    assert.equal(log.recoveryPointOffset(), 40, 'flush.ms flushed');
    clock.advance(5_000);
    await settle();
    assert.ok(compacted.sizeInBytes() < sizeBefore, 'the cleaner ran');
    const segments = log.segmentCount();
    clock.advance(60_000);
    await settle();
    assert.equal(log.segmentCount(), 1, `retention deleted ${segments - 1} closed segments`);
    assert.equal(log.logStartOffset(), log.segmentBaseOffsets()[0]);
    await m.close();
    assert.deepEqual(errors, []);
  });
});
