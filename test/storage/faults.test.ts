/**
 * Faults through the Disk interface (memoryDisk + faultyDisk): ENOSPC, EIO, torn writes,
 * power loss dropping unflushed data. Each must give a typed StorageError, leave a
 * readable, valid log, lose nothing acknowledged (for power loss: nothing flushed), and
 * let appends work again once the fault is gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StorageError } from '../../src/env/disk.ts';
import { faultyDisk } from '../../src/env/disk-faults.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import { isBatchCrcValid } from '../../src/protocol/records/batch-header.ts';
import { type LogConfig, logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { buildSimpleBatch, listBatches } from '../../src/storage/records.ts';
import { ManualClock, readAll } from './helpers.ts';

const DIR = '/data/t-0';

function setup(seed: number, config: Partial<LogConfig> = {}) {
  const mem = memoryDisk();
  const random = seededRandom(seed);
  const disk = faultyDisk(mem, random);
  const clock = new ManualClock();
  const cfg = logConfig({ segmentBytes: 4096, indexIntervalBytes: 256, ...config });
  const open = (cleanShutdown = false) =>
    FileLog.open({ dir: DIR, topic: 't', partition: 0, config: cfg, disk, clock, cleanShutdown });
  const batch = (seq: number) =>
    buildSimpleBatch(
      Array.from({ length: 1 + random.int(5) }, (_, i) => ({
        key: `k${seq}`,
        value: Buffer.alloc(random.int(300), i),
      })),
      { timestampMs: 1000 + seq },
    );
  return { mem, disk, random, open, batch };
}

interface Acked {
  base: number;
  last: number;
  crc: number;
}

/** Checks the log is valid and holds every batch in `mustHave`, byte-identical. */
async function checkLog(log: FileLog, mustHave: Acked[], context = ''): Promise<void> {
  const batches = await readAll(log);
  const byBase = new Map<number, Buffer>();
  let next = log.logStartOffset();
  for (const b of batches) {
    assert.ok(isBatchCrcValid(b), 'every batch has a valid CRC');
    const info = listBatches(b)[0]!;
    assert.ok(info.baseOffset >= next, 'offsets increase');
    next = info.baseOffset + info.lastOffsetDelta + 1;
    byBase.set(info.baseOffset, b);
  }
  // Equal, except after a power loss that kept a new (empty) segment but not the unflushed
  // tail of the one before: the lost offsets then stay a gap, as in Kafka.
  assert.ok(next <= log.logEndOffset(), `data ends at ${next}, past the log end offset ${log.logEndOffset()}`);
  if (next < log.logEndOffset()) {
    const last = log.segmentBaseOffsets().at(-1)!;
    assert.equal(last, log.logEndOffset(), 'a gap only before an empty active segment');
  }
  for (const a of mustHave) {
    const b = byBase.get(a.base);
    assert.ok(b, `batch ${a.base} present ${context}`);
    assert.equal(b.readUInt32BE(17), a.crc);
    assert.equal(listBatches(b)[0]!.lastOffsetDelta, a.last - a.base);
  }
}

async function appendAcked(log: FileLog, buf: Buffer, acked: Acked[]): Promise<void> {
  const r = await log.append(buf, { leaderEpoch: 1 });
  acked.push({ base: r.baseOffset, last: r.lastOffset, crc: buf.readUInt32BE(17) });
}

