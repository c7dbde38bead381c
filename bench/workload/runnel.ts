/**
 * Runnel itself, as users run it: the production build (built-broker.ts) in child processes.
 * Measured: start-up (spawn to the listening line, and to the first acknowledged produce), idle
 * RSS, the time to create many partitions and the RSS with them; then the workload through
 * kafkajs, @platformatic/kafka, the Runnel client and kcat on one broker (RF=1), 100 partitions,
 * and RF=3 on three brokers (acks=all, min.insync.replicas=2) through the Runnel client and kcat.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { firstLine, rssBytes, startProcess, withTimeout } from '../harness/process.ts';
import { type Figure, figure, type MetricId, missingSection } from '../harness/results.ts';
import { idleSettleMs } from '../machine.ts';
import {
  type BrokerProcess,
  buildRunnel,
  firstAckedProduce,
  startBuiltBroker,
  startBuiltCluster,
} from './built-broker.ts';
import { runWorkload, WIDE_PARTITIONS, type WorkloadOptions, type WorkloadVariant } from './driver.ts';
import { KafkajsTarget, PlatformaticTarget } from './kafka.ts';
import { runKcatMaxRate } from './kcat.ts';
import { RunnelClientTarget } from './runnel-client.ts';
import { buildDist, measureStarts, syncDisks } from './startup.ts';
import type { WorkloadTarget } from './target.ts';

const SECTION = 'runnel';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MB = 1e6;
const WORKLOAD_METRICS: readonly MetricId[] = [
  'produce-MBps',
  'produce-rps',
  'consume-MBps',
  'consume-rps',
  'e2e-rate-MBps',
  'e2e-p50-ms',
  'e2e-p99-ms',
  'e2e-p999-ms',
  'e2e-max-ms',
];

const builds = new Map<string, Promise<string>>();

/** The production build of the current sources, made once per benchmark run (per data dir). */
export function runnelEntry(dataDir: string): Promise<string> {
  let build = builds.get(dataDir);
  if (build === undefined) {
    build = buildRunnel(join(dataDir, 'build'));
    builds.set(dataDir, build);
  }
  return build;
}

export interface RunningBroker {
  readonly bootstrap: string;
  readonly pid: number;
}

/**
 * Runs `body` against a built Runnel broker started for it in a child process, with a log dir
 * of its own under `dataDir`; stops the broker and removes the dir afterwards. Component
 * benches that need a broker (client, transactions) use it too.
 */
export async function withRunnelBroker(
  dataDir: string,
  section: string,
  body: (broker: RunningBroker) => Promise<Figure[]>,
): Promise<Figure[]> {
  let entry: string;
  try {
    entry = await runnelEntry(dataDir);
  } catch (error) {
    return [missingSection(section, section, `the build failed: ${firstLineOf(error)}`)];
  }
  const logDir = await mkdtemp(join(dataDir, 'runnel-'));
  let broker: BrokerProcess | undefined;
  try {
    broker = await startBuiltBroker(entry, logDir);
    return await body(broker);
  } finally {
    await broker?.stop();
    await rm(logDir, { recursive: true, force: true });
  }
}

