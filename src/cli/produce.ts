/**
 * `runnel produce`: one record per line from stdin or a file, like kafka-console-producer.
 * With `--key-separator`, each line is `key<SEP>value`. A file shows a progress bar on stderr
 * (when stderr is a terminal, or with `--progress`).
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { type Acks, Producer, type ProducerRecord, type RecordMetadata } from '../client/index.ts';
import {
  action,
  addBootstrapOption,
  type BootstrapOptions,
  CliError,
  checkReachable,
  clientOptions,
  collect,
  examples,
  parseIntArg,
  parseKeyValue,
  withAdmin,
} from './common.ts';
import { describeTopicsOrFail } from './topics.ts';

export interface ProduceOptions extends BootstrapOptions {
  topic: string;
  file?: string;
  keySeparator?: string;
  header?: string[];
  partition?: number;
  compression: string;
  acks: string;
  lingerMs?: number;
  progress?: boolean;
}

const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
/** Records per send() call, and send() calls awaited at most at once. */
const CHUNK_RECORDS = 500;
const MAX_PENDING_CHUNKS = 32;

export function registerProduce(program: Command): void {
  addBootstrapOption(
    program
      .command('produce')
      .description('send records to a topic, one per line, from stdin or a file')
      .requiredOption('--topic <name>', 'topic to write to')
      .option('--file <path>', 'read records from this file instead of stdin')
      .option('--key-separator <sep>', 'split each line at the first SEP into key and value')
      .option('--header <key=value>', 'header added to every record (repeatable)', collect)
      .option('--partition <n>', 'write every record to this partition', parseIntArg('--partition', 0))
      .option('--compression <codec>', `compression: ${COMPRESSIONS.join(', ')}`, 'none')
      .option('--acks <acks>', 'acknowledgements to wait for: 0, 1 or all', 'all')
      .option('--linger-ms <ms>', 'how long a batch waits for more records', parseIntArg('--linger-ms', 0))
      .option('--progress', 'show a progress bar for --file even when stderr is not a terminal'),
  )
    .addHelpText(
      'after',
      examples([
        "echo 'hello' | runnel produce --topic orders",
        "printf 'k1:v1\\nk2:v2\\n' | runnel produce --topic orders --key-separator :",
        'runnel produce --topic orders --file events.txt --compression zstd --header source=import',
        'runnel produce --topic orders --partition 0 --acks 1 < lines.txt',
      ]),
    )
    .action(action(async (opts: ProduceOptions) => runProduce(opts)));
}

function parseAcks(s: string): Acks {
  if (s === 'all' || s === '-1') return 'all';
  if (s === '0') return 0;
  if (s === '1') return 1;
  throw new CliError(`--acks must be 0, 1, -1 or all, got "${s}"`);
}

async function runProduce(opts: ProduceOptions): Promise<number> {
  const acks = parseAcks(opts.acks);
  if (!(COMPRESSIONS as readonly string[]).includes(opts.compression)) {
    throw new CliError(`--compression must be one of ${COMPRESSIONS.join(', ')}, got "${opts.compression}"`);
  }
  if (opts.keySeparator === '') throw new CliError('--key-separator must not be empty');
  const headers = (opts.header ?? []).map((h) => {
    const [key, value] = parseKeyValue(h, 'header');
    return { key, value };
  });
  let totalBytes = 0;
  if (opts.file !== undefined) {
    try {
      totalBytes = statSync(opts.file).size;
    } catch (e) {
      throw new CliError(`cannot read ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  // The topic must exist: a typo should not auto-create a topic.
  await withAdmin(opts, async (admin) => {
    const [t] = await describeTopicsOrFail(admin, [opts.topic]);
    if (opts.partition !== undefined && opts.partition >= t!.partitions.length) {
      throw new CliError(`topic ${opts.topic} has no partition ${opts.partition} (it has ${t!.partitions.length})`);
    }
  });

  const producer = new Producer({
    ...clientOptions(opts),
    acks,
    compressionType: opts.compression as (typeof COMPRESSIONS)[number],
    lingerMs: opts.lingerMs ?? 5,
    allowAutoCreateTopics: false,
  });
  const showProgress = opts.file !== undefined && (opts.progress === true || process.stderr.isTTY === true);
  const progress = showProgress ? new ProgressBar(totalBytes) : null;
  try {
    await checkReachable(producer.cluster, opts.bootstrapServer);
    const input = opts.file !== undefined ? createReadStream(opts.file) : process.stdin;
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    const pending = new Set<Promise<RecordMetadata[]>>();
    let failure: unknown = null;
    let chunk: ProducerRecord[] = [];
    let lineNumber = 0;
    let sent = 0;
    const flushChunk = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const p = producer.send(chunk);
      chunk = [];
      pending.add(p);
      p.then(
        (r) => {
          pending.delete(p);
          sent += r.length;
        },
        (e: unknown) => {
          pending.delete(p);
          failure ??= e;
        },
      );
      while (pending.size >= MAX_PENDING_CHUNKS && failure === null) await Promise.race(pending).catch(() => {});
    };
    for await (const line of lines) {
      lineNumber++;
      if (failure !== null) break;
      progress?.advance(Buffer.byteLength(line) + 1);
      let key: string | null = null;
      let value = line;
      if (opts.keySeparator !== undefined) {
        const i = line.indexOf(opts.keySeparator);
        if (i < 0) throw new CliError(`line ${lineNumber} has no key separator "${opts.keySeparator}"`);
        key = line.slice(0, i);
        value = line.slice(i + opts.keySeparator.length);
      }
      chunk.push({ topic: opts.topic, key, value, headers, partition: opts.partition });
      if (chunk.length >= CHUNK_RECORDS) await flushChunk();
    }
    await flushChunk();
    await Promise.allSettled([...pending]);
    await producer.flush();
    progress?.done(sent);
    if (failure !== null) throw failure;
    return 0;
  } finally {
    progress?.stop();
    await producer.close({ force: true });
  }
}

/** A one-line progress bar on stderr, redrawn at most five times a second. */
class ProgressBar {
  private readBytes = 0;
  private lastDrawMs = 0;
  private readonly startMs = performance.now();
  private drawn = false;

  constructor(private readonly totalBytes: number) {}

  advance(bytes: number): void {
    this.readBytes += bytes;
    const now = performance.now();
    if (now - this.lastDrawMs >= 200) {
      this.lastDrawMs = now;
      this.draw();
    }
  }

  private draw(): void {
    const fraction = this.totalBytes > 0 ? Math.min(1, this.readBytes / this.totalBytes) : 1;
    const width = 30;
    const filled = Math.round(fraction * width);
    const seconds = (performance.now() - this.startMs) / 1000;
    const rate = seconds > 0 ? this.readBytes / 1048576 / seconds : 0;
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${mb(this.readBytes)}/${mb(this.totalBytes)} MB  ${rate.toFixed(1)} MB/s`,
    );
    this.drawn = true;
  }

  done(records: number): void {
    this.draw();
    process.stderr.write(`\n${records} records sent\n`);
    this.drawn = false;
  }

  stop(): void {
    if (this.drawn) process.stderr.write('\n');
    this.drawn = false;
  }
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
