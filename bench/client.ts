/**
 * Client throughput, one run, same broker: the Runnel client against kafkajs 2.2.4 and
 * @platformatic/kafka 1.35.
 *
 * Produce: each library produces N records of 1 KB (no key, so each library's own
 * sticky/round-robin partitioning spreads them) to a fresh 16-partition topic of its own with
 * acks=all and no compression, in sends of 500 records with up to 8 sends outstanding; time
 * runs from the first send to the last acknowledgement. The broker is warmed first by every
 * library on a scratch topic, and each library warms up again (2000 records, not counted).
 *
 * Consume: every library reads the same topic (the same N records in the same batches: written
 * once by the Runnel producer with Kafka's default batch.size, 16 KiB, and linger.ms 5), from
 * the earliest offset through a consumer group of its own, delivered a batch at a time where
 * the library has batches: Runnel's `batches()` (one partition's records from one fetch, at
 * most max.poll.records) against kafkajs's `eachBatch` (one partition's records from one
 * fetch); @platformatic/kafka has only a stream of single messages. Every library reads each
 * record's key and value (`Toucher`), so none can skip or defer decoding, and must deliver
 * exactly N records. Fetch sizes are Kafka's defaults for all three, as the Runnel consumer
 * uses them: fetch.max.bytes 52428800, max.partition.fetch.bytes 1048576, fetch.max.wait.ms
 * 500, fetch.min.bytes 1 (kafkajs's own defaults, maxBytes 10 MB and maxWaitTimeInMs 5000,
 * were no faster: 282 against 290 MB/s, 2.52 against 2.26 us/record, 5 rounds each, load 5.7).
 * Time and client CPU run from the first record to the N-th (group join and close excluded).
 * After a warm-up read of 20,000 records each (not counted), each library reads the topic
 * ROUNDS times (3 in quick runs), interleaved so that each reads first, second and third in
 * turn (consumeRounds); the median round is reported with the lowest and highest, and the
 * ratio of medians with the lowest ratio within one round. One noisy round on this shared
 * machine then does not decide the ratio. The broker's CPU while it serves each consumer is
 * reported too (brokerPid). The payloads the benchmark produced are dropped first, so no
 * consumer's collections walk them.
 *
 * Client CPU per record (process.cpuUsage of this process; the broker runs in another) is
 * reported beside throughput: one broker bounds every library alike, CPU per record shows the
 * client's own cost. Runnel checks every batch's CRC32C (check.crcs, Kafka's default, about
 * 0.25 us per 1 KB record here); kafkajs reads the CRC field and does not check it.
 *
 * Batching: kafkajs and @platformatic/kafka put each send() into one Produce request with one
 * batch per partition (here ~32 KB per partition), with no size cap. The Runnel producer batches
 * like the Java client, by `batch.size` across sends; with Java's default (16 KiB) it would send
 * twice as many, smaller batches as the peers, so it produces with `batch.size` 256 KiB
 * (librdkafka's default is 1 MB). Everything else is each library's default.
 *
 *   runClientBench({ quick: true, bootstrap: '127.0.0.1:9092' })
 */

import { readdirSync, readFileSync } from 'node:fs';
import { Consumer as PlatformaticConsumer, Producer as PlatformaticProducer } from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { Admin } from '../src/client/admin.ts';
import { Consumer } from '../src/client/consumer.ts';
import { Producer } from '../src/client/producer.ts';

export interface ClientBenchOptions {
  quick: boolean;
  bootstrap: string;
  /** The broker's process id: its CPU time while serving each consumer is reported too (Linux). */
  brokerPid?: number;
}

export interface ClientBenchFigure {
  name: string;
  value: number;
  unit: string;
}

const PARTITIONS = 16;
const RECORD_BYTES = 1024;
const SEND_SIZE = 500;
const OUTSTANDING = 8;
/** Runnel's batch.size here (see the header). */
const RUNNEL_BATCH_BYTES = 256 * 1024;

/** Consume rounds per library (interleaved, see consumeRounds); the median is reported. */
const ROUNDS = 5;
const QUICK_ROUNDS = 3;
/** Records each library reads once before the rounds, not counted. */
const WARMUP_RECORDS = 20_000;
/** The peers' fetch sizes, set to Kafka's defaults as the Runnel consumer uses them (see the header). */
const FETCH_MAX_BYTES = 52428800;
const PARTITION_MAX_BYTES = 1048576;
const FETCH_MAX_WAIT_MS = 500;

