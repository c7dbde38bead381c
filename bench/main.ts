/**
 * `npm run bench [-- --quick] [-- --only <section>[,<section>]] [-- --rate <MB/s>]`
 *
 * Measures, side by side in one run: the machine's ceilings, the components (codec, storage),
 * the peers (NATS JetStream, Redis Streams) and Runnel, then prints a table of figures with
 * their ratios to the ceilings and peers and the goals they pass or miss, and rewrites
 * bench/RESULTS.md (only when every section ran).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeTempDir, withTimeout } from './harness/process.ts';
import { type MachineInfo, renderConsoleTable, renderMarkdown } from './harness/report.ts';
import { compare, componentFigure, type Figure, type MetricId, missingSection } from './harness/results.ts';
import { runMachineBench } from './machine.ts';
import { runNatsBench } from './peers/nats.ts';
import { runRedisBench } from './peers/redis.ts';
import { describeWorkload, type WorkloadOptions, workloadOptions } from './workload/driver.ts';
import { runRunnelBench, withRunnelBroker } from './workload/runnel.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

interface Context {
  readonly quick: boolean;
  /** A temporary directory on the same disk as ./data. */
  readonly dataDir: string;
  readonly workload: WorkloadOptions;
  readonly setup: string[];
}

interface Section {
  readonly key: string;
  /** Why the section does not run in quick mode, if it does not. */
  readonly fullOnly?: string;
  readonly timeoutMs: (context: Context) => number;
  run(context: Context): Promise<Figure[]>;
}

type ComponentBench = (options: Record<string, unknown>) => Promise<{ name: string; value: number; unit: string }[]>;

