/**
 * Compaction properties (fast-check), for FileLog (memory disk) and MemoryLog:
 * - per key, reading the log gives the last value written;
 * - a tombstone survives until delete.retention.ms has passed (then it may go, taking
 *   every older record of its key with it);
 * - surviving records keep their offsets and bytes; the log end offset does not move.
 * And crash safety: a crash at any moment of a compaction (faults on rename/write, power
 * loss) leaves a valid log with the same per-key answers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { faultyDisk } from '../../src/env/disk-faults.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import { isBatchCrcValid } from '../../src/protocol/records/batch-header.ts';
import {
  buildControlBatch,
  buildRecordBatch,
  ControlRecordType,
  compressionTypeOf,
  decodeRecordBatches,
} from '../../src/protocol/records/index.ts';
import { logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { MemoryLog } from '../../src/storage/memory-log.ts';
import type { PartitionLog } from '../../src/storage/partition-log.ts';
import { buildSimpleBatch } from '../../src/storage/records.ts';
import { type DecodedRecord, decodeRecords, ManualClock, readAll } from './helpers.ts';

const DELETE_RETENTION_MS = 50_000;
const T0 = 1_000_000;

interface Write {
  key: number;
  tombstone: boolean;
  tsDelta: number;
  valueSize: number;
}

const writeArb = fc.record({
  key: fc.integer({ min: 0, max: 7 }),
  tombstone: fc.boolean(),
  tsDelta: fc.integer({ min: 0, max: 100_000 }),
  valueSize: fc.integer({ min: 0, max: 120 }),
});

const scenarioArb = fc.record({
  batches: fc.array(fc.array(writeArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 40 }),
  segmentBytes: fc.integer({ min: 200, max: 1500 }),
  nowDelta: fc.integer({ min: 0, max: 200_000 }),
  /** Compact after this many batches too (a second pass later sees cleaned segments). */
  midCompactAt: fc.integer({ min: 0, max: 40 }),
});

interface Written extends DecodedRecord {
  batchMaxTimestamp: number;
}

type Maker = (segmentBytes: number, clock: ManualClock) => Promise<PartitionLog>;

const makers: [string, Maker][] = [
  [
    'FileLog',
    (segmentBytes, clock) =>
      FileLog.open({
        dir: '/d/t-0',
        topic: 't',
        partition: 0,
        disk: memoryDisk(),
        clock,
        config: compactConfig(segmentBytes),
      }),
  ],
  [
    'MemoryLog',
    async (segmentBytes, clock) =>
      new MemoryLog({ topic: 't', partition: 0, clock, config: compactConfig(segmentBytes) }),
  ],
];

function compactConfig(segmentBytes: number) {
  return logConfig({
    cleanupPolicy: { compact: true, delete: false },
    segmentBytes,
    indexIntervalBytes: 128,
    deleteRetentionMs: DELETE_RETENTION_MS,
  });
}

function encodeBatch(writes: Write[], seq: number): { buf: Buffer; maxTs: number } {
  const records = writes.map((w, i) => ({
    key: `key-${w.key}`,
    value: w.tombstone ? null : `v${seq}.${i}:${'x'.repeat(w.valueSize)}`,
    timestampMs: T0 + w.tsDelta,
  }));
  return { buf: buildSimpleBatch(records), maxTs: Math.max(...records.map((r) => r.timestampMs)) };
}

/** Checks the compaction properties of `log` against everything written. */
async function checkCompacted(log: PartitionLog, written: Written[], nowMs: number, leo: number): Promise<void> {
  assert.equal(log.logEndOffset(), leo);
  const batches = await readAll(log);
  for (const b of batches) assert.ok(isBatchCrcValid(b));
  const survivors = decodeRecords(Buffer.concat(batches));
  const byOffset = new Map(written.map((w) => [w.offset, w]));
  let prev = -1;
  for (const s of survivors) {
    assert.ok(s.offset > prev, 'offsets strictly increase');
    prev = s.offset;
    const w = byOffset.get(s.offset);
    assert.ok(w, `offset ${s.offset} was written`);
    assert.equal(s.key, w.key);
    assert.equal(s.value, w.value, 'record unchanged at its offset');
  }
  const lastWritten = new Map<string, Written>();
  for (const w of written) lastWritten.set(w.key!, w);
  const lastSurviving = new Map<string, DecodedRecord>();
  for (const s of survivors) lastSurviving.set(s.key!, s);
  for (const [key, w] of lastWritten) {
    const s = lastSurviving.get(key);
    if (w.value !== null) {
      assert.deepEqual(s, { offset: w.offset, key, value: w.value }, `last value of ${key}`);
    } else if (w.batchMaxTimestamp >= nowMs - DELETE_RETENTION_MS) {
      assert.deepEqual(s, { offset: w.offset, key, value: null }, `tombstone of ${key} kept within retention`);
    } else if (s) {
      assert.deepEqual(s, { offset: w.offset, key, value: null }, `nothing older than the tombstone of ${key}`);
    }
  }
}

