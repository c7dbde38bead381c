/**
 * `runnel consume`: prints a topic's records, like kafka-console-consumer. Without `--group`
 * it reads every partition (or one, with `--partition`) from the end, the beginning, an
 * offset or a time; with `--group` it joins the group and commits what it printed.
 */
import type { Command } from 'commander';
import { Consumer, type ConsumerRecord, type TopicPartition } from '../client/index.ts';
import {
  action,
  addBootstrapOption,
  type BootstrapOptions,
  CliError,
  checkReachable,
  clientOptions,
  examples,
  parseIntArg,
  parseTime,
  withAdmin,
} from './common.ts';
import { describeTopicsOrFail } from './topics.ts';

export interface ConsumeOptions extends BootstrapOptions {
  topic: string;
  group?: string;
  partition?: number;
  offset?: string;
  fromBeginning?: boolean;
  fromTime?: string;
  maxMessages?: number;
  timeoutMs?: number;
  format: string;
}

export function registerConsume(program: Command): void {
  addBootstrapOption(
    program
      .command('consume')
      .description('print records of a topic, one per line')
      .requiredOption('--topic <name>', 'topic to read')
      .option('--group <id>', 'consume as a member of this consumer group (commits offsets)')
      .option('--partition <n>', 'read only this partition', parseIntArg('--partition', 0))
      .option('--offset <n>', 'start offset in --partition: a number, earliest or latest')
      .option('--from-beginning', 'start at the earliest offset (with --group: when the group has no offset)')
      .option('--from-time <ms|ISO>', 'start at the first record at or after this time')
      .option('--max-messages <n>', 'stop after this many records', parseIntArg('--max-messages', 1))
      .option('--timeout-ms <ms>', 'stop when no record arrives for this long', parseIntArg('--timeout-ms', 1))
      .option(
        '--format <format>',
        'value (the value only) or json (partition, offset, timestamp, key, headers, value)',
        'value',
      ),
  )
    .addHelpText(
      'after',
      examples([
        'runnel consume --topic orders --from-beginning',
        'runnel consume --topic orders --group billing --format json',
        'runnel consume --topic orders --partition 0 --offset 42 --max-messages 10',
        'runnel consume --topic orders --from-time 2026-01-01T00:00:00Z --timeout-ms 5000',
      ]),
    )
    .action(action(async (opts: ConsumeOptions) => runConsume(opts)));
}

function check(opts: ConsumeOptions): void {
  if (opts.format !== 'value' && opts.format !== 'json') {
    throw new CliError(`--format must be value or json, got "${opts.format}"`);
  }
  if (opts.offset !== undefined && opts.partition === undefined) throw new CliError('--offset needs --partition');
  const starts = [opts.offset !== undefined, opts.fromBeginning === true, opts.fromTime !== undefined];
  if (starts.filter(Boolean).length > 1) {
    throw new CliError('give at most one of --offset, --from-beginning and --from-time');
  }
  if (opts.group !== undefined && (opts.offset !== undefined || opts.partition !== undefined)) {
    throw new CliError('--offset and --partition cannot be used with --group');
  }
  if (opts.group !== undefined && opts.fromTime !== undefined)
    throw new CliError('--from-time cannot be used with --group');
  if (opts.offset !== undefined && !/^(\d+|earliest|latest)$/.test(opts.offset)) {
    throw new CliError(`--offset must be a number, earliest or latest, got "${opts.offset}"`);
  }
}

async function runConsume(opts: ConsumeOptions): Promise<number> {
  check(opts);
  const fromTimeMs = opts.fromTime !== undefined ? parseTime(opts.fromTime) : undefined;
  const partitionCount = await withAdmin(opts, async (admin) => {
    const [t] = await describeTopicsOrFail(admin, [opts.topic]);
    return t!.partitions.length;
  });
  if (opts.partition !== undefined && opts.partition >= partitionCount) {
    throw new CliError(`topic ${opts.topic} has no partition ${opts.partition} (it has ${partitionCount})`);
  }
  const consumer = new Consumer({
    ...clientOptions(opts),
    groupId: opts.group,
    autoOffsetReset: opts.fromBeginning ? 'earliest' : 'latest',
    allowAutoCreateTopics: false,
  });
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  // A closed pipe (`runnel consume ... | head`) ends the run quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') stop.abort();
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let count = 0;
  try {
    await checkReachable(consumer.cluster, opts.bootstrapServer);
    if (opts.group !== undefined) {
      consumer.subscribe([opts.topic]);
    } else {
      const tps: TopicPartition[] =
        opts.partition !== undefined
          ? [{ topic: opts.topic, partition: opts.partition }]
          : Array.from({ length: partitionCount }, (_, partition) => ({ topic: opts.topic, partition }));
      consumer.assign(tps);
      await seekStart(consumer, tps, opts, fromTimeMs);
    }
    const max = opts.maxMessages ?? Number.POSITIVE_INFINITY;
    let lastRecordMs = performance.now();
    while (count < max && !stop.signal.aborted) {
      const waitMs =
        opts.timeoutMs !== undefined ? Math.max(1, opts.timeoutMs - (performance.now() - lastRecordMs)) : 1000;
      let records: ConsumerRecord[];
      try {
        records = await consumer.poll({
          maxRecords: Math.min(500, max - count),
          timeoutMs: Math.min(waitMs, 1000),
          signal: stop.signal,
        });
      } catch (e) {
        if (stop.signal.aborted) break;
        throw e;
      }
      if (records.length === 0) {
        if (opts.timeoutMs !== undefined && performance.now() - lastRecordMs >= opts.timeoutMs) break;
        continue;
      }
      lastRecordMs = performance.now();
      let out = '';
      for (const r of records)
        out += `${opts.format === 'json' ? jsonLine(r) : (r.value?.toString('utf8') ?? 'null')}\n`;
      count += records.length;
      if (!process.stdout.write(out) && !stop.signal.aborted) {
        await new Promise<void>((resolve) => {
          process.stdout.once('drain', resolve);
          stop.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    }
    if (opts.group !== undefined) await consumer.commit();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await consumer.close();
  }
  process.stderr.write(`consumed ${count} record${count === 1 ? '' : 's'}\n`);
  return 0;
}

async function seekStart(
  consumer: Consumer,
  tps: TopicPartition[],
  opts: ConsumeOptions,
  fromTimeMs: number | undefined,
): Promise<void> {
  if (opts.offset !== undefined && /^\d+$/.test(opts.offset)) {
    consumer.seek(tps[0]!, Number(opts.offset));
  } else if (opts.fromBeginning || opts.offset === 'earliest') {
    await consumer.seekToBeginning(tps);
  } else if (fromTimeMs !== undefined) {
    const found = await consumer.offsetsForTimes(tps.map((tp) => ({ ...tp, timestamp: fromTimeMs })));
    const ends = await consumer.endOffsets(tps);
    for (const tp of tps) {
      const f = found.find((o) => o.partition === tp.partition);
      const offset =
        f !== undefined && f.offset >= 0 ? f.offset : ends.find((o) => o.partition === tp.partition)!.offset;
      consumer.seek(tp, offset);
    }
  } else {
    await consumer.seekToEnd(tps);
  }
}

function text(b: Buffer | null): string | null {
  return b === null ? null : b.toString('utf8');
}

function jsonLine(r: ConsumerRecord): string {
  const headers: Record<string, string | null> = {};
  for (const h of r.headers) headers[h.key] = text(h.value);
  return JSON.stringify({
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    key: text(r.key),
    headers,
    value: text(r.value),
  });
}
