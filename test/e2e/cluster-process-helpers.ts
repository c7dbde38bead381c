/**
 * A cluster of real `runnel start` processes on 127.0.0.1, for fault tests and the cluster
 * benchmark: N nodes, each broker and controller (N voters), fresh data directories, ports
 * picked free. `kill(i)` is a SIGKILL, `start(i)` brings node i back on its directory and
 * ports and waits for its "listening" line.
 *
 * With `proxied: true` every inter-node connection goes through a fault-injecting proxy
 * per ordered pair of nodes (from -> to), so `isolate(i)` cuts node i off from the others
 * while clients still reach it directly:
 *  - Raft and broker -> controller requests: node i's `controller.quorum.voters` names, for
 *    every other voter j, the proxy i>j in front of j's controller listener (the cluster id
 *    is given, since it is otherwise derived from the voters string, which differs per node);
 *  - replication and transaction markers: node i serves one extra listener Rj per other node
 *    j, advertised at the proxy j>i; node j sets `inter.broker.listener.name=Rj`, so its
 *    follower fetches to i go through j>i.
 * Clients use the PLAINTEXT listener, which is advertised at its real port.
 *
 *   const cluster = await startProcessCluster({ nodes: 3 });
 *   after(() => cluster.close());
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { systemClock } from '../../src/env/clock.ts';
import { nodeDisk } from '../../src/env/disk.ts';
import { BatchOffset } from '../../src/protocol/records/batch-header.ts';
import { logConfig } from '../../src/storage/config.ts';
import { FileLog } from '../../src/storage/file-log.ts';
import { partitionDirName } from '../../src/storage/log-manager.ts';
import { readBatchInfo, recordsOf } from '../../src/storage/records.ts';
import { FaultProxy, reservePorts } from '../helpers/proxy.ts';
import { RawClient } from './helpers/raw-client.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'runnel.js');

/** Timeouts short enough for failovers within a test, long enough for a loaded 2-core machine. */
export const FAST_CLUSTER_CONFIG: Record<string, string> = {
  'controller.quorum.election.timeout.ms': '800',
  'controller.quorum.fetch.timeout.ms': '1600',
  'controller.quorum.election.backoff.max.ms': '500',
  'controller.quorum.request.timeout.ms': '1500',
  'broker.heartbeat.interval.ms': '250',
  'broker.session.timeout.ms': '1500',
  'initial.broker.registration.timeout.ms': '30000',
  'replica.lag.time.max.ms': '2000',
  'replica.fetch.wait.max.ms': '100',
  'replica.fetch.backoff.ms': '100',
  'replica.socket.timeout.ms': '3000',
  'group.initial.rebalance.delay.ms': '0',
  'offsets.topic.replication.factor': '3',
  'transaction.state.log.replication.factor': '3',
  'transaction.state.log.min.isr': '2',
  'auto.create.topics.enable': 'false',
};

export interface ProcessClusterOptions {
  nodes: number;
  /** Extra properties for every node (over FAST_CLUSTER_CONFIG). */
  config?: Record<string, string>;
  /** Route inter-node traffic through per-pair proxies (isolate/heal). */
  proxied?: boolean;
  /** RUNNEL_LOG_LEVEL of the nodes (their stderr is kept, bounded, for failure messages). */
  logLevel?: 'warn' | 'info' | 'debug';
  /** Milliseconds a start may take before it fails (default 60 s). */
  startTimeoutMs?: number;
}

