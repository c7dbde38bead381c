/**
 * End-to-end latency of one broker, measured from outside with the Runnel client: a broker,
 * a producer and a consumer, each in a process of its own (no shared event loop or heap).
 *
 *   node --import tsx bench/latency-probe.ts [--mbps 20] [--seconds 5] [--partitions 16]
 *        [--record-bytes 1024] [--warmup-seconds 2] [--config key=value ...]
 *        [--built true] [--broker-root DIR] [--count-fs-ops true] [--broker-node-flags "--trace-gc"]
 *        [--broker-output FILE] [--broker-cpu-profile FILE] [--broker-heap-profile FILE]
 *
 * --built true runs the production build (`runnel start`, as the benchmark does) instead of
 * the sources through tsx; --broker-root runs the broker of another checkout (an A/B against
 * an older commit: a copy with node_modules linked), the clients staying this checkout's.
 * --count-fs-ops counts the broker's thread-pool file operations (an async_hooks hook, which
 * also hooks every promise: it adds to the broker's CPU and allocations, so it is off by
 * default). The profiles cover the measured window only (node:inspector in the broker).
 *
 * The producer sends keyless records at a fixed rate (acks=all, linger.ms 0, one send per
 * millisecond tick of whatever is due), each stamped with the machine's monotonic clock
 * (process.hrtime: CLOCK_MONOTONIC, one clock for every process) at the moment send() is
 * called; the consumer (assign() of every partition, fetch.min.bytes 1, no group) reads the
 * stamp on arrival. Latency = arrival - send(), so it covers the producer's client, the
 * broker's produce path, the fetch wake-up and the consumer's client.
 *
 * The broker runs with a preload that watches its own event loop (perf_hooks
 * monitorEventLoopDelay) during the measured window, so a slow answer can be told apart
 * from a stalled broker. Prints p50/p90/p99/p99.9/max, the achieved rate, the broker's
 * event loop delay and the load average.
 *
 * The tail: every record slower than 5 ms end to end is attributed to the hop where most of
 * its time went, before its send's acknowledgement (producer client, broker append, produce
 * answer) or after it (fetch wake-up, fetch answer, consumer client), and checked against the
 * garbage collections (1 ms and more) of the three processes over its window
 * (PerformanceObserver 'gc', stamped on the same monotonic clock); the clients' event loop
 * delays and the kernel's dirty/writeback page cache over the window are printed beside.
 * LATENCY_PROBE_DUMP=FILE writes the slow records, the sends and the collections as JSON;
 * LATENCY_PROBE_CHILD_FLAGS adds node flags to both clients (--trace-gc, --cpu-prof, ...).
 */
import { type ChildProcess, execFile, fork, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Admin } from '../src/client/admin.ts';
import { Consumer } from '../src/client/consumer.ts';
import { Producer } from '../src/client/producer.ts';
import { freePort } from './harness/process.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BROKER_CHILD = join(ROOT, 'test/e2e/helpers/broker-child.ts');
const SELF = fileURLToPath(import.meta.url);
const TOPIC = 'latency-probe';
const STAMP_BYTES = 8;
/** A child stops by itself after this long, whatever happens to the parent. */
const CHILD_LIFETIME_MS = 5 * 60_000;

interface ProbeOptions {
  mbps: number;
  seconds: number;
  warmupSeconds: number;
  partitions: number;
  recordBytes: number;
  config: Record<string, string>;
  /** Extra node flags for the broker process (profiling: --cpu-prof, --trace-gc, ...). */
  brokerNodeFlags: string[];
  /**
   * Counts the broker's thread-pool file operations (an async_hooks hook: it also hooks every
   * promise, which adds CPU time and allocations to the broker's figures; off by default).
   */
  countFsOps: boolean;
  /** Writes the broker's CPU profile of the measured window there (V8 .cpuprofile JSON). */
  brokerCpuProfile?: string;
  /** Writes the broker's sampled heap allocations of the measured window there (.heapprofile JSON). */
  brokerHeapProfile?: string;
  /** Runs the production build (tools/build.mjs, `runnel start`) rather than the sources through tsx. */
  built: boolean;
  /** Runs the broker of another checkout (A/B runs against an older commit; it needs node_modules). */
  brokerRoot?: string;
  /** Copies the broker's stdout and stderr there (what --trace-gc and the like print). */
  brokerOutput?: string;
}