/** Wall time and client CPU from the first record consumed to the n-th. */
export interface Consumed {
  ms: number;
  cpuUs: number;
  /** Records whose key and value were read (see `touch`). */
  touched: number;
  /** Sum of the bytes read from keys and values: kept so the reads cannot be optimised away. */
  checksum: number;
  /** The broker's CPU time over the same span, when its pid is known. */
  brokerCpuUs?: number;
  /** Runnel only: Fetch answers, their total wait (written to answered) and record bytes. */
  fetches?: { count: number; waitMs: number; bytes: number };
}

/**
 * What every consumer does with each record: reads its key and value (length, first and last
 * byte), so no library can defer or skip decoding a record the application never looks at.
 */
class Toucher {
  touched = 0;
  checksum = 0;
  touch(key: Buffer | null | undefined, value: Buffer | null | undefined): void {
    this.touched++;
    if (key != null && key.length > 0) this.checksum += key.length + key[0]! + key[key.length - 1]!;
    if (value != null && value.length > 0) this.checksum += value.length + value[0]! + value[value.length - 1]!;
  }
  into(m: Consumed): Consumed {
    m.touched = this.touched;
    m.checksum = this.checksum;
    return m;
  }
}

/** Measures from the first record: call `first()` on it, `last()` on the n-th. */
class ConsumeTimer {
  private t0 = 0;
  private cpu0: NodeJS.CpuUsage | null = null;
  private brokerCpu0: number | null = null;
  first(): void {
    if (this.cpu0 !== null) return;
    this.t0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.brokerCpu0 = processCpuUs(brokerPid);
  }
  last(): Consumed {
    const cpu = process.cpuUsage(this.cpu0 ?? undefined);
    const brokerCpu = processCpuUs(brokerPid);
    return {
      ms: performance.now() - this.t0,
      cpuUs: cpu.user + cpu.system,
      touched: 0,
      checksum: 0,
      ...(brokerCpu !== null && this.brokerCpu0 !== null && { brokerCpuUs: brokerCpu - this.brokerCpu0 }),
    };
  }
}

/** The broker measured beside the consumers (see ClientBenchOptions.brokerPid); null: none. */
let brokerPid: number | null = null;

/**
 * CPU time of a process so far in microseconds: the sum over its threads of the time on CPU
 * that Linux keeps in nanoseconds (/proc/<pid>/task/<tid>/schedstat; user and kernel time,
 * libuv's threads included). Null where there is no such file.
 */
function processCpuUs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    return ns / 1000;
  } catch {
    return null;
  }
}

export interface Library {
  name: string;
  produce(topic: string, values: Buffer[]): Promise<void>;
  consume(topic: string, n: number): Promise<Consumed>;
  close(): Promise<void>;
}

function payloads(n: number): Buffer[] {
  // JSON-ish text, the same bytes for every library.
  const base = Buffer.alloc(RECORD_BYTES);
  const text = '{"id":0,"user":"someone","action":"click","path":"/a/b/c","ts":1700000000000}';
  for (let i = 0; i < RECORD_BYTES; i++) base[i] = text.charCodeAt(i % text.length);
  return Array.from({ length: n }, (_, i) => {
    const b = Buffer.from(base);
    b.write(String(i).padStart(10, '0'), 7);
    return b;
  });
}

/** Runs `send` over chunks of `values` with at most OUTSTANDING in flight. */
async function pipelined(values: Buffer[], send: (chunk: Buffer[]) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < values.length) {
      const start = next;
      next += SEND_SIZE;
      await send(values.slice(start, start + SEND_SIZE));
    }
  };
  await Promise.all(Array.from({ length: OUTSTANDING }, worker));
}

