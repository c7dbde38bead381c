/**
 * Captures real request frames from third-party clients into test/fixtures/capture/.
 *
 *   node --import tsx tools/capture/main.ts [scenario-name-substring ...]
 *
 * Each scenario starts a CaptureResponder on 127.0.0.1, drives one client against it,
 * and writes every request frame it received (without the 4-byte size prefix) as
 * NN-<Api>-v<version>.bin plus a capture.json describing the frames and the records the
 * client was asked to produce, so golden tests can check our decoding field by field.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildRecordBatch } from '../../src/protocol/records/batch.ts';
import type { RecordInput } from '../../src/protocol/records/record.ts';
import { type GeneratedRecords, generateRecords } from './inputs.ts';
import { API_NAMES, CaptureResponder } from './responder.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../test/fixtures/capture');
const CLIENT_TIMEOUT_MS = 30_000;

/** A record as the client was asked to produce it (UTF-8 strings; null = null). */
export interface ExpectedRecord {
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  /** Set when the client was given an explicit timestamp. */
  timestamp?: number;
}

interface Scenario {
  name: string;
  client: string;
  clientVersion: string;
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  topic: string;
  /** The records, listed (small scenarios) or generated (large ones). */
  records?: ExpectedRecord[];
  generatedRecords?: GeneratedRecords;
  idempotent?: boolean;
  /** Produce inside a transaction with this transactional id (kafkajs). */
  transactionalId?: string;
  /** A consumer scenario: the responder serves `records` (built by us) on partition 0 and the client fetches them. */
  consume?: boolean;
  description: string;
  run(port: number, s: Scenario, records: ExpectedRecord[]): Promise<string>;
}

// ---------- inputs ----------

const UNICODE = 'ünïcödé ✓ 日本';
const kcatHeaders: [string, string | null][] = [
  ['trace', 'abc123'],
  ['empty', ''],
];

function smallKcatRecords(): ExpectedRecord[] {
  return [
    { key: 'k1', value: 'hello', headers: kcatHeaders },
    { key: 'k2', value: null, headers: kcatHeaders },
    { key: null, value: 'no-key', headers: kcatHeaders },
    { key: 'k4', value: UNICODE, headers: kcatHeaders },
    { key: 'k5', value: 'x'.repeat(200), headers: kcatHeaders },
  ];
}

function largeRecords(count: number, headers: [string, string | null][], baseTimestamp?: number): GeneratedRecords {
  return { count, keyPrefix: 'key-', headers, ...(baseTimestamp === undefined ? {} : { baseTimestamp }) };
}

const T0 = 1_700_000_000_000;

function jsClientRecords(): ExpectedRecord[] {
  return [
    { key: 'k1', value: 'hello', headers: [['trace', 'abc123']], timestamp: T0 },
    { key: 'k2', value: null, headers: [], timestamp: T0 + 5 },
    {
      key: null,
      value: 'no-key',
      headers: [
        ['a', '1'],
        ['b', '2'],
      ],
      timestamp: T0 - 3,
    },
    { key: 'k4', value: UNICODE, headers: [['ü', UNICODE]], timestamp: T0 + 1000 },
    { key: 'k5', value: 'x'.repeat(200), headers: [], timestamp: T0 + 1001 },
  ];
}

// ---------- clients ----------