/** Runs bench/<file> if another part of the project has written it; says so if not. */
async function componentSection(
  key: string,
  file: string,
  exportName: string,
  args: Record<string, unknown>,
  ceilingOf: (raw: { name: string; unit: string }) => MetricId | undefined,
): Promise<Figure[]> {
  const url = new URL(`./${file}`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return [missingSection(key, key, `skipped: bench/${file} not written yet`)];
  const module = (await import(url.href)) as Record<string, unknown>;
  const run = module[exportName];
  if (typeof run !== 'function') {
    return [missingSection(key, key, `skipped: bench/${file} does not export ${exportName}()`)];
  }
  const raws = await (run as ComponentBench)(args);
  return raws.map((raw) => componentFigure(key, key, raw, ceilingOf(raw)));
}

/** Generous bound on one target's workload: every phase, its drains and the consumer starts. */
function workloadTimeoutMs(context: Context): number {
  const w = context.workload;
  return (w.maxRateSeconds + w.warmupSeconds + w.fixedRateSeconds) * 1000 + 4 * w.drainTimeoutMs + 120_000;
}

const SECTIONS: readonly Section[] = [
  {
    key: 'machine',
    timeoutMs: () => 90_000,
    run: (context) => runMachineBench({ quick: context.quick, dir: context.dataDir }),
  },
  {
    key: 'codec',
    timeoutMs: (context) => (context.quick ? 90_000 : 900_000),
    run: (context) => componentSection('codec', 'codec.ts', 'runCodecBench', { quick: context.quick }, () => undefined),
  },
  {
    key: 'storage',
    timeoutMs: (context) => (context.quick ? 90_000 : 900_000),
    run: (context) =>
      componentSection(
        'storage',
        'storage.ts',
        'runStorageBench',
        { quick: context.quick, dir: context.dataDir },
        (raw) =>
          raw.unit === 'MB/s' ? (/sync/i.test(raw.name) ? 'disk-fdatasync-MBps' : 'disk-write-MBps') : undefined,
      ),
  },
  {
    key: 'broker',
    fullOnly: "the runnel section measures the built broker's start-up and kcat throughput",
    timeoutMs: (context) => (context.quick ? 90_000 : 900_000),
    run: (context) =>
      componentSection('broker', 'broker.ts', 'runBrokerBench', { quick: context.quick }, (raw) =>
        raw.unit === 'MB/s' ? 'loopback-MBps' : undefined,
      ),
  },
  {
    key: 'client',
    fullOnly: 'the runnel section drives the Runnel client, kafkajs and @platformatic/kafka',
    timeoutMs: (context) => (context.quick ? 90_000 : 900_000),
    run: (context) =>
      withRunnelBroker(context.dataDir, 'client', (broker) =>
        componentSection(
          'client',
          'client.ts',
          'runClientBench',
          { quick: context.quick, bootstrap: broker.bootstrap, brokerPid: broker.pid },
          (raw) => (raw.unit === 'MB/s' ? 'loopback-MBps' : undefined),
        ),
      ),
  },
  {
    key: 'groups',
    timeoutMs: (context) => (context.quick ? 90_000 : 900_000),
    run: (context) =>
      componentSection('groups', 'groups.ts', 'runGroupsBench', { quick: context.quick }, () => undefined),
  },
  {
    key: 'cluster',
    fullOnly: 'the runnel section measures RF=3 on three brokers; failover figures need the full run',
    timeoutMs: (context) => (context.quick ? 240_000 : 900_000),
    run: (context) =>
      componentSection('cluster', 'cluster.ts', 'runClusterBench', { quick: context.quick }, (raw) =>
        raw.unit === 'MB/s' ? 'loopback-MBps' : undefined,
      ),
  },
  {
    key: 'transactions',
    fullOnly: 'transactional produce figures need the full run',
    timeoutMs: (context) => (context.quick ? 120_000 : 600_000),
    run: (context) =>
      withRunnelBroker(context.dataDir, 'transactions', (broker) =>
        componentSection(
          'transactions',
          'transactions.ts',
          'runTransactionsBench',
          { quick: context.quick, bootstrap: broker.bootstrap },
          () => undefined,
        ),
      ),
  },
  {
    key: 'nats',
    timeoutMs: (context) => 2 * workloadTimeoutMs(context),
    async run(context) {
      const { figures, setup } = await runNatsBench(context.workload, !context.quick);
      context.setup.push(setup);
      return figures;
    },
  },
  {
    key: 'redis',
    timeoutMs: (context) => 4 * workloadTimeoutMs(context),
    async run(context) {
      const figures: Figure[] = [];
      // Quick mode: Redis without persistence only (its fastest; the AOF run needs the full run).
      for (const persistence of context.quick ? (['none'] as const) : (['none', 'aof-everysec'] as const)) {
        const result = await runRedisBench(context.workload, persistence, !context.quick);
        context.setup.push(result.setup);
        figures.push(...result.figures);
      }
      if (context.quick) context.setup.push('Redis AOF (appendfsync everysec): left out of quick mode');
      return figures;
    },
  },
  {
    key: 'runnel',
    // Four clients on one broker, 100 partitions, RF=3 on three brokers, 10,000 partitions.
    timeoutMs: (context) => 8 * workloadTimeoutMs(context) + 300_000,
    async run(context) {
      const { figures, setup } = await runRunnelBench({
        ...context.workload,
        dataDir: context.dataDir,
        quick: context.quick,
      });
      context.setup.push(setup);
      return figures;
    },
  },
];

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: REPO,
      encoding: 'utf8',
    });
    return dirty.trim() === '' ? commit : `${commit} (with uncommitted changes)`;
  } catch {
    return 'unknown';
  }
}

function machineInfo(loadAtStart: number): MachineInfo {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
    memoryGiB: totalmem() / 2 ** 30,
    kernel: release(),
    node: process.version,
    commit: gitCommit(),
    loadAverage: { start: loadAtStart, end: loadavg()[0]! },
  };
}

/** A mistake on the command line: reported without a stack. */
class UsageError extends Error {}

