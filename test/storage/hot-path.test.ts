/**
 * The FileLog hot path. Group commit: appends queued on a busy log are written with one write, each
 * still acknowledged with its own offsets; a bad batch fails only its own append; a failed
 * (torn) write acknowledges none of the group, and a crash after it keeps none of it.
 * Read path: a fetch is served with one read of the segment.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Disk } from '../../src/env/disk.ts';
import { StorageError } from '../../src/env/disk.ts';
import { faultyDisk } from '../../src/env/disk-faults.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import { type LogConfig, logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import type { AppendResult } from '../../src/storage/partition-log.ts';
import { listBatches } from '../../src/storage/records.ts';
import { batchOf, countingDisk, decodeRecords, ManualClock, readAll } from './helpers.ts';

const DIR = '/data/g-0';

function open(disk: Disk, config: Partial<LogConfig> = {}, clock = new ManualClock()): Promise<FileLog> {
  return FileLog.open({ dir: DIR, topic: 'g', partition: 0, config: logConfig(config), disk, clock });
}

/** Values of every record in the log, in offset order, with their offsets. */
async function contents(log: FileLog): Promise<{ offset: number; value: string }[]> {
  const out: { offset: number; value: string }[] = [];
  for (const batch of await readAll(log)) {
    for (const r of decodeRecords(batch)) out.push({ offset: r.offset, value: String(r.value) });
  }
  return out;
}

function settle<T>(promises: Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(promises);
}

void describe('FileLog group commit', () => {
  void it('writes appends queued together with one write, each acknowledged with its own offsets', async () => {
    const { disk, logWrites } = countingDisk(memoryDisk());
    const log = await open(disk);
    const before = logWrites();
    // Issued together: the first opens a group, the others join it before it runs.
    const sizes = [1, 3, 2, 5, 1, 4];
    const results = await Promise.all(sizes.map((n, i) => log.append(batchOf(n, 1000 + i), { leaderEpoch: 0 })));
    assert.equal(logWrites() - before, 1, 'one write for the whole group');
    let next = 0;
    for (let i = 0; i < sizes.length; i++) {
      assert.equal(results[i]!.baseOffset, next);
      assert.equal(results[i]!.lastOffset, next + sizes[i]! - 1);
      assert.equal(results[i]!.recordCount, sizes[i]);
      next += sizes[i]!;
    }
    assert.equal(log.logEndOffset(), next);
    const got = await contents(log);
    assert.deepEqual(
      got.map((r) => r.offset),
      Array.from({ length: next }, (_, i) => i),
    );
    // Each batch was kept whole and in the order of the appends.
    const batches = await readAll(log);
    assert.deepEqual(
      batches.map((b) => listBatches(b)[0]!.baseOffset),
      results.map((r) => r.baseOffset),
    );
    await log.close();
  });

  void it('coalesces appends that arrive while a write is under way', async () => {
    const { disk, logWrites } = countingDisk(memoryDisk());
    const log = await open(disk);
    const before = logWrites();
    const first = log.append(batchOf(1), { leaderEpoch: 0 });
    // Let the first group start (it is then closed to newcomers).
    await Promise.resolve();
    await Promise.resolve();
    const rest = Array.from({ length: 10 }, () => log.append(batchOf(2), { leaderEpoch: 0 }));
    const results = await Promise.all([first, ...rest]);
    assert.ok(logWrites() - before <= 2, `at most two writes, got ${logWrites() - before}`);
    assert.deepEqual(
      results.map((r) => r.baseOffset),
      [0, ...Array.from({ length: 10 }, (_, i) => 1 + 2 * i)],
    );
    await log.close();
  });

  void it('fails only the append whose batch is invalid', async () => {
    const log = await open(memoryDisk());
    const bad = batchOf(2);
    bad[bad.length - 1] ^= 0xff; // breaks the CRC
    const settled = await settle([
      log.append(batchOf(2), { leaderEpoch: 0 }),
      log.append(bad, { leaderEpoch: 0 }),
      log.append(batchOf(3), { leaderEpoch: 0 }),
    ]);
    assert.equal(settled[0]!.status, 'fulfilled');
    assert.equal(settled[1]!.status, 'rejected');
    assert.ok((settled[1] as PromiseRejectedResult).reason instanceof StorageError);
    assert.equal(((settled[1] as PromiseRejectedResult).reason as StorageError).kind, 'corrupt');
    const third = (settled[2] as PromiseFulfilledResult<AppendResult>).value;
    assert.equal(third.baseOffset, 2, 'offsets stay contiguous around the rejected append');
    assert.equal(log.logEndOffset(), 5);
    await log.close();
  });

  void it('keeps appends with different leader epochs in separate groups', async () => {
    const log = await open(memoryDisk());
    const [a, b] = await Promise.all([
      log.append(batchOf(1), { leaderEpoch: 3 }),
      log.append(batchOf(1), { leaderEpoch: 4 }),
    ]);
    assert.equal(a.baseOffset, 0);
    assert.equal(b.baseOffset, 1);
    const batches = await readAll(log);
    assert.deepEqual(
      batches.map((x) => listBatches(x)[0]!.partitionLeaderEpoch),
      [3, 4],
    );
    await log.close();
  });

  void it('acknowledges none of a group whose write is torn, and a crash keeps none of it', async () => {
    const mem = memoryDisk();
    const disk = faultyDisk(mem, seededRandom(7));
    const acked = await open(disk);
    await acked.append(batchOf(2, 999), { leaderEpoch: 0 });
    await acked.flush();
    disk.failNext('write', { pathIncludes: '.log', torn: true });
    const settled = await settle(
      Array.from({ length: 5 }, (_, i) => acked.append(batchOf(3, 2000 + i), { leaderEpoch: 0 })),
    );
    for (const s of settled) assert.equal(s.status, 'rejected', 'no append of a torn group is acknowledged');
    assert.equal(acked.logEndOffset(), 2);
    // A process crash right after (the torn prefix may or may not have been cut back).
    acked.abandon();
    mem.crash({ keepUnflushed: true });
    const reopened = await open(disk);
    assert.equal(reopened.logEndOffset(), 2, 'recovery drops the torn group');
    assert.deepEqual(
      (await contents(reopened)).map((r) => r.offset),
      [0, 1],
    );
    // And appends work again, from the first unacknowledged offset.
    const r = await reopened.append(batchOf(1), { leaderEpoch: 0 });
    assert.equal(r.baseOffset, 2);
    await reopened.close();
  });

  void it('flushes a group before acknowledging it when flush.messages is reached', async () => {
    const mem = memoryDisk();
    const log = await open(mem, { flushMessages: 1 });
    await Promise.all(Array.from({ length: 4 }, () => log.append(batchOf(2), { leaderEpoch: 0 })));
    // A power loss keeps only what was synced: every acknowledged record.
    log.abandon();
    mem.crash();
    const reopened = await open(mem, { flushMessages: 1 });
    assert.equal(reopened.logEndOffset(), 8);
    await reopened.close();
  });

  void it('rejects every append of a group when the log is closed before it runs', async () => {
    const log = await open(memoryDisk());
    const pending = [log.append(batchOf(1), { leaderEpoch: 0 }), log.append(batchOf(1), { leaderEpoch: 0 })];
    const closing = log.close();
    const settled = await settle(pending);
    await closing;
    // Either written before the close or refused as closed; never half of a group each way.
    assert.equal(new Set(settled.map((s) => s.status)).size, 1);
  });
});

