/**
 * kill -9 test: a child process appends in a loop and prints every acknowledged append;
 * we SIGKILL it at random moments (after a random number of acks, while it keeps
 * writing), then recover the log and check that every acknowledged batch is there,
 * byte-identical (CRC), that the log is valid, and that offsets are never reused.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { systemClock } from '../../src/env/clock.ts';
import { nodeDisk } from '../../src/env/disk.ts';
import { seededRandom } from '../../src/env/random.ts';
import { isBatchCrcValid } from '../../src/protocol/records/batch-header.ts';
import { LogManager } from '../../src/storage/log-manager.ts';
import { listBatches } from '../../src/storage/records.ts';
import { readAll, tempDir } from './helpers.ts';

const KILLS = Number(process.env.CRASH_KILLS ?? 50);
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
const children = new Set<ChildProcess>();
let dir: string | undefined;

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Ack {
  base: number;
  last: number;
  crc: number;
}

/** Runs the child until `killAfter` acks arrived, then SIGKILLs it. */
function runChild(dataDir: string, seed: number, killAfter: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), dataDir, String(seed)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    const acks: Ack[] = [];
    let pending = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not reach ${killAfter} acks in time; stderr: ${stderr}`));
    }, 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [word, a, b, c] = line.split(' ');
        if (word !== 'ack') continue;
        acks.push({ base: Number(a), last: Number(b), crc: Number(c) });
        if (!killed && acks.length >= killAfter) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (signal !== 'SIGKILL') reject(new Error(`child exited by itself (${_code}); stderr: ${stderr}`));
      else resolve(acks);
    });
  });
}

void it(`every acknowledged append survives ${KILLS} SIGKILLs (seed ${SEED})`, { timeout: 300_000 }, async () => {
  dir = await tempDir('runnel-crash-');
  const random = seededRandom(SEED);
  const acked: Ack[] = [];
  let lastAcked = -1;
  for (let i = 0; i < KILLS; i++) {
    const acks = await runChild(dir, SEED * 1000 + i, 1 + random.int(120));
    for (const a of acks) {
      assert.ok(a.base > lastAcked, `offset ${a.base} reused (last acknowledged ${lastAcked}), seed ${SEED}`);
      lastAcked = a.last;
    }
    acked.push(...acks);
    // Recover (no clean-shutdown marker: the child was killed) and check.
    const manager = await LogManager.open({ dataDir: dir, disk: nodeDisk, clock: systemClock, maxOpenFiles: 16 });
    const log = manager.getLog('crash', 0)!;
    assert.ok(log.logEndOffset() > lastAcked, `LEO ${log.logEndOffset()} lost acknowledged ${lastAcked}, seed ${SEED}`);
    const batches = await readAll(log);
    let expected = 0;
    const byBase = new Map<number, Buffer>();
    for (const b of batches) {
      assert.ok(isBatchCrcValid(b), `bad CRC after recovery, seed ${SEED}`);
      const info = listBatches(b)[0]!;
      assert.ok(info.baseOffset >= expected, 'offsets increase');
      expected = info.baseOffset + info.lastOffsetDelta + 1;
      byBase.set(info.baseOffset, b);
    }
    assert.equal(expected, log.logEndOffset());
    for (const a of acked) {
      const b = byBase.get(a.base);
      assert.ok(b, `acknowledged batch at ${a.base} missing after kill ${i}, seed ${SEED}`);
      const info = listBatches(b)[0]!;
      assert.equal(info.baseOffset + info.lastOffsetDelta, a.last);
      assert.equal(b.readUInt32BE(17), a.crc, `batch at ${a.base} changed`);
    }
    // Alternate: a clean close (the child then opens without recovery) or another crash.
    if (i % 2 === 0) await manager.close();
    else manager.abandon();
  }
  assert.ok(acked.length >= KILLS);
});
