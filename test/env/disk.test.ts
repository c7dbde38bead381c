/**
 * The Disk contract, run against nodeDisk (temp dir) and memoryDisk; then memoryDisk's
 * crash model and faultyDisk's injected faults.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  type Disk,
  nodeDisk,
  readWholeFile,
  StorageError,
  toStorageError,
  writeFileAtomic,
} from '../../src/env/disk.ts';
import { faultyDisk } from '../../src/env/disk-faults.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';

const temps: string[] = [];
after(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

const impls: [string, () => Promise<{ disk: Disk; root: string }>][] = [
  [
    'nodeDisk',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'runnel-disk-'));
      temps.push(root);
      return { disk: nodeDisk, root };
    },
  ],
  ['memoryDisk', async () => ({ disk: memoryDisk(), root: '/root' })],
];

for (const [name, make] of impls) {
  void describe(`Disk contract: ${name}`, () => {
    void it('files: write at positions, read, size, truncate, sync', async () => {
      const { disk, root } = await make();
      await disk.mkdirp(join(root, 'a/b'));
      const path = join(root, 'a/b/f');
      await assert.rejects(disk.open(path), (e) => e instanceof StorageError && e.kind === 'not-found');
      const f = await disk.open(path, { create: true });
      await f.write(0, Buffer.from('hello'));
      await f.write(5, Buffer.from(' world'));
      await f.write(0, Buffer.from('J'));
      assert.equal(await f.size(), 11);
      assert.equal((await f.read(0, 100)).toString(), 'Jello world');
      assert.equal((await f.read(6, 3)).toString(), 'wor');
      assert.equal((await f.read(20, 3)).length, 0);
      await f.truncate(5);
      await f.sync();
      await f.datasync();
      assert.equal((await f.read(0, 100)).toString(), 'Jello');
      await f.close();
      assert.deepEqual(await disk.stat(path), { size: 5, isDirectory: false });
      assert.equal((await disk.stat(join(root, 'a')))?.isDirectory, true);
      assert.equal(await disk.stat(join(root, 'nope')), undefined);
    });

    void it('directories: readdir, rename (replacing), unlink, rmrf, atomic writes', async () => {
      const { disk, root } = await make();
      await disk.mkdirp(join(root, 'd'));
      await writeFileAtomic(disk, join(root, 'd/x'), Buffer.from('1'));
      await writeFileAtomic(disk, join(root, 'd/y'), Buffer.from('2'));
      assert.deepEqual((await disk.readdir(join(root, 'd'))).sort(), ['x', 'y']);
      await disk.rename(join(root, 'd/x'), join(root, 'd/y'));
      assert.deepEqual(await disk.readdir(join(root, 'd')), ['y']);
      assert.equal((await readWholeFile(disk, join(root, 'd/y')))?.toString(), '1');
      assert.equal(await readWholeFile(disk, join(root, 'd/x')), undefined);
      await disk.unlink(join(root, 'd/y'));
      await assert.rejects(disk.unlink(join(root, 'd/y')), (e) => e instanceof StorageError && e.kind === 'not-found');
      await disk.mkdirp(join(root, 'd/e/f'));
      await writeFileAtomic(disk, join(root, 'd/e/f/z'), Buffer.from('3'));
      await disk.rename(join(root, 'd/e'), join(root, 'd/g'));
      assert.equal((await readWholeFile(disk, join(root, 'd/g/f/z')))?.toString(), '3');
      await disk.rmrf(join(root, 'd'));
      await disk.rmrf(join(root, 'd'));
      assert.equal(await disk.stat(join(root, 'd')), undefined);
    });
  });
}

void describe('memoryDisk crash model', () => {
  void it('a power loss keeps synced bytes only; a process crash keeps everything', async () => {
    const disk = memoryDisk();
    await disk.mkdirp('/d');
    const f = await disk.open('/d/f', { create: true });
    await f.write(0, Buffer.from('durable'));
    await f.sync();
    await f.write(7, Buffer.from('-volatile'));
    disk.crash({ keepUnflushed: true });
    await assert.rejects(f.read(0, 1), (e) => e instanceof StorageError && e.kind === 'closed');
    assert.equal((await readWholeFile(disk, '/d/f'))?.toString(), 'durable-volatile');
    disk.crash();
    assert.equal((await readWholeFile(disk, '/d/f'))?.toString(), 'durable');
    const g = await disk.open('/d/f');
    await g.write(7, Buffer.from('-volatile-tail'));
    disk.crash({ random: seededRandom(3) });
    const after = (await readWholeFile(disk, '/d/f'))!.toString();
    assert.ok('durable-volatile-tail'.startsWith(after) && after.startsWith('durable'), after);
    assert.equal(disk.openFileCount(), 0);
  });
});

void describe('faultyDisk', () => {
  void it('injects ENOSPC, EIO and torn writes as typed errors', async () => {
    const inner = memoryDisk();
    const disk = faultyDisk(inner, seededRandom(7));
    await disk.mkdirp('/d');
    const f = await disk.open('/d/f', { create: true });
    disk.noSpace = true;
    await assert.rejects(f.write(0, Buffer.alloc(100, 1)), (e) => e instanceof StorageError && e.kind === 'no-space');
    assert.ok((await f.size()) < 100, 'a prefix at most');
    disk.noSpace = false;
    await f.write(0, Buffer.alloc(100, 2));
    disk.failNext('sync');
    await assert.rejects(f.sync(), (e) => e instanceof StorageError && e.kind === 'io');
    await f.sync();
    disk.failNext('write', { torn: true, pathIncludes: '/d/f' });
    await assert.rejects(f.write(100, Buffer.alloc(50, 3)), StorageError);
    assert.ok((await f.size()) < 150);
    disk.failNext('rename');
    await assert.rejects(disk.rename('/d/f', '/d/g'), StorageError);
    assert.equal(disk.injected(), 4);
  });

  void it('maps errno codes to kinds', () => {
    assert.equal(toStorageError(Object.assign(new Error('x'), { code: 'ENOSPC' })).kind, 'no-space');
    assert.equal(toStorageError(Object.assign(new Error('x'), { code: 'EIO' })).kind, 'io');
    assert.equal(toStorageError(Object.assign(new Error('x'), { code: 'ENOENT' })).kind, 'not-found');
  });
});