function failure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `failed: ${message.split('\n')[0]!.slice(0, 200)}`;
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        rate: { type: 'string' },
      },
    }).values;
  } catch (error) {
    throw new UsageError(
      `${error instanceof Error ? error.message : String(error)}; usage: bench [--quick] [--only s1,s2] [--rate MB/s]`,
    );
  }
}

async function main(): Promise<void> {
  const values = parseCommandLine();
  const quick = values.quick === true;
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((key) => !SECTIONS.some((s) => s.key === key)) ?? [];
  if (unknown.length > 0) {
    throw new UsageError(`unknown section ${unknown.join(', ')}; sections: ${SECTIONS.map((s) => s.key).join(', ')}`);
  }
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0))
    throw new UsageError(`--rate wants a positive number of MB/s, not ${values.rate}`);
  const workload = workloadOptions(quick, rate);
  const dataRoot = join(REPO, 'data');
  await mkdir(dataRoot, { recursive: true });
  const dataTemp = await makeTempDir(dataRoot, 'bench-');
  const dataDir = dataTemp.path;
  const context: Context = { quick, dataDir, workload, setup: [] };
  const loadAtStart = loadavg()[0]!;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const skipped: string[] = [];
  const runStart = performance.now();
  try {
    for (const section of SECTIONS) {
      if (only !== undefined && !only.includes(section.key)) continue;
      // Sections left out of quick mode, unless asked for by name.
      if (quick && only === undefined && section.fullOnly !== undefined) {
        skipped.push(`${section.key} (${section.fullOnly})`);
        continue;
      }
      const started = performance.now();
      process.stderr.write(`bench: ${section.key}...\n`);
      try {
        figures.push(...(await withTimeout(section.run(context), section.timeoutMs(context), section.key)));
      } catch (error) {
        figures.push(missingSection(section.key, section.key, failure(error)));
      }
      process.stderr.write(`bench: ${section.key} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    await dataTemp.remove();
  }
  for (const f of figures) {
    if (f.value !== null && f.note !== undefined) notes.push(`\\* ${f.source}, ${f.name}: ${f.note}`);
  }
  const rows = compare(figures, { fixedRateMBps: workload.fixedRateMBps });
  process.stdout.write(`\n${renderConsoleTable(rows)}\n\n`);
  const seconds = (performance.now() - runStart) / 1000;
  if (only === undefined) {
    const setup = [
      `Mode: ${quick ? 'quick (`npm run bench -- --quick`)' : 'full (`npm run bench`)'}, ${seconds.toFixed(0)} s in all`,
      ...(skipped.length > 0 ? [`Sections left out of quick mode: ${skipped.join('; ')}`] : []),
      describeWorkload(workload),
      ...(workload.fixedRateMBps < 50
        ? [
            `The p99 latency goal is stated at 50 MB/s; this run measured at ${workload.fixedRateMBps} MB/s, so it is n/a here`,
          ]
        : []),
      ...context.setup,
    ];
    const usage = [
      '`npm run bench`: every section, full durations (several minutes); rewrites this file',
      '`npm run bench -- --quick`: the same table on smaller runs, under 2 minutes, without the broker, client, cluster and transactions sections (`--only` runs them); rewrites this file',
      `\`npm run bench -- --only <section>[,<section>]\`: some of ${SECTIONS.map((s) => s.key).join(', ')}; prints only`,
      '`--rate <MB/s>`: the fixed rate of the latency phase (default 50, or 20 with --quick)',
    ];
    await writeFile(RESULTS, renderMarkdown(rows, { machine: machineInfo(loadAtStart), setup, notes, usage }));
    process.stdout.write(`bench: wrote ${RESULTS} (${seconds.toFixed(0)} s)\n`);
  } else {
    process.stdout.write(`bench: --only given, ${RESULTS} left as it was (${seconds.toFixed(0)} s)\n`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const text =
      error instanceof UsageError
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error);
    process.stderr.write(`bench: ${text}\n`);
    process.exit(1);
  },
);