void describe('FileLog read path', () => {
  void it('serves a fetch of maxBytes with one read of the segment', async () => {
    const { disk, logReads } = countingDisk(memoryDisk());
    const log = await open(disk, { indexIntervalBytes: 4096 });
    // 1,000 batches of ~1.1 KB, appended one by one: ~1.1 MB in one segment.
    for (let i = 0; i < 1000; i++) await log.append(batchOf(1, 1000, 1024), { leaderEpoch: 0 });
    for (const [offset, maxBytes] of [
      [0, 256 * 1024],
      [417, 64 * 1024],
      [999, 1024 * 1024],
      [3, 10],
    ] as const) {
      const before = logReads();
      const result = await log.read(offset, maxBytes);
      assert.equal(result.kind, 'records');
      if (result.kind !== 'records') continue;
      assert.equal(logReads() - before, 1, `one read for offset ${offset}, maxBytes ${maxBytes}`);
      const batches = listBatches(result.records);
      assert.ok(batches[0]!.baseOffset <= offset && offset <= batches[0]!.baseOffset + batches[0]!.lastOffsetDelta);
      // As much as fits, and never a partial batch.
      assert.ok(result.records.length <= Math.max(maxBytes, batches[0]!.sizeInBytes));
      // Every batch has the same size: the one after the last returned would not have fit.
      const last = batches.at(-1)!;
      if (last.baseOffset + last.lastOffsetDelta + 1 < log.logEndOffset()) {
        assert.ok(result.records.length + last.sizeInBytes > maxBytes, 'stops only when the next batch does not fit');
      }
    }
    await log.close();
  });
});
