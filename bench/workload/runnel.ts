/**
 * Runnel itself: a broker started from `src/broker/start.ts` in a child process, measured for
 * readiness and idle memory, then driven by the workload through kafkajs and @platformatic/kafka.
 * Until the broker entry exists, every figure is reported as not built yet.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { READY_PREFIX } from '../harness/broker-child-protocol.ts';
import { firstLine, LOOPBACK, rssBytes, type Started, startProcess, tsxArgs, withTimeout } from '../harness/process.ts';
import { type Figure, figure, type MetricId, missingSection } from '../harness/results.ts';
import { idleSettleMs } from '../machine.ts';
import { runWorkload, type WorkloadOptions } from './driver.ts';
import { KafkajsTarget, PlatformaticTarget } from './kafka.ts';
import { runKcatMaxRate } from './kcat.ts';
import type { WorkloadTarget } from './target.ts';

const SECTION = 'runnel';
/** The broker's entry; RUNNEL_BENCH_BROKER_ENTRY points elsewhere to try the plumbing with a stand-in. */
const BROKER_ENTRY =
  process.env.RUNNEL_BENCH_BROKER_ENTRY ?? fileURLToPath(new URL('../../src/broker/start.ts', import.meta.url));
const CHILD = fileURLToPath(new URL('../harness/broker-child.ts', import.meta.url));
const NOT_BUILT = 'n/a (not built yet)';
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
const RF3_NOTE = 'n/a (needs a 3-broker cluster launcher; not built yet)';

export function brokerEntryExists(): boolean {
  return existsSync(BROKER_ENTRY);
}

/** What startBroker() is handed: Kafka broker properties, its own log dir, a port of its choosing. */
function brokerOptions(logDir: string): Record<string, unknown> {
  return { config: { 'log.dirs': logDir, listeners: `PLAINTEXT://${LOOPBACK}:0` } };
}

export interface RunningBroker {
  readonly bootstrap: string;
  readonly pid: number;
  readonly readyMs: number;
  readonly processReadyMs: number;
  stop(): Promise<void>;
}

async function startBrokerProcess(logDir: string): Promise<RunningBroker> {
  const spawnedAt = performance.now();
  const child: Started = startProcess(
    process.execPath,
    tsxArgs(CHILD, [BROKER_ENTRY, JSON.stringify(brokerOptions(logDir))]),
  );
  try {
    const line = await firstLine(child, 30_000, 'broker start', READY_PREFIX);
    const processReadyMs = performance.now() - spawnedAt;
    const started = JSON.parse(line.slice(READY_PREFIX.length)) as { bootstrap: string; readyMs: number };
    return {
      bootstrap: started.bootstrap,
      pid: child.child.pid!,
      readyMs: started.readyMs,
      processReadyMs,
      stop: () => child.stop(10_000),
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

function workloadPlaceholders(source: string, note: string): Figure[] {
  return [
    ...WORKLOAD_METRICS.map((metric) => figure(SECTION, source, 'subject', metric, null, note)),
    figure(SECTION, source, 'subject', 'produce-MBps-rf3', null, note),
  ];
}

function placeholders(source: string, note: string): Figure[] {
  return [
    ...workloadPlaceholders(source, note),
    figure(SECTION, source, 'subject', 'ready-ms', null, note),
    figure(SECTION, source, 'subject', 'idle-rss-MB', null, note),
  ];
}

async function runThrough(target: WorkloadTarget, source: string, options: WorkloadOptions): Promise<Figure[]> {
  try {
    await withTimeout(target.connect(), 30_000, `${target.name}: connect`);
    const figures = await runWorkload(target, options, { section: SECTION, source, kind: 'subject' });
    return [...figures, figure(SECTION, source, 'subject', 'produce-MBps-rf3', null, RF3_NOTE)];
  } catch (error) {
    return workloadPlaceholders(source, `failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await withTimeout(target.close(), 15_000, `${target.name}: close`).catch(() => undefined);
  }
}

/**
 * Runs `body` against a Runnel broker started for it in a child process, with a log dir of its
 * own under `dataDir`; stops the broker and removes the dir afterwards. Component benches that
 * need a broker use it too; they get a figure saying so if the broker entry does not exist yet.
 */
export async function withRunnelBroker(
  dataDir: string,
  section: string,
  body: (broker: RunningBroker) => Promise<Figure[]>,
): Promise<Figure[]> {
  if (!brokerEntryExists()) return [missingSection(section, section, NOT_BUILT)];
  const logDir = await mkdtemp(join(dataDir, 'runnel-'));
  let broker: RunningBroker | undefined;
  try {
    broker = await startBrokerProcess(logDir);
    return await body(broker);
  } finally {
    await broker?.stop();
    await rm(logDir, { recursive: true, force: true });
  }
}

const SETUP =
  'Runnel: one broker from src/broker/start.ts in a child process (node --import tsx), log dir on the ./data disk, ' +
  'RF=1, acks=all, no compression; kafkajs consumes through a consumer group, @platformatic/kafka fetches ' +
  'its assigned partitions directly (no group); kcat (librdkafka) measures max-rate produce and consume ' +
  'with a client that is not itself the limit (no peer ratios: the peers are driven from Node); idle RSS read ' +
  'from /proc after the broker settled (includes the tsx loader)';

export async function runRunnelBench(
  options: WorkloadOptions & { readonly dataDir: string; readonly quick: boolean },
): Promise<{ figures: Figure[]; setup: string }> {
  if (!brokerEntryExists()) {
    return {
      figures: placeholders('Runnel', NOT_BUILT),
      setup: 'Runnel: skipped, src/broker/start.ts does not exist yet (every Runnel figure is n/a)',
    };
  }
  try {
    const figures = await withRunnelBroker(options.dataDir, SECTION, async (broker) => {
      await sleep(idleSettleMs(options.quick));
      const rss = await rssBytes(broker.pid);
      const measured: Figure[] = [
        figure(SECTION, 'Runnel', 'subject', 'ready-ms', broker.readyMs),
        figure(SECTION, 'Runnel', 'subject', 'process-ready-ms', broker.processReadyMs),
        figure(
          SECTION,
          'Runnel',
          'subject',
          'idle-rss-MB',
          rss === null ? null : rss / 1e6,
          rss === null ? 'no /proc' : undefined,
        ),
      ];
      const targetOptions = { bootstrap: broker.bootstrap, replicationFactor: 1 };
      measured.push(...(await runThrough(new KafkajsTarget(targetOptions), 'Runnel/kafkajs', options)));
      measured.push(...(await runThrough(new PlatformaticTarget(targetOptions), 'Runnel/platformatic', options)));
      const kcatLabels = { section: SECTION, source: 'Runnel/kcat', kind: 'subject' as const };
      measured.push(...(await runKcatMaxRate(broker.bootstrap, options, kcatLabels)));
      return measured;
    });
    return { figures, setup: SETUP };
  } catch (error) {
    const message = error instanceof Error ? error.message.slice(0, 200) : String(error);
    return { figures: placeholders('Runnel', `failed: ${message}`), setup: 'Runnel: the broker did not start' };
  }
}
