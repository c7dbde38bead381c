/**
 * DiskFile.writev, what a log's group commit writes with (the group's buffers as they are):
 * the same bytes as one write of their concatenation on every Disk, on both of nodeDisk's
 * paths (the event loop's thread up to SYNC_WRITE_MAX_BYTES, the thread pool above), and the
 * remainder after a short write.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Disk, nodeDisk, StorageError, SYNC_WRITE_MAX_BYTES, skipBytes } from '../../src/env/disk.ts';
import { faultyDisk } from '../../src/env/disk-faults.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import { bytePattern as pattern } from '../helpers/byte-pattern.ts';

const temps: string[] = [];
after(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

/** Groups of parts: small (event loop), around the threshold, large (thread pool), with empty parts. */
function groups(): Buffer[][] {
  const t = SYNC_WRITE_MAX_BYTES;
  return [
    [pattern(10, 1)],
    [pattern(100, 2), Buffer.alloc(0), pattern(3000, 3)],
    [pattern(t / 2, 4), pattern(t / 2, 5)],
    [pattern(t / 2, 6), pattern(t / 2 + 1, 7)],
    Array.from({ length: 200 }, (_, i) => pattern(1000 + i, 8 + i)),
    [pattern(3 * t, 9), pattern(17, 10), pattern(t, 11)],
  ];
}

async function checkDisk(disk: Disk, dir: string): Promise<void> {
  await disk.mkdirp(dir);
  const f = await disk.open(join(dir, 'v'), { create: true });
  try {
    let position = 0;
    const expected: Buffer[] = [];
    for (const parts of groups()) {
      await f.writev(position, parts);
      const whole = Buffer.concat(parts);
      expected.push(whole);
      position += whole.length;
    }
    assert.equal(await f.size(), position);
    assert.ok((await f.read(0, position)).equals(Buffer.concat(expected)));
    // Over bytes written before, at a position inside the file.
    const over = [pattern(5, 90), pattern(SYNC_WRITE_MAX_BYTES, 91)];
    await f.writev(7, over);
    assert.ok((await f.read(7, SYNC_WRITE_MAX_BYTES + 5)).equals(Buffer.concat(over)));
  } finally {
    await f.close();
  }
}

void describe('DiskFile.writev', () => {
  void it('nodeDisk writes the concatenation, on both paths', async () => {
    const root = await mkdtemp(join(tmpdir(), 'runnel-writev-'));
    temps.push(root);
    await checkDisk(nodeDisk, root);
  });

  void it('memoryDisk and faultyDisk (no faults drawn) do too', async () => {
    await checkDisk(memoryDisk(), '/m');
    await checkDisk(faultyDisk(memoryDisk(), seededRandom(1)), '/f');
  });

  void it('faultyDisk tears a writev as one write: a prefix of the concatenation, then an error', async () => {
    const inner = memoryDisk();
    const disk = faultyDisk(inner, seededRandom(7));
    await disk.mkdirp('/t');
    const f = await disk.open('/t/v', { create: true });
    disk.failNext('write', { torn: true });
    const parts = [pattern(1000, 1), pattern(2000, 2)];
    await assert.rejects(f.writev(0, parts), StorageError);
    const size = await f.size();
    assert.ok(size < 3000);
    assert.ok((await f.read(0, size)).equals(Buffer.concat(parts).subarray(0, size)));
    await f.close();
  });

  void it('skipBytes leaves what a short write did not write', () => {
    const a = pattern(10, 1);
    const b = pattern(20, 2);
    const c = pattern(5, 3);
    const rest = (n: number) => Buffer.concat(skipBytes([a, b, c], n) as Buffer[]);
    const whole = Buffer.concat([a, b, c]);
    for (const n of [0, 1, 9, 10, 11, 29, 30, 34, 35]) assert.ok(rest(n).equals(whole.subarray(n)), `after ${n}`);
    assert.equal(skipBytes([a, b, c], 35).length, 0);
    assert.equal(skipBytes([a, b, c], 10)[0], b, 'whole parts stay as they are');
  });
});