for (const [name, make] of makers) {
  void describe(`compaction properties: ${name}`, () => {
    void it('keeps the last value per key, tombstones until their retention, offsets unchanged', async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (sc) => {
          const clock = new ManualClock(T0);
          const log = await make(sc.segmentBytes, clock);
          const written: Written[] = [];
          const now = T0 + sc.nowDelta;
          for (let i = 0; i < sc.batches.length; i++) {
            const { buf, maxTs } = encodeBatch(sc.batches[i]!, i);
            await log.append(buf, { leaderEpoch: 0 });
            for (const rec of decodeRecords(buf)) {
              written.push({ ...rec, batchMaxTimestamp: maxTs });
            }
            if (i === sc.midCompactAt) await log.compact(now, { force: true });
          }
          await log.roll();
          const leo = log.logEndOffset();
          await log.compact(now, { force: true });
          await checkCompacted(log, written, now, leo);
          // A second pass changes nothing about the answers; appends continue at the LEO.
          await log.compact(now + DELETE_RETENTION_MS * 3, { force: true });
          await checkCompacted(log, written, now + DELETE_RETENTION_MS * 3, leo);
          assert.equal(
            (await log.append(buildSimpleBatch([{ key: 'z', value: 'z' }]), { leaderEpoch: 0 })).baseOffset,
            leo,
          );
          await log.close();
        }),
        { numRuns: 60 },
      );
    });
  });
}

void describe('compaction honours its settings', () => {
  void it('min.cleanable.dirty.ratio, min.compaction.lag.ms and the active segment', async () => {
    const clock = new ManualClock(T0);
    const log = new MemoryLog({
      topic: 't',
      partition: 0,
      clock,
      config: { ...compactConfig(300), minCleanableDirtyRatio: 0.5, minCompactionLagMs: 10_000 },
    });
    for (let i = 0; i < 30; i++) {
      await log.append(buildSimpleBatch([{ key: 'same', value: `v${i}`, timestampMs: T0 + i * 1000 }]), {
        leaderEpoch: 0,
      });
    }
    // Everything younger than 10 s (relative to now) is not cleanable.
    const r1 = await log.compact(T0 + 15_000);
    const r2 = await log.compact(T0 + 100_000);
    assert.ok(r1.segmentsCleaned >= 0);
    assert.ok(r2.segmentsCleaned > 0);
    const survivors = decodeRecords(Buffer.concat(await readAll(log)));
    assert.equal(survivors.filter((s) => s.offset < 20).length <= 2, true);
    assert.equal(survivors.at(-1)!.value, 'v29', 'the active segment is untouched');
    // Nothing dirty since: the ratio check skips the next pass.
    assert.equal((await log.compact(T0 + 100_000)).segmentsCleaned, 0);
  });
});

void describe('compaction is crash-safe', () => {
  void it('a crash at any moment of a compaction leaves a valid log with the same answers', async () => {
    let failures = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const random = seededRandom(seed);
      const mem = memoryDisk();
      const disk = faultyDisk(mem, random);
      const clock = new ManualClock(T0);
      const config = compactConfig(400 + random.int(600));
      const open = () => FileLog.open({ dir: '/d/t-0', topic: 't', partition: 0, disk, clock, config });
      let log = await open();
      const written: Written[] = [];
      for (let i = 0; i < 40; i++) {
        const writes: Write[] = Array.from({ length: 1 + random.int(3) }, () => ({
          key: random.int(6),
          tombstone: random.next() < 0.2,
          tsDelta: random.int(100_000),
          valueSize: random.int(80),
        }));
        const { buf, maxTs } = encodeBatch(writes, i);
        await log.append(buf, { leaderEpoch: 0 });
        for (const rec of decodeRecords(buf)) written.push({ ...rec, batchMaxTimestamp: maxTs });
      }
      await log.roll();
      await log.flush();
      const leo = log.logEndOffset();
      const now = T0 + 100_000;
      // Fail a random rename or write of the compaction (or none), then lose power.
      const op = random.next() < 0.5 ? 'rename' : 'write';
      disk.rates = { io: { [op]: 0.15 } };
      try {
        await log.compact(now, { force: true });
      } catch {
        failures++;
      }
      disk.rates = {};
      log.abandon(); // the process dies: this instance stops
      mem.crash({ random });
      log = await open();
      await checkCompacted(log, written, now, leo);
      // And compaction completes after recovery.
      await log.compact(now, { force: true });
      await checkCompacted(log, written, now, leo);
      await log.close();
    }
    assert.ok(failures > 0, 'some compactions were interrupted');
  });
});

