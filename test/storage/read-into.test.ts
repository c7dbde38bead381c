/**
 * Reads into caller-provided buffers (ReadOptions.allocate, DiskFile.read's `into`): the
 * bytes are the same as a plain read, they land in the buffers handed out, and a buffer
 * reused for the next read does not change what an earlier read returned once copied.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Disk, type DiskFile, nodeDisk, SYNC_READ_MAX_BYTES } from '../../src/env/disk.ts';
import { faultyDisk } from '../../src/env/disk-faults.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import { logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { listBatches } from '../../src/storage/records.ts';
import { batchOf, fileLogFactory, ManualClock, tempDir } from './helpers.ts';

void describe('DiskFile.read into a buffer', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await nodeDisk.rmrf(d);
  });

  for (const kind of ['node', 'memory', 'faulty'] as const) {
    void it(`${kind}: reads into the buffer given and returns a view of it; short at end of file`, async () => {
      const base = kind === 'node' ? nodeDisk : memoryDisk();
      const disk = kind === 'faulty' ? faultyDisk(base, seededRandom(1)) : base;
      const dir = kind === 'node' ? await tempDir() : '/d';
      if (kind === 'node') dirs.push(dir);
      await disk.mkdirp(dir);
      const file = await disk.open(`${dir}/f`, { create: true });
      const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
      await file.write(0, data);
      const into = Buffer.alloc(4096, 0xff);
      const got = await file.read(100, 300, into);
      assert.ok(got.equals(data.subarray(100, 400)));
      assert.equal(got.buffer, into.buffer, 'a view of the buffer given');
      assert.equal(got.byteOffset, into.byteOffset);
      const tail = await file.read(900, 300, into);
      assert.ok(tail.equals(data.subarray(900)), 'shorter at end of file');
      const small = Buffer.alloc(10);
      const plain = await file.read(0, 50, small);
      assert.ok(plain.equals(data.subarray(0, 50)), 'a buffer too small is not used');
      assert.notEqual(plain.buffer, small.buffer);
      await file.close();
    });
  }
});

void describe('FileLog.read with allocate', () => {
  for (const kind of ['node', 'memory'] as const) {
    void it(`${kind}Disk: same records as a plain read, in the buffers handed out`, async () => {
      const factory = fileLogFactory(kind);
      try {
        const log = await factory.create({ indexIntervalBytes: 512, segmentBytes: 64 * 1024 });
        for (let i = 0; i < 200; i++) await log.append(batchOf(1 + (i % 7), 1000 + i, 40), { leaderEpoch: 0 });
        log.updateHighWatermark(log.logEndOffset());
        const handedOut: Buffer[] = [];
        const allocate = (bytes: number): Buffer => {
          const buf = Buffer.alloc(bytes + 1000, 0xee);
          handedOut.push(buf);
          return buf;
        };
        for (const [offset, maxBytes] of [
          [0, 1 << 20],
          [37, 3000],
          [300, 1],
          [511, 100_000],
          [log.logEndOffset() - 1, 10],
        ] as const) {
          const plain = await log.read(offset, maxBytes);
          const before = handedOut.length;
          const pooled = await log.read(offset, maxBytes, { allocate });
          assert.equal(plain.kind, 'records');
          assert.equal(pooled.kind, 'records');
          if (plain.kind !== 'records' || pooled.kind !== 'records') continue;
          assert.ok(pooled.records.equals(plain.records), `offset ${offset} maxBytes ${maxBytes}`);
          assert.ok(listBatches(pooled.records).length > 0);
          assert.ok(handedOut.length > before, 'read into the buffers handed out');
          assert.ok(handedOut.some((b) => b.buffer === pooled.records.buffer));
        }
      } finally {
        await factory.cleanup();
      }
    });
  }

  void it('a reused buffer: an earlier result copied out stays intact, the next read overwrites the buffer', async () => {
    const disk = memoryDisk();
    const log = await FileLog.open({
      dir: '/r',
      topic: 't',
      partition: 0,
      config: logConfig({}),
      disk,
      clock: new ManualClock(),
    });
    try {
      for (let i = 0; i < 50; i++) await log.append(batchOf(3, 1000 + i, 100), { leaderEpoch: 0 });
      log.updateHighWatermark(log.logEndOffset());
      const shared = Buffer.alloc(1 << 20);
      const allocate = (): Buffer => shared;
      const first = await log.read(0, 2000, { allocate });
      assert.ok(first.kind === 'records');
      const copy = Buffer.from(first.records);
      const second = await log.read(60, 2000, { allocate });
      assert.ok(second.kind === 'records');
      assert.equal(second.records.buffer, shared.buffer);
      const plainFirst = await log.read(0, 2000);
      assert.ok(plainFirst.kind === 'records' && plainFirst.records.equals(copy));
      assert.ok(
        !first.records.equals(copy),
        'the pooled view now shows the later read: buffers must not be reused early',
      );
    } finally {
      await log.close();
    }
  });
});

void describe('reads of the recent tail (cached)', () => {
  void it('nodeDisk: a small cached read settles without the thread pool, a large one or an unmarked one does not', async () => {
    const dir = await tempDir();
    try {
      const file = await nodeDisk.open(`${dir}/f`, { create: true });
      const data = Buffer.from(Array.from({ length: 3 * SYNC_READ_MAX_BYTES }, (_, i) => (i * 7) % 256));
      await file.write(0, data);
      const settlesInMicrotasks = async (p: Promise<Buffer>): Promise<boolean> => {
        let settled = false;
        void p.then(() => {
          settled = true;
        });
        for (let i = 0; i < 5; i++) await Promise.resolve();
        const early = settled;
        await p;
        return early;
      };
      assert.equal(await settlesInMicrotasks(file.read(100, 4096, undefined, true)), true, 'small cached read');
      assert.equal(await settlesInMicrotasks(file.read(100, 4096)), false, 'unmarked read');
      assert.equal(
        await settlesInMicrotasks(file.read(0, SYNC_READ_MAX_BYTES + 1, undefined, true)),
        false,
        'large cached read',
      );
      for (const [position, length] of [
        [0, 10],
        [5000, SYNC_READ_MAX_BYTES],
        [data.length - 100, 4096], // short at end of file
      ] as const) {
        const into = Buffer.alloc(SYNC_READ_MAX_BYTES + 10);
        const got = await file.read(position, length, into, true);
        assert.ok(got.equals(data.subarray(position, position + length)));
        assert.equal(got.buffer, into.buffer);
      }
      await file.close();
      await assert.rejects(file.read(0, 10, undefined, true), (err: Error) => err.name === 'StorageError');
    } finally {
      await nodeDisk.rmrf(dir);
    }
  });

  void it('FileLog marks reads within 1 MiB of the active segment end as cached, others not', async () => {
    const flags: { path: string; cached: boolean }[] = [];
    const inner = memoryDisk();
    const disk: Disk = {
      ...inner,
      open: async (path, options) => {
        const file = await inner.open(path, options);
        if (!path.endsWith('.log')) return file;
        const spied: DiskFile = {
          path: file.path,
          read: (position, length, into, cached) => {
            flags.push({ path, cached: cached === true });
            return file.read(position, length, into, cached);
          },
          write: (position, data) => file.write(position, data),
          writev: (position, parts) => file.writev(position, parts),
          sync: () => file.sync(),
          datasync: () => file.datasync(),
          truncate: (length) => file.truncate(length),
          size: () => file.size(),
          close: () => file.close(),
        };
        return spied;
      },
      mkdirp: (path) => inner.mkdirp(path),
      readdir: (path) => inner.readdir(path),
      rename: (from, to) => inner.rename(from, to),
      unlink: (path) => inner.unlink(path),
      rmrf: (path) => inner.rmrf(path),
      stat: (path) => inner.stat(path),
      syncDir: (path) => inner.syncDir(path),
    };
    const log = await FileLog.open({
      dir: '/tail',
      topic: 't',
      partition: 0,
      config: logConfig({ segmentBytes: 2 * 1024 * 1024 }),
      disk,
      clock: new ManualClock(),
    });
    try {
      // ~3 MiB: a closed first segment and an active one of about 1 MiB.
      for (let i = 0; i < 300; i++) await log.append(batchOf(10, 1000 + i, 1000), { leaderEpoch: 0 });
      log.updateHighWatermark(log.logEndOffset());
      assert.ok(log.segmentCount() >= 2);
      const readFlags = async (offset: number): Promise<{ path: string; cached: boolean }[]> => {
        flags.length = 0;
        const r = await log.read(offset, 4096);
        assert.equal(r.kind, 'records');
        return [...flags];
      };
      const tail = await readFlags(log.logEndOffset() - 5);
      assert.ok(tail.length > 0 && tail.every((f) => f.cached), 'the tail of the active segment');
      const head = await readFlags(0);
      assert.ok(head.length > 0 && head.every((f) => !f.cached), 'the first, closed segment');
    } finally {
      await log.close();
    }
  });
});
