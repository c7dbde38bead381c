import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HEAP_GROWING_PERCENT } from '../../src/broker/heap-growth.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A process that grows its old generation from ~10 MB of live objects to ~60 MB and prints
 * V8's GC trace: full collections (Mark-Compact) between the two markers. Its command line
 * asks for a 10 % growing factor; setBrokerHeapGrowth (when "on") must override it at run time.
 */
const CHILD = `
import { setBrokerHeapGrowth } from ${JSON.stringify(join(ROOT, 'src/broker/heap-growth.ts'))};
if (process.argv[2] === 'on') setBrokerHeapGrowth();
const live = [];
for (let i = 0; i < 100_000; i++) live.push({ i, s: 'k' + i });
globalThis.gc();
process.stdout.write('FROM HERE\\n');
for (let i = 0; i < 1_000_000; i++) live.push({ i, s: 'm' + i });
process.stdout.write('TO HERE ' + live.length + '\\n');
`;

function fullCollections(script: string, mode: 'on' | 'off'): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--heap-growing-percent=10', '--expose-gc', '--trace-gc', '--import', 'tsx', script, mode],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const from = out.indexOf('FROM HERE');
      const to = out.indexOf('TO HERE');
      if (code !== 0 || from < 0 || to < 0) return reject(new Error(`child exited ${code}: ${out.slice(-500)}`));
      resolve(out.slice(from, to).split('Mark-Compact').length - 1);
    });
  });
}

void describe('broker heap growth', () => {
  const dir = mkdtempSync(join(tmpdir(), 'runnel-heap-growth-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  void it('sets V8 growing factor at run time: fewer full collections while the heap grows', async () => {
    assert.equal(HEAP_GROWING_PERCENT, 300);
    const script = join(dir, 'child.mts');
    writeFileSync(script, CHILD);
    const [off, on] = await Promise.all([fullCollections(script, 'off'), fullCollections(script, 'on')]);
    assert.ok(on <= 1, `full collections with the broker's growth: ${on}`);
    assert.ok(on < off, `with ${on}, without ${off}`);
  });
});
