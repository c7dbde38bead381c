/**
 * The cluster: real `runnel start` processes on this machine (test/e2e/cluster-process-helpers.ts),
 * kcat (librdkafka) as the load, as the broker section drives one broker.
 *
 *   node --import tsx bench/cluster.ts [--quick]
 *
 * Figures:
 * - produce throughput of 1 KiB records over 16 partitions with kcat -P acks=all, no
 *   compression: RF=1 on a one-node cluster, and RF=3 with min.insync.replicas=2 on three
 *   nodes (each broker and controller); the same input file for both;
 * - leader failover: SIGKILL of the leader of a partition (chosen not to be the active
 *   controller) to the first acks=all produce to that partition that is acknowledged
 *   (median and max over several kills, the node restarted and back in the ISR between
 *   kills), and the same when the killed leader is also the active controller (a Raft
 *   election and new broker sessions first).
 * The nodes use the short timeouts of the tests (FAST_CLUSTER_CONFIG: broker session 1.5 s),
 * so the failover figures are for those settings, not Kafka's defaults (session 9 s).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import {
  firstAckedProduce,
  type ProcessCluster,
  startProcessCluster,
  waitUntil,
} from '../test/e2e/cluster-process-helpers.ts';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
}

const PARTITIONS = 16;
const RECORD_BYTES = 1024;

function kcat(args: string[], stdinFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/kcat', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4096);
    });
    child.stdin.end(readFileSync(stdinFile));
    child.on('exit', (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`kcat exited ${code}: ${stderr}`));
    });
  });
}

async function createTopic(cluster: ProcessCluster, topic: string, partitions: number, rf: number): Promise<void> {
  const admin = new Kafka({
    clientId: 'bench-cluster',
    brokers: cluster.bootstrap,
    logLevel: logLevel.NOTHING,
    requestTimeout: 30_000,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: partitions,
          replicationFactor: rf,
          configEntries: [{ name: 'min.insync.replicas', value: rf >= 3 ? '2' : '1' }],
        },
      ],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  await waitUntil(
    async () => {
      for (let p = 0; p < partitions; p++) {
        if ((await cluster.partitionState(topic, p))?.isr.length !== rf) return false;
      }
      return true;
    },
    60_000,
    `${topic}: every partition with a full ISR`,
    200,
  );
}

/** kcat -P of the input file to a 16-partition topic; MB/s and records/s. */
async function produceThroughput(cluster: ProcessCluster, rf: number, input: string, records: number) {
  const topic = `bench-rf${rf}`;
  await createTopic(cluster, topic, PARTITIONS, rf);
  const ms = await kcat(
    [
      '-P',
      '-b',
      cluster.bootstrap.join(','),
      '-t',
      topic,
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
  return { MBps: (records * RECORD_BYTES) / 1e6 / (ms / 1000), rps: records / (ms / 1000) };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * `kills` SIGKILLs of a partition leader: `controller` says whether the victim is chosen to
 * be the active controller too, or not to be. Returns the failover times (ms).
 */
async function failovers(cluster: ProcessCluster, topic: string, kills: number, controller: boolean) {
  const times: number[] = [];
  for (let k = 0; k < kills; k++) {
    const active = await cluster.activeController();
    const states = await Promise.all(Array.from({ length: 3 }, (_, p) => cluster.partitionState(topic, p)));
    const p = states.findIndex((s) => s !== undefined && s.leader > 0 && (s.leader === active) === controller);
    if (p < 0) continue; // no partition led that way right now
    const victim = states[p]!.leader;
    const t0 = performance.now();
    await cluster.kill(victim);
    times.push(await firstAckedProduce(cluster, topic, p, t0, 60_000));
    await cluster.start(victim);
    await waitUntil(
      async () => {
        const all = await Promise.all(Array.from({ length: 3 }, (_, q) => cluster.partitionState(topic, q)));
        return all.every((s) => s?.isr.length === 3);
      },
      60_000,
      `node ${victim} back in every ISR`,
      100,
    );
  }
  return times;
}

export async function runClusterBench(opts: { quick: boolean }): Promise<BenchFigure[]> {
  const records = opts.quick ? 20_000 : 200_000;
  const kills = opts.quick ? 3 : 9;
  const dir = mkdtempSync(join(tmpdir(), 'runnel-bench-cluster-'));
  const input = join(dir, 'input.txt');
  writeFileSync(input, `${'x'.repeat(RECORD_BYTES - 1)}\n`.repeat(records));
  const figures: BenchFigure[] = [];
  try {
    const one = await startProcessCluster({ nodes: 1 });
    try {
      const rf1 = await produceThroughput(one, 1, input, records);
      figures.push({ name: 'produce 1KiB x16p RF=1, 1 node (kcat, acks=all)', value: rf1.MBps, unit: 'MB/s' });
      figures.push({ name: 'produce 1KiB x16p RF=1, 1 node (kcat, acks=all)', value: rf1.rps, unit: 'records/s' });
    } finally {
      await one.close();
    }
    const three = await startProcessCluster({ nodes: 3 });
    try {
      const rf3 = await produceThroughput(three, 3, input, records);
      const name = 'produce 1KiB x16p RF=3 min.insync=2, 3 nodes (kcat, acks=all)';
      figures.push({ name, value: rf3.MBps, unit: 'MB/s' });
      figures.push({ name, value: rf3.rps, unit: 'records/s' });

      await createTopic(three, 'bench-failover', 3, 3);
      const plain = await failovers(three, 'bench-failover', kills, false);
      if (plain.length > 0) {
        const what = `leader failover, SIGKILL -> first acks=all produce (${plain.length} kills)`;
        figures.push({ name: `${what}, median`, value: median(plain), unit: 'ms' });
        figures.push({ name: `${what}, max`, value: Math.max(...plain), unit: 'ms' });
      }
      const withController = await failovers(three, 'bench-failover', opts.quick ? 1 : 3, true);
      if (withController.length > 0) {
        const what = `leader+active controller failover (${withController.length} kills)`;
        figures.push({ name: `${what}, median`, value: median(withController), unit: 'ms' });
        figures.push({ name: `${what}, max`, value: Math.max(...withController), unit: 'ms' });
      }
    } finally {
      await three.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
  const figures = await runClusterBench({ quick: values.quick === true });
  for (const f of figures) process.stdout.write(`${f.name}: ${f.value.toFixed(f.unit === 'ms' ? 0 : 1)} ${f.unit}\n`);
}