void describe('compaction of compressed batches', () => {
  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    void it(`filters ${compression} batches and recompresses them, offsets and headers kept`, async () => {
      const clock = new ManualClock(T0);
      const log = await FileLog.open({
        dir: `/d/${compression}-0`,
        topic: compression,
        partition: 0,
        disk: memoryDisk(),
        clock,
        config: compactConfig(2000),
      });
      const written = new Map<string, { offset: number; value: string | null }>();
      for (let i = 0; i < 30; i++) {
        const records = Array.from({ length: 5 }, (_, j) => ({
          key: `key-${(i * 5 + j) % 7}`,
          value: j === 4 && i % 3 === 0 ? null : `value-${i}-${j}`,
          headers: [{ key: 'h', value: `${i}` }],
          timestamp: T0 + i,
        }));
        const batch = buildRecordBatch({ records, compression });
        const r = await log.append(batch, { leaderEpoch: 0 });
        records.forEach((rec, j) => {
          written.set(rec.key, { offset: r.baseOffset + j, value: rec.value });
        });
      }
      await log.roll();
      const leo = log.logEndOffset();
      const before = log.sizeInBytes();
      const result = await log.compact(T0 + 1000, { force: true });
      assert.ok(result.segmentsCleaned > 0 && log.sizeInBytes() < before);
      const decoded = decodeRecordBatches(Buffer.concat(await readAll(log)));
      const last = new Map<string, { offset: number; value: string | null }>();
      for (const b of decoded) {
        assert.equal(b.compression, compressionTypeOf(compression));
        for (const rec of b.records) {
          last.set(rec.key!.toString(), { offset: rec.offset, value: rec.value?.toString() ?? null });
          assert.equal(rec.headers[0]!.key, 'h');
          assert.equal(rec.timestamp, T0 + Number(rec.headers[0]!.value!.toString()));
        }
      }
      assert.deepEqual(last, written);
      assert.equal(log.logEndOffset(), leo);
      assert.equal(decoded.length > 0, true);
      await log.close();
    });
  }
});

void describe('compaction in the background', () => {
  void it('runs while appends and reads go on, and leaves the same answers', async () => {
    const clock = new ManualClock(T0);
    const log = await FileLog.open({
      dir: '/d/bg-0',
      topic: 'bg',
      partition: 0,
      disk: memoryDisk(),
      clock,
      config: { ...compactConfig(600), cleanupPolicy: { compact: true, delete: true }, retentionMs: -1 },
    });
    const written: Written[] = [];
    const appendOne = async (i: number): Promise<void> => {
      const { buf, maxTs } = encodeBatch([{ key: i % 9, tombstone: i % 11 === 0, tsDelta: i, valueSize: 30 }], i);
      await log.append(buf, { leaderEpoch: 0 });
      for (const rec of decodeRecords(buf)) written.push({ ...rec, batchMaxTimestamp: maxTs });
    };
    for (let i = 0; i < 200; i++) await appendOne(i);
    const now = T0 + 10_000;
    const compaction = log.compact(now, { force: true });
    let appendsDone = 0;
    const appends = (async () => {
      for (let i = 200; i < 300; i++) {
        await appendOne(i);
        appendsDone++;
      }
    })();
    const reads = (async () => {
      for (let i = 0; i < 50; i++) {
        const r = await log.read(log.logStartOffset(), 4096);
        assert.equal(r.kind, 'records');
      }
    })();
    const result = await compaction;
    assert.ok(appendsDone > 0, 'appends made progress while the compaction ran');
    await Promise.all([appends, reads]);
    assert.ok(result.segmentsCleaned > 0);
    await log.roll();
    await log.compact(now, { force: true });
    await checkCompacted(log, written, now, log.logEndOffset());
    await log.close();
  });
});

