/**
 * Differential test (fast-check): random sequences of operations applied to FileLog (on
 * the memory disk, with reopens) and MemoryLog must give identical answers: offsets,
 * bytes read, timestamps lookups, epochs, segment layout.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { type LogConfig, logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { MemoryLog } from '../../src/storage/memory-log.ts';
import type { PartitionLog } from '../../src/storage/partition-log.ts';
import { buildSimpleBatch } from '../../src/storage/records.ts';
import { ManualClock } from './helpers.ts';

type Op =
  | { op: 'append'; records: number; epochBump: boolean; ts: number; size: number }
  | { op: 'truncate'; at: number }
  | { op: 'hw'; at: number }
  | { op: 'deleteRecords'; at: number }
  | { op: 'retention'; ageMs: number; bytes: number }
  | { op: 'roll' }
  | { op: 'reopen' }
  | { op: 'advance'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('append' as const),
      records: fc.integer({ min: 1, max: 6 }),
      epochBump: fc.boolean(),
      ts: fc.integer({ min: 0, max: 10_000 }),
      size: fc.integer({ min: 0, max: 200 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('hw' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('deleteRecords' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('retention' as const),
      ageMs: fc.integer({ min: -1, max: 20_000 }),
      bytes: fc.integer({ min: -1, max: 3000 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'roll' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 5000 }) }) },
);

async function compare(file: PartitionLog, mem: PartitionLog, probe: number, maxBytes: number): Promise<void> {
  assert.equal(file.logStartOffset(), mem.logStartOffset(), 'logStartOffset');
  assert.equal(file.logEndOffset(), mem.logEndOffset(), 'logEndOffset');
  assert.equal(file.highWatermark(), mem.highWatermark(), 'highWatermark');
  assert.equal(file.latestEpoch(), mem.latestEpoch(), 'latestEpoch');
  assert.equal(file.segmentCount(), mem.segmentCount(), 'segmentCount');
  assert.equal(file.sizeInBytes(), mem.sizeInBytes(), 'sizeInBytes');
  const leo = file.logEndOffset();
  const lso = file.logStartOffset();
  const offset = lso + Math.floor(probe * (leo - lso + 2)) - 1;
  const [a, b] = [await file.read(offset, maxBytes), await mem.read(offset, maxBytes)];
  assert.deepEqual(a, b, `read(${offset}, ${maxBytes})`);
  const hwRead = [
    await file.read(lso, maxBytes, { maxOffset: file.highWatermark() }),
    await mem.read(lso, maxBytes, { maxOffset: mem.highWatermark() }),
  ];
  assert.deepEqual(hwRead[0], hwRead[1], 'read up to the high watermark');
  const ts = Math.floor(probe * 11_000);
  assert.deepEqual(await file.offsetForTimestamp(ts), await mem.offsetForTimestamp(ts), `offsetForTimestamp(${ts})`);
  assert.deepEqual(await file.maxTimestamp(), await mem.maxTimestamp(), 'maxTimestamp');
  for (let e = -1; e <= file.latestEpoch() + 1; e++) {
    assert.deepEqual(file.endOffsetForEpoch(e), mem.endOffsetForEpoch(e), `endOffsetForEpoch(${e})`);
  }
}

void it('FileLog and MemoryLog agree on random operation sequences', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 80 }),
      fc.integer({ min: 300, max: 3000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 4000 }),
      async (ops, segmentBytes, probe, maxBytes) => {
        const clock = new ManualClock(1_000_000);
        const disk = memoryDisk();
        const config: LogConfig = logConfig({ segmentBytes, indexIntervalBytes: 150, retentionMs: -1 });
        const openFile = (cleanShutdown: boolean, highWatermark?: number) =>
          FileLog.open({ dir: '/d/t-0', topic: 't', partition: 0, disk, clock, config, cleanShutdown, highWatermark });
        let file: FileLog = await openFile(false);
        const mem = new MemoryLog({ topic: 't', partition: 0, clock, config });
        let epoch = 0;
        for (const op of ops) {
          const both = async (fn: (log: PartitionLog) => Promise<unknown>): Promise<void> => {
            const [x, y] = [await fn(file), await fn(mem)];
            assert.deepEqual(x, y, JSON.stringify(op));
          };
          const span = (at: number) =>
            file.logStartOffset() + Math.floor(at * (file.logEndOffset() - file.logStartOffset() + 1));
          switch (op.op) {
            case 'append': {
              if (op.epochBump) epoch++;
              const records = Array.from({ length: op.records }, (_, i) => ({
                key: `k${i}`,
                value: 'x'.repeat(op.size),
                timestampMs: op.ts + i,
              }));
              const batch = buildSimpleBatch(records);
              await both((log) => log.append(Buffer.from(batch), { leaderEpoch: epoch }));
              break;
            }
            case 'truncate': {
              const at = span(op.at);
              await both((log) => log.truncateTo(at));
              epoch = Math.max(epoch, file.latestEpoch());
              break;
            }
            case 'hw': {
              const at = span(op.at);
              assert.equal(file.updateHighWatermark(at), mem.updateHighWatermark(at));
              break;
            }
            case 'deleteRecords': {
              const at = span(op.at);
              await both((log) => log.deleteRecordsBefore(at));
              break;
            }
            case 'retention': {
              const cfg = { ...config, retentionMs: op.ageMs, retentionBytes: op.bytes };
              file.updateConfig(cfg);
              mem.updateConfig(cfg);
              await both((log) => log.deleteOldSegments(clock.nowMs() - 1_000_000 + 10_000));
              file.updateConfig(config);
              mem.updateConfig(config);
              break;
            }
            case 'roll':
              await both((log) => log.roll());
              break;
            case 'reopen': {
              const hw = file.highWatermark();
              await file.close();
              file = await openFile(true, hw);
              break;
            }
            case 'advance':
              clock.advance(op.ms);
              break;
          }
          await compare(file, mem, probe, maxBytes);
        }
        await file.close();
      },
    ),
    { numRuns: Number(process.env.DIFF_RUNS ?? 300) },
  );
});