export function runnel(bootstrap: string): Library {
  const producer = new Producer({
    bootstrapServers: bootstrap,
    clientId: 'bench-runnel',
    acks: 'all',
    lingerMs: 5,
    batchSize: RUNNEL_BATCH_BYTES,
  });
  return {
    name: 'runnel',
    async produce(topic, values) {
      await pipelined(values, (chunk) => producer.send(chunk.map((value) => ({ topic, value }))));
    },
    async consume(topic, n) {
      const consumer = new Consumer({
        bootstrapServers: bootstrap,
        clientId: 'bench-runnel',
        groupId: `bench-runnel-${topic}`,
        autoOffsetReset: 'earliest',
        enableAutoCommit: false,
      });
      consumer.subscribe([topic]);
      const timer = new ConsumeTimer();
      const toucher = new Toucher();
      let m: Consumed | null = null;
      // Fetches answered between the first record and the n-th (not the empty long polls after).
      const fetched = () => {
        const f = consumer.metrics();
        return { count: f.fetches, waitMs: f.fetches * f.fetchLatencyAvgMs, bytes: f.fetchedBytes };
      };
      let f0: ReturnType<typeof fetched> | null = null;
      for await (const batch of consumer.batches()) {
        f0 ??= fetched();
        timer.first();
        for (const r of batch.records) toucher.touch(r.key, r.value);
        if (toucher.touched >= n) {
          m = toucher.into(timer.last());
          break;
        }
      }
      const f1 = fetched();
      if (m === null) throw new Error('runnel: the iteration ended early');
      if (f0 !== null) {
        m.fetches = { count: f1.count - f0.count, waitMs: f1.waitMs - f0.waitMs, bytes: f1.bytes - f0.bytes };
      }
      await consumer.close();
      return m;
    },
    close: () => producer.close(),
  };
}

export function kafkajs(bootstrap: string): Library {
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  let connected = false;
  return {
    name: 'kafkajs',
    async produce(topic, values) {
      if (!connected) await producer.connect();
      connected = true;
      await pipelined(values, (chunk) =>
        producer.send({ topic, acks: -1, messages: chunk.map((value) => ({ value })) }),
      );
    },
    async consume(topic, n) {
      const consumer = kafka.consumer({
        groupId: `bench-kafkajs-${topic}`,
        maxBytes: FETCH_MAX_BYTES,
        maxBytesPerPartition: PARTITION_MAX_BYTES,
        minBytes: 1,
        maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const timer = new ConsumeTimer();
      const toucher = new Toucher();
      const m = await new Promise<Consumed>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              timer.first();
              for (const message of batch.messages) toucher.touch(message.key, message.value);
              if (toucher.touched >= n) resolve(toucher.into(timer.last()));
            },
          })
          .catch(reject);
      });
      await consumer.disconnect();
      return m;
    },
    async close() {
      if (connected) await producer.disconnect();
    },
  };
}

