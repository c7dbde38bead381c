/**
 * Storage benchmark, in one run on one disk:
 * - append throughput of a FileLog with 16 KiB batches, next to a raw sequential write of
 *   the same bytes through a file handle (same write size, same await-per-write), and the
 *   ratio of the two;
 * - read throughput (1 MiB fetches from the start);
 * - recovery time of the log after an unclean stop (no clean-shutdown marker, nothing
 *   flushed): a 1 GiB segment (64 MiB with --quick) scanned and CRC-checked.
 *
 *   node --import tsx bench/storage.ts [--quick] [--dir <dir>]
 */
import { mkdir, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/env/clock.ts';
import { nodeDisk } from '../src/env/disk.ts';
import { logConfig } from '../src/storage/config.ts';
import { LogManager } from '../src/storage/log-manager.ts';
import { buildSimpleBatch } from '../src/storage/records.ts';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
}

const MiB = 1 << 20;
const MB = 1e6;
const BATCH_BYTES = 16 * 1024;

/** A ~16 KiB batch of 16 records of ~1000 bytes. */
function sixteenKiBBatch(): Buffer {
  const records = Array.from({ length: 16 }, (_, i) => ({
    key: `key-${i}`,
    value: Buffer.alloc(1000, 97 + i),
    timestampMs: 1_700_000_000_000 + i,
  }));
  // Size the last value so that the whole batch is exactly 16 KiB.
  let lastLength = 1000;
  for (let i = 0; i < 10; i++) {
    records[15]!.value = Buffer.alloc(lastLength, 112);
    const batch = buildSimpleBatch(records);
    if (batch.length === BATCH_BYTES) return batch;
    lastLength += BATCH_BYTES - batch.length;
  }
  return buildSimpleBatch(records);
}

async function rawWrite(path: string, batch: Buffer, count: number): Promise<number> {
  const file = await open(path, 'w');
  const start = performance.now();
  let position = 0;
  for (let i = 0; i < count; i++) {
    await file.write(batch, 0, batch.length, position);
    position += batch.length;
  }
  const seconds = (performance.now() - start) / 1000;
  await file.close();
  return position / MB / seconds;
}

export async function runStorageBench(opts: { quick: boolean; dir: string }): Promise<BenchFigure[]> {
  const root = join(opts.dir, `storage-bench-${process.pid}`);
  await mkdir(root, { recursive: true });
  const totalBytes = opts.quick ? 64 * MiB : 1024 * MiB;
  const batch = sixteenKiBBatch();
  const count = Math.floor(totalBytes / batch.length);
  const figures: BenchFigure[] = [];
  try {
    // Raw sequential writes and log appends of the same bytes, alternating twice on the
    // same disk (best of two each: page-cache writeback makes single runs noisy).
    const dataDir = join(root, 'data');
    const config = logConfig({ segmentBytes: 1024 * MiB + 64 * MiB });
    let manager = await LogManager.open({ dataDir, disk: nodeDisk, clock: systemClock, defaultConfig: config });
    const log = await manager.getOrCreateLog('bench', 0);
    const perRound = Math.floor(count / 2);
    let rawMBps = 0;
    let appendMBps = 0;
    let appendsPerSecond = 0;
    for (let round = 0; round < 2; round++) {
      rawMBps = Math.max(rawMBps, await rawWrite(join(root, 'raw.bin'), batch, perRound));
      await rm(join(root, 'raw.bin'));
      const start = performance.now();
      for (let i = 0; i < perRound; i++) await log.append(batch, { leaderEpoch: 0 });
      const seconds = (performance.now() - start) / 1000;
      appendMBps = Math.max(appendMBps, (perRound * batch.length) / MB / seconds);
      appendsPerSecond = Math.max(appendsPerSecond, perRound / seconds);
    }
    figures.push(
      { name: 'raw sequential write, 16 KiB writes', value: round(rawMBps), unit: 'MB/s' },
      { name: 'log append, 16 KiB batches', value: round(appendMBps), unit: 'MB/s' },
      { name: 'log append / raw write', value: round(appendMBps / rawMBps, 3), unit: 'ratio' },
      { name: 'log appends', value: round(appendsPerSecond), unit: 'appends/s' },
    );

    // Pipelined: 32 appends queued at once (the per-log queue serializes them).
    const pipelined = 32;
    let start = performance.now();
    let issued = 0;
    const worker = async (): Promise<void> => {
      while (issued < Math.min(count, 4096)) {
        issued++;
        await log.append(Buffer.from(batch), { leaderEpoch: 0 });
      }
    };
    await Promise.all(Array.from({ length: pipelined }, worker));
    const pipelinedSeconds = (performance.now() - start) / 1000;
    figures.push({
      name: `log append, 16 KiB batches, ${pipelined} in flight`,
      value: round((issued * batch.length) / MB / pipelinedSeconds),
      unit: 'MB/s',
    });

    // Read everything back with 1 MiB fetches.
    start = performance.now();
    let offset = 0;
    let readBytes = 0;
    const end = log.logEndOffset();
    while (offset < end) {
      const r = await log.read(offset, MiB);
      if (r.kind !== 'records' || r.records.length === 0) throw new Error(`read stalled at ${offset}`);
      readBytes += r.records.length;
      // the last batch's last offset: baseOffset + lastOffsetDelta of the final batch
      let pos = 0;
      let next = offset;
      while (pos < r.records.length) {
        next = Number(r.records.readBigInt64BE(pos)) + r.records.readInt32BE(pos + 23) + 1;
        pos += r.records.readInt32BE(pos + 8) + 12;
      }
      offset = next;
    }
    const readSeconds = (performance.now() - start) / 1000;
    figures.push({ name: 'log read, 1 MiB fetches', value: round(readBytes / MB / readSeconds), unit: 'MB/s' });

    // Unclean stop: no marker, nothing flushed, so the whole segment is recovered.
    const segmentBytes = log.sizeInBytes();
    manager.abandon();
    start = performance.now();
    manager = await LogManager.open({ dataDir, disk: nodeDisk, clock: systemClock, defaultConfig: config });
    const recoverySeconds = (performance.now() - start) / 1000;
    const recovered = manager.getLog('bench', 0)!;
    if (recovered.logEndOffset() !== end) throw new Error(`recovery lost data: ${recovered.logEndOffset()} != ${end}`);
    figures.push(
      {
        name: `recovery after unclean stop, ${Math.round(segmentBytes / MiB)} MiB segment`,
        value: round(recoverySeconds * 1000),
        unit: 'ms',
      },
      { name: 'recovery scan rate', value: round(segmentBytes / MB / recoverySeconds), unit: 'MB/s scanned' },
    );
    await manager.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return figures;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, dir: { type: 'string' } } });
  const figures = await runStorageBench({ quick: values.quick ?? false, dir: values.dir ?? tmpdir() });
  for (const f of figures) console.log(`${f.name.padEnd(52)} ${String(f.value).padStart(10)} ${f.unit}`);
}