export interface ProcessCluster {
  readonly size: number;
  /** host:port of every node's client listener (running or not). */
  readonly bootstrap: string[];
  /** host:port of node i's client listener. */
  address(i: number): string;
  pid(i: number): number | undefined;
  /** Node i's log directory. */
  dataDir(i: number): string;
  isRunning(i: number): boolean;
  /** SIGKILL node i and wait for its exit. */
  kill(i: number): Promise<void>;
  /** SIGTERM node i (clean shutdown) and wait for its exit. */
  stop(i: number): Promise<void>;
  /** Starts node i on its directory and ports; resolves at its "listening" line (with the ms it took). */
  start(i: number): Promise<number>;
  /** Cuts node i off from every other node, both directions (proxied clusters only). */
  isolate(i: number): void;
  heal(i: number): void;
  /** The last lines node i wrote on stderr (bounded), for failure messages. */
  stderrOf(i: number): string;
  /** Leader, replicas and ISR of a partition, as the Metadata of a running node tells it. */
  partitionState(topic: string, partition: number, via?: number[]): Promise<PartitionState | undefined>;
  /** The Raft leader (active controller) as DescribeQuorum through a running node tells it; -1 if unknown. */
  activeController(via?: number[]): Promise<number>;
  close(): Promise<void>;
}

export interface PartitionState {
  leader: number;
  replicas: number[];
  isr: number[];
}

interface NodePorts {
  client: number;
  controller: number;
  /** replication[j]: the listener node j's fetchers dial (proxied clusters). */
  replication: Map<number, number>;
}

const STDERR_KEEP = 16_384;

/** This process's environment without RUNNEL_* settings (they are broker configs), except how to run it. */
function childEnv(logLevel: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RUNNEL_') || k === 'RUNNEL_FROM_SOURCE' || k === 'RUNNEL_LOG_LEVEL') env[k] = v;
  }
  if (logLevel !== undefined) env.RUNNEL_LOG_LEVEL = logLevel;
  return env;
}

