/**
 * Transactions: what exactly-once costs a producer, on one broker. The same workload runs as
 * plain idempotent produce and as transactional produce committing every 100 and every 1,000
 * records, with the Runnel client; kafkajs 2.2.4's transactional producer at commit-every-100
 * runs too, for reference.
 *
 * Workload: 1 KB records, a fresh 16-partition topic per mode, acks=all, no compression. Record
 * i goes to partition i % 16 (explicitly, the same for every mode and client), so every
 * transaction touches all 16 partitions: each commit costs AddPartitionsToTxn for 16
 * partitions, EndTxn and 16 COMMIT markers. Each mode runs for a fixed time after a warm-up on
 * the same producer (not counted; it also registers the transactional id and, the first time,
 * creates __transaction_state).
 *
 * - idempotent: sends of 500 records with up to 8 outstanding (as the client section), until the
 *   time is up; the clock stops at the last acknowledgement.
 * - transactional, commit every N: begin, send the N records (sends of at most 500, all
 *   outstanding at once), commit; one transaction after another until the time is up; the
 *   clock stops when the last commit returns. The Runnel producer is used as a Java client
 *   would be: send() and then commitTransaction() at once, which sends the batches still
 *   lingering and waits for them before EndTxn; so its commit latency (the time
 *   commitTransaction() takes) includes producing the last records. kafkajs's commit does not
 *   wait for sends, so its sends are awaited first and its commit latency is EndTxn alone.
 *
 * Figures: records/s, MB/s, commits/s, mean commit latency, and each transactional mode's
 * records/s as a percentage of idempotent's (`runnel txn/100 vs runnel idempotent`, %), and
 * Runnel's txn/100 over kafkajs's (`x`).
 *
 *   runTransactionsBench({ quick: true, bootstrap: '127.0.0.1:9092' })
 */
import { Kafka, logLevel } from 'kafkajs';
import { Admin } from '../src/client/admin.ts';
import { Producer } from '../src/client/producer.ts';

export interface TransactionsBenchOptions {
  quick: boolean;
  bootstrap: string;
  /** Measured time per mode; default 2 s quick, 10 s full. */
  durationMs?: number;
  /** Warm-up per mode, not counted; default 0.5 s quick, 2 s full. */
  warmupMs?: number;
  /** Run the kafkajs reference mode; default true. */
  kafkajs?: boolean;
}

export interface TransactionsBenchFigure {
  name: string;
  value: number;
  unit: string;
}

export const PARTITIONS = 16;
export const RECORD_BYTES = 1024;
/** Records per send() call. */
export const SEND_SIZE = 500;
/** Sends outstanding at once in the idempotent mode. */
const OUTSTANDING = 8;
/** Runnel's batch.size, as in the client section (one batch per partition per send). */
const RUNNEL_BATCH_BYTES = 256 * 1024;
/** Distinct payloads, reused in a ring. */
const PAYLOADS = 4096;

/** What one measured run counted. */
export interface ModeRun {
  /** Label of the mode in figure names, e.g. `runnel txn/100`. */
  readonly label: string;
  readonly records: number;
  /** Transactions committed (0 for idempotent produce). */
  readonly commits: number;
  /** Wall time of the measured run. */
  readonly elapsedMs: number;
  /** Sum of the time commitTransaction() took, over `commits`. */
  readonly commitMs: number;
}

/**
 * Sizes of the send() calls that make up one transaction of `records` records: as many full
 * sends of `sendSize` as fit, then the rest.
 */
export function sendSizes(records: number, sendSize: number = SEND_SIZE): number[] {
  if (!Number.isInteger(records) || records <= 0)
    throw new RangeError(`records must be a positive integer: ${records}`);
  if (!Number.isInteger(sendSize) || sendSize <= 0)
    throw new RangeError(`sendSize must be a positive integer: ${sendSize}`);
  const sizes: number[] = [];
  for (let left = records; left > 0; left -= sendSize) sizes.push(Math.min(sendSize, left));
  return sizes;
}

/** The partition of the `index`-th record of a run: round-robin, so every transaction of 16+ records touches all. */
export function partitionOf(index: number, partitions: number = PARTITIONS): number {
  return index % partitions;
}

/**
 * The figures of one run: records/s, MB/s and, for a transactional run, commits/s and the mean
 * commit latency; with a baseline (the idempotent run), records/s as a percentage of its.
 */
