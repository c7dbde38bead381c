/**
 * `runnel perf produce` and `runnel perf consume`: load tests with the flags of Kafka's
 * producer and consumer performance tools. Results go to stdout; a progress line goes to
 * stderr every few seconds.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { Consumer, Producer, type ProducerOptions } from '../client/index.ts';
import {
  action,
  addBootstrapOption,
  type BootstrapOptions,
  CliError,
  checkReachable,
  clientOptions,
  examples,
  keyValues,
  parseIntArg,
  withAdmin,
} from './common.ts';
import { describeTopicsOrFail } from './topics.ts';

const MB = 1024 * 1024;

interface PerfProduceOptions extends BootstrapOptions {
  topic: string;
  numRecords: number;
  recordSize: number;
  throughput: number;
  producerProps?: string[];
  reportingInterval: number;
  transactionalId?: string;
  transactionDurationMs: number;
}

interface PerfConsumeOptions extends BootstrapOptions {
  topic: string;
  messages: number;
  group?: string;
  timeout: number;
  reportingInterval: number;
}

export function registerPerf(program: Command): void {
  const perf = program
    .command('perf')
    .description('measure produce and consume throughput and latency')
    .addHelpText(
      'after',
      examples([
        'runnel perf produce --topic bench --num-records 1000000 --record-size 100 --throughput -1',
        'runnel perf produce --topic bench --num-records 100000 --record-size 1024 --throughput 5000 --producer-props acks=1 linger.ms=10',
        'runnel perf consume --topic bench --messages 1000000',
      ]),
    );

  addBootstrapOption(
    perf
      .command('produce')
      .description('send records as fast as allowed; report records/s, MB/s and latency percentiles')
      .requiredOption('--topic <name>', 'topic to write to')
      .requiredOption('--num-records <n>', 'records to send', parseIntArg('--num-records', 1))
      .requiredOption('--record-size <bytes>', 'value size of each record', parseIntArg('--record-size', 0))
      .option('--throughput <n>', 'records per second at most; -1 for no limit', parseIntArg('--throughput', -1), -1)
      .option(
        '--producer-props <k=v...>',
        'producer configs by Kafka name (acks, linger.ms, batch.size, compression.type, ...)',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option(
        '--reporting-interval <ms>',
        'progress line on stderr this often',
        parseIntArg('--reporting-interval', 1),
        5000,
      )
      .option('--transactional-id <id>', 'send in transactions with this transactional.id')
      .option(
        '--transaction-duration-ms <ms>',
        'with --transactional-id: commit and begin a new transaction this often',
        parseIntArg('--transaction-duration-ms', 1),
        3000,
      ),
  )
    .addHelpText(
      'after',
      examples([
        'runnel perf produce --topic bench --num-records 100000 --record-size 100 --throughput -1 --producer-props acks=all',
        'runnel perf produce --topic bench --num-records 100000 --record-size 100 --transactional-id perf-1 --transaction-duration-ms 500',
      ]),
    )
    .action(action(async (opts: PerfProduceOptions) => perfProduce(opts)));

  addBootstrapOption(
    perf
      .command('consume')
      .description('read records from the beginning; report records/s and MB/s')
      .requiredOption('--topic <name>', 'topic to read')
      .requiredOption('--messages <n>', 'records to read', parseIntArg('--messages', 1))
      .option('--group <id>', 'consume as this group (default: no group, all partitions from the beginning)')
      .option('--timeout <ms>', 'give up when no record arrives for this long', parseIntArg('--timeout', 1), 10000)
      .option(
        '--reporting-interval <ms>',
        'progress line on stderr this often',
        parseIntArg('--reporting-interval', 1),
        5000,
      ),
  )
    .addHelpText('after', examples(['runnel perf consume --topic bench --messages 100000']))
    .action(action(async (opts: PerfConsumeOptions) => perfConsume(opts)));
}

/** Producer configs by Kafka's names, for --producer-props. */
function producerProps(list: string[] | undefined): Partial<ProducerOptions> {
  const props = keyValues(list, 'producer property');
  const out: Record<string, unknown> = {};
  const num = (k: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new CliError(`producer property ${k} must be a number, got "${v}"`);
    return n;
  };
  for (const [k, v] of Object.entries(props)) {
    switch (k) {
      case 'acks':
        out.acks = v === 'all' || v === '-1' ? 'all' : v === '0' ? 0 : v === '1' ? 1 : badAcks(v);
        break;
      case 'compression.type':
        out.compressionType = v;
        break;
      case 'enable.idempotence':
        out.enableIdempotence = v === 'true';
        break;
      case 'client.id':
        out.clientId = v;
        break;
      case 'linger.ms':
      case 'batch.size':
      case 'buffer.memory':
      case 'max.block.ms':
      case 'delivery.timeout.ms':
      case 'max.in.flight.requests.per.connection':
      case 'max.request.size':
      case 'request.timeout.ms':
      case 'retries':
      case 'retry.backoff.ms':
        out[camel(k)] = num(k, v);
        break;
      case 'bootstrap.servers':
        out.bootstrapServers = v;
        break;
      default:
        throw new CliError(`unsupported producer property ${k}`);
    }
  }
  return out as Partial<ProducerOptions>;
}