function runProcess(cmd: string, args: string[], stdin: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLIENT_TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} exited with ${code}: ${stderr}`));
    });
    child.stdin.end(stdin);
  });
}

async function runKcat(port: number, s: Scenario, records: ExpectedRecord[]): Promise<string> {
  const args = ['-P', '-b', `127.0.0.1:${port}`, '-t', s.topic, '-p', '0', '-K', ':', '-Z', '-z', s.compression];
  for (const [k, v] of records[0]!.headers) args.push('-H', `${k}=${v ?? ''}`);
  args.push('-X', 'linger.ms=100', '-X', 'batch.num.messages=100000');
  if (s.idempotent) args.push('-X', 'enable.idempotence=true');
  const lines = records.map((r) => `${r.key ?? ''}:${r.value ?? ''}\n`).join('');
  await runProcess('kcat', args, lines);
  return `kcat ${args.join(' ')}`;
}

async function runKafkajs(port: number, s: Scenario, records: ExpectedRecord[]): Promise<string> {
  const { Kafka, logLevel, CompressionTypes } = await import('kafkajs');
  const kafka = new Kafka({ clientId: 'golden-kafkajs', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: s.idempotent ?? false,
    maxInFlightRequests: 1,
    ...(s.transactionalId === undefined ? {} : { transactionalId: s.transactionalId }),
  });
  await producer.connect();
  const txn = s.transactionalId === undefined ? null : await producer.transaction();
  const headerObject = (h: [string, string | null][]) => {
    const out: Record<string, string[]> = {};
    for (const [k, v] of h) (out[k] ??= []).push(v ?? '');
    return out;
  };
  await (txn ?? producer).send({
    topic: s.topic,
    acks: -1,
    compression: s.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    messages: records.map((r) => ({
      partition: 0,
      key: r.key,
      value: r.value,
      headers: headerObject(r.headers),
      timestamp: String(r.timestamp),
    })),
  });
  await txn?.commit();
  await producer.disconnect();
  const how = txn ? `a transaction (${s.transactionalId}) committed` : `idempotent ${s.idempotent ?? false}`;
  return `kafkajs producer.send (compression ${s.compression}, ${how})`;
}

async function runPlatformatic(port: number, s: Scenario, records: ExpectedRecord[]): Promise<string> {
  const { Producer, stringSerializers } = await import('@platformatic/kafka');
  const producer = new Producer({
    clientId: 'golden-platformatic',
    bootstrapBrokers: [`127.0.0.1:${port}`],
    serializers: stringSerializers,
    compression: s.compression,
    autocreateTopics: false,
  });
  try {
    await producer.send({
      messages: records.map((r) => ({
        topic: s.topic,
        partition: 0,
        ...(r.key === null ? {} : { key: r.key }),
        ...(r.value === null ? {} : { value: r.value }),
        headers: Object.fromEntries(r.headers.map(([k, v]) => [k, v ?? ''])),
        timestamp: BigInt(r.timestamp!),
      })),
    });
  } finally {
    await producer.close();
  }
  return `@platformatic/kafka Producer.send (compression ${s.compression})`;
}

async function runKafkaPython(port: number, s: Scenario, records: ExpectedRecord[]): Promise<string> {
  const script = `
import json, sys
from kafka import KafkaProducer
records = json.loads(sys.stdin.read())
p = KafkaProducer(bootstrap_servers='127.0.0.1:${port}', client_id='golden-kafka-python',
                  compression_type=${s.compression === 'none' ? 'None' : `'${s.compression}'`},
                  api_version=(2, 0, 0), linger_ms=100, acks=1)
for r in records:
    p.send('${s.topic}', partition=0,
           key=None if r['key'] is None else r['key'].encode(),
           value=None if r['value'] is None else r['value'].encode(),
           headers=[(k, None if v is None else v.encode()) for k, v in r['headers']],
           timestamp_ms=r['timestamp'])