export function platformatic(bootstrap: string): Library {
  const producer = new PlatformaticProducer({
    clientId: 'bench-platformatic',
    bootstrapBrokers: [bootstrap],
    acks: -1,
    autocreateTopics: false,
  });
  return {
    name: '@platformatic/kafka',
    async produce(topic, values) {
      await pipelined(values, (chunk) => producer.send({ messages: chunk.map((value) => ({ topic, value })) }));
    },
    async consume(topic, n) {
      const consumer = new PlatformaticConsumer({
        clientId: 'bench-platformatic',
        groupId: `bench-platformatic-${topic}`,
        bootstrapBrokers: [bootstrap],
        maxBytes: FETCH_MAX_BYTES,
        maxBytesPerPartition: PARTITION_MAX_BYTES,
        minBytes: 1,
        maxWaitTime: FETCH_MAX_WAIT_MS,
      });
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
      const timer = new ConsumeTimer();
      const toucher = new Toucher();
      let m: Consumed | null = null;
      for await (const message of stream) {
        timer.first();
        toucher.touch(message.key, message.value);
        if (toucher.touched >= n) {
          m = toucher.into(timer.last());
          break;
        }
      }
      await stream.close();
      await new Promise<void>((resolve) => {
        consumer.close(true, () => resolve());
      });
      if (m === null) throw new Error('@platformatic/kafka: the stream ended early');
      return m;
    },
    async close() {
      await producer.close();
    },
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Every library reads `topic` (n records) `rounds` times, interleaved: round r starts with
 * library r (mod 3) and goes on in the same cyclic order, so each library reads first, second
 * and third equally often and a burst of load on the machine hits the libraries of one round
 * alike. Reported per library: the median MB/s, records/s and CPU per record over the rounds,
 * the lowest and highest MB/s; for Runnel against each peer, the ratio of the medians (the
 * `client consume runnel / <peer>` figures below) and the lowest ratio within one round.
 */
export async function consumeRounds(
  bootstrap: string,
  topic: string,
  n: number,
  rounds: number,
  makers: readonly ((bootstrap: string) => Library)[] = [runnel, kafkajs, platformatic],
  pidOfBroker: number | null = brokerPid,
): Promise<ClientBenchFigure[]> {
  brokerPid = pidOfBroker;
  const mb = (n * RECORD_BYTES) / (1024 * 1024);
  // A warm-up read per library, not counted (JIT, connections), so that the first round does
  // not measure whichever library happens to start cold.
  for (const make of makers) {
    const lib = make(bootstrap);
    try {
      await lib.consume(topic, Math.min(n, WARMUP_RECORDS));
    } finally {
      await lib.close();
    }
  }
  const results = new Map<string, Consumed[]>();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < makers.length; i++) {
      const lib = makers[(r + i) % makers.length]!(bootstrap);
      try {
        const m = await lib.consume(topic, n);
        if (m.touched !== n) throw new Error(`${lib.name} consumed ${m.touched} records, expected ${n}`);
        let list = results.get(lib.name);
        if (list === undefined) {
          list = [];
          results.set(lib.name, list);
        }
        list.push(m);
        process.stderr.write(
          `bench: client: consume round ${r + 1}/${rounds} ${lib.name}: ${(mb / (m.ms / 1000)).toFixed(0)} MB/s, ` +
            `${(m.cpuUs / n).toFixed(2)} us/record CPU\n`,
        );
      } finally {
        await lib.close();
      }
    }
  }
  const figures: ClientBenchFigure[] = [];
  const rates = (name: string): number[] => (results.get(name) ?? []).map((m) => mb / (m.ms / 1000));
  for (const [name, list] of results) {
    const mbps = rates(name);
    figures.push(
      { name: `client consume ${name}`, value: median(mbps), unit: 'MB/s' },
      { name: `client consume ${name} lowest`, value: Math.min(...mbps), unit: 'MB/s' },
      { name: `client consume ${name} highest`, value: Math.max(...mbps), unit: 'MB/s' },
      { name: `client consume ${name} records`, value: median(list.map((m) => n / (m.ms / 1000))), unit: 'records/s' },
      { name: `client consume ${name} cpu`, value: median(list.map((m) => m.cpuUs / n)), unit: 'us/record' },
    );
    const withBroker = list.filter((m) => m.brokerCpuUs !== undefined);
    if (withBroker.length === list.length) {
      // What serving this client costs the broker, and both together: on a machine whose
      // cores are all busy, throughput follows the CPU the whole path spends per record.
      figures.push(
        {
          name: `client consume ${name} broker cpu`,
          value: median(withBroker.map((m) => m.brokerCpuUs! / n)),
          unit: 'us/record',
        },
        {
          name: `client consume ${name} client+broker cpu`,
          value: median(withBroker.map((m) => (m.cpuUs + m.brokerCpuUs!) / n)),
          unit: 'us/record',
        },
      );
    }
    const fetched = list.filter((m) => m.fetches !== undefined && m.fetches.count > 0).map((m) => m.fetches!);
    if (fetched.length > 0) {
      // How long the consumer waits on the broker: a Fetch from written to answered, and its size.
      figures.push(
        {
          name: `client consume ${name} fetch wait avg`,
          value: median(fetched.map((f) => f.waitMs / f.count)),
          unit: 'ms',
        },
        {
          name: `client consume ${name} fetch answer`,
          value: median(fetched.map((f) => f.bytes / f.count / 1e6)),
          unit: 'MB/fetch',
        },
      );
    }
  }
  const ours = rates('runnel');
  for (const peer of ['kafkajs', '@platformatic/kafka']) {
    const theirs = rates(peer);
    if (ours.length === 0 || ours.length !== theirs.length) continue;
    figures.push({
      name: `client consume runnel / ${peer} lowest round`,
      value: Math.min(...ours.map((v, i) => v / theirs[i]!)),
      unit: 'x',
    });
  }
  return figures;
}