/** Monotonic microseconds, comparable across processes (CLOCK_MONOTONIC). */
function nowMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Preloaded into the broker, over the measured window: event loop delay, thread-pool file
 * operations started (async_hooks FSREQ*: each is a round trip through libuv's thread pool,
 * counted whatever the machine's load) and CPU time. SIGUSR2 starts (resets) the window;
 * SIGUSR1 is taken by Node's inspector, so SIGWINCH ends it and prints one line.
 */
const BROKER_PRELOAD = `
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createHook } from 'node:async_hooks';
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
let fsOps = -1;
if (process.env.LATENCY_PROBE_FS_OPS === '1') {
  fsOps = 0;
  createHook({ init(id, type) { if (type === 'FSREQPROMISE' || type === 'FSREQCALLBACK') fsOps++; } }).enable();
}
let cpu = process.cpuUsage();
import { PerformanceObserver, performance } from 'node:perf_hooks';
const gcOffset = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
let gcs = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (gcs.length < 20000) gcs.push([Math.round(gcOffset + e.startTime * 1000), Math.round(e.duration * 1000), e.detail?.kind ?? 0]); }).observe({ entryTypes: ['gc'] });
const profileTo = process.env.LATENCY_PROBE_CPU_PROFILE;
const heapTo = process.env.LATENCY_PROBE_HEAP_PROFILE;
let session;
if (profileTo || heapTo) {
  const { Session } = await import('node:inspector');
  session = new Session();
  session.connect();
}
process.on('SIGUSR2', () => {
  h.reset(); if (fsOps >= 0) fsOps = 0; cpu = process.cpuUsage(); gcs = [];
  process.stderr.write('WINDOW START\\n');
  if (profileTo) session.post('Profiler.enable', () => session.post('Profiler.start'));
  if (heapTo) session.post('HeapProfiler.enable', () => session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }));
});
process.on('SIGWINCH', () => {
  const ms = (ns) => (ns / 1e6).toFixed(2);
  const used = process.cpuUsage(cpu);
  if (profileTo) session.post('Profiler.stop', (err, r) => { if (!err) import('node:fs').then((fs) => fs.writeFileSync(profileTo, JSON.stringify(r.profile))); });
  if (heapTo) session.post('HeapProfiler.stopSampling', (err, r) => { if (!err) import('node:fs').then((fs) => fs.writeFileSync(heapTo, JSON.stringify(r.profile))); });
  process.stderr.write('ELD p50=' + ms(h.percentile(50)) + ' p99=' + ms(h.percentile(99)) + ' max=' + ms(h.max) +
    ' FSOPS=' + fsOps + ' CPUMS=' + ((used.user + used.system) / 1000).toFixed(0) + '\\n');
  process.stderr.write('GCS ' + JSON.stringify(gcs) + '\\n');
});
`;

function parseArgs(argv: readonly string[]): ProbeOptions {
  const o: ProbeOptions = {
    mbps: 20,
    seconds: 5,
    warmupSeconds: 2,
    partitions: 16,
    recordBytes: 1024,
    config: {},
    brokerNodeFlags: [],
    countFsOps: false,
    built: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${arg} needs a value`);
    i++;
    if (arg === '--mbps') o.mbps = Number(value);
    else if (arg === '--seconds') o.seconds = Number(value);
    else if (arg === '--warmup-seconds') o.warmupSeconds = Number(value);
    else if (arg === '--partitions') o.partitions = Number(value);
    else if (arg === '--record-bytes') o.recordBytes = Number(value);
    else if (arg === '--broker-node-flags') o.brokerNodeFlags = value.split(' ').filter((f) => f !== '');
    else if (arg === '--count-fs-ops') o.countFsOps = value === 'true';
    else if (arg === '--broker-cpu-profile') o.brokerCpuProfile = value;
    else if (arg === '--broker-heap-profile') o.brokerHeapProfile = value;
    else if (arg === '--built') o.built = value === 'true';
    else if (arg === '--broker-root') o.brokerRoot = value;
    else if (arg === '--broker-output') o.brokerOutput = value;
    else if (arg === '--config') {
      const eq = value.indexOf('=');
      o.config[value.slice(0, eq)] = value.slice(eq + 1);
    } else throw new Error(`unknown argument ${arg}`);
  }
  return o;
}

// ---- children -----------------------------------------------------------------------------

/** A process's garbage collections (monotonic start micros, duration micros) and event loop delay. */
interface ProcessWatch {
  gcs: [number, number][];
  eldP99Ms: number;
  eldMaxMs: number;
  /** CPU time (user + system, all threads) over the window. */
  cpuMs: number;
}

type ChildMessage =
  | { type: 'ready' }
  | { type: 'start'; measureFromMicros: number; endMicros: number }
  | {
      type: 'sent';
      records: number;
      seconds: number;
      ackMicros: number[];
      /** Per send call after the warm-up: [first record's stamp, send() called, acknowledged]. */
      sends: [number, number, number][];
      watch: ProcessWatch;
    }
  | {
      type: 'latencies';
      micros: number[];
      received: number;
      /** Records above SLOW_MICROS: [stamp, handed to the application]. */
      slow: [number, number][];
      watch: ProcessWatch;
    }
  | { type: 'stop' };

/** Records slower than this end to end are attributed to a hop. */
const SLOW_MICROS = 5000;

/** Watches this process's collections and event loop from `start()` on (bounded: 20,000 collections). */
function watchProcess(): { start: () => void; result: () => ProcessWatch } {
  const offset = nowMicros() - performance.now() * 1000;
  const gcs: [number, number][] = [];
  let on = false;
  const observer = new PerformanceObserver((list) => {
    if (!on) return;
    for (const e of list.getEntries()) {
      if (gcs.length < 20_000) gcs.push([Math.round(offset + e.startTime * 1000), Math.round(e.duration * 1000)]);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const eld = monitorEventLoopDelay({ resolution: 1 });
  let cpu = process.cpuUsage();
  return {
    start: () => {
      on = true;
      eld.enable();
      cpu = process.cpuUsage();
    },
    result: () => {
      observer.disconnect();
      eld.disable();
      const used = process.cpuUsage(cpu);
      return {
        gcs,
        eldP99Ms: eld.percentile(99) / 1e6,
        eldMaxMs: eld.max / 1e6,
        cpuMs: (used.user + used.system) / 1000,
      };
    },
  };
}

function post(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

function nextMessage(type: ChildMessage['type']): Promise<ChildMessage> {
  return new Promise((resolve) => {
    const on = (m: ChildMessage): void => {
      if (m.type !== type) return;
      process.off('message', on);
      resolve(m);
    };
    process.on('message', on);
  });
}

async function producerChild(bootstrap: string, o: ProbeOptions): Promise<void> {
  const producer = new Producer({ bootstrapServers: bootstrap, clientId: 'latency-probe', acks: 'all', lingerMs: 0 });
  // Connect and learn the partitions' leaders before the clock starts.
  await producer.send({ topic: TOPIC, partition: 0, value: Buffer.alloc(o.recordBytes) });
  await post({ type: 'ready' });
  const start = (await nextMessage('start')) as Extract<ChildMessage, { type: 'start' }>;
  const watch = watchProcess();
  const watchFrom = setTimeout(() => watch.start(), Math.max(0, (start.measureFromMicros - nowMicros()) / 1000));
  const sends: [number, number, number][] = [];
  const recordsPerMicro = (o.mbps * 1e6) / o.recordBytes / 1e6;
  const began = nowMicros();
  let sent = 0;
  let failed: unknown;
  const inFlight = new Set<Promise<unknown>>();
  // Send-to-acknowledgement times of the sends after the warm-up (one per send call).
  const ackMicros: number[] = [];
  while (failed === undefined) {
    const now = nowMicros();
    if (now >= start.endMicros) break;
    const due = Math.floor((now - began) * recordsPerMicro);
    if (due > sent) {
      const records = [];
      const firstStamp = nowMicros();
      for (; sent < due; sent++) {
        const value = Buffer.allocUnsafe(o.recordBytes);
        value.fill(0, STAMP_BYTES);
        value.writeDoubleBE(nowMicros(), 0);
        records.push({ topic: TOPIC, value });
      }
      const sentAt = nowMicros();
      const p = producer.send(records).then(
        () => {
          inFlight.delete(p);
          if (sentAt >= start.measureFromMicros) {
            const ackedAt = nowMicros();
            ackMicros.push(ackedAt - sentAt);
            sends.push([firstStamp, sentAt, ackedAt]);
          }
        },
        (err: unknown) => {
          failed = err;
        },
      );
      inFlight.add(p);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  if (failed !== undefined) throw failed;
  clearTimeout(watchFrom);
  const seconds = (nowMicros() - began) / 1e6;
  await post({ type: 'sent', records: sent, seconds, ackMicros, sends, watch: watch.result() });
  await producer.close();
}

async function consumerChild(bootstrap: string, o: ProbeOptions): Promise<void> {
  const consumer = new Consumer({
    bootstrapServers: bootstrap,
    clientId: 'latency-probe',
    autoOffsetReset: 'latest',
    enableAutoCommit: false,
    fetchMinBytes: 1,
    fetchMaxWaitMs: 500,
  });
  consumer.assign(Array.from({ length: o.partitions }, (_, partition) => ({ topic: TOPIC, partition })));
  let measureFrom = Number.POSITIVE_INFINITY;
  // At most (rate x window) records: bounded by the options.
  const latencies: number[] = [];
  const slow: [number, number][] = [];
  let received = 0;
  const watch = watchProcess();
  let watchFrom: NodeJS.Timeout | undefined;
  void nextMessage('start').then((m) => {
    measureFrom = (m as Extract<ChildMessage, { type: 'start' }>).measureFromMicros;
    watchFrom = setTimeout(() => watch.start(), Math.max(0, (measureFrom - nowMicros()) / 1000));
  });
  const stopped = nextMessage('stop');
  const loop = (async () => {
    for await (const batch of consumer.batches()) {
      const now = nowMicros();
      for (const r of batch.records) {
        if (r.value === null || r.value.length < STAMP_BYTES) continue;
        const sentAt = r.value.readDoubleBE(0);
        if (sentAt < measureFrom) continue;
        received++;
        latencies.push(now - sentAt);
        if (now - sentAt > SLOW_MICROS && slow.length < 100_000) slow.push([sentAt, now]);
      }
    }
  })();
  // The first fetches position the consumer at the end of each partition.
  await consumer.poll({ timeoutMs: 1 }).catch(() => {});
  await post({ type: 'ready' });
  await stopped;
  await consumer.close();
  await loop.catch(() => {});
  clearTimeout(watchFrom);
  await post({ type: 'latencies', micros: latencies, received, slow, watch: watch.result() });
}

// ---- parent -------------------------------------------------------------------------------

function waitFor(child: ChildProcess, type: ChildMessage['type'], timeoutMs: number): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no ${type} from a child in ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: ChildMessage): void => {
      if (m.type === type) finish(undefined, m);
    };
    const onExit = (code: number | null): void => finish(new Error(`child exited (${code}) before ${type}`));
    function finish(err: Error | undefined, m?: ChildMessage): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err !== undefined) reject(err);
      else resolve(m!);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface LatencyProbeResult {
  achievedMBps: number;
  received: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** The producer's send() to its acknowledgement (acks=all), per send call. */
  ackP50Ms: number;
  ackP99Ms: number;
  brokerEventLoop: string;
  /** Thread-pool file operations in the broker per 1000 records measured. */
  brokerFsOpsPer1000: number;
  /** Broker CPU time (user + system, all threads) per record measured. */
  brokerCpuMicrosPerRecord: number;
  loadAverage: [number, number];
  /** Where the records above SLOW_MICROS lost their time (see attributeSlow). */
  tail: string;
}

/**
 * Attributes each record slower than SLOW_MICROS end to end to a hop: its send's
 * acknowledgement (producer client + broker produce path + answer) or what came after it
 * (fetch wake-up, fetch answer, consumer client), and counts the records whose window
 * overlaps a garbage collection of 1 ms or more in each process.
 */
function attributeSlow(
  slow: [number, number][],
  sends: [number, number, number][],
  watches: { producer: ProcessWatch; consumer: ProcessWatch; broker: [number, number][] },
): string {
  const bySend = [...sends].sort((a, b) => a[0] - b[0]);
  const findSend = (stamp: number): [number, number, number] | undefined => {
    let lo = 0;
    let hi = bySend.length - 1;
    let found: [number, number, number] | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (bySend[mid]![0] <= stamp) {
        found = bySend[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  const overlaps = (gcs: [number, number][], from: number, to: number): boolean =>
    gcs.some(([at, dur]) => dur >= 1000 && at < to && at + dur > from);
  let ackSlow = 0;
  let afterAckSlow = 0;
  let unknown = 0;
  let gcProducer = 0;
  let gcBroker = 0;
  let gcConsumer = 0;
  let gcAny = 0;
  for (const [stamp, arrival] of slow) {
    const send = findSend(stamp);
    if (send === undefined) {
      unknown++;
      continue;
    }
    // Before the ack: the producer client, the request, the broker's append and its answer (a
    // record handed out before its send's ack lost its time there too).
    const beforeAck = Math.min(send[2], arrival) - stamp;
    const afterAck = arrival - send[2];
    if (beforeAck >= afterAck) ackSlow++;
    else afterAckSlow++;
    const p = overlaps(watches.producer.gcs, stamp, Math.min(send[2], arrival));
    const b = overlaps(watches.broker, stamp, arrival);
    const c = overlaps(watches.consumer.gcs, stamp, arrival);
    if (p) gcProducer++;
    if (b) gcBroker++;
    if (c) gcConsumer++;
    if (p || b || c) gcAny++;
  }
  const pauses = (gcs: [number, number][]): string => {
    const d = gcs.map((g) => g[1] / 1000).sort((a, b) => a - b);
    const over = d.filter((x) => x >= 1).length;
    return `${gcs.length} GCs (${over} >= 1 ms, max ${(d.at(-1) ?? 0).toFixed(1)} ms)`;
  };
  return (
    `${slow.length} records > ${SLOW_MICROS / 1000} ms: ${ackSlow} mostly before their ack, ${afterAckSlow} mostly after it, ` +
    `${unknown} unmatched; overlapping a >= 1 ms GC in producer ${gcProducer}, broker ${gcBroker}, consumer ${gcConsumer} (any ${gcAny}). ` +
    `producer ${pauses(watches.producer.gcs)}, CPU ${watches.producer.cpuMs.toFixed(0)} ms, eld p99 ${watches.producer.eldP99Ms.toFixed(2)} max ${watches.producer.eldMaxMs.toFixed(1)} ms; ` +
    `consumer ${pauses(watches.consumer.gcs)}, CPU ${watches.consumer.cpuMs.toFixed(0)} ms, eld p99 ${watches.consumer.eldP99Ms.toFixed(2)} max ${watches.consumer.eldMaxMs.toFixed(1)} ms; ` +
    `broker ${pauses(watches.broker)}`
  );
}

export async function runLatencyProbe(o: ProbeOptions): Promise<LatencyProbeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'runnel-latency-probe-'));
  const children: ChildProcess[] = [];
  const load0 = loadavg()[0]!;
  let brokerStderr = '';
  const root = o.brokerRoot ?? ROOT;
  const preload = ['--import', `data:text/javascript,${encodeURIComponent(BROKER_PRELOAD)}`];
  let brokerArgs: string[];
  let builtPort = 0;
  if (o.built) {
    // The production bundle, built from `root` (inside it, so that it finds node_modules).
    const outDir = join(root, '.tmp', `latency-probe-build-${process.pid}`);
    await promisify(execFile)(process.execPath, [join(root, 'tools/build.mjs'), '--outdir', outDir], {
      cwd: root,
      timeout: 120_000,
    });
    const entry = join(outDir, 'runnel.js');
    builtPort = await freePort();
    const config: Record<string, string> = {
      'log.dirs': join(dir, 'data'),
      listeners: `PLAINTEXT://127.0.0.1:${builtPort}`,
      'group.initial.rebalance.delay.ms': '0',
      ...o.config,
    };
    brokerArgs = [...preload, entry, 'start', ...Object.entries(config).flatMap(([k, v]) => ['--set', `${k}=${v}`])];
  } else {
    const child = o.brokerRoot === undefined ? BROKER_CHILD : join(o.brokerRoot, BROKER_CHILD.slice(ROOT.length));
    brokerArgs = ['--import', 'tsx', ...preload, child, join(dir, 'data'), '0', JSON.stringify(o.config)];
  }
  const broker = spawn(process.execPath, [...o.brokerNodeFlags, ...brokerArgs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...(o.countFsOps ? { LATENCY_PROBE_FS_OPS: '1' } : {}),
      ...(o.brokerCpuProfile === undefined ? {} : { LATENCY_PROBE_CPU_PROFILE: o.brokerCpuProfile }),
      ...(o.brokerHeapProfile === undefined ? {} : { LATENCY_PROBE_HEAP_PROFILE: o.brokerHeapProfile }),
    },
  });
  children.push(broker);
  const copy = o.brokerOutput === undefined ? undefined : createWriteStream(o.brokerOutput);
  broker.stdout!.on('data', (d: Buffer) => copy?.write(d));
  broker.stderr!.on('data', (d: Buffer) => {
    copy?.write(d);
    brokerStderr += d.toString();
  });
  try {
    const bootstrap = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`broker did not start in 60 s: ${brokerStderr}`)), 60_000);
      broker.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /BOOTSTRAP (\S+)/.exec(out);
        if (m || (o.built && out.includes(' listening on '))) {
          clearTimeout(timer);
          resolve(m ? m[1]! : `127.0.0.1:${builtPort}`);
        }
      });
      broker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`broker exited (${code}): ${brokerStderr}`));
      });
    });
    const admin = new Admin({ bootstrapServers: bootstrap, clientId: 'latency-probe' });
    try {
      await admin.createTopics([{ topic: TOPIC, numPartitions: o.partitions, replicationFactor: 1 }]);
    } finally {
      await admin.close();
    }
    const spawnChild = (role: string): ChildProcess => {
      const child = fork(SELF, ['--child', role, bootstrap, JSON.stringify(o)], {
        cwd: ROOT,
        // LATENCY_PROBE_CHILD_FLAGS: extra node flags for both clients (--trace-gc, --cpu-prof, ...).
        execArgv: [
          '--import',
          'tsx',
          ...(process.env.LATENCY_PROBE_CHILD_FLAGS ?? '').split(' ').filter((f) => f !== ''),
        ],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      return child;
    };
    const consumer = spawnChild('consumer');
    const producer = spawnChild('producer');
    await Promise.all([waitFor(consumer, 'ready', 60_000), waitFor(producer, 'ready', 60_000)]);
    const startMicros = nowMicros();
    const measureFromMicros = startMicros + o.warmupSeconds * 1e6;
    const endMicros = measureFromMicros + o.seconds * 1e6;
    const start: ChildMessage = { type: 'start', measureFromMicros, endMicros };
    consumer.send(start);
    producer.send(start);
    await new Promise((resolve) => setTimeout(resolve, o.warmupSeconds * 1000));
    broker.kill('SIGUSR2');
    // The kernel's dirty and under-writeback page cache over the window (a write blocks when
    // dirty pages are throttled): the largest of samples every 100 ms.
    const pageCache = { dirtyMaxKb: 0, writebackMaxKb: 0 };
    const sampler = setInterval(() => {
      const info = readFileSync('/proc/meminfo', 'utf8');
      const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      pageCache.dirtyMaxKb = Math.max(pageCache.dirtyMaxKb, kb('Dirty'));
      pageCache.writebackMaxKb = Math.max(pageCache.writebackMaxKb, kb('Writeback'));
    }, 100);
    const sent = (await waitFor(producer, 'sent', (o.seconds + o.warmupSeconds) * 1000 + 60_000)) as Extract<
      ChildMessage,
      { type: 'sent' }
    >;
    clearInterval(sampler);
    broker.kill('SIGWINCH');
    // Records still on their way: give the consumer a moment (bounded) to receive them.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    consumer.send({ type: 'stop' } satisfies ChildMessage);
    const result = (await waitFor(consumer, 'latencies', 60_000)) as Extract<ChildMessage, { type: 'latencies' }>;
    const sorted = Float64Array.from(result.micros).sort();
    const acks = Float64Array.from(sent.ackMicros).sort();
    const ms = (us: number): number => us / 1000;
    const eldLine = /ELD (p50=\S+ p99=\S+ max=\S+) FSOPS=(-?\d+) CPUMS=(\d+)/.exec(brokerStderr);
    const eld = eldLine?.[1] ?? 'n/a';
    const brokerGcs = JSON.parse(/GCS (\[.*\])/.exec(brokerStderr)?.[1] ?? '[]') as [number, number][];
    const tail =
      attributeSlow(result.slow, sent.sends, { producer: sent.watch, consumer: result.watch, broker: brokerGcs }) +
      `; page cache dirty max ${(pageCache.dirtyMaxKb / 1024).toFixed(0)} MB, writeback max ${(pageCache.writebackMaxKb / 1024).toFixed(0)} MB`;
    if (process.env.LATENCY_PROBE_DUMP) {
      writeFileSync(
        process.env.LATENCY_PROBE_DUMP,
        JSON.stringify({
          slow: result.slow,
          sends: sent.sends,
          producer: sent.watch,
          consumer: result.watch,
          brokerGcs,
        }),
      );
    }
    const perRecord = (n: number): number => (result.received > 0 ? n / result.received : Number.NaN);
    return {
      achievedMBps: (sent.records * o.recordBytes) / 1e6 / sent.seconds,
      received: result.received,
      p50Ms: ms(percentile(sorted, 50)),
      p90Ms: ms(percentile(sorted, 90)),
      p99Ms: ms(percentile(sorted, 99)),
      p999Ms: ms(percentile(sorted, 99.9)),
      maxMs: ms(sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN),
      ackP50Ms: ms(percentile(acks, 50)),
      ackP99Ms: ms(percentile(acks, 99)),
      brokerEventLoop: eld,
      brokerFsOpsPer1000: o.countFsOps ? perRecord(Number(eldLine?.[2] ?? Number.NaN)) * 1000 : Number.NaN,
      brokerCpuMicrosPerRecord: perRecord(Number(eldLine?.[3] ?? Number.NaN)) * 1000,
      loadAverage: [load0, loadavg()[0]!],
      tail,
    };
  } finally {
    await Promise.all(children.map((c) => stopProcess(c, 'SIGTERM')));
    copy?.end();
    rmSync(dir, { recursive: true, force: true });
    if (o.built) rmSync(join(root, '.tmp', `latency-probe-build-${process.pid}`), { recursive: true, force: true });
  }
}

