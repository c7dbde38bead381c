/**
 * Runnel as users run it: the production build (tools/build.mjs, what `npm start` runs through
 * bin/runnel.js), started as `node <build>/runnel.js start --set ...` processes.
 *
 * The benchmark builds its own copy from the current sources into its data directory, rather
 * than using dist/: other work may edit a source while the benchmark runs, and bin/runnel.js
 * then falls back to the sources through tsx, so that dist/ alone could not promise a built
 * broker. A build takes a couple of seconds.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildRecordBatch } from '../../src/protocol/records/index.ts';
import { FAST_CLUSTER_CONFIG } from '../../test/e2e/cluster-process-helpers.ts';
import { RawClient } from '../../test/e2e/helpers/raw-client.ts';
import { produceRequest } from '../../test/e2e/helpers/requests.ts';
import { firstLine, freePort, LOOPBACK, type Started, startProcess, withTimeout } from '../harness/process.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const START_TIMEOUT_MS = 60_000;

/** Builds the production bundle into `outDir` (inside the repository, so it finds node_modules); returns its entry. */
export async function buildRunnel(outDir: string): Promise<string> {
  await promisify(execFile)(process.execPath, ['tools/build.mjs', '--outdir', outDir], {
    cwd: REPO,
    timeout: 120_000,
  });
  return join(outDir, 'runnel.js');
}

/** This environment without RUNNEL_* settings (they would configure the brokers), except the log level. */
function brokerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('RUNNEL_') || key === 'RUNNEL_LOG_LEVEL') env[key] = value;
  }
  return env;
}

export interface BrokerProcess {
  readonly bootstrap: string;
  readonly pid: number;
  /** From spawn to the "listening" line on stdout. */
  readonly listeningMs: number;
  /** performance.now() at spawn. */
  readonly spawnedAt: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts one `runnel start` of the build with `config` (--set each); resolves at its "listening" line. */
async function startNode(entry: string, port: number, config: Record<string, string>): Promise<BrokerProcess> {
  const args = [entry, 'start'];
  for (const [key, value] of Object.entries(config)) args.push('--set', `${key}=${value}`);
  const spawnedAt = performance.now();
  const child: Started = startProcess(process.execPath, args, { cwd: REPO, env: brokerEnv() });
  try {
    const line = await firstLine(child, START_TIMEOUT_MS, 'runnel start', 'runnel ');
    const listeningMs = performance.now() - spawnedAt;
    if (!line.includes(' listening on ')) throw new Error(`runnel start: unexpected line "${line}"`);
    return {
      bootstrap: `${LOOPBACK}:${port}`,
      pid: child.child.pid!,
      listeningMs,
      spawnedAt,
      output: () => child.output(),
      stop: () => child.stop(15_000),
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * One broker, its own single-node cluster (Runnel's default), RF=1, log dir `logDir`, with
 * `group.initial.rebalance.delay.ms` 0: a new group's first join is not held 3 s (Kafka's
 * default), which only costs the benchmark wall time.
 */
export async function startBuiltBroker(entry: string, logDir: string): Promise<BrokerProcess> {
  const port = await freePort();
  return await startNode(entry, port, {
    listeners: `PLAINTEXT://${LOOPBACK}:${port}`,
    'log.dirs': logDir,
    'group.initial.rebalance.delay.ms': '0',
  });
}

export interface BuiltCluster {
  readonly bootstrap: string;
  readonly nodes: readonly BrokerProcess[];
  stop(): Promise<void>;
}

/**
 * `size` processes, each broker and controller (a Raft quorum of `size` voters), with the
 * short timeouts of the process-cluster tests (FAST_CLUSTER_CONFIG) and internal topics
 * replicated `size` times; log dirs under `rootDir`.
 */
export async function startBuiltCluster(entry: string, rootDir: string, size: number): Promise<BuiltCluster> {
  const ids = Array.from({ length: size }, (_, i) => i + 1);
  const clientPorts: number[] = [];
  const controllerPorts: number[] = [];
  for (const _ of ids) {
    clientPorts.push(await freePort());
    controllerPorts.push(await freePort());
  }
  const voters = ids.map((id, i) => `${id}@${LOOPBACK}:${controllerPorts[i]}`).join(',');
  const configOf = (i: number): Record<string, string> => ({
    ...FAST_CLUSTER_CONFIG,
    'node.id': String(ids[i]),
    'process.roles': 'broker,controller',
    listeners: `PLAINTEXT://${LOOPBACK}:${clientPorts[i]},CONTROLLER://${LOOPBACK}:${controllerPorts[i]}`,
    'advertised.listeners': `PLAINTEXT://${LOOPBACK}:${clientPorts[i]}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'controller.quorum.voters': voters,
    'log.dirs': join(rootDir, `node-${ids[i]}`),
    'offsets.topic.replication.factor': String(Math.min(3, size)),
    'transaction.state.log.replication.factor': String(Math.min(3, size)),
    'transaction.state.log.min.isr': String(Math.min(2, size)),
  });
  // All at once: each waits for the quorum, which needs the others.
  const started = await Promise.allSettled(ids.map((_, i) => startNode(entry, clientPorts[i]!, configOf(i))));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  return { bootstrap: nodes.map((node) => node.bootstrap).join(','), nodes, stop };
}

/**
 * Produces one record (acks=all) to a new topic, created by the Metadata request
 * (auto.create.topics.enable, Runnel's and Kafka's default), retrying every 5 ms until it is
 * acknowledged: the first moment the broker is of use to a producer.
 */
export async function firstAckedProduce(bootstrap: string, timeoutMs: number): Promise<void> {
  const client = await RawClient.connect(bootstrap);
  const topic = 'bench-first-produce';
  try {
    const attempt = async () => {
      await client.send(ApiKey.Metadata, 12, {
        topics: [{ name: topic, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
        allowAutoTopicCreation: true,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      });
      for (;;) {
        const records = buildRecordBatch({ records: [{ value: 'hello', timestamp: Date.now() }] });
        const response = await client.send(ApiKey.Produce, 9, produceRequest(topic, 0, records));
        if (response.responses[0]!.partitionResponses[0]!.errorCode === ErrorCode.NONE) return;
        await sleep(5);
      }
    };
    await withTimeout(attempt(), timeoutMs, 'first produce');
  } finally {
    client.close();
  }
}
