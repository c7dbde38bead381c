/**
 * One suite, every PartitionLog implementation: FileLog on the real disk, FileLog on the
 * in-memory disk, and MemoryLog.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StorageError } from '../../src/env/disk.ts';
import type { PartitionLog } from '../../src/storage/partition-log.ts';
import { buildSimpleBatch, listBatches } from '../../src/storage/records.ts';
import {
  batchOf,
  decodeRecords,
  fileLogFactory,
  type LogFactory,
  ManualClock,
  memoryLogFactory,
  readAll,
} from './helpers.ts';

const factories: LogFactory[] = [fileLogFactory('node'), fileLogFactory('memory'), memoryLogFactory()];

async function appendN(log: PartitionLog, n: number, recordsPerBatch = 1, epoch = 0, ts = 1000): Promise<void> {
  for (let i = 0; i < n; i++) await log.append(batchOf(recordsPerBatch, ts + i), { leaderEpoch: epoch });
}

function batchesOf(buf: Buffer): [number, number][] {
  return listBatches(buf).map((b) => [b.baseOffset, b.baseOffset + b.lastOffsetDelta]);
}

for (const factory of factories) {
  void describe(`PartitionLog conformance: ${factory.name}`, () => {
    after(() => factory.cleanup());

    void it('assigns consecutive offsets and never reuses them', async () => {
      const log = await factory.create();
      const a = await log.append(batchOf(3), { leaderEpoch: 0 });
      const b = await log.append(Buffer.concat([batchOf(2), batchOf(1)]), { leaderEpoch: 0 });
      assert.deepEqual([a.baseOffset, a.lastOffset, a.recordCount], [0, 2, 3]);
      assert.deepEqual([b.baseOffset, b.lastOffset, b.recordCount], [3, 5, 3]);
      assert.equal(a.logAppendTimeMs, -1);
      assert.equal(log.logEndOffset(), 6);
      const r = await log.read(0, 1 << 20);
      assert.equal(r.kind, 'records');
      if (r.kind === 'records')
        assert.deepEqual(batchesOf(r.records), [
          [0, 2],
          [3, 4],
          [5, 5],
        ]);
    });

    void it('stamps LogAppendTime when configured', async () => {
      const clock = new ManualClock(5_000_000);
      const log = await factory.create({ messageTimestampType: 'LogAppendTime' }, clock);
      const a = await log.append(batchOf(2, 1), { leaderEpoch: 0 });
      assert.equal(a.logAppendTimeMs, 5_000_000);
      const r = await log.read(0, 1 << 20);
      assert.ok(r.kind === 'records');
      assert.equal(listBatches(r.records)[0]!.maxTimestamp, 5_000_000);
    });

    void it('rejects corrupt batches with a typed error and stays usable', async () => {
      const log = await factory.create();
      const bad = batchOf(2);
      bad[bad.length - 1]! ^= 0xff;
      await assert.rejects(
        log.append(bad, { leaderEpoch: 0 }),
        (e) => e instanceof StorageError && e.kind === 'corrupt',
      );
      await assert.rejects(log.append(Buffer.alloc(10), { leaderEpoch: 0 }), StorageError);
      const ok = await log.append(batchOf(1), { leaderEpoch: 0 });
      assert.equal(ok.baseOffset, 0);
    });

    void it('reads whole batches within maxBytes, at least one, from the middle of a batch', async () => {
      const log = await factory.create();
      await appendN(log, 10, 5);
      const size = batchOf(5).length;
      const one = await log.read(0, 1);
      assert.ok(one.kind === 'records');
      assert.deepEqual(batchesOf(one.records), [[0, 4]]);
      const noMin = await log.read(0, 1, { minOneBatch: false });
      assert.ok(noMin.kind === 'records' && noMin.records.length === 0);
      const three = await log.read(0, size * 3 + size - 1);
      assert.ok(three.kind === 'records');
      assert.deepEqual(batchesOf(three.records), [
        [0, 4],
        [5, 9],
        [10, 14],
      ]);
      const mid = await log.read(12, size);
      assert.ok(mid.kind === 'records');
      assert.deepEqual(batchesOf(mid.records), [[10, 14]]);
      const atEnd = await log.read(50, 1000);
      assert.ok(atEnd.kind === 'records' && atEnd.records.length === 0);
      const beyond = await log.read(51, 1000);
      assert.equal(beyond.kind, 'offset-out-of-range');
      // bytes come back exactly as appended
      const orig = batchOf(5, 1003);
      const fourth = await log.read(15, 1);
      assert.ok(fourth.kind === 'records');
      assert.deepEqual(fourth.records.subarray(12 + 4 + 1), orig.subarray(12 + 4 + 1));
    });

    void it('stops at maxOffset (the high watermark)', async () => {
      const log = await factory.create();
      await appendN(log, 5, 2);
      assert.equal(log.highWatermark(), 0);
      assert.equal(log.updateHighWatermark(100), 10);
      assert.equal(log.updateHighWatermark(4), 4);
      const r = await log.read(0, 1 << 20, { maxOffset: log.highWatermark() });
      assert.ok(r.kind === 'records');
      assert.deepEqual(batchesOf(r.records), [
        [0, 1],
        [2, 3],
      ]);
      const none = await log.read(4, 1 << 20, { maxOffset: 4 });
      assert.ok(none.kind === 'records' && none.records.length === 0);
    });

    void it('finds offsets by timestamp and the max timestamp', async () => {
      const log = await factory.create({ indexIntervalBytes: 100, segmentBytes: 1000 });
      for (let i = 0; i < 40; i++) await log.append(batchOf(2, 10_000 + i * 10), { leaderEpoch: 3 });
      assert.ok(log.segmentCount() > 1);
      assert.deepEqual(await log.offsetForTimestamp(0), { offset: 0, timestamp: 10_000, leaderEpoch: 3 });
      assert.deepEqual(await log.offsetForTimestamp(10_105), { offset: 22, timestamp: 10_110, leaderEpoch: 3 });
      assert.deepEqual(await log.offsetForTimestamp(10_390), { offset: 78, timestamp: 10_390, leaderEpoch: 3 });
      assert.equal(await log.offsetForTimestamp(10_391), undefined);
      assert.deepEqual(await log.maxTimestamp(), { offset: 78, timestamp: 10_390, leaderEpoch: 3 });
      // out-of-order timestamps: the earliest batch with max >= target wins
      await log.append(batchOf(1, 50_000), { leaderEpoch: 3 });
      await log.append(batchOf(1, 20_000), { leaderEpoch: 3 });
      assert.deepEqual(await log.offsetForTimestamp(15_000), { offset: 80, timestamp: 50_000, leaderEpoch: 3 });
      assert.deepEqual(await log.maxTimestamp(), { offset: 80, timestamp: 50_000, leaderEpoch: 3 });
    });

    void it('finds the first record by timestamp inside a batch, at or after the log start offset', async () => {
      const log = await factory.create();
      await log.append(batchOf(1, 50), { leaderEpoch: 2 });
      const ts = [100, 300, 200, 400].map((t) => ({ key: 'k', value: 'v', timestampMs: t }));
      await log.append(buildSimpleBatch(ts), { leaderEpoch: 2 });
      assert.deepEqual(await log.offsetForTimestamp(150), { offset: 2, timestamp: 300, leaderEpoch: 2 });
      assert.deepEqual(await log.offsetForTimestamp(400), { offset: 4, timestamp: 400, leaderEpoch: 2 });
      assert.deepEqual(await log.offsetForTimestamp(60), { offset: 1, timestamp: 100, leaderEpoch: 2 });
      log.updateHighWatermark(5);
      await log.deleteRecordsBefore(3);
      assert.deepEqual(await log.offsetForTimestamp(150), { offset: 3, timestamp: 200, leaderEpoch: 2 });
      assert.deepEqual(await log.maxTimestamp(), { offset: 4, timestamp: 400, leaderEpoch: 2 });
    });

    void it('tracks leader epochs and answers OffsetForLeaderEpoch', async () => {
      const log = await factory.create();
      assert.deepEqual(log.endOffsetForEpoch(0), { leaderEpoch: -1, endOffset: -1 });
      await appendN(log, 3, 1, 1); // 0..2 epoch 1
      await appendN(log, 2, 1, 3); // 3..4 epoch 3
      await appendN(log, 2, 1, 5); // 5..6 epoch 5
      assert.equal(log.latestEpoch(), 5);
      assert.deepEqual(log.endOffsetForEpoch(5), { leaderEpoch: 5, endOffset: 7 });
      assert.deepEqual(log.endOffsetForEpoch(3), { leaderEpoch: 3, endOffset: 5 });
      assert.deepEqual(log.endOffsetForEpoch(4), { leaderEpoch: 3, endOffset: 5 });
      assert.deepEqual(log.endOffsetForEpoch(1), { leaderEpoch: 1, endOffset: 3 });
      assert.deepEqual(log.endOffsetForEpoch(0), { leaderEpoch: 0, endOffset: 0 });
      assert.deepEqual(log.endOffsetForEpoch(6), { leaderEpoch: -1, endOffset: -1 });
      const r = await log.read(3, 1);
      assert.ok(r.kind === 'records');
      assert.equal(listBatches(r.records)[0]!.partitionLeaderEpoch, 3);
    });

    void it('truncates (followers) at batch boundaries and continues from there', async () => {
      const log = await factory.create({ segmentBytes: 600, indexIntervalBytes: 100 });
      await appendN(log, 10, 2, 1);
      await appendN(log, 10, 2, 2);
      assert.ok(log.segmentCount() > 2);
      log.updateHighWatermark(40);
      await log.truncateTo(25); // inside batch 24..25
      assert.equal(log.logEndOffset(), 24);
      assert.equal(log.highWatermark(), 24);
      assert.deepEqual(log.endOffsetForEpoch(2), { leaderEpoch: 2, endOffset: 24 });
      await log.truncateTo(20);
      assert.equal(log.logEndOffset(), 20);
      assert.equal(log.latestEpoch(), 1);
      const next = await log.append(batchOf(1), { leaderEpoch: 7 });
      assert.equal(next.baseOffset, 20);
      const all = await readAll(log);
      assert.deepEqual(
        all.map((b) => listBatches(b)[0]!.baseOffset),
        [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20],
      );
      assert.deepEqual(await log.maxTimestamp(), { offset: 18, timestamp: 1009, leaderEpoch: 1 });
      await log.truncateTo(100); // beyond LEO: no-op
      assert.equal(log.logEndOffset(), 21);
      await log.truncateFullyAndStartAt(500);
      assert.deepEqual([log.logStartOffset(), log.logEndOffset(), log.segmentCount()], [500, 500, 1]);
      assert.equal((await log.append(batchOf(1), { leaderEpoch: 8 })).baseOffset, 500);
    });

    void it('appendAsFollower keeps offsets and epochs, refuses to go backwards', async () => {
      const log = await factory.create();
      const b1 = batchOf(3);
      b1.writeBigInt64BE(10n, 0);
      b1.writeInt32BE(4, 12);
      const r = await log.appendAsFollower(b1);
      assert.deepEqual([r.baseOffset, r.lastOffset], [10, 12]);
      assert.equal(log.logEndOffset(), 13);
      assert.deepEqual(log.endOffsetForEpoch(4), { leaderEpoch: 4, endOffset: 13 });
      const back = batchOf(1);
      back.writeBigInt64BE(5n, 0);
      await assert.rejects(log.appendAsFollower(back), StorageError);
    });

    void it('rolls on segment.bytes and segment.ms, reads across segments', async () => {
      const clock = new ManualClock();
      const log = await factory.create({ segmentBytes: 500, segmentMs: 60_000 }, clock);
      const size = batchOf(2).length;
      await appendN(log, 12, 2);
      const perSegment = Math.floor(500 / size);
      assert.equal(log.segmentCount(), Math.ceil(12 / perSegment));
      const before = log.segmentCount();
      clock.advance(60_000);
      await appendN(log, 1, 2);
      assert.equal(log.segmentCount(), before + 1);
      const all = await readAll(log);
      assert.equal(all.length, 13);
      assert.deepEqual(
        decodeRecords(Buffer.concat(all)).map((r) => r.offset),
        Array.from({ length: 26 }, (_, i) => i),
      );
      // a batch larger than segment.bytes still goes in (alone in its segment)
      const big = await log.append(batchOf(60), { leaderEpoch: 0 });
      assert.equal(big.baseOffset, 26);
    });

    void it('retention deletes whole closed segments by size and time, never the active one', async () => {
      const clock = new ManualClock();
      const log = await factory.create({ segmentBytes: 400, retentionMs: -1, retentionBytes: -1 }, clock);
      const now = clock.nowMs();
      for (let i = 0; i < 20; i++) await log.append(batchOf(2, now - 10_000 + i), { leaderEpoch: 0 });
      const segments = log.segmentCount();
      assert.ok(segments >= 4);
      assert.equal(await log.deleteOldSegments(now), 0);
      log.updateConfig({ ...log.config, retentionBytes: 800 });
      const deleted = await log.deleteOldSegments(now);
      assert.ok(deleted > 0);
      assert.ok(log.sizeInBytes() >= 800 - 400 && log.sizeInBytes() <= 800 + 400, `size ${log.sizeInBytes()}`);
      assert.ok(log.logStartOffset() > 0);
      const lso = log.logStartOffset();
      assert.equal((await log.read(lso - 1, 100)).kind, 'offset-out-of-range');
      const first = await log.read(lso, 1);
      assert.ok(first.kind === 'records');
      assert.equal(listBatches(first.records)[0]!.baseOffset, lso);
      log.updateConfig({ ...log.config, retentionBytes: -1, retentionMs: 5_000 });
      await log.deleteOldSegments(now);
      assert.equal(log.segmentCount(), 1, 'everything but the active segment is older than 5 s');
      assert.equal(log.logEndOffset(), 40);
      const next = await log.append(batchOf(1), { leaderEpoch: 0 });
      assert.equal(next.baseOffset, 40, 'offsets continue after retention');
    });

    void it('DeleteRecords moves the log start offset up to the high watermark', async () => {
      const log = await factory.create({ segmentBytes: 300 });
      await appendN(log, 20, 2);
      log.updateHighWatermark(30);
      assert.deepEqual(await log.deleteRecordsBefore(31), { kind: 'offset-out-of-range', lowWatermark: 0 });
      assert.deepEqual(await log.deleteRecordsBefore(13), { kind: 'ok', lowWatermark: 13 });
      assert.equal(log.logStartOffset(), 13);
      assert.equal((await log.read(12, 100)).kind, 'offset-out-of-range');
      const r = await log.read(13, 1);
      assert.ok(r.kind === 'records');
      assert.deepEqual(batchesOf(r.records), [[12, 13]], 'the whole batch containing 13');
      assert.deepEqual(await log.offsetForTimestamp(0), { offset: 13, timestamp: 1006, leaderEpoch: 0 });
      const before = log.segmentCount();
      await log.deleteOldSegments(0);
      assert.ok(log.segmentCount() <= before);
      assert.deepEqual(await log.deleteRecordsBefore(5), { kind: 'ok', lowWatermark: 13 });
      if (factory.reopen) {
        const again = await factory.reopen(log);
        assert.equal(again.logStartOffset(), 13, 'log start offset persisted');
        assert.equal(again.logEndOffset(), 40);
      }
    });

    void it('reopens with the same state', async () => {
      if (!factory.reopen) return;
      let log = await factory.create({ segmentBytes: 500, indexIntervalBytes: 64 });
      await appendN(log, 15, 3, 2);
      await appendN(log, 5, 1, 4);
      log.updateHighWatermark(50);
      const all = Buffer.concat(await readAll(log));
      const maxTs = await log.maxTimestamp();
      log = await factory.reopen(log);
      assert.equal(log.logEndOffset(), 50);
      assert.equal(log.latestEpoch(), 4);
      assert.deepEqual(log.endOffsetForEpoch(2), { leaderEpoch: 2, endOffset: 45 });
      assert.deepEqual(Buffer.concat(await readAll(log)), all);
      assert.deepEqual(await log.maxTimestamp(), maxTs);
      assert.deepEqual(await log.offsetForTimestamp(1010), { offset: 30, timestamp: 1010, leaderEpoch: 2 });
      assert.equal((await log.append(batchOf(1), { leaderEpoch: 4 })).baseOffset, 50);
    });

    void it('serializes concurrent appends (no interleaving, offsets dense)', async () => {
      const log = await factory.create({ segmentBytes: 2000 });
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          log.append(buildSimpleBatch([{ key: `${i}`, value: 'x' }]), { leaderEpoch: 0 }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.baseOffset),
        Array.from({ length: 50 }, (_, i) => i),
      );
      const recs = decodeRecords(Buffer.concat(await readAll(log)));
      assert.deepEqual(
        recs.map((r) => r.key),
        Array.from({ length: 50 }, (_, i) => `${i}`),
      );
    });

    void it('keeps the aborted-transaction index: ranges, dedup, truncation, retention, reopen', async () => {
      let log = await factory.create({ segmentBytes: 400 });
      await appendN(log, 30);
      const a = { producerId: 7n, firstOffset: 2, lastOffset: 5, lastStableOffset: 6 };
      const b = { producerId: 8n, firstOffset: 4, lastOffset: 20, lastStableOffset: 21 };
      const c = { producerId: 7n, firstOffset: 22, lastOffset: 27, lastStableOffset: 28 };
      for (const e of [b, a, c, a]) await log.addAbortedTxn(e);
      await log.addAbortedTxn({ producerId: 9n, firstOffset: 29, lastOffset: 40, lastStableOffset: 41 }); // past the end
      assert.deepEqual(log.abortedTxns(0, 30), [a, b, c]);
      assert.deepEqual(log.abortedTxns(6, 10), [b]); // a ended before 6, c starts after 10
      assert.deepEqual(log.abortedTxns(21, 22), []);
      assert.deepEqual(log.abortedTxns(21, 23), [c]);
      if (factory.reopen) {
        log = await factory.reopen(log);
        assert.deepEqual(log.abortedTxns(0, 30), [a, b, c]);
      }
      await log.truncateTo(25);
      assert.deepEqual(log.abortedTxns(0, 30), [a, b]);
      await log.deleteRecordsBefore(0);
      log.updateHighWatermark(25);
      await log.deleteRecordsBefore(15);
      await log.deleteOldSegments(0);
      // a's marker (5) was in a segment deleted below offset 15; b's marker (20) stays.
      assert.deepEqual(log.abortedTxns(0, 30), [b]);
      if (factory.reopen) {
        log = await factory.reopen(log);
        assert.deepEqual(log.abortedTxns(0, 30), [b]);
      }
      await log.truncateFullyAndStartAt(100);
      assert.deepEqual(log.abortedTxns(0, 200), []);
    });
  });
}