void describe('storage under disk faults', () => {
  void it('ENOSPC: typed error, log stays readable, appends resume when space returns', async () => {
    const { disk, mem, open, batch } = setup(1);
    const log = await open();
    const acked: Acked[] = [];
    for (let i = 0; i < 30; i++) await appendAcked(log, batch(i), acked);
    disk.noSpace = true;
    for (let i = 0; i < 10; i++) {
      await assert.rejects(
        log.append(batch(100 + i), { leaderEpoch: 1 }),
        (e) => e instanceof StorageError && e.kind === 'no-space',
      );
    }
    await checkLog(log, acked);
    disk.noSpace = false;
    const leo = log.logEndOffset();
    const r = await log.append(batch(200), { leaderEpoch: 1 });
    assert.equal(r.baseOffset, leo);
    await appendAcked(log, batch(201), acked);
    await checkLog(log, acked);
    log.abandon(); // the process dies: this instance stops
    mem.crash({ keepUnflushed: true }); // kill -9
    await checkLog(await open(), acked);
  });

  void it('torn write with a failing rollback: repaired before the next append, or by recovery', async () => {
    const { disk, mem, open, batch } = setup(2);
    let log = await open();
    const acked: Acked[] = [];
    for (let i = 0; i < 10; i++) await appendAcked(log, batch(i), acked);
    disk.failNext('write', { torn: true, pathIncludes: '.log' });
    disk.failNext('truncate');
    await assert.rejects(
      log.append(batch(50), { leaderEpoch: 1 }),
      (e) => e instanceof StorageError && e.kind === 'io',
    );
    await checkLog(log, acked);
    await appendAcked(log, batch(51), acked); // repairs first
    await checkLog(log, acked);
    // Same again, but the process dies before any repair.
    disk.failNext('write', { torn: true, pathIncludes: '.log' });
    disk.failNext('truncate');
    await assert.rejects(log.append(batch(52), { leaderEpoch: 1 }), StorageError);
    log.abandon(); // the process dies: this instance stops
    mem.crash({ keepUnflushed: true });
    log = await open();
    await checkLog(log, acked);
    await appendAcked(log, batch(53), acked);
    await checkLog(log, acked);
  });

  void it('EIO on index, checkpoint, sync and read: typed errors, nothing acknowledged lost', async () => {
    const { disk, mem, open, batch } = setup(3, { flushMessages: 7 });
    const log = await open();
    const acked: Acked[] = [];
    const ops: [Parameters<typeof disk.failNext>[0], string][] = [
      ['write', '.index'],
      ['write', '.timeindex'],
      ['write', 'checkpoint'],
      ['sync', '.log'],
      ['rename', 'checkpoint'],
      ['open', '.log'],
    ];
    let failures = 0;
    for (let i = 0; i < 200; i++) {
      if (i % 10 === 5) {
        const [op, path] = ops[((i / 10) % ops.length) | 0]!;
        disk.failNext(op, { pathIncludes: path });
      }
      try {
        await appendAcked(log, batch(i), acked);
      } catch (err) {
        assert.ok(err instanceof StorageError, String(err));
        failures++;
      }
    }
    assert.ok(failures > 0);
    disk.failNext('read');
    await assert.rejects(log.read(0, 100), (e) => e instanceof StorageError && e.kind === 'io');
    await checkLog(log, acked);
    log.abandon(); // the process dies: this instance stops
    mem.crash({ keepUnflushed: true });
    await checkLog(await open(), acked);
  });

  void it('power loss drops unflushed data but never flushed data (random torn tails)', async () => {
    for (let round = 0; round < 25; round++) {
      const { mem, random, open, batch } = setup(100 + round, { segmentBytes: 2048 + round * 100 });
      let log = await open();
      let flushed: Acked[] = [];
      const acked: Acked[] = [];
      for (let step = 0; step < 6; step++) {
        const n = random.int(30);
        for (let i = 0; i < n; i++) await appendAcked(log, batch(step * 100 + i), acked);
        if (random.next() < 0.5) {
          await log.flush();
          flushed = acked.slice();
        }
        if (random.next() < 0.4) {
          log.abandon(); // the process dies: this instance stops
          mem.crash({ random }); // power loss
          log = await open();
          await checkLog(log, flushed);
          // what survived is a prefix of what was acknowledged
          acked.splice(0, acked.length, ...acked.filter((a) => a.last < log.logEndOffset()));
          flushed = flushed.filter((a) => a.last < log.logEndOffset());
        }
      }
      await log.close();
      log.abandon(); // the process dies: this instance stops
      mem.crash({ random });
      await checkLog(await open(true), acked);
    }
  });

  void it('random faults (torn writes, EIO) over many appends: every acknowledged append survives a crash', async () => {
    for (let round = 0; round < 10; round++) {
      const { disk, mem, open, batch } = setup(1000 + round, { segmentBytes: 3000, flushMessages: 20 });
      let log = await open();
      const acked: Acked[] = [];
      disk.rates = { tornWrite: 0.03, io: { sync: 0.02, truncate: 0.1, rename: 0.02, read: 0.01 } };
      for (let i = 0; i < 300; i++) {
        try {
          await appendAcked(log, batch(i), acked);
        } catch (err) {
          assert.ok(err instanceof StorageError, String(err));
        }
        if (i % 100 === 99) {
          log.abandon(); // the process dies: this instance stops
          mem.crash({ keepUnflushed: true });
          disk.rates = {};
          log = await open();
          await checkLog(log, acked);
          disk.rates = { tornWrite: 0.03, io: { sync: 0.02, truncate: 0.1, rename: 0.02, read: 0.01 } };
        }
      }
      disk.rates = {};
      log.abandon(); // the process dies: this instance stops
      mem.crash({ keepUnflushed: true });
      await checkLog(await open(), acked);
      assert.ok(disk.injected() > 0);
    }
  });
});

void describe('fault soak', () => {
  void it('random faults, flushes, process crashes and power losses: nothing acknowledged (or flushed) lost', async () => {
    const rates = {
      tornWrite: 0.02,
      io: { sync: 0.03, truncate: 0.05, rename: 0.02, read: 0.01, open: 0.01, write: 0.01 },
    };
    let crashes = 0;
    for (let round = 0; round < Number(process.env.SOAK_ROUNDS ?? 25); round++) {
      const seed = 5000 + round;
      const random = seededRandom(seed);
      const { disk, mem, open, batch } = setup(seed, {
        segmentBytes: 1500 + random.int(3000),
        indexIntervalBytes: 100 + random.int(500),
        flushMessages: random.next() < 0.5 ? 10 + random.int(40) : Number.POSITIVE_INFINITY,
      });
      let log = await open();
      let acked: Acked[] = [];
      let flushed: Acked[] = [];
      disk.rates = rates;
      for (let i = 0; i < 400; i++) {
        try {
          await appendAcked(log, batch(i), acked);
        } catch (err) {
          assert.ok(err instanceof StorageError, String(err));
        }
        if (random.next() < 0.05) {
          try {
            await log.flush();
            flushed = acked.slice();
          } catch (err) {
            assert.ok(err instanceof StorageError, String(err));
          }
        }
        if (random.next() < 0.02) {
          crashes++;
          const powerLoss = random.next() < 0.5;
          log.abandon(); // the process dies: this instance stops
          disk.rates = {};
          mem.crash(powerLoss ? { random } : { keepUnflushed: true });
          log = await open();
          await checkLog(log, powerLoss ? flushed : acked, `seed ${seed}, step ${i}`);
          // After a power loss, unflushed appends may be gone (and their offsets reused).
          const survivors = new Map(
            (await readAll(log)).map((b) => [listBatches(b)[0]!.baseOffset, b.readUInt32BE(17)]),
          );
          acked = acked.filter((a) => survivors.get(a.base) === a.crc);
          flushed = flushed.filter((a) => survivors.get(a.base) === a.crc);
          disk.rates = rates;
        }
      }
      log.abandon();
    }
    assert.ok(crashes > 10);
  });
});