p.flush(10)
p.close(10)
`;
  await runProcess('/usr/bin/python3', ['-c', script], JSON.stringify(records));
  return `kafka-python KafkaProducer (compression ${s.compression}, api_version 2.0.0)`;
}

function toRecordInput(r: ExpectedRecord): RecordInput {
  return {
    key: r.key,
    value: r.value,
    headers: r.headers.map(([key, value]) => ({ key, value })),
    timestamp: r.timestamp ?? 0,
  };
}

async function runKcatConsume(port: number, s: Scenario, records: ExpectedRecord[]): Promise<string> {
  const args = ['-C', '-b', `127.0.0.1:${port}`, '-t', s.topic, '-p', '0', '-o', 'beginning', '-e', '-q'];
  const out = await new Promise<string>((resolve, reject) => {
    execFile('kcat', args, { timeout: CLIENT_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kcat: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
  const lines = out.trimEnd().split('\n');
  if (lines.length !== records.length) throw new Error(`kcat consumed ${lines.length} of ${records.length} records`);
  return `kcat ${args.join(' ')}`;
}

// ---------- scenarios ----------

const KCAT_VERSION = 'kcat 1.7.1, librdkafka 2.0.2';
const scenarios: Scenario[] = [];
for (const c of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
  scenarios.push({
    name: `kcat-${c}`,
    client: 'kcat',
    clientVersion: KCAT_VERSION,
    compression: c,
    topic: `golden-${c}`,
    records: smallKcatRecords(),
    description: `kcat -P -z ${c}: keys, a null value (-Z), a null key, UTF-8, two headers on every record`,
    run: runKcat,
  });
  if (c !== 'none') {
    scenarios.push({
      name: `kcat-${c}-large`,
      client: 'kcat',
      clientVersion: KCAT_VERSION,
      compression: c,
      topic: `golden-${c}-large`,
      generatedRecords: largeRecords(300, kcatHeaders),
      description: `kcat -P -z ${c}: 300 records of 1000-byte values (multi-block compressed payload)`,
      run: runKcat,
    });
  }
}
scenarios.push({
  name: 'kcat-idempotent',
  client: 'kcat',
  clientVersion: KCAT_VERSION,
  compression: 'none',
  topic: 'golden-idempotent',
  records: smallKcatRecords(),
  idempotent: true,
  description: 'kcat -P -X enable.idempotence=true: InitProducerId, then a batch with producerId/epoch/sequence',
  run: runKcat,
});
for (const c of ['none', 'gzip'] as const) {
  scenarios.push({
    name: `kafkajs-${c}`,
    client: 'kafkajs',
    clientVersion: 'kafkajs 2.2.4',
    compression: c,
    topic: `golden-kafkajs-${c}`,
    records: jsClientRecords(),
    description: `kafkajs producer.send, compression ${c}, explicit timestamps (one earlier than the first)`,
    run: runKafkajs,
  });
}
scenarios.push({
  name: 'kafkajs-idempotent',
  client: 'kafkajs',
  clientVersion: 'kafkajs 2.2.4',
  compression: 'none',
  topic: 'golden-kafkajs-idempotent',
  records: jsClientRecords(),
  idempotent: true,
  description: 'kafkajs idempotent producer: InitProducerId, then a batch with producerId/epoch/sequence',
  run: runKafkajs,
});
scenarios.push({
  name: 'kafkajs-transactional',
  client: 'kafkajs',
  clientVersion: 'kafkajs 2.2.4',
  compression: 'none',
  topic: 'golden-kafkajs-transactional',
  records: jsClientRecords(),
  idempotent: true,
  transactionalId: 'golden-txn',
  description:
    'kafkajs transaction: FindCoordinator, InitProducerId(transactional id), AddPartitionsToTxn, a transactional batch, EndTxn(commit)',
  run: runKafkajs,
});
for (const c of ['none', 'gzip', 'snappy', 'lz4'] as const) {
  scenarios.push({
    name: `platformatic-${c}`,
    client: '@platformatic/kafka',
    clientVersion: '@platformatic/kafka 1.35.0',
    compression: c,
    topic: `golden-platformatic-${c}`,
    records: jsClientRecords(),
    description: `@platformatic/kafka Producer.send, compression ${c}, explicit timestamps`,
    run: runPlatformatic,
  });
}
for (const c of ['snappy', 'lz4'] as const) {
  scenarios.push({
    name: `platformatic-${c}-large`,
    client: '@platformatic/kafka',
    clientVersion: '@platformatic/kafka 1.35.0',
    compression: c,
    topic: `golden-platformatic-${c}-large`,
    generatedRecords: largeRecords(300, [['h', 'v']], T0),
    description: `@platformatic/kafka Producer.send, compression ${c}, 300 records of 1000-byte values`,
    run: runPlatformatic,
  });
}
scenarios.push({
  name: 'kcat-consume-zstd',
  client: 'kcat',
  clientVersion: KCAT_VERSION,
  compression: 'zstd',
  topic: 'golden-consume',
  records: jsClientRecords(),
  consume: true,
  description: 'kcat -C -o beginning -e on one partition served by the responder: ListOffsets and Fetch requests',
  run: runKcatConsume,
});
scenarios.push({
  name: 'kafka-python-gzip',
  client: 'kafka-python',
  clientVersion: 'kafka-python 2.0.2',
  compression: 'gzip',
  topic: 'golden-kafka-python-gzip',
  records: jsClientRecords(),
  description: 'kafka-python KafkaProducer, gzip, explicit timestamps',
  run: runKafkaPython,
});

async function capture(s: Scenario): Promise<void> {
  const records = s.records ?? generateRecords(s.generatedRecords!);
  const logs = s.consume
    ? new Map([[s.topic, buildRecordBatch({ records: records.map(toRecordInput), compression: s.compression })]])
    : undefined;
  const responder = new CaptureResponder({ topics: [s.topic], logs });
  const port = await responder.listen();
  const capturedFromMs = Date.now();
  let command: string;
  try {
    command = await s.run(port, s, records);
  } finally {
    await responder.close();
  }
  const capturedToMs = Date.now();
  const dir = path.join(FIXTURES, s.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const frames = responder.frames.map((f, i) => {
    const file = `${String(i).padStart(2, '0')}-${API_NAMES[f.apiKey] ?? f.apiKey}-v${f.apiVersion}.bin`;
    writeFileSync(path.join(dir, file), f.bytes);
    return {
      file,
      apiKey: f.apiKey,
      apiName: API_NAMES[f.apiKey] ?? null,
      apiVersion: f.apiVersion,
      correlationId: f.correlationId,
      clientId: f.clientId,
      sizeInBytes: f.bytes.length,
    };
  });
  const { run: _run, ...described } = s;
  const json = {
    ...described,
    command,
    framing: 'each .bin is one request: header + body, without the 4-byte size prefix',
    capturedFromMs,
    capturedToMs,
    frames,
  };
  writeFileSync(path.join(dir, 'capture.json'), `${JSON.stringify(json, null, 2)}\n`);
  console.log(`${s.name}: ${frames.map((f) => `${f.apiName}v${f.apiVersion}`).join(' ')}`);
}

const filters = process.argv.slice(2);
for (const s of scenarios) {
  if (filters.length > 0 && !filters.some((f) => s.name.includes(f))) continue;
  try {
    await capture(s);
  } catch (e) {
    console.error(`${s.name}: FAILED ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