async function childMain(role: string, bootstrap: string, o: ProbeOptions): Promise<void> {
  const lifetime = setTimeout(() => process.exit(2), CHILD_LIFETIME_MS);
  lifetime.unref();
  process.on('disconnect', () => process.exit(3));
  if (role === 'producer') await producerChild(bootstrap, o);
  else await consumerChild(bootstrap, o);
  process.disconnect();
}

if (process.argv[1] === SELF) {
  const args = process.argv.slice(2);
  const main =
    args[0] === '--child'
      ? childMain(args[1]!, args[2]!, JSON.parse(args[3]!) as ProbeOptions)
      : runLatencyProbe(parseArgs(args)).then((r) => {
          const f = (n: number): string => n.toFixed(2);
          console.log(
            `${f(r.achievedMBps)} MB/s, ${r.received} records measured: p50 ${f(r.p50Ms)} ms, p90 ${f(r.p90Ms)} ms, ` +
              `p99 ${f(r.p99Ms)} ms, p99.9 ${f(r.p999Ms)} ms, max ${f(r.maxMs)} ms; produce ack p50 ${f(r.ackP50Ms)} ms, p99 ${f(r.ackP99Ms)} ms; broker event loop delay ${r.brokerEventLoop} ms, ` +
              `${Number.isNaN(r.brokerFsOpsPer1000) ? '' : `${f(r.brokerFsOpsPer1000)} thread-pool file ops per 1000 records, `}` +
              `${f(r.brokerCpuMicrosPerRecord)} us CPU per record; ` +
              `load ${f(r.loadAverage[0])} -> ${f(r.loadAverage[1])}`,
          );
          console.log(`tail: ${r.tail}`);
        });
  main.catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
