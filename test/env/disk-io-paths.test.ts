/**
 * nodeDisk's two write paths: writes up to SYNC_WRITE_MAX_BYTES run on the event loop's
 * thread, larger ones through the thread pool. Both must give the same bytes, and failures
 * as rejected promises carrying a StorageError (never a synchronous throw); reads (one
 * path) of what either wrote, short at the end of the file, into a caller's buffer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nodeDisk, StorageError, SYNC_WRITE_MAX_BYTES } from '../../src/env/disk.ts';
import { bytePattern as pattern } from '../helpers/byte-pattern.ts';

const temps: string[] = [];
after(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

void describe('nodeDisk I/O paths', () => {
  void it('writes and reads of every size around the thresholds round-trip', async () => {
    const root = await mkdtemp(join(tmpdir(), 'runnel-disk-paths-'));
    temps.push(root);
    const f = await nodeDisk.open(join(root, 'f'), { create: true });
    try {
      const sizes = [
        1,
        SYNC_WRITE_MAX_BYTES - 1,
        SYNC_WRITE_MAX_BYTES,
        SYNC_WRITE_MAX_BYTES + 1,
        4 * SYNC_WRITE_MAX_BYTES,
      ];
      let position = 0;
      const written: { position: number; data: Buffer }[] = [];
      for (const [i, size] of sizes.entries()) {
        const data = pattern(size, i);
        await f.write(position, data);
        written.push({ position, data });
        position += size;
      }
      assert.equal(await f.size(), position);
      for (const { position: at, data } of written) assert.deepEqual(await f.read(at, data.length), data);
      const readSizes = [SYNC_WRITE_MAX_BYTES - 1, SYNC_WRITE_MAX_BYTES, SYNC_WRITE_MAX_BYTES + 1];
      for (const size of readSizes) {
        // A read past the end is short, on both paths.
        const tail = await f.read(position - 10, size);
        assert.equal(tail.length, 10);
        const into = Buffer.alloc(size + 5);
        const got = await f.read(0, size, into);
        assert.equal(got.length, size);
        assert.equal(got.buffer, into.buffer, 'read into the caller buffer');
      }
    } finally {
      await f.close();
    }
  });

  void it('failures on either path are rejected promises with a StorageError', async () => {
    const root = await mkdtemp(join(tmpdir(), 'runnel-disk-paths-'));
    temps.push(root);
    const f = await nodeDisk.open(join(root, 'f'), { create: true });
    await f.write(0, Buffer.alloc(16));
    await f.close();
    for (const size of [16, SYNC_WRITE_MAX_BYTES + 1]) {
      let write: Promise<void> | undefined;
      assert.doesNotThrow(() => {
        write = f.write(0, Buffer.alloc(size));
      });
      await assert.rejects(write!, (e) => e instanceof StorageError);
    }
    for (const size of [16, SYNC_WRITE_MAX_BYTES + 1]) {
      let read: Promise<Buffer> | undefined;
      assert.doesNotThrow(() => {
        read = f.read(0, size);
      });
      await assert.rejects(read!, (e) => e instanceof StorageError);
    }
  });
});
