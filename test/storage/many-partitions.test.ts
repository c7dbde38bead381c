/**
 * 10,000 partitions under a bound of 256 open handles: create, append (500 at once, so
 * borrowers wait on the pool), close, reopen, read back. Open handles never exceed the
 * bound and cached index memory stays within its budget. The work runs in a child
 * process (see many-partitions-child.ts for why).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, it } from 'node:test';

const PARTITIONS = 10_000;
const MAX_OPEN_FILES = 256;
let child: ChildProcess | undefined;

after(() => {
  child?.kill('SIGKILL');
});

void it(`${PARTITIONS} partitions stay under ${MAX_OPEN_FILES} open files`, { timeout: 180_000 }, async () => {
  const script = join(import.meta.dirname, 'many-partitions-child.ts');
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      child = spawn(process.execPath, ['--import', 'tsx', script, String(PARTITIONS), String(MAX_OPEN_FILES)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('exit', (c) => resolve({ code: c, stdout: out, stderr: err }));
    },
  );
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  assert.equal(result.partitions, PARTITIONS);
  assert.ok(result.diskMaxOpen! <= MAX_OPEN_FILES, `max open handles ${result.diskMaxOpen}`);
  assert.ok(result.poolMax! <= MAX_OPEN_FILES);
  assert.ok(result.cachedBytes! <= result.indexCacheBytes!);
});