export function modeFigures(run: ModeRun, baseline?: ModeRun): TransactionsBenchFigure[] {
  if (run.elapsedMs <= 0 || run.records <= 0) return [];
  const seconds = run.elapsedMs / 1000;
  const rps = run.records / seconds;
  const figures: TransactionsBenchFigure[] = [
    { name: run.label, value: (run.records * RECORD_BYTES) / (1024 * 1024) / seconds, unit: 'MB/s' },
    { name: `${run.label} records`, value: rps, unit: 'records/s' },
  ];
  if (run.commits > 0) {
    figures.push(
      { name: `${run.label} commits`, value: run.commits / seconds, unit: 'commits/s' },
      { name: `${run.label} commit latency`, value: run.commitMs / run.commits, unit: 'ms' },
    );
  }
  if (baseline !== undefined && baseline !== run && baseline.elapsedMs > 0 && baseline.records > 0) {
    figures.push(ratioFigure(run, baseline));
  }
  return figures;
}

/**
 * records/s of `run` over `baseline`'s: as a percentage against idempotent produce (small
 * transactions land well below 1x, which the bench table would round to 0.00), as `x` otherwise.
 */
export function ratioFigure(run: ModeRun, baseline: ModeRun): TransactionsBenchFigure {
  const ratio = run.records / run.elapsedMs / (baseline.records / baseline.elapsedMs);
  return baseline.commits === 0
    ? { name: `${run.label} vs ${baseline.label}`, value: ratio * 100, unit: '%' }
    : { name: `${run.label} / ${baseline.label}`, value: ratio, unit: 'x' };
}

function payloads(n: number): Buffer[] {
  // JSON-ish text, as the client section.
  const base = Buffer.alloc(RECORD_BYTES);
  const text = '{"id":0,"user":"someone","action":"click","path":"/a/b/c","ts":1700000000000}';
  for (let i = 0; i < RECORD_BYTES; i++) base[i] = text.charCodeAt(i % text.length);
  return Array.from({ length: n }, (_, i) => {
    const b = Buffer.from(base);
    b.write(String(i).padStart(10, '0'), 7);
    return b;
  });
}

/** A chunk of records to send: `count` records from run index `first`. */
interface Chunk {
  readonly first: number;
  readonly count: number;
}

/** A mode: a producer that sends chunks and, when transactional, wraps them in transactions. */
interface Mode {
  readonly label: string;
  /** Records per transaction; undefined for idempotent produce. */
  readonly perTransaction: number | undefined;
  /** commit() sends what is still buffered and waits for it (the Java way), so sends need not be awaited first. */
  readonly commitFlushes: boolean;
  start(): Promise<void>;
  send(topic: string, chunk: Chunk): Promise<void>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  close(): Promise<void>;
}

function runnelMode(bootstrap: string, values: readonly Buffer[], perTransaction?: number): Mode {
  const transactionalId = perTransaction === undefined ? undefined : `bench-txn-${perTransaction}-${Date.now()}`;
  const producer = new Producer({
    bootstrapServers: bootstrap,
    clientId: 'bench-transactions',
    acks: 'all',
    lingerMs: 5,
    batchSize: RUNNEL_BATCH_BYTES,
    ...(transactionalId === undefined ? { enableIdempotence: true } : { transactionalId }),
  });
  return {
    label: perTransaction === undefined ? 'runnel idempotent' : `runnel txn/${perTransaction}`,
    perTransaction,
    commitFlushes: true,
    async start() {
      if (transactionalId === undefined) await producer.connect();
      else await producer.initTransactions();
    },
    async send(topic, chunk) {
      const records = Array.from({ length: chunk.count }, (_, j) => {
        const index = chunk.first + j;
        return { topic, value: values[index % values.length]!, partition: partitionOf(index) };
      });
      await producer.send(records);
    },
    async begin() {
      producer.beginTransaction();
    },
    commit: () => producer.commitTransaction(),
    close: () => producer.close(),
  };
}