/** Resolves once `check()` is true (polled every `everyMs`), rejects after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export async function startProcessCluster(options: ProcessClusterOptions): Promise<ProcessCluster> {
  const n = options.nodes;
  const ids = Array.from({ length: n }, (_, k) => k + 1);
  const proxied = options.proxied === true;
  const root = mkdtempSync(join(tmpdir(), 'runnel-proc-cluster-'));
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const perNode = proxied ? 2 + n : 2;
  const reserved = await reservePorts(n * perNode);
  const free = reserved.ports;
  const ports = new Map<number, NodePorts>();
  for (const i of ids) {
    const base = (i - 1) * perNode;
    const replication = new Map<number, number>();
    if (proxied) for (const j of ids) replication.set(j, free[base + 1 + j]!);
    ports.set(i, { client: free[base]!, controller: free[base + 1]!, replication });
  }
  const portsOf = (i: number): NodePorts => ports.get(i)!;

  // Raft/controller proxies: `c:i>j` in front of j's controller listener; replication
  // proxies: `r:j>i` in front of i's listener Rj.
  const proxies = new Map<string, FaultProxy>();
  if (proxied) {
    for (const from of ids) {
      for (const to of ids) {
        if (from === to) continue;
        proxies.set(`c:${from}>${to}`, await FaultProxy.start(portsOf(to).controller));
        proxies.set(`r:${from}>${to}`, await FaultProxy.start(portsOf(to).replication.get(from)!));
      }
    }
  }
  await reserved.release();
  const proxyPort = (key: string): number => proxies.get(key)!.port;

  const votersFor = (i: number): string =>
    ids.map((j) => `${j}@127.0.0.1:${proxied && j !== i ? proxyPort(`c:${i}>${j}`) : portsOf(j).controller}`).join(',');

  const configOf = (i: number): Record<string, string> => {
    const p = portsOf(i);
    const names = ['PLAINTEXT', 'CONTROLLER', ...(proxied ? ids.map((j) => `R${j}`) : [])];
    const listeners = [`PLAINTEXT://127.0.0.1:${p.client}`, `CONTROLLER://127.0.0.1:${p.controller}`];
    const advertised = [`PLAINTEXT://127.0.0.1:${p.client}`];
    if (proxied) {
      for (const j of ids) {
        listeners.push(`R${j}://127.0.0.1:${p.replication.get(j)}`);
        advertised.push(`R${j}://127.0.0.1:${j === i ? p.replication.get(j) : proxyPort(`r:${j}>${i}`)}`);
      }
    }
    return {
      ...FAST_CLUSTER_CONFIG,
      'node.id': String(i),
      'process.roles': 'broker,controller',
      listeners: listeners.join(','),
      'advertised.listeners': advertised.join(','),
      'listener.security.protocol.map': names.map((nm) => `${nm}:PLAINTEXT`).join(','),
      'controller.listener.names': 'CONTROLLER',
      'controller.quorum.voters': votersFor(i),
      ...(proxied ? { 'inter.broker.listener.name': `R${i}`, 'cluster.id': 'runnel-proc-cluster-0001' } : {}),
      'log.dirs': join(root, `node-${i}`),
      ...(n < 3
        ? {
            'offsets.topic.replication.factor': String(n),
            'transaction.state.log.replication.factor': String(n),
            'transaction.state.log.min.isr': '1',
          }
        : {}),
      ...options.config,
    };
  };

  const children = new Map<number, ChildProcess>();
  const exits = new Map<number, Promise<void>>();
  const stderr = new Map<number, string>();

  const start = (i: number): Promise<number> => {
    if (children.has(i)) throw new Error(`node ${i} is already running`);
    const t0 = performance.now();
    const args = [BIN, 'start'];
    for (const [k, v] of Object.entries(configOf(i))) args.push('--set', `${k}=${v}`);
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: childEnv(options.logLevel),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.set(i, child);
    exits.set(
      i,
      new Promise<void>((resolve) => {
        child.once('exit', () => {
          if (children.get(i) === child) children.delete(i);
          resolve();
        });
      }),
    );
    stderr.set(i, '');
    child.stderr!.on('data', (d: Buffer) => {
      const s = (stderr.get(i) ?? '') + d.toString();
      stderr.set(i, s.length > STDERR_KEEP ? s.slice(-STDERR_KEEP) : s);
    });
    return new Promise<number>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (out.includes(' listening on ')) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve(performance.now() - t0);
        } else if (out.length > STDERR_KEEP) out = out.slice(-STDERR_KEEP);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`node ${i} did not start in ${startTimeoutMs} ms: ${stderr.get(i)}`));
      }, startTimeoutMs);
      child.stdout!.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`node ${i} exited (${code ?? signal}) before listening: ${stderr.get(i)}`));
      });
    });
  };

  const signal = async (i: number, sig: NodeJS.Signals): Promise<void> => {
    const child = children.get(i);
    if (child === undefined) return;
    child.kill(sig);
    await exits.get(i);
  };

  const pairsOf = (i: number): FaultProxy[] =>
    [...proxies.entries()].filter(([k]) => k.includes(`:${i}>`) || k.endsWith(`>${i}`)).map(([, p]) => p);

  const address = (i: number): string => `127.0.0.1:${portsOf(i).client}`;

  /** One request to node i's client listener; undefined when it fails or takes over 3 s. */
  const askNode = async <T>(i: number, ask: (raw: RawClient) => Promise<T | undefined>): Promise<T | undefined> => {
    let raw: RawClient | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      raw = await RawClient.connect(address(i));
      const r = raw;
      return await Promise.race([
        ask(r),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), 3000);
        }),
      ]);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
      raw?.close();
    }
  };

  const cluster: ProcessCluster = {
    size: n,
    get bootstrap() {
      return ids.map(address);
    },
    address,
    pid: (i) => children.get(i)?.pid,
    dataDir: (i) => join(root, `node-${i}`),
    isRunning: (i) => children.has(i),
    kill: (i) => signal(i, 'SIGKILL'),
    stop: (i) => signal(i, 'SIGTERM'),
    start,
    isolate(i) {
      if (!proxied) throw new Error('isolate needs a proxied cluster');
      for (const p of pairsOf(i)) p.block();
    },
    heal(i) {
      for (const p of pairsOf(i)) p.unblock();
    },
    stderrOf: (i) => stderr.get(i) ?? '',
    async partitionState(topic, partition, via) {
      // Each node asked on its own (a client library would wander to any broker it knows).
      for (const i of (via ?? ids).filter((x) => children.has(x))) {
        const state = await askNode(i, async (raw) => {
          const answer = await raw.send(3, 9, {
            topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: topic }],
            allowAutoTopicCreation: false,
            includeClusterAuthorizedOperations: false,
            includeTopicAuthorizedOperations: false,
          });
          const p = answer.topics[0]?.partitions.find((x) => x.partitionIndex === partition);
          if (p === undefined || answer.topics[0]!.errorCode !== 0) return undefined;
          return { leader: p.leaderId, replicas: [...p.replicaNodes].sort(), isr: [...p.isrNodes].sort() };
        });
        if (state !== undefined) return state;
      }
      return undefined;
    },
    async activeController(via) {
      for (const i of (via ?? ids).filter((x) => children.has(x))) {
        const leader = await askNode(i, async (raw) => {
          const answer = await raw.send(55, 0, {
            topics: [{ topicName: '__cluster_metadata', partitions: [{ partitionIndex: 0 }] }],
          });
          const id = answer.topics[0]?.partitions[0]?.leaderId;
          return answer.errorCode === 0 && id !== undefined && id >= 0 ? id : undefined;
        });
        if (leader !== undefined) return leader;
      }
      return -1;
    },
    async close() {
      await Promise.all(ids.map((i) => signal(i, 'SIGKILL')));
      await Promise.all([...proxies.values()].map((p) => p.close()));
      rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    await Promise.all(ids.map(start));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/** A record a producer was told is written: its key's sequence number, partition and offset. */
export interface Acked {
  seq: number;
  partition: number;
  offset: number;
}

/**
 * confluent-kafka (librdkafka) under /usr/bin/python3: an idempotent acks=all producer
 * writing keys `<prefix>-<seq>` to partition seq % partitions, about `ratePerS` records a
 * second, until SIGTERM; then it flushes and exits. Every delivery report is a line
 * (`A seq partition offset`, or `E seq error`), fatal errors `F error`.
 */
const PY_PRODUCER = `
import sys, signal, time
from confluent_kafka import Producer
bootstrap, topic, prefix, partitions, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def on_error(err):
    if err.fatal():
        print('F', err, flush=True)
p = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'enable.idempotence': True,
              'linger.ms': 5, 'retry.backoff.ms': 100, 'message.timeout.ms': 60000,
              'socket.connection.setup.timeout.ms': 2000, 'reconnect.backoff.max.ms': 500,
              'topic.metadata.refresh.interval.ms': 1000, 'error_cb': on_error})
def report(err, msg):
    seq = int(msg.key().decode().split('-')[1])
    if err is None:
        print('A', seq, msg.partition(), msg.offset(), flush=True)
    else:
        print('E', seq, err, flush=True)
seq = 0
start = time.monotonic()
while not stop:
    due = int((time.monotonic() - start) * rate)
    while seq < due and not stop:
        try:
            p.produce(topic, key=('%s-%d' % (prefix, seq)).encode(), value=b'v' * 100, partition=seq % partitions, on_delivery=report)
            seq += 1
        except BufferError:
            break
    p.poll(0.02)
left = p.flush(90)
print('DONE', seq, left, flush=True)
`;

export interface RunningPyProducer {
  acked: Acked[];
  errors: string[];
  /** SIGTERM, wait for the flush; resolves with how many records it produced. */
  stop(timeoutMs?: number): Promise<number>;
  kill(): void;
}

export function startPythonProducer(
  bootstrap: string[],
  topic: string,
  prefix: string,
  partitions: number,
  ratePerS: number,
): RunningPyProducer {
  const child = spawn(
    '/usr/bin/python3',
    ['-c', PY_PRODUCER, bootstrap.join(','), topic, prefix, String(partitions), String(ratePerS)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const acked: Acked[] = [];
  const errors: string[] = [];
  let produced = -1;
  let rest = '';
  let stderrText = '';
  child.stderr.on('data', (d: Buffer) => {
    stderrText = (stderrText + d.toString()).slice(-STDERR_KEEP);
  });
  child.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const parts = line.split(' ');
      if (parts[0] === 'A')
        acked.push({ seq: Number(parts[1]), partition: Number(parts[2]), offset: Number(parts[3]) });
      else if (parts[0] === 'DONE') produced = Number(parts[1]);
      else if (line !== '' && errors.length < 1000) errors.push(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    acked,
    errors,
    async stop(timeoutMs = 100_000) {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
      if (produced < 0) throw new Error(`python producer did not finish: ${stderrText}`);
      return produced;
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * confluent-kafka (librdkafka) under /usr/bin/python3: a consumer of `topic` in group
 * `groupId` (earliest when the group has no offset, auto commit every second, the given
 * session timeout), printing every record (`R partition offset key`) and every assignment
 * (`A partitions`) / revocation (`V partitions`) on stdout; on SIGTERM it closes (commits,
 * leaves the group) and exits.
 */
const PY_CONSUMER = `
import sys, signal
from confluent_kafka import Consumer
bootstrap, topic, group, session_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def on_error(err):
    if err.fatal():
        print('F', err, flush=True)
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'auto.offset.reset': 'earliest',
              'enable.auto.commit': True, 'auto.commit.interval.ms': 1000,
              'session.timeout.ms': session_ms, 'heartbeat.interval.ms': 500, 'fetch.wait.max.ms': 500,
              'socket.connection.setup.timeout.ms': 2000, 'reconnect.backoff.max.ms': 500,
              'topic.metadata.refresh.interval.ms': 1000, 'error_cb': on_error})
def parts(ps):
    return ' '.join(str(p.partition) for p in ps)
c.subscribe([topic], on_assign=lambda _c, ps: print('A', parts(ps), flush=True),
            on_revoke=lambda _c, ps: print('V', parts(ps), flush=True))
while not stop:
    msgs = c.consume(500, 0.2)
    out = []
    for m in msgs:
        if m.error():
            out.append('E %s' % m.error())
        else:
            out.append('R %d %d %s' % (m.partition(), m.offset(), m.key().decode()))
    if out:
        print('\\n'.join(out), flush=True)
c.close()
print('DONE', flush=True)
`;

/** A record a consumer got, and when (performance.now()). */
export interface Delivered extends Consumed {
  atMs: number;
}

export interface RunningPyConsumer {
  /** Every record delivered, in order (redeliveries included). */
  delivered: Delivered[];
  /** Assignment changes (`A 0 1`, `V 0 1`) and errors, in order. */
  events: string[];
  /** SIGTERM (close: commit and leave), SIGKILL after `timeoutMs`; resolves at the exit. */
  stop(timeoutMs?: number): Promise<void>;
  kill(): void;
}

export function startPythonConsumer(
  bootstrap: string[],
  topic: string,
  groupId: string,
  sessionTimeoutMs = 6000,
): RunningPyConsumer {
  const child = spawn(
    '/usr/bin/python3',
    ['-c', PY_CONSUMER, bootstrap.join(','), topic, groupId, String(sessionTimeoutMs)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const delivered: Delivered[] = [];
  const events: string[] = [];
  let rest = '';
  let stderrText = '';
  child.stderr.on('data', (d: Buffer) => {
    stderrText = (stderrText + d.toString()).slice(-STDERR_KEEP);
  });
  child.stdout.on('data', (d: Buffer) => {
    const atMs = performance.now();
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('R ')) {
        const [, p, o, key] = line.split(' ');
        delivered.push({ partition: Number(p), offset: Number(o), key: key ?? '', atMs });
      } else if (line !== '' && line !== 'DONE' && events.length < 1000) events.push(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    delivered,
    events,
    async stop(timeoutMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
      if (stderrText.includes('Traceback')) events.push(`stderr: ${stderrText}`);
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** A consumed record: partition, offset and key. */
export interface Consumed {
  partition: number;
  offset: number;
  key: string;
}

/** Every record of a topic (all partitions, up to each high watermark) through kcat. */
export function readAll(bootstrap: string[], topic: string, timeoutMs = 60_000): Promise<Consumed[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/usr/bin/kcat',
      ['-C', '-b', bootstrap.join(','), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p %o %k\\n'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-STDERR_KEEP);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kcat timed out: ${err}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`kcat exited ${code}: ${err}`));
        return;
      }
      const records: Consumed[] = [];
      for (const line of Buffer.concat(out).toString().split('\n')) {
        if (line === '') continue;
        const [p, o, k] = line.split(' ');
        records.push({ partition: Number(p), offset: Number(o), key: k ?? '' });
      }
      resolve(records);
    });
  });
}

/**
 * Checks one producer's records (keys `<prefix>-<seq>`) in what was consumed: every
 * acknowledged record is at its acknowledged partition and offset, the producer's records
 * in each partition come in increasing sequence order, and (idempotent producers) none is
 * there twice. Returns the problems found (empty: all good).
 */
export function checkProducer(consumed: Consumed[], prefix: string, acked: Acked[], idempotent: boolean): string[] {
  const problems: string[] = [];
  const at = new Map<string, string>();
  const seen = new Map<number, number>();
  const lastSeq = new Map<number, number>();
  for (const r of consumed) {
    at.set(`${r.partition}:${r.offset}`, r.key);
    if (!r.key.startsWith(`${prefix}-`)) continue;
    const seq = Number(r.key.slice(prefix.length + 1));
    seen.set(seq, (seen.get(seq) ?? 0) + 1);
    const last = lastSeq.get(r.partition);
    if (last !== undefined && seq <= last && problems.length < 20) {
      problems.push(`${prefix}: partition ${r.partition} offset ${r.offset} has seq ${seq} after ${last}`);
    }
    lastSeq.set(r.partition, Math.max(seq, last ?? -1));
  }
  if (idempotent) {
    for (const [seq, count] of seen) {
      if (count > 1 && problems.length < 40) problems.push(`${prefix}: seq ${seq} is there ${count} times`);
    }
  }
  for (const a of acked) {
    const key = at.get(`${a.partition}:${a.offset}`);
    if (key !== `${prefix}-${a.seq}` && problems.length < 60) {
      problems.push(
        `${prefix}: acknowledged seq ${a.seq} at ${a.partition}:${a.offset} but that offset holds ${key ?? 'nothing'}` +
          ` (seq found ${seen.get(a.seq) ?? 0} times)`,
      );
    }
  }
  return problems;
}

/**
 * Calls `visit` for every whole batch of one partition's log in a stopped node's directory
 * that overlaps [fromOffset, toOffset] (uncompressed batches only), read with the storage
 * layer after its recovery. `buf.subarray(pos)` starts the batch.
 */
async function forEachReplicaBatch(
  logDir: string,
  topic: string,
  partition: number,
  fromOffset: number,
  toOffset: number,
  visit: (buf: Buffer, pos: number, info: ReturnType<typeof readBatchInfo>, from: number) => void,
): Promise<void> {
  const log = await FileLog.open({
    dir: join(logDir, partitionDirName(topic, partition)),
    topic,
    partition,
    config: logConfig(),
    disk: nodeDisk,
    clock: systemClock,
  });
  try {
    const end = Math.min(log.logEndOffset(), toOffset + 1);
    let next = Math.max(log.logStartOffset(), fromOffset);
    while (next < end) {
      const r = await log.read(next, 1 << 22, { maxOffset: end });
      if (r.kind !== 'records' || r.records.length === 0) break;
      const buf = r.records;
      let pos = 0;
      while (pos + 61 <= buf.length) {
        const info = readBatchInfo(buf, pos);
        if (pos + info.sizeInBytes > buf.length) break;
        visit(buf, pos, info, next);
        next = info.baseOffset + info.lastOffsetDelta + 1;
        pos += info.sizeInBytes;
      }
    }
  } finally {
    await log.close();
  }
}

/**
 * The records (offset and key) of one partition's log in a stopped node's directory
 * (uncompressed batches only), read with the storage layer after its recovery.
 */
export async function replicaRecords(logDir: string, topic: string, partition: number): Promise<Consumed[]> {
  const out: Consumed[] = [];
  await forEachReplicaBatch(logDir, topic, partition, 0, Number.MAX_SAFE_INTEGER, (buf, pos, info, from) => {
    for (const rec of recordsOf(buf, pos)) {
      const offset = info.baseOffset + rec.offsetDelta;
      if (offset >= from) out.push({ partition, offset, key: rec.key?.toString() ?? '' });
    }
  });
  return out;
}

/** One batch header of a replica's log with the keys of its records (failure diagnostics). */
export interface ReplicaBatch {
  baseOffset: number;
  lastOffset: number;
  partitionLeaderEpoch: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  keys: string[];
}

/**
 * The batch headers of one partition's log in a stopped node's directory whose offsets
 * overlap [fromOffset, toOffset], with their records' keys (uncompressed batches only).
 */
export async function replicaBatches(
  logDir: string,
  topic: string,
  partition: number,
  fromOffset: number,
  toOffset: number,
): Promise<ReplicaBatch[]> {
  const out: ReplicaBatch[] = [];
  await forEachReplicaBatch(logDir, topic, partition, fromOffset, toOffset, (buf, pos, info) => {
    out.push({
      baseOffset: info.baseOffset,
      lastOffset: info.baseOffset + info.lastOffsetDelta,
      partitionLeaderEpoch: info.partitionLeaderEpoch,
      producerId: buf.readBigInt64BE(pos + BatchOffset.ProducerId),
      producerEpoch: buf.readInt16BE(pos + BatchOffset.ProducerEpoch),
      baseSequence: buf.readInt32BE(pos + BatchOffset.BaseSequence),
      keys: Array.from(recordsOf(buf, pos), (rec) => rec.key?.toString() ?? ''),
    });
  });
  return out;
}

/**
 * Sends single acks=all records (key `probe`) to one partition until one is acknowledged;
 * resolves with the milliseconds since `sinceMs`. Every attempt is a new kafkajs producer
 * bootstrapped on the running nodes: kafkajs keeps a dead leader's address in its metadata
 * while connections to it are refused.
 */
export async function firstAckedProduce(
  cluster: ProcessCluster,
  topic: string,
  partition: number,
  sinceMs: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = sinceMs + timeoutMs;
  for (;;) {
    const running = Array.from({ length: cluster.size }, (_, k) => k + 1)
      .filter((i) => cluster.isRunning(i))
      .map((i) => cluster.address(i));
    const probe = new Kafka({
      clientId: 'probe',
      brokers: running,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
      retry: { retries: 0 },
    }).producer();
    try {
      await probe.connect();
      await probe.send({ topic, acks: -1, timeout: 3000, messages: [{ partition, key: 'probe', value: 'p' }] });
      return performance.now() - sinceMs;
    } catch (err) {
      if (performance.now() > deadline) {
        const state = JSON.stringify(await cluster.partitionState(topic, partition));
        throw new Error(`no acks=all produce to ${topic}-${partition} in ${timeoutMs} ms (now ${state}): ${err}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await probe.disconnect().catch(() => {});
    }
  }
}
