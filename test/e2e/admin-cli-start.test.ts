/**
 * `npm start` as an operator runs it: a spawned process that prints one line saying where
 * it listens, answers kcat -L, and stops cleanly on SIGTERM (clean-shutdown marker
 * written); an unknown or invalid --set stops the start with a message naming it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const children: ChildProcess[] = [];
const dirs: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'runnel-cli-'));
  dirs.push(dir);
  return dir;
}

/** Spawns `npm start -- args` in its own process group; resolves with the output so far when `until` matches. */
function npmStart(args: string[]) {
  const child = spawn('npm', ['start', '--silent', '--', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // 'close' waits for every process holding the pipes: npm and the broker it started.
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const output = () => ({ stdout, stderr });
  const waitFor = (pattern: RegExp, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.stdout!.off('data', check);
        reject(new Error(`no ${pattern} within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
      }, timeoutMs);
      const check = (): void => {
        const m = pattern.exec(stdout);
        if (m) {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          resolve(m[0]);
        }
      };
      child.stdout!.on('data', check);
      check();
    });
  return { child, exited, output, waitFor };
}

after(() => {
  // The whole process group: npm, its shell and the broker (npm may be gone while the broker lives on).
  for (const child of children) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

void describe('runnel start (npm start)', { timeout: 60_000 }, () => {
  void it('starts, prints one line, answers kcat -L, stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const dir = tempDir();
    const broker = npmStart(['--set', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--set', `log.dirs=${dir}`]);
    const line = await broker.waitFor(/^runnel .* listening on .*\n/m, 20_000);
    assert.match(line, new RegExp(`listening on PLAINTEXT://127\\.0\\.0\\.1:${port} `));
    assert.equal(broker.output().stdout.trim().split('\n').length, 1, 'exactly one line at start');
    assert.ok(existsSync(join(dir, 'meta.properties')));

    const { stdout } = await run('kcat', ['-L', '-b', `127.0.0.1:${port}`, '-m', '10'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.match(stdout, new RegExp(`broker 1 at 127\\.0\\.0\\.1:${port} \\(controller\\)`));

    process.kill(-broker.child.pid!, 'SIGTERM');
    const { code, signal } = await broker.exited;
    // npm re-raises the signal it forwarded; the broker itself exits 0.
    assert.ok(code === 0 || signal === 'SIGTERM', `${code} ${signal} ${broker.output().stderr}`);
    assert.match(broker.output().stdout, /stopped cleanly/);
    assert.ok(existsSync(join(dir, '.runnel_cleanshutdown')), 'clean-shutdown marker');
  });

  void it('an unknown setting stops the start with a message naming it', async () => {
    const started = npmStart(['--set', 'no.such.setting=1', '--set', `log.dirs=${tempDir()}`]);
    const { code } = await started.exited;
    assert.notEqual(code, 0);
    assert.match(started.output().stderr, /no\.such\.setting/);
    assert.doesNotMatch(started.output().stderr, /\n\s+at /, 'no stack trace');
  });

  void it('an invalid value stops the start with a message naming the setting', async () => {
    const started = npmStart(['--set', 'num.partitions=many', '--set', `log.dirs=${tempDir()}`]);
    const { code } = await started.exited;
    assert.notEqual(code, 0);
    assert.match(started.output().stderr, /num\.partitions/);
    assert.doesNotMatch(started.output().stderr, /\n\s+at /, 'no stack trace');
  });
});
