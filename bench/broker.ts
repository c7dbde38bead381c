/**
 * The broker's data path, measured from outside: a broker in a child process, kcat
 * (librdkafka) as the load.
 *
 *   node --import tsx bench/broker.ts [--quick]
 *
 * Figures: produce and consume throughput of 1 KiB records over 16 partitions (MB/s and
 * records/s, kcat -P acks=-1 with no compression, then kcat -C of everything), time from
 * process spawn to the first acknowledged produce, and the broker's idle RSS.
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

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
}

const PARTITIONS = 16;
const RECORD_BYTES = 1024;

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

export async function runBrokerBench(opts: { quick: boolean }): Promise<BenchFigure[]> {
  const records = opts.quick ? 50_000 : 500_000;
  const dir = mkdtempSync(join(tmpdir(), 'runnel-bench-broker-'));
  const input = join(dir, 'input.txt');
  const line = `${'x'.repeat(RECORD_BYTES - 1)}\n`;
  writeFileSync(input, line.repeat(records));
  const figures: BenchFigure[] = [];
  const started = performance.now();
  const broker = await spawnBroker(join(dir, 'data'), { 'num.partitions': String(PARTITIONS) });
  try {
    await firstProduce(broker.bootstrap);
    figures.push({ name: 'start to first produce', value: performance.now() - started, unit: 'ms' });
    figures.push({ name: '  of which module loading (tsx)', value: broker.importMs, unit: 'ms' });
    figures.push({ name: '  of which startBroker()', value: broker.startBrokerMs, unit: 'ms' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    figures.push({ name: 'idle RSS', value: rssBytes(broker.pid) / (1024 * 1024), unit: 'MiB' });

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

    const consume = await run('/usr/bin/kcat', [
      '-C',
      '-b',
      broker.bootstrap,
      '-t',
      'bench',
      '-e',
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
    figures.push({
      name: 'consume 1KiB x16p (kcat)',
      value: (consumed * RECORD_BYTES) / 1e6 / (consume.ms / 1000),
      unit: 'MB/s',
    });
    figures.push({ name: 'consume 1KiB x16p (kcat)', value: consumed / (consume.ms / 1000), unit: 'records/s' });
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  runBrokerBench({ quick }).then(
    (figures) => {
      for (const f of figures) console.log(`${f.name.padEnd(40)} ${f.value.toFixed(1).padStart(10)} ${f.unit}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
