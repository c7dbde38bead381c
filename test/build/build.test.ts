/**
 * The production build (tools/build.mjs, `npm run build`, run by `prepare`): it bundles the
 * CLI in seconds, the bundle prints package.json's version, and a broker started from it
 * announces itself, answers kcat -L, serves compressed batches (its codecs load at first
 * use, not at start) and stops cleanly on SIGTERM.
 *
 * The build goes to a directory of its own under .tmp/ (inside the repository, so the
 * bundle finds node_modules), never to dist/, which other tests may be running.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const children: ChildProcess[] = [];
const dirs: string[] = [];
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const OUT = mkdtempSync(join(ROOT, '.tmp', 'build-test-'));
dirs.push(OUT);
/** The entry: a loader that runs runnel.cjs, the bundle, with a V8 code cache. */
const BUNDLE = join(OUT, 'runnel.js');
const CODE = join(OUT, 'runnel.cjs');
/** The code cache of `runnel start`; the other commands keep theirs in runnel.cjs.cli.cache. */
const CACHE = join(OUT, 'runnel.cjs.cache');
const CLI_CACHE = join(OUT, 'runnel.cjs.cli.cache');

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
  const dir = mkdtempSync(join(tmpdir(), 'runnel-build-'));
  dirs.push(dir);
  return dir;
}

/** The native addons a process has loaded, by file name. */
function loadedAddons(pid: number): string[] {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  return [...new Set([...maps.matchAll(/([^/\s]+\.node)$/gm)].map((m) => m[1]!))].sort();
}

/** `node <bundle> start ...`; resolves with the listening line. */
async function startBuilt(args: string[]) {
  const child = spawn(process.execPath, [BUNDLE, 'start', ...args], {
    cwd: ROOT,
    env: { ...process.env, RUNNEL_START_TRACE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
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
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in 20 s: ${stdout} ${stderr}`)), 20_000);
    const check = (): void => {
      const m = /^runnel .* listening on .*\n/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(m[0]);
      }
    };
    child.stdout!.on('data', check);
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before listening: ${stderr}`));
    });
  });
  return { child, line, exited, output: () => ({ stdout, stderr }) };
}

