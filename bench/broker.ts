/**
 * The broker's data path, measured from outside: a broker in a child process, kcat
 * (librdkafka) as the load.
 *
 *   node --import tsx bench/broker.ts [--quick] [--start-only]
 *
 * Figures: produce and consume throughput of 1 KiB records over 16 partitions (MB/s and
 * records/s, kcat -P acks=-1 with no compression, then kcat -C of everything up to the
 * last record, the median of 3 runs, 5 in full mode), and for
 * `runnel start` as an operator runs it (bin/runnel.js on the production build in dist/,
 * rebuilt first; and, for comparison, the sources through tsx as `npm start` ran them
 * before the build existed): the time from process spawn to the "listening" line and to
 * the first acknowledged produce, and the broker's idle RSS (medians of several starts; the
 * build with and without its V8 code cache, dist/runnel.cjs.cache).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiKey } from '../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../src/protocol/generated/errors.ts';
import { buildRecordBatch } from '../src/protocol/records/index.ts';
import { RawClient } from '../test/e2e/helpers/raw-client.ts';
import { produceRequest } from '../test/e2e/helpers/requests.ts';
import { spawnBroker } from '../test/e2e/helpers/spawn-broker.ts';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
}

const PARTITIONS = 16;
const RECORD_BYTES = 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Written by dist/runnel.js (tools/dist-loader.mjs) at the first start after a build. */
const CODE_CACHE = join(ROOT, 'dist', 'runnel.cjs.cache');

function run(cmd: string, args: string[], stdinFile?: string): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: [stdinFile === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    if (stdinFile !== undefined) child.stdin!.end(readFileSync(stdinFile));
    child.on('exit', (code) => {
      if (code === 0) resolve({ ms: performance.now() - started, stdout });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function firstProduce(bootstrap: string): Promise<void> {
  const c = await RawClient.connect(bootstrap);
  try {
    await c.send(ApiKey.Metadata, 12, {
      topics: [{ name: 'bench', topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
      allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    for (;;) {
      const records = buildRecordBatch({ records: [{ value: 'hello', timestamp: Date.now() }] });
      const r = await c.send(ApiKey.Produce, 9, produceRequest('bench', 0, records));
      if (r.responses[0]!.partitionResponses[0]!.errorCode === ErrorCode.NONE) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    c.close();
  }
}

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

interface StartSample {
  /** Spawn to the "listening" line on stdout. */
  listeningMs: number;
  /** Spawn to the first acknowledged produce (sent once the line is out). */
  firstProduceMs: number;
  /** After a second of idling. */
  idleRssMiB: number;
}

/** bin/runnel.js ran the sources: one of them changed after the build (someone is editing). */
class StaleBuildError extends Error {}

/** One `runnel start` (node + args + start ...) on a free port and a fresh log dir, measured, then SIGTERM. */
async function measureStart(args: readonly string[]): Promise<StartSample> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'runnel-bench-start-'));
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...args, 'start', '--set', `listeners=PLAINTEXT://127.0.0.1:${port}`, '--set', `log.dirs=${dir}`],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  try {
    const listeningMs = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`runnel start: no listening line in 30 s: ${stderr}`)), 30_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/listening on /.test(out)) {
          clearTimeout(timer);
          resolve(performance.now() - started);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`runnel start exited (${code}) before listening: ${stderr}`));
      });
    });
    await firstProduce(`127.0.0.1:${port}`);
    const firstProduceMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idleRssMiB = rssBytes(child.pid!) / (1024 * 1024);
    if (/running the sources through tsx/.test(stderr)) throw new StaleBuildError(stderr);
    return { listeningMs, firstProduceMs, idleRssMiB };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Start-up as an operator sees it, medians of `runs` starts one after another: the
 * production build through bin/runnel.js (what `npm start` and the `runnel` command run;
 * built first, so it is the current sources) and the sources through tsx.
 */