void describe('compaction merges small segments', () => {
  void it('cleans groups of segments into one, and a crash in the middle of the swap recovers', async () => {
    for (let failAt = 0; failAt <= 12; failAt++) {
      const mem = memoryDisk();
      const disk = faultyDisk(mem, seededRandom(failAt));
      const clock = new ManualClock(T0);
      const open = () =>
        FileLog.open({ dir: '/d/m-0', topic: 'm', partition: 0, disk, clock, config: compactConfig(4000) });
      let log = await open();
      const written: Written[] = [];
      for (let i = 0; i < 60; i++) {
        const { buf, maxTs } = encodeBatch([{ key: i % 5, tombstone: false, tsDelta: i, valueSize: 20 }], i);
        await log.append(buf, { leaderEpoch: 0 });
        for (const rec of decodeRecords(buf)) written.push({ ...rec, batchMaxTimestamp: maxTs });
        if (i % 4 === 3) await log.roll(); // many small segments
      }
      await log.roll();
      const leo = log.logEndOffset();
      const before = log.segmentCount();
      // failAt 0: no fault; else the failAt-th rename of the swap fails, then the power goes.
      if (failAt > 0) disk.failNext('rename', { count: 1 });
      for (let skip = 1; skip < failAt; skip++) disk.failNext('rename', { count: 0 });
      let threw = false;
      try {
        await log.compact(T0, { force: true });
      } catch {
        threw = true;
      }
      if (failAt === 0) {
        assert.ok(!threw);
        assert.ok(log.segmentCount() < before / 3, `${before} -> ${log.segmentCount()} segments`);
        await checkCompacted(log, written, T0, leo);
      }
      disk.disarm();
      log.abandon(); // the process dies: this instance stops
      mem.crash();
      log = await open();
      await checkCompacted(log, written, T0, leo);
      await log.compact(T0, { force: true });
      await checkCompacted(log, written, T0, leo);
      assert.ok(log.segmentCount() < before / 3);
      await log.close();
    }
  });
});

void describe('compaction key map', () => {
  void it('handles long keys (hashed in the map)', async () => {
    const clock = new ManualClock(T0);
    const log = new MemoryLog({ topic: 't', partition: 0, clock, config: compactConfig(500) });
    const long = (i: number) => `${'k'.repeat(100)}-${i % 3}`;
    for (let i = 0; i < 30; i++) {
      await log.append(buildSimpleBatch([{ key: long(i), value: `v${i}`, timestampMs: T0 }]), { leaderEpoch: 0 });
    }
    await log.roll();
    await log.compact(T0, { force: true });
    const survivors = decodeRecords(Buffer.concat(await readAll(log)));
    assert.deepEqual(
      survivors.map((r) => [r.offset, r.key, r.value]),
      [27, 28, 29].map((o) => [o, long(o), `v${o}`]),
    );
  });
});

/** A transactional batch of one producer (its own baseSequence) with string keys and values. */
function txnBatch(producerId: bigint, seq: number, kvs: [string, string][], ts: number): Buffer {
  return buildRecordBatch({
    records: kvs.map(([k, v]) => ({ key: Buffer.from(k), value: Buffer.from(v), timestamp: ts })),
    producerId,
    producerEpoch: 0,
    baseSequence: seq,
    transactional: true,
  });
}