function kafkajsMode(bootstrap: string, values: readonly Buffer[], perTransaction: number): Mode {
  const kafka = new Kafka({ clientId: 'bench-transactions', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  // kafkajs wants one request in flight for a transactional producer.
  const producer = kafka.producer({
    transactionalId: `bench-txn-kafkajs-${perTransaction}-${Date.now()}`,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  let transaction: Awaited<ReturnType<typeof producer.transaction>> | undefined;
  return {
    label: `kafkajs txn/${perTransaction}`,
    perTransaction,
    commitFlushes: false,
    start: () => producer.connect(),
    async send(topic, chunk) {
      if (transaction === undefined) throw new Error('kafkajs: send outside a transaction');
      const messages = Array.from({ length: chunk.count }, (_, j) => {
        const index = chunk.first + j;
        return { value: values[index % values.length]!, partition: partitionOf(index) };
      });
      await transaction.send({ topic, acks: -1, messages });
    },
    async begin() {
      transaction = await producer.transaction();
    },
    async commit() {
      const t = transaction;
      transaction = undefined;
      await t?.commit();
    },
    close: () => producer.disconnect(),
  };
}

/** Drives `mode` on `topic` for `durationMs`, from record index `first`. */
async function drive(mode: Mode, topic: string, durationMs: number, first: number): Promise<ModeRun> {
  let next = first;
  let commits = 0;
  let commitMs = 0;
  const started = performance.now();
  const end = started + durationMs;
  if (mode.perTransaction === undefined) {
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        const chunk = { first: next, count: SEND_SIZE };
        next += SEND_SIZE;
        await mode.send(topic, chunk);
      }
    };
    await Promise.all(Array.from({ length: OUTSTANDING }, worker));
  } else {
    const sizes = sendSizes(mode.perTransaction);
    while (performance.now() < end) {
      await mode.begin();
      const sends: Promise<void>[] = [];
      for (const count of sizes) {
        sends.push(mode.send(topic, { first: next, count }));
        next += count;
      }
      // Runnel: send() then commitTransaction() without waiting in between, as an application
      // would; the commit flushes the batches still lingering. kafkajs: its commit does not
      // wait for sends, so they are awaited first.
      if (!mode.commitFlushes) await Promise.all(sends);
      const commitStart = performance.now();
      await mode.commit();
      commitMs += performance.now() - commitStart;
      await Promise.all(sends);
      commits++;
    }
  }
  return { label: mode.label, records: next - first, commits, elapsedMs: performance.now() - started, commitMs };
}

export async function runTransactionsBench(opts: TransactionsBenchOptions): Promise<TransactionsBenchFigure[]> {
  const durationMs = opts.durationMs ?? (opts.quick ? 2000 : 10_000);
  const warmupMs = opts.warmupMs ?? (opts.quick ? 500 : 2000);
  const values = payloads(PAYLOADS);
  const admin = new Admin({ bootstrapServers: opts.bootstrap, clientId: 'bench-transactions-admin' });
  const makers: (() => Mode)[] = [
    () => runnelMode(opts.bootstrap, values),
    () => runnelMode(opts.bootstrap, values, 100),
    () => runnelMode(opts.bootstrap, values, 1000),
    ...(opts.kafkajs === false ? [] : [() => kafkajsMode(opts.bootstrap, values, 100)]),
  ];
  const runs: ModeRun[] = [];
  try {
    for (const make of makers) {
      const mode = make();
      const topic = `bench-txn-${mode.label.replace(/[^a-z0-9]/g, '')}-${Date.now()}`;
      await admin.createTopics([{ topic, numPartitions: PARTITIONS }]);
      try {
        await mode.start();
        const warm = await drive(mode, topic, warmupMs, 0);
        runs.push(await drive(mode, topic, durationMs, warm.records));
      } finally {
        await mode.close();
        await admin.deleteTopics([topic]).catch(() => undefined);
      }
    }
  } finally {
    await admin.close();
  }
  const idempotent = runs.find((r) => r.commits === 0 && r.label.startsWith('runnel'));
  const figures = runs.flatMap((run) => modeFigures(run, run.label.startsWith('runnel') ? idempotent : undefined));
  // The reference: kafkajs transactional against Runnel's at the same commit interval.
  const ours = runs.find((r) => r.label === 'runnel txn/100');
  const theirs = runs.find((r) => r.label === 'kafkajs txn/100');
  if (ours !== undefined && theirs !== undefined && ours.records > 0 && theirs.records > 0) {
    figures.push(ratioFigure(ours, theirs));
  }
  return figures;
}