export async function runStartBench(opts: { quick: boolean }): Promise<BenchFigure[]> {
  const runs = opts.quick ? 3 : 7;
  const build = (): void => {
    execFileSync(process.execPath, ['tools/build.mjs'], { cwd: ROOT, stdio: 'ignore' });
  };
  build();
  const dropCodeCache = (): void => rmSync(CODE_CACHE, { force: true });
  // The build removes the code cache: the first start writes it, later ones use it. The
  // cold variant removes it before each start (the first start after an install or a build).
  const variants: [label: string, args: string[], beforeEach: () => void][] = [
    ['built, no code cache', ['bin/runnel.js'], dropCodeCache],
    ['built', ['bin/runnel.js'], () => {}],
    ['tsx', ['--import', 'tsx', 'src/cli/main.ts'], () => {}],
  ];
  const figures: BenchFigure[] = [];
  for (const [label, args, beforeEach] of variants) {
    const samples: StartSample[] = [];
    for (let attempts = 0; samples.length < runs; attempts++) {
      try {
        beforeEach();
        samples.push(await measureStart(args));
      } catch (err) {
        // A source edited while the benchmark runs: build again and measure again.
        if (!(err instanceof StaleBuildError) || attempts >= runs + 3) throw err;
        build();
      }
    }
    figures.push(
      { name: `start to listening (${label})`, value: median(samples.map((s) => s.listeningMs)), unit: 'ms' },
      { name: `start to first produce (${label})`, value: median(samples.map((s) => s.firstProduceMs)), unit: 'ms' },
      { name: `idle RSS (${label})`, value: median(samples.map((s) => s.idleRssMiB)), unit: 'MiB' },
    );
  }
  return figures;
}

export async function runBrokerBench(opts: { quick: boolean }): Promise<BenchFigure[]> {
  const records = opts.quick ? 50_000 : 500_000;
  const dir = mkdtempSync(join(tmpdir(), 'runnel-bench-broker-'));
  const input = join(dir, 'input.txt');
  const line = `${'x'.repeat(RECORD_BYTES - 1)}\n`;
  writeFileSync(input, line.repeat(records));
  const figures: BenchFigure[] = await runStartBench(opts);
  const broker = await spawnBroker(join(dir, 'data'), { 'num.partitions': String(PARTITIONS) });
  try {
    await firstProduce(broker.bootstrap);
    figures.push({ name: 'startBroker() (in-process, tsx child)', value: broker.startBrokerMs, unit: 'ms' });

    const produce = await run(
      '/usr/bin/kcat',
      [
        '-P',
        '-b',
        broker.bootstrap,
        '-t',
        'bench',
        '-z',
        'none',
        '-X',
        'acks=all',
        '-X',
        'linger.ms=5',
        '-X',
        'batch.size=1000000',
        '-X',
        'queue.buffering.max.kbytes=1048576',
      ],
      input,
    );
    const mb = (records * RECORD_BYTES) / 1e6;
    figures.push({ name: 'produce 1KiB x16p (kcat, acks=all)', value: mb / (produce.ms / 1000), unit: 'MB/s' });
    figures.push({
      name: 'produce 1KiB x16p (kcat, acks=all)',
      value: records / (produce.ms / 1000),
      unit: 'records/s',
    });

    // The backlog from the start, until the last record (-c): with -e alone kcat stops only
    // once every partition has answered one fetch with nothing in it, and the last such
    // fetch waits out fetch.wait.max.ms (500 ms) as Kafka's long poll does; that wait,
    // not the broker, was most of the time measured. Median of several runs (the same
    // backlog again: the segments are in the page cache after the produce anyway).
    const consumeRuns: number[] = [];
    for (let i = 0; i < (opts.quick ? 3 : 5); i++) {
      const consume = await run('/usr/bin/kcat', [
        '-C',
        '-b',
        broker.bootstrap,
        '-t',
        'bench',
        '-e',
        '-c',
        String(records),
        '-q',
        '-o',
        'beginning',
        '-f',
        '%p\n',
        '-X',
        'fetch.message.max.bytes=8388608',
      ]);
      const consumed = consume.stdout.split('\n').length - 1;
      if (consumed < records) throw new Error(`consumed ${consumed} of ${records} records`);
      consumeRuns.push(consume.ms);
    }
    const consumeMs = median(consumeRuns);
    figures.push({
      name: 'consume 1KiB x16p (kcat)',
      value: (records * RECORD_BYTES) / 1e6 / (consumeMs / 1000),
      unit: 'MB/s',
    });
    figures.push({ name: 'consume 1KiB x16p (kcat)', value: records / (consumeMs / 1000), unit: 'records/s' });
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  (process.argv.includes('--start-only') ? runStartBench({ quick }) : runBrokerBench({ quick })).then(
    (figures) => {
      for (const f of figures) console.log(`${f.name.padEnd(40)} ${f.value.toFixed(1).padStart(10)} ${f.unit}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