for (const [name, make] of makers) {
  void describe(`compaction of transactions: ${name}`, () => {
    void it('removes aborted records, cleans committed ones, keeps markers and open transactions whole', async () => {
      const clock = new ManualClock(T0);
      const log = await make(1 << 20, clock);
      const put = (b: Buffer) => log.append(b, { leaderEpoch: 0 });
      await put(buildSimpleBatch([{ key: 'k1', value: 'v1' }], { timestampMs: T0 })); // 0
      await put(
        txnBatch(
          5n,
          0,
          [
            ['k1', 't1'],
            ['k2', 't2'],
          ],
          T0,
        ),
      ); // 1-2, committed
      await put(
        buildControlBatch({
          type: ControlRecordType.Commit,
          coordinatorEpoch: 0,
          producerId: 5n,
          producerEpoch: 0,
          timestamp: T0,
        }),
      ); // 3
      await put(txnBatch(6n, 0, [['k3', 'a']], T0)); // 4, aborted
      await put(
        buildControlBatch({
          type: ControlRecordType.Abort,
          coordinatorEpoch: 0,
          producerId: 6n,
          producerEpoch: 0,
          timestamp: T0,
        }),
      ); // 5
      await log.addAbortedTxn({ producerId: 6n, firstOffset: 4, lastOffset: 5, lastStableOffset: 6 });
      await put(
        txnBatch(
          7n,
          0,
          [
            ['k1', 'open'],
            ['k2', 'open'],
          ],
          T0,
        ),
      ); // 6-7, open
      await put(buildSimpleBatch([{ key: 'k4', value: 'x' }], { timestampMs: T0 })); // 8: the last batch of nobody, k4's only value
      await log.roll();
      await put(buildSimpleBatch([{ key: 'k9', value: 'active' }], { timestampMs: T0 }));
      log.updateHighWatermark(log.logEndOffset());
      await log.compact(T0, { force: true });
      const batches = decodeRecordBatches(Buffer.concat(await readAll(log)));
      const seen = batches.map((b) =>
        b.isControl
          ? `${b.baseOffset}:marker`
          : b.records.map((r) => `${b.baseOffset + r.offsetDelta}:${r.key}=${r.value}`).join(','),
      );
      // v1 (older than the committed t1) is gone; the aborted k3=a is gone; the open
      // transaction's keys did not count (t1, t2 stay) and its batch is whole.
      assert.deepEqual(seen, [
        '1:k1=t1,2:k2=t2',
        '3:marker',
        '5:marker',
        '6:k1=open,7:k2=open',
        '8:k4=x',
        '9:k9=active',
      ]);
      assert.equal(log.logEndOffset(), 10);
    });

    void it('removes a marker once its data is gone and delete.retention.ms passed (two steps)', async () => {
      const clock = new ManualClock(T0);
      const log = await make(1 << 20, clock);
      const put = (b: Buffer) => log.append(b, { leaderEpoch: 0 });
      const marker = (producerId: bigint, committed: boolean) =>
        buildControlBatch({
          type: committed ? ControlRecordType.Commit : ControlRecordType.Abort,
          coordinatorEpoch: 0,
          producerId,
          producerEpoch: 0,
          timestamp: T0,
        });
      await put(txnBatch(5n, 0, [['k1', 'c1']], T0)); // 0, committed, then superseded by 4
      await put(marker(5n, true)); // 1
      await put(txnBatch(6n, 0, [['k2', 'a']], T0)); // 2, aborted
      await put(marker(6n, false)); // 3
      await log.addAbortedTxn({ producerId: 6n, firstOffset: 2, lastOffset: 3, lastStableOffset: 4 });
      await put(txnBatch(5n, 1, [['k1', 'c2']], T0)); // 4, committed
      await put(marker(5n, true)); // 5: producer 5's last batch
      await put(txnBatch(6n, 1, [['k3', 'x']], T0)); // 6, committed
      await put(marker(6n, true)); // 7: producer 6's last batch
      await log.roll();
      await put(buildSimpleBatch([{ key: 'k9', value: 'active' }], { timestampMs: T0 }));
      log.updateHighWatermark(log.logEndOffset());
      const view = async () =>
        decodeRecordBatches(Buffer.concat(await readAll(log))).map((b) =>
          b.isControl
            ? `${b.baseOffset}:marker${(b.attributes & 0x40) !== 0 ? `@${b.baseTimestamp - T0}` : ''}`
            : b.records.map((r) => `${b.baseOffset + r.offsetDelta}:${r.key}=${r.value}`).join(','),
        );

      // Pass 1: the data of the first two transactions goes (k1=c1 superseded, k2=a
      // aborted); their markers stay, as does the aborted-index entry (a reader that got
      // the data must also get the marker).
      await log.compact(T0, { force: true });
      assert.deepEqual(await view(), [
        '1:marker',
        '3:marker',
        '4:k1=c2',
        '5:marker',
        '6:k3=x',
        '7:marker',
        '8:k9=active',
      ]);
      assert.equal(log.abortedTxns(0, 100).length, 1);

      // Pass 2: their data is gone, so the markers get a delete horizon (now +
      // delete.retention.ms) and the aborted entry goes; markers with data stay as they are.
      const t2 = T0 + 1000;
      await log.compact(t2, { force: true });
      const horizon = 1000 + DELETE_RETENTION_MS;
      assert.deepEqual(await view(), [
        `1:marker@${horizon}`,
        `3:marker@${horizon}`,
        '4:k1=c2',
        '5:marker',
        '6:k3=x',
        '7:marker',
        '8:k9=active',
      ]);
      for (const chunk of await readAll(log)) {
        for (let pos = 0; pos < chunk.length; pos += chunk.readInt32BE(pos + 8) + 12) {
          assert.ok(isBatchCrcValid(chunk, pos), 'a stamped marker has a valid CRC');
        }
      }
      assert.deepEqual(log.abortedTxns(0, 100), []);

      // Within delete.retention.ms of the horizon stamp: still there.
      await log.compact(t2 + DELETE_RETENTION_MS - 1, { force: true });
      assert.equal((await view()).length, 7);
      // At the horizon: removed. Offsets never move; the producers' last markers remain.
      await log.compact(t2 + DELETE_RETENTION_MS, { force: true });
      assert.deepEqual(await view(), ['4:k1=c2', '5:marker', '6:k3=x', '7:marker', '8:k9=active']);
      assert.equal(log.logEndOffset(), 9);
    });
  });
}