function badAcks(v: string): never {
  throw new CliError(`acks must be 0, 1, -1 or all, got "${v}"`);
}

function camel(k: string): string {
  return k.replace(/\.([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Latencies in ms, kept whole for exact percentiles (one number a record). */
class Latencies {
  private values: Float64Array;
  private n = 0;
  sum = 0;
  max = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }

  add(ms: number): void {
    if (this.n < this.values.length) this.values[this.n++] = ms;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  percentiles(ps: readonly number[]): number[] {
    const sorted = this.values.slice(0, this.n).sort();
    return ps.map((p) => (this.n === 0 ? 0 : sorted[Math.min(this.n - 1, Math.floor(p * this.n))]!));
  }

  get count(): number {
    return this.n;
  }
}

async function perfProduce(opts: PerfProduceOptions): Promise<number> {
  const props = producerProps(opts.producerProps);
  await withAdmin(opts, async (admin) => {
    await describeTopicsOrFail(admin, [opts.topic]);
  });
  const transactional = opts.transactionalId !== undefined;
  const producer = new Producer({
    ...clientOptions(opts),
    allowAutoCreateTopics: false,
    ...props,
    ...(transactional ? { transactionalId: opts.transactionalId } : {}),
  });
  // Values cycle through a pool of random payloads (so compression sees realistic bytes).
  const pool = Array.from({ length: 64 }, () => randomBytes(opts.recordSize));
  const latencies = new Latencies(opts.numRecords);
  // Records sent but not yet acknowledged, at most (about 8 MB of values, at least 1000 records).
  const maxPending = Math.max(1000, Math.floor((8 * MB) / Math.max(1, opts.recordSize)));
  let pending = 0;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  let start = performance.now();
  let windowStart = start;
  let windowCount = 0;
  let windowBytes = 0;
  let windowLatency = new Latencies(0);
  let acked = 0;
  const report = setInterval(() => {
    const now = performance.now();
    const s = (now - windowStart) / 1000;
    process.stderr.write(
      `${windowCount} records sent, ${(windowCount / s).toFixed(1)} records/s (${(windowBytes / MB / s).toFixed(2)} MB/s), ` +
        `${windowLatency.count > 0 ? (windowLatency.sum / windowLatency.count).toFixed(1) : '0.0'} ms avg latency, ${windowLatency.max.toFixed(1)} ms max latency\n`,
    );
    windowStart = now;
    windowCount = 0;
    windowBytes = 0;
    windowLatency = new Latencies(0);
  }, opts.reportingInterval);
  try {
    await checkReachable(producer.cluster, opts.bootstrapServer);
    await producer.connect();
    let transactions = 0;
    if (transactional) {
      await producer.initTransactions();
      producer.beginTransaction();
      // As Kafka's producer-perf-test: the clock starts once the transactional id is registered.
      start = windowStart = performance.now();
    }
    let transactionStart = performance.now();
    for (let i = 0; i < opts.numRecords && failure === null; i++) {
      if (transactional && performance.now() - transactionStart >= opts.transactionDurationMs) {
        await producer.commitTransaction(); // waits for every record of the transaction
        transactions++;
        producer.beginTransaction();
        transactionStart = performance.now();
      }
      if (opts.throughput > 0) {
        const aheadMs = (i / opts.throughput) * 1000 - (performance.now() - start);
        if (aheadMs > 1) await sleepMs(aheadMs);
      }
      while (pending >= maxPending && failure === null) await new Promise<void>((resolve) => (wake = resolve));
      const sentAt = performance.now();
      pending++;
      producer.send({ topic: opts.topic, value: pool[i % pool.length]! }).then(
        () => {
          const ms = performance.now() - sentAt;
          latencies.add(ms);
          windowLatency.add(ms);
          windowCount++;
          windowBytes += opts.recordSize;
          acked++;
          pending--;
          wake?.();
          wake = null;
        },
        (e: unknown) => {
          failure ??= e;
          pending--;
          wake?.();
          wake = null;
        },
      );
      // Let acknowledgements run now and then.
      if ((i & 1023) === 1023) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await producer.flush();
    while (pending > 0) await new Promise<void>((resolve) => (wake = resolve));
    if (failure !== null) throw failure;
    if (transactional) {
      await producer.commitTransaction();
      transactions++;
      process.stderr.write(`${transactions} transactions committed\n`);
    }
  } finally {
    clearInterval(report);
    await producer.close({ force: true });
  }
  const seconds = (performance.now() - start) / 1000;
  const [p50, p95, p99, p999] = latencies.percentiles([0.5, 0.95, 0.99, 0.999]);
  process.stdout.write(
    `${acked} records sent, ${(acked / seconds).toFixed(1)} records/s (${((acked * opts.recordSize) / MB / seconds).toFixed(2)} MB/s), ` +
      `${(latencies.sum / Math.max(1, acked)).toFixed(2)} ms avg latency, ${latencies.max.toFixed(2)} ms max latency, ` +
      `${p50!.toFixed(2)} ms p50, ${p95!.toFixed(2)} ms p95, ${p99!.toFixed(2)} ms p99, ${p999!.toFixed(2)} ms p99.9\n`,
  );
  return 0;
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function perfConsume(opts: PerfConsumeOptions): Promise<number> {
  const partitions = await withAdmin(opts, async (admin) => {
    const [t] = await describeTopicsOrFail(admin, [opts.topic]);
    return t!.partitions.length;
  });
  const consumer = new Consumer({
    ...clientOptions(opts),
    groupId: opts.group,
    autoOffsetReset: 'earliest',
    allowAutoCreateTopics: false,
    maxPollRecords: 5000,
  });
  let count = 0;
  let bytes = 0;
  let start = 0;
  let lastCount = 0;
  let lastBytes = 0;
  let lastReportMs = 0;
  let report: NodeJS.Timeout | null = null;
  try {
    await checkReachable(consumer.cluster, opts.bootstrapServer);
    if (opts.group !== undefined) consumer.subscribe([opts.topic]);
    else {
      const tps = Array.from({ length: partitions }, (_, partition) => ({ topic: opts.topic, partition }));
      consumer.assign(tps);
      await consumer.seekToBeginning(tps);
    }
    start = performance.now();
    lastReportMs = start;
    report = setInterval(() => {
      const now = performance.now();
      const s = (now - lastReportMs) / 1000;
      process.stderr.write(
        `${count} records read, ${((count - lastCount) / s).toFixed(1)} records/s (${((bytes - lastBytes) / MB / s).toFixed(2)} MB/s)\n`,
      );
      lastReportMs = now;
      lastCount = count;
      lastBytes = bytes;
    }, opts.reportingInterval);
    let lastRecordMs = performance.now();
    while (count < opts.messages) {
      const records = await consumer.poll({ maxRecords: opts.messages - count, timeoutMs: 500 });
      if (records.length === 0) {
        if (performance.now() - lastRecordMs >= opts.timeout) break;
        continue;
      }
      lastRecordMs = performance.now();
      for (const r of records) bytes += (r.value?.length ?? 0) + (r.key?.length ?? 0);
      count += records.length;
    }
  } finally {
    if (report !== null) clearInterval(report);
    await consumer.close();
  }
  const seconds = Math.max(1e-6, (performance.now() - start) / 1000);
  process.stdout.write(
    `${count} records read in ${seconds.toFixed(2)} s, ${(count / seconds).toFixed(1)} records/s, ` +
      `${(bytes / MB).toFixed(2)} MB, ${(bytes / MB / seconds).toFixed(2)} MB/s\n`,
  );
  if (count < opts.messages) {
    throw new CliError(`read ${count} of ${opts.messages} records: none arrived for ${opts.timeout} ms`);
  }
  return 0;
}
