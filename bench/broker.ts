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
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiKey } from '../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../src/protocol/generated/errors.ts';
import { buildRecordBatch } from '../src/protocol/records/index.ts';
import { RawClient } from '../test/e2e/helpers/raw-client.ts';
import { produceRequest } from '../test/e2e/helpers/requests.ts';
import { spawnBroker } from '../test/e2e/helpers/spawn-broker.ts';
import { buildDist, measureStarts, median, syncDisks } from './workload/startup.ts';

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

/**
 * Start-up as an operator sees it (bench/workload/startup.ts, the same measure as the
 * runnel section's goal rows): medians of `runs` starts one after another of the
 * production build through bin/runnel.js (what `npm start` and the `runnel` command run;
 * built first, so it is the current sources), without and with its V8 code cache, and of
 * the sources through tsx.
 */
export async function runStartBench(opts: { quick: boolean }): Promise<BenchFigure[]> {
  const runs = opts.quick ? 3 : 7;
  buildDist(ROOT);
  syncDisks();
  const logParent = mkdtempSync(join(tmpdir(), 'runnel-bench-start-'));
  const dropCodeCache = (): void => {
    // With the V8 flags kept beside it (tools/dist-loader.mjs), as a build leaves it.
    rmSync(CODE_CACHE, { force: true });
    rmSync(`${CODE_CACHE}.flags`, { force: true });
  };
  const base = { cwd: ROOT, logParent, idleMs: 1000 };
  const rebuild = (): void => buildDist(ROOT);
  // The cold variant removes the cache before each start (the first start after an install
  // or a build); the warm one has it from an unmeasured start before the series.
  const variants: [label: string, args: string[], before: () => Promise<void>, beforeEach?: () => void][] = [
    ['built, no code cache', ['bin/runnel.js'], async () => {}, dropCodeCache],
    [
      'built',
      ['bin/runnel.js'],
      async () => void (await measureStarts({ ...base, args: ['bin/runnel.js'] }, 1, { rebuild })),
    ],
    ['tsx', ['--import', 'tsx', 'src/cli/main.ts'], async () => {}],
  ];
  const figures: BenchFigure[] = [];
  try {
    for (const [label, args, before, beforeEach] of variants) {
      await before();
      const series = await measureStarts({ ...base, args }, runs, {
        rebuild,
        ...(beforeEach !== undefined ? { beforeEach } : {}),
      });
      const rss = series.samples.flatMap((s) => (s.idleRssBytes === null ? [] : [s.idleRssBytes / (1024 * 1024)]));
      process.stderr.write(`bench: start (${label}): ${series.codeCache}\n`);
      figures.push(
        { name: `start to listening (${label})`, value: series.listeningMs, unit: 'ms' },
        { name: `start to first produce (${label})`, value: series.firstProduceMs, unit: 'ms' },
        ...(series.cpuMs === null
          ? []
          : [{ name: `start CPU to unfenced (${label})`, value: series.cpuMs, unit: 'ms' }]),
        { name: `idle RSS (${label})`, value: median(rss), unit: 'MiB' },
      );
    }
  } finally {
    rmSync(logParent, { recursive: true, force: true });
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