export async function runClientBench(opts: ClientBenchOptions): Promise<ClientBenchFigure[]> {
  const n = opts.quick ? 100_000 : 200_000; // quick: still long enough that consume is not all ramp-up
  brokerPid = opts.brokerPid ?? null;
  const values = payloads(n);
  const mb = (n * RECORD_BYTES) / (1024 * 1024);
  const admin = new Admin({ bootstrapServers: opts.bootstrap, clientId: 'bench-admin' });
  const figures: ClientBenchFigure[] = [];
  try {
    // Warm the broker (JIT, page cache, log segments) so the first library measured is not penalised.
    {
      const topic = `bench-client-warmup-${Date.now()}`;
      await admin.createTopics([{ topic, numPartitions: PARTITIONS }]);
      for (const make of [runnel, kafkajs, platformatic]) {
        const lib = make(opts.bootstrap);
        await lib.produce(topic, values.slice(0, Math.min(10_000, n)));
        await lib.close();
      }
      await admin.deleteTopics([topic]).catch(() => undefined);
    }
    const makers = [runnel, kafkajs, platformatic];
    for (const make of makers) {
      const lib = make(opts.bootstrap);
      const topic = `bench-client-${lib.name.replace(/[^a-z]/g, '')}-${Date.now()}`;
      await admin.createTopics([{ topic, numPartitions: PARTITIONS }]);
      try {
        // A short warm-up (connections, metadata, JIT), not counted.
        await lib.produce(topic, values.slice(0, Math.min(2000, n)));
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        await lib.produce(topic, values);
        const produceMs = performance.now() - t0;
        const produceCpu = process.cpuUsage(cpu0);
        figures.push(
          { name: `client produce ${lib.name}`, value: mb / (produceMs / 1000), unit: 'MB/s' },
          { name: `client produce ${lib.name} records`, value: n / (produceMs / 1000), unit: 'records/s' },
          // Client CPU per record (this process only; the broker runs in another).
          {
            name: `client produce ${lib.name} cpu`,
            value: (produceCpu.user + produceCpu.system) / n,
            unit: 'us/record',
          },
        );
      } finally {
        await lib.close();
        await admin.deleteTopics([topic]).catch(() => undefined);
      }
    }
    // One topic for every consumer: the same records in the same batches (see the header).
    const topic = `bench-client-consume-${Date.now()}`;
    await admin.createTopics([{ topic, numPartitions: PARTITIONS }]);
    try {
      const writer = new Producer({ bootstrapServers: opts.bootstrap, clientId: 'bench-writer', acks: 'all' });
      try {
        await pipelined(values, (chunk) => writer.send(chunk.map((value) => ({ topic, value }))));
      } finally {
        await writer.close();
      }
      // The payloads are not needed any more: dropped so that every consumer's garbage
      // collections do not also walk 100,000 buffers of the benchmark's own.
      values.length = 0;
      figures.push(...(await consumeRounds(opts.bootstrap, topic, n, opts.quick ? QUICK_ROUNDS : ROUNDS)));
    } finally {
      await admin.deleteTopics([topic]).catch(() => undefined);
    }
  } finally {
    await admin.close();
  }
  const ratio = (what: string, peer: string): ClientBenchFigure | null => {
    const ours = figures.find((f) => f.name === `client ${what} runnel`);
    const theirs = figures.find((f) => f.name === `client ${what} ${peer}`);
    if (ours === undefined || theirs === undefined || theirs.value === 0) return null;
    return { name: `client ${what} runnel / ${peer}`, value: ours.value / theirs.value, unit: 'x' };
  };
  for (const what of ['produce', 'consume']) {
    for (const peer of ['kafkajs', '@platformatic/kafka']) {
      const r = ratio(what, peer);
      if (r !== null) figures.push(r);
      // CPU: the peer's cost per record over ours (higher is better for Runnel).
      const ours = figures.find((f) => f.name === `client ${what} runnel cpu`);
      const theirs = figures.find((f) => f.name === `client ${what} ${peer} cpu`);
      if (ours !== undefined && theirs !== undefined && ours.value > 0) {
        figures.push({ name: `client ${what} cpu ${peer} / runnel`, value: theirs.value / ours.value, unit: 'x' });
      }
      const oursAll = figures.find((f) => f.name === `client ${what} runnel client+broker cpu`);
      const theirsAll = figures.find((f) => f.name === `client ${what} ${peer} client+broker cpu`);
      if (oursAll !== undefined && theirsAll !== undefined && oursAll.value > 0) {
        figures.push({
          name: `client ${what} client+broker cpu ${peer} / runnel`,
          value: theirsAll.value / oursAll.value,
          unit: 'x',
        });
      }
    }
  }
  return figures;
}