after(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

void describe('production build (tools/build.mjs)', { timeout: 120_000 }, () => {
  before(async () => {
    const started = performance.now();
    await run(process.execPath, ['tools/build.mjs', '--outdir', OUT], { cwd: ROOT, timeout: 60_000 });
    // The goal is well under 5 s; the bound leaves room for a busy machine.
    const ms = performance.now() - started;
    assert.ok(ms < 30_000, `build took ${ms.toFixed(0)} ms`);
  });

  void it('writes the bundle, its source map and the list of sources it was built from', () => {
    assert.ok(existsSync(BUNDLE));
    assert.ok(existsSync(CODE));
    assert.ok(existsSync(`${CODE}.map`));
    const info = JSON.parse(readFileSync(join(OUT, 'build-info.json'), 'utf8')) as {
      version: string;
      entry: string;
      startedAtMs: number;
      inputs: string[];
    };
    assert.equal(info.version, VERSION);
    assert.equal(info.entry, 'runnel.js');
    assert.ok(info.inputs.includes('src/cli/main.ts'));
    assert.ok(info.inputs.includes('src/broker/start.ts'));
    assert.ok(!info.inputs.some((path) => path.startsWith('node_modules/')), 'only our sources are listed');
    assert.deepEqual(readdirSync(OUT).sort(), ['build-info.json', 'runnel.cjs', 'runnel.cjs.map', 'runnel.js']);
    // The source map names the sources where they are.
    const map = JSON.parse(readFileSync(`${CODE}.map`, 'utf8')) as { sources: string[] };
    const main = map.sources.find((source) => source.endsWith('src/cli/main.ts'));
    assert.ok(main !== undefined && existsSync(join(OUT, main)), `${main}`);
  });

  void it('--version prints package.json version', async () => {
    const { stdout } = await run(process.execPath, [BUNDLE, '--version'], { cwd: ROOT, timeout: 15_000 });
    assert.equal(stdout.trim(), VERSION);
  });

  void it('the first client command writes a V8 code cache that the next run accepts (does not rewrite)', async () => {
    rmSync(CLI_CACHE, { force: true });
    await run(process.execPath, [BUNDLE, '--version'], { cwd: ROOT, timeout: 15_000 });
    assert.ok(existsSync(CLI_CACHE), 'written at exit by a run that found none');
    const first = readFileSync(CLI_CACHE);
    const firstInode = statSync(CLI_CACHE).ino;
    assert.ok(first.length > 100_000, `a cache of the whole bundle: ${first.length} bytes`);
    const { stdout } = await run(process.execPath, [BUNDLE, '--version'], { cwd: ROOT, timeout: 15_000 });
    assert.equal(stdout.trim(), VERSION);
    // A rewrite renames a new file into place (a new inode).
    assert.equal(statSync(CLI_CACHE).ino, firstInode, 'accepted by V8, so left as it was');
    // A cache V8 rejects (not this bundle's) is replaced, and the run still works.
    writeFileSync(CLI_CACHE, Buffer.alloc(first.length, 7));
    const again = await run(process.execPath, [BUNDLE, '--version'], { cwd: ROOT, timeout: 15_000 });
    assert.equal(again.stdout.trim(), VERSION);
    assert.ok(!readFileSync(CLI_CACHE).equals(Buffer.alloc(first.length, 7)), 'a rejected cache is rewritten');
  });

  void it('--version does not depend on the working directory', async () => {
    const { stdout } = await run(process.execPath, [BUNDLE, '--version'], { cwd: tempDir(), timeout: 15_000 });
    assert.equal(stdout.trim(), VERSION);
  });

  void it('starts a broker that answers kcat -L, serves compressed batches and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const dir = tempDir();
    const broker = await startBuilt(['--set', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--set', `log.dirs=${dir}`]);
    assert.match(
      broker.line,
      new RegExp(`^runnel ${VERSION.replaceAll('.', '\\.')}: .*listening on PLAINTEXT://127\\.0\\.0\\.1:${port} `),
    );
    const bootstrap = `127.0.0.1:${port}`;

    const { stdout } = await run('kcat', ['-L', '-b', bootstrap, '-m', '10'], { encoding: 'utf8', timeout: 15_000 });
    assert.match(stdout, new RegExp(`broker 1 at 127\\.0\\.0\\.1:${port} \\(controller\\)`));

    // The codecs load at first use: none of them at start.
    const atStart = loadedAddons(broker.child.pid!);
    for (const codec of ['lz4-napi', 'snappy', 'binding.node']) {
      assert.ok(!atStart.some((name) => name.includes(codec)), `${codec} loaded at start: ${atStart.join(' ')}`);
    }
    // Batches in each codec, read back by an old consumer (message format v0/v1): the broker
    // decompresses them to convert, so each codec is loaded and used.
    for (const codec of ['gzip', 'lz4', 'snappy', 'zstd']) {
      const topic = `build-${codec}`;
      const produce = spawn('kcat', ['-P', '-b', bootstrap, '-t', topic, '-z', codec], {
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      children.push(produce);
      produce.stdin.end(`one-${codec}\ntwo-${codec}\n`);
      const code = await new Promise<number | null>((resolve) => produce.once('close', resolve));
      assert.equal(code, 0, `kcat -P -z ${codec}`);
      const consumed = await run(
        'kcat',
        [
          '-C',
          '-b',
          bootstrap,
          '-t',
          topic,
          '-e',
          '-q',
          '-o',
          'beginning',
          '-X',
          'api.version.request=false',
          '-X',
          'broker.version.fallback=0.9.0',
        ],
        { encoding: 'utf8', timeout: 15_000 },
      );
      assert.deepEqual(consumed.stdout.trim().split('\n'), [`one-${codec}`, `two-${codec}`], codec);
    }

    broker.child.kill('SIGTERM');
    const { code, signal } = await broker.exited;
    assert.equal(code, 0, `${signal} ${broker.output().stderr}`);
    assert.match(broker.output().stdout, /stopped cleanly/);
    // RUNNEL_START_TRACE=1: the steps in order. The client commands above wrote their own
    // cache, not the broker's: this first start found none and wrote it.
    const steps = [...broker.output().stderr.matchAll(/^runnel: start trace: [\d.]+ ms \(cpu [\d.]+ ms\) (.*)$/gm)].map(
      (m) => m[1],
    );
    assert.deepEqual(steps.slice(0, 3), ['loader', 'bundle compiled (no code cache)', 'runnel start']);
    assert.equal(steps.at(-1), 'broker unfenced', steps.join(' | '));
    assert.ok(existsSync(CACHE), 'the broker wrote its code cache');

    // The next start takes it, although the broker sets a V8 flag while it runs
    // (src/broker/heap-growth.ts; V8 rejects a cache made under other flags).
    const again = await startBuilt([
      '--set',
      `listeners=PLAINTEXT://127.0.0.1:${await freePort()}`,
      '--set',
      `log.dirs=${tempDir()}`,
    ]);
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0);
    assert.match(again.output().stderr, /start trace: .* bundle compiled \(code cache used\)/);
    assert.ok(existsSync(join(dir, '.runnel_cleanshutdown')), 'clean-shutdown marker');
  });

  void it('an unknown setting stops the start with a message naming it, as from source', async () => {
    const started = await run(process.execPath, [BUNDLE, 'start', '--set', 'no.such.setting=1'], {
      cwd: tempDir(),
      timeout: 15_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(started.code, 1);
    assert.match(started.stderr, /no\.such\.setting/);
    assert.doesNotMatch(started.stderr, /\n\s+at /, 'no stack trace');
  });
});
