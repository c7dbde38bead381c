/**
 * Max-rate produce and consume through kcat (librdkafka, in C), against any Kafka-compatible
 * bootstrap address. A single Node client tops out far below the loopback ceiling, so the
 * "share of loopback" goals need a client that is not itself the limit; this is that client.
 *
 * Produce: kcat -P reads a file of newline-separated 1 KB records and sends them with acks=all
 * and librdkafka's default batching; consume: kcat -C reads them back from the beginning. Both
 * are timed from spawn to exit, so the figures include kcat's start-up (tens of ms).
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, startProcess, withTimeout } from '../harness/process.ts';
import { type Figure, type FigureKind, figure } from '../harness/results.ts';
import { MAX_RATE_METRICS, type WorkloadOptions, type WorkloadVariant } from './driver.ts';
import { PlatformaticTarget } from './kafka.ts';
import type { WorkloadTarget } from './target.ts';

export const KCAT = 'kcat';
const MB = 1e6;
const RECORDS_PER_CHUNK = 1024;

/** A file of `records` lines, each `recordBytes` long with its newline; printable filler only. */
async function writeRecordsFile(path: string, records: number, recordBytes: number): Promise<void> {
  const line = Buffer.alloc(recordBytes, 'x');
  for (let i = 0; i < recordBytes - 1; i++) line[i] = 0x61 + ((i * 7) % 26);
  line[recordBytes - 1] = 0x0a;
  const chunk = Buffer.concat(Array.from({ length: RECORDS_PER_CHUNK }, () => line));
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < records; written += RECORDS_PER_CHUNK) {
      const count = Math.min(RECORDS_PER_CHUNK, records - written);
      await file.write(chunk, 0, count * recordBytes);
    }
  } finally {
    await file.close();
  }
}

/** Runs kcat to completion; resolves with its wall time in seconds, rejects on failure or timeout. */
async function timeKcat(args: string[], timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  const kcat = startProcess(KCAT, args);
  try {
    const exited = new Promise<number | null>((resolve) => kcat.child.once('exit', (code) => resolve(code)));
    const code = await withTimeout(exited, timeoutMs, what);
    if (code !== 0) throw new Error(`${what}: kcat exited with ${code}: ${kcat.output().slice(-300)}`);
    return (performance.now() - started) / 1000;
  } finally {
    await kcat.stop();
  }
}

export interface KcatRunOptions {
  /** Which figures (16 or 100 partitions as `options.partitions` says, RF=3). Default p16. */
  readonly variant?: WorkloadVariant;
  /** Creates and deletes the topic (a connected target: RF and topic configs are its own). Default: RF=1 through @platformatic/kafka. */
  readonly topicAdmin?: WorkloadTarget;
  /** Bytes to produce; default a quarter of the max-rate byte budget. */
  readonly bytes?: number;
}

/**
 * kcat -P of a file of records to a new topic (acks=all, librdkafka's default batching), then
 * kcat -C of all of it; `bootstrap` may list several brokers (comma-separated).
 */
export async function runKcatMaxRate(
  bootstrap: string,
  options: WorkloadOptions & { readonly dataDir: string },
  labels: { section: string; source: string; kind: FigureKind },
  run: KcatRunOptions = {},
): Promise<Figure[]> {
  const m = MAX_RATE_METRICS[run.variant ?? 'p16'];
  const make = (metric: Parameters<typeof figure>[3], value: number | null, note?: string) => ({
    ...figure(labels.section, labels.source, labels.kind, metric, value, note),
    peerComparable: false,
  });
  const records = Math.floor((run.bytes ?? options.maxRateBytes / 4) / options.recordBytes);
  const bytes = records * options.recordBytes;
  const ownAdmin = run.topicAdmin === undefined;
  const admin = run.topicAdmin ?? new PlatformaticTarget({ bootstrap: bootstrap.split(',')[0]!, replicationFactor: 1 });
  const dir = await makeTempDir(options.dataDir, 'kcat-');
  const topic = `bench-kcat-${Date.now().toString(36)}`;
  const figures: Figure[] = [];
  try {
    if (ownAdmin) await withTimeout(admin.connect(), 30_000, 'kcat: admin connect');
    await withTimeout(admin.createTopic(topic, options.partitions), 90_000, 'kcat: create topic');
    const file = join(dir.path, 'records.txt');
    await writeRecordsFile(file, records, options.recordBytes);
    const timeoutMs = 60_000 + bytes / 10_000; // at least 10 MB/s
    const common = ['-b', bootstrap, '-t', topic, '-q'];
    const produceSeconds = await timeKcat(
      ['-P', ...common, '-p', '-1', '-l', '-X', 'acks=all', file],
      timeoutMs,
      'kcat produce',
    );
    figures.push(make(m.produceMBps, bytes / MB / produceSeconds), make(m.produceRps, records / produceSeconds));
    const consumeSeconds = await timeKcat(
      // One character per record on stdout: the values themselves would only load this process.
      ['-C', ...common, '-o', 'beginning', '-e', '-c', String(records), '-f', '%p'],
      timeoutMs,
      'kcat consume',
    );
    figures.push(make(m.consumeMBps, bytes / MB / consumeSeconds), make(m.consumeRps, records / consumeSeconds));
  } catch (error) {
    const note = `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    for (const metric of [m.produceMBps, m.produceRps, m.consumeMBps, m.consumeRps]) {
      if (!figures.some((f) => f.metric === metric)) figures.push(make(metric, null, note));
    }
  } finally {
    await withTimeout(admin.deleteTopic(topic), 30_000, 'kcat: delete topic').catch(() => undefined);
    if (ownAdmin) await withTimeout(admin.close(), 15_000, 'kcat: admin close').catch(() => undefined);
    await dir.remove();
  }
  return figures;
}