/** Runs one step of the section, saying on stderr how long it took (the section runs for minutes). */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await run();
  } finally {
    process.stderr.write(`bench: runnel: ${what} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}

function firstLineOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
}

async function runThrough(
  target: WorkloadTarget,
  source: string,
  options: WorkloadOptions,
  variant: WorkloadVariant = 'p16',
  latency = true,
): Promise<Figure[]> {
  try {
    await withTimeout(target.connect(), 30_000, `${target.name}: connect`);
    return await runWorkload(target, options, { section: SECTION, source, kind: 'subject' }, variant, latency);
  } catch (error) {
    const metrics: readonly MetricId[] =
      variant === 'p16' ? WORKLOAD_METRICS : [`produce-MBps-${variant}`, `consume-MBps-${variant}`];
    return metrics.map((metric) => figure(SECTION, source, 'subject', metric, null, `failed: ${firstLineOf(error)}`));
  } finally {
    await withTimeout(target.close(), 15_000, `${target.name}: close`).catch(() => undefined);
  }
}

/** RSS of a plain `node` that does nothing: the floor under the built broker's idle RSS. */
async function nodeIdleRss(settleMs: number): Promise<Figure> {
  const child = startProcess(process.execPath, [
    '-e',
    'process.stdout.write("ready\\n"); setTimeout(() => process.exit(0), 60000);',
  ]);
  try {
    await firstLine(child, 15_000, 'idle node start');
    await sleep(settleMs);
    const rss = await rssBytes(child.child.pid!);
    return figure(SECTION, 'node', 'ceiling', 'idle-rss-node-MB', rss === null ? null : rss / MB);
  } finally {
    await child.stop();
  }
}

/** Topics x partitions each of the partition-count figures: 10,000 partitions, or 1,000 in quick mode. */
function manyPartitions(quick: boolean): { topics: number; partitions: number; perRequest: number } {
  return { topics: quick ? 10 : 100, partitions: 100, perRequest: 10 };
}

/**
 * A fresh broker: CreateTopics of `topics` x `partitions` (RF=1, `perRequest` topics per
 * request, one request after another), timed from the first request until every partition has
 * a leader in Metadata; then RSS once the broker settled.
 */
async function measureManyPartitions(entry: string, dataDir: string, quick: boolean): Promise<Figure[]> {
  const { topics, partitions, perRequest } = manyPartitions(quick);
  const total = topics * partitions;
  const what = `${total.toLocaleString('en-US')} partitions (${topics} topics x ${partitions}, RF=1)`;
  const named = (metric: MetricId, value: number | null, name: string, note?: string): Figure => ({
    ...figure(SECTION, 'Runnel', 'subject', metric, value, note),
    name,
  });
  const logDir = await mkdtemp(join(dataDir, 'runnel-partitions-'));
  let broker: BrokerProcess | undefined;
  const admin = { target: undefined as RunnelClientTarget | undefined };
  try {
    broker = await startBuiltBroker(entry, logDir);
    const target = new RunnelClientTarget({ bootstrap: broker.bootstrap, replicationFactor: 1 });
    admin.target = target;
    await withTimeout(target.connect(), 30_000, 'admin connect');
    const names = Array.from({ length: topics }, (_, i) => `bench-many-${i}`);
    const started = performance.now();
    await withTimeout(
      (async () => {
        for (let i = 0; i < topics; i += perRequest) {
          await target.createTopics(names.slice(i, i + perRequest), partitions);
        }
        await target.waitForLeaders(names, partitions);
      })(),
      quick ? 60_000 : 300_000,
      `creating ${what}`,
    );
    const createMs = performance.now() - started;
    await sleep(idleSettleMs(quick));
    const rss = await rssBytes(broker.pid);
    return [
      named('partitions-create-ms', createMs, `time to create ${what}`),
      named('partitions-rss-MB', rss === null ? null : rss / MB, `RSS with ${what}`),
    ];
  } catch (error) {
    return [
      named('partitions-create-ms', null, `time to create ${what}`, `failed: ${firstLineOf(error)}`),
      named('partitions-rss-MB', null, `RSS with ${what}`, `failed: ${firstLineOf(error)}`),
    ];
  } finally {
    await admin.target?.close().catch(() => undefined);
    await broker?.stop();
    await rm(logDir, { recursive: true, force: true });
  }
}

/**
 * Start-up as a user sees it running `npm start` a second time (bench/workload/startup.ts,
 * the same measure as the broker section's): bin/runnel.js on dist/ built from the current
 * sources, the V8 code cache written by an unmeasured start first, then the median of a
 * series of starts, each with an empty log dir under the bench data dir. The disks are
 * synced first, so that the writeback of the sections before is not under way meanwhile.
 */
export async function measureStartUp(dataDir: string, quick: boolean): Promise<Figure[]> {
  const runs = quick ? 3 : 7;
  const metrics = ['process-ready-ms', 'first-produce-ms', 'start-cpu-ms'] as const;
  try {
    buildDist(REPO);
    syncDisks();
    const options = { args: ['bin/runnel.js'], cwd: REPO, logParent: dataDir };
    const rebuild = (): void => buildDist(REPO);
    await measureStarts(options, 1, { rebuild });
    const series = await measureStarts(options, runs, { rebuild });
    const note = `median of ${runs} starts of bin/runnel.js; ${series.codeCache}`;
    return [
      figure(SECTION, 'Runnel', 'subject', 'process-ready-ms', series.listeningMs, note),
      figure(SECTION, 'Runnel', 'subject', 'first-produce-ms', series.firstProduceMs, note),
      figure(SECTION, 'Runnel', 'subject', 'start-cpu-ms', series.cpuMs, note),
    ];
  } catch (error) {
    return metrics.map((metric) => figure(SECTION, 'Runnel', 'subject', metric, null, `failed: ${firstLineOf(error)}`));
  }
}

/** Idle RSS and the workload through every client on one built broker (RF=1). */
async function measureOneBroker(
  entry: string,
  options: WorkloadOptions & { readonly dataDir: string; readonly quick: boolean },
): Promise<Figure[]> {
  const logDir = await mkdtemp(join(options.dataDir, 'runnel-'));
  let broker: BrokerProcess | undefined;
  try {
    broker = await startBuiltBroker(entry, logDir);
    await firstAckedProduce(broker.bootstrap, 30_000);
    await sleep(idleSettleMs(options.quick));
    const rss = await rssBytes(broker.pid);
    const figures: Figure[] = [
      figure(
        SECTION,
        'Runnel',
        'subject',
        'idle-rss-MB',
        rss === null ? null : rss / MB,
        rss === null ? 'no /proc' : undefined,
      ),
    ];
    const rf1 = { bootstrap: broker.bootstrap, replicationFactor: 1 };
    const through = async (
      target: WorkloadTarget,
      source: string,
      o: WorkloadOptions,
      variant: WorkloadVariant,
      latency = true,
    ) => figures.push(...(await step(`${source} ${variant}`, () => runThrough(target, source, o, variant, latency))));
    // Quick mode measures latency through the Runnel client only (the Node-to-Node comparison).
    await through(new KafkajsTarget(rf1), 'Runnel/kafkajs', options, 'p16', !options.quick);
    await through(new PlatformaticTarget(rf1), 'Runnel/platformatic', options, 'p16', !options.quick);
    await through(new RunnelClientTarget(rf1), 'Runnel/client', options, 'p16');
    const kcat = (source: string) => ({ section: SECTION, source, kind: 'subject' as const });
    figures.push(...(await step('kcat p16', () => runKcatMaxRate(broker!.bootstrap, options, kcat('Runnel/kcat')))));
    // The 100-partition topic: max rate only; in quick mode through the Runnel client and kcat only.
    const wide = { ...options, partitions: WIDE_PARTITIONS };
    if (!options.quick) {
      await through(new KafkajsTarget(rf1), 'Runnel/kafkajs', wide, 'p100');
      await through(new PlatformaticTarget(rf1), 'Runnel/platformatic', wide, 'p100');
    }
    await through(new RunnelClientTarget(rf1), 'Runnel/client', wide, 'p100');
    figures.push(
      ...(await step('kcat p100', () =>
        runKcatMaxRate(broker!.bootstrap, wide, kcat('Runnel/kcat'), { variant: 'p100' }),
      )),
    );
    return figures;
  } finally {
    await broker?.stop();
    await rm(logDir, { recursive: true, force: true });
  }
}

/** RF=3 on three built brokers, acks=all, min.insync.replicas=2: max rate through the Runnel client and kcat. */
async function measureRf3(
  entry: string,
  options: WorkloadOptions & { readonly dataDir: string; readonly quick: boolean },
): Promise<Figure[]> {
  const root = await mkdtemp(join(options.dataDir, 'runnel-rf3-'));
  const rf3 = { replicationFactor: 3, topicConfigs: { 'min.insync.replicas': '2' } };
  const fail = (source: string, error: unknown) =>
    (['produce-MBps-rf3', 'produce-rps-rf3'] as const).map((metric) =>
      figure(SECTION, source, 'subject', metric, null, `failed: ${firstLineOf(error)}`),
    );
  let cluster: Awaited<ReturnType<typeof startBuiltCluster>> | undefined;
  try {
    cluster = await startBuiltCluster(entry, root, 3);
    const bootstrap = cluster.bootstrap;
    // End-to-end latency at RF=3 too, in full mode (quick mode: max rate only).
    const figures = await runThrough(
      new RunnelClientTarget({ bootstrap, ...rf3 }),
      'Runnel/client',
      options,
      'rf3',
      !options.quick,
    );
    const admin = new RunnelClientTarget({ bootstrap, ...rf3 });
    try {
      await withTimeout(admin.connect(), 30_000, 'kcat admin connect');
      const labels = { section: SECTION, source: 'Runnel/kcat', kind: 'subject' as const };
      figures.push(
        ...(await runKcatMaxRate(bootstrap, options, labels, {
          variant: 'rf3',
          topicAdmin: admin,
          bytes: options.maxRateBytes / 8,
        })),
      );
    } catch (error) {
      figures.push(...fail('Runnel/kcat', error));
    } finally {
      await admin.close().catch(() => undefined);
    }
    return figures;
  } catch (error) {
    return [...fail('Runnel/client', error), ...fail('Runnel/kcat', error)];
  } finally {
    await cluster?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

function setupLine(quick: boolean): string {
  const many = manyPartitions(quick);
  return (
    'Runnel: the production build of the current sources (tools/build.mjs into the bench data dir; what `npm start` runs), ' +
    '`node runnel.js start` in child processes, log dirs on the ./data disk, acks=all, no compression. ' +
    'One broker (RF=1): kafkajs consumes through a consumer group; @platformatic/kafka and the Runnel client ' +
    '(src/client, idempotent producer, linger.ms 0, batch.size 256 KiB) fetch their assigned partitions without a group; ' +
    'kcat (librdkafka) measures max-rate produce and consume with a client that is not itself the limit (no peer ratios: ' +
    'the peers are driven from Node). ' +
    `100 partitions: max rate only, ${quick ? 'through the Runnel client and kcat only (quick mode)' : 'through every client'}. ` +
    (quick ? 'Quick mode: end-to-end latency through the Runnel client only. ' : '') +
    'The RF=1 broker runs with group.initial.rebalance.delay.ms=0 (the only setting changed: kafkajs joins a group twice per run). ' +
    'RF=3: three brokers (each broker and controller, the short timeouts of the process-cluster tests), ' +
    `min.insync.replicas=2, max rate through the Runnel client and kcat${quick ? '' : ', end-to-end latency through the Runnel client'}; ` +
    'the RF=3 goal compares each with its own RF=1 figure. ' +
    `Start-up: \`node bin/runnel.js start\` on dist/ built from the current sources (what \`npm start\` runs), an empty log dir each, after \`sync\`; ` +
    `spawn to the listening line, to the first acknowledged produce (auto-created topic) and the CPU used until unfenced; median of ${quick ? 3 : 7} starts after one that wrote the V8 code cache ` +
    '(the broker section measures the same way). Idle RSS from /proc after settling, beside a plain node process. ' +
    `Partitions: a fresh broker, ${many.topics} topics x ${many.partitions} partitions in CreateTopics of ${many.perRequest} topics each, ` +
    `timed until every partition has a leader${quick ? ' (1,000 in quick mode; 10,000 in full mode)' : ''}; RSS after settling`
  );
}

export async function runRunnelBench(
  options: WorkloadOptions & { readonly dataDir: string; readonly quick: boolean },
): Promise<{ figures: Figure[]; setup: string }> {
  let entry: string;
  try {
    entry = await step('build', () => runnelEntry(options.dataDir));
  } catch (error) {
    return {
      figures: [missingSection(SECTION, 'Runnel', `the build failed: ${firstLineOf(error)}`)],
      setup: 'Runnel: the build failed',
    };
  }
  const figures: Figure[] = [];
  figures.push(...(await step('start-up', () => measureStartUp(options.dataDir, options.quick))));
  // The first start after the build writes the V8 code cache; the partition-count broker is that start.
  figures.push(...(await step('many partitions', () => measureManyPartitions(entry, options.dataDir, options.quick))));
  figures.push(await step('idle node', () => nodeIdleRss(idleSettleMs(options.quick))));
  try {
    figures.push(...(await measureOneBroker(entry, options)));
  } catch (error) {
    figures.push(missingSection(SECTION, 'Runnel', `the broker did not start: ${firstLineOf(error)}`));
  }
  figures.push(...(await step('RF=3 cluster', () => measureRf3(entry, options))));
  return { figures, setup: setupLine(options.quick) };
}
