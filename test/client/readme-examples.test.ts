/**
 * The README's client examples, run as written against a Runnel broker: each ```ts block under
 * "Produce", "Consume with a group" and "Admin" is written to a file (only its import path and
 * 'localhost:9092' are replaced) and run by `node --import tsx` in a child process. The
 * transactions example loops forever by design and is not run here (test/e2e/txn-eos covers
 * that flow). Every child is killed in after() if still running (SIGKILL).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestBroker, type TestBroker } from '../e2e/fixture.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_INDEX = join(ROOT, 'src/client/index.ts');

/** The first ```ts block after the heading `### <title>` in the README. */
function example(readme: string, title: string): string {
  const at = readme.indexOf(`\n### ${title}\n`);
  assert.ok(at >= 0, `README has no "### ${title}" section`);
  const start = readme.indexOf('```ts\n', at);
  const end = readme.indexOf('\n```', start + 6);
  assert.ok(start >= 0 && end > start, `no ts block under "### ${title}"`);
  return readme.slice(start + 6, end + 1);
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function run(file: string): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Resolves with the exit code; rejects (after killing the child) if it runs past `ms`. */
async function exitWithin(r: Run, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      r.child.kill('SIGKILL');
      reject(new Error(`${what} still running after ${ms} ms\nstdout: ${r.stdout()}\nstderr: ${r.stderr()}`));
    }, ms);
  });
  try {
    return await Promise.race([r.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function outputMatches(r: Run, test: (stdout: string) => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test(r.stdout())) {
    if (r.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`waiting for ${what}\nstdout: ${r.stdout()}\nstderr: ${r.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

void describe('README client examples', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'runnel-readme-'));
  let broker: TestBroker;
  /** A broker of its own for the admin example, which creates `orders` itself (compacted). */
  let adminBroker: TestBroker;

  const write = (name: string, code: string, bootstrap: string): string => {
    const file = join(dir, `${name}.mts`);
    const source = code.replaceAll("'./src/client/index.ts'", JSON.stringify(CLIENT_INDEX));
    assert.ok(source.includes('localhost:9092'), `${name}: the example connects to localhost:9092`);
    writeFileSync(file, source.replaceAll('localhost:9092', bootstrap));
    return file;
  };

  before(async () => {
    broker = await startTestBroker();
    adminBroker = await startTestBroker();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await broker?.stop();
    await adminBroker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('produce, then consume with a group until SIGINT', { timeout: 120_000 }, async () => {
    const produce = run(write('produce', example(readme, 'Produce'), broker.bootstrap));
    assert.equal(await exitWithin(produce, 60_000, 'the produce example'), 0, produce.stderr());
    assert.match(produce.stdout(), /^\d+ 0\n$/, 'partition and offset of the first record');

    const consume = run(write('consume', example(readme, 'Consume with a group'), broker.bootstrap));
    const values = ['hello', 'one', 'two'];
    await outputMatches(
      consume,
      (out) => values.every((v) => out.includes(` ${v}\n`)),
      60_000,
      'the three records produced',
    );
    assert.match(consume.stdout(), /assigned \[/);
    consume.child.kill('SIGINT'); // the example closes the consumer, which ends its loop
    assert.equal(await exitWithin(consume, 30_000, 'the consume example after SIGINT'), 0, consume.stderr());
  });

  void it('admin', { timeout: 120_000 }, async () => {
    const admin = run(write('admin', example(readme, 'Admin'), adminBroker.bootstrap));
    assert.equal(await exitWithin(admin, 60_000, 'the admin example'), 0, admin.stderr());
    assert.match(admin.stdout(), /orders/);
    assert.match(admin.stdout(), /billing/);
  });
});
