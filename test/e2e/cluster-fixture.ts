/**
 * In-process multi-node clusters for tests: N nodes on 127.0.0.1, each broker and
 * controller (N voters) unless `controllers` says fewer voters (the rest are broker-only
 * observers). Inter-node traffic (Raft and broker -> controller requests) goes through a
 * fault-injecting proxy per ordered pair of nodes, so `isolate(i)` cuts node i off from
 * the others and `heal(i)` reconnects it.
 *
 *   const cluster = await startTestCluster({ brokers: 3 });
 *   after(() => cluster.close());
 *   new Kafka({ brokers: cluster.bootstrap });
 *   await cluster.waitFor(() => cluster.activeController() !== undefined);
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBroker, startBroker } from '../../src/broker/start.ts';
import { FaultProxy, reservePorts } from '../helpers/proxy.ts';

export interface TestClusterOptions {
  brokers: number;
  /** How many of the nodes (the first ones) are controllers (voters); default all. */
  controllers?: number;
  /** Controllers are controller-only (process.roles=controller, no broker listener). */
  controllerOnly?: boolean;
  /** Extra properties for every node. */
  config?: Record<string, string>;
  /** Extra properties for node i only (e.g. broker.rack), applied after `config`. */
  nodeConfig?: (i: number) => Record<string, string>;
}

export interface TestCluster {
  /** host:port of every running broker (controller-only nodes are not brokers). */
  readonly bootstrap: string[];
  readonly size: number;
  /** The running node i (1-based node ids: node i has node.id i). */
  broker(i: number): RunningBroker;
  isRunning(i: number): boolean;
  /** Clean stop of node i. */
  stop(i: number): Promise<void>;
  /** Crash of node i: nothing flushed. */
  kill(i: number): Promise<void>;
  /** Starts node i again on its directory. */
  restart(i: number): Promise<RunningBroker>;
  /** Cuts node i off from every other node (both directions). */
  isolate(i: number): void;
  heal(i: number): void;
  /** The node whose controller is active, if any. */
  activeController(): RunningBroker | undefined;
  /** Resolves once predicate() holds (checked every 20 ms), rejects after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/** Quick timeouts so elections and fencing happen within a test's time. */
const FAST: Record<string, string> = {
  'controller.quorum.election.timeout.ms': '300',
  'controller.quorum.fetch.timeout.ms': '600',
  'controller.quorum.election.backoff.max.ms': '300',
  'controller.quorum.request.timeout.ms': '1000',
  'broker.heartbeat.interval.ms': '200',
  'broker.session.timeout.ms': '1500',
  'initial.broker.registration.timeout.ms': '20000',
  'group.initial.rebalance.delay.ms': '0',
};

export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  // Another process may take a reserved port between its release and our bind: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt >= 3) throw err;
    }
  }
}

async function startOnce(options: TestClusterOptions): Promise<TestCluster> {
  const n = options.brokers;
  const voters = Math.min(options.controllers ?? n, n);
  const root = mkdtempSync(join(tmpdir(), 'runnel-cluster-'));
  const reserved = await reservePorts(voters);
  const controllerPorts = reserved.ports;
  // proxies[from][to]: from's connections to to's controller listener.
  const proxies = new Map<string, FaultProxy>();
  for (let from = 1; from <= n; from++) {
    for (let to = 1; to <= voters; to++) {
      if (from === to) continue;
      proxies.set(`${from}>${to}`, await FaultProxy.start(controllerPorts[to - 1]!));
    }
  }
  const votersString = controllerPorts.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',');
  const nodes = new Map<number, RunningBroker>();

  const start = (i: number): Promise<RunningBroker> => {
    const isVoter = i <= voters;
    const onlyController = isVoter && options.controllerOnly === true;
    const controllerListener = `CONTROLLER://127.0.0.1:${controllerPorts[i - 1]}`;
    const listeners = !isVoter
      ? 'PLAINTEXT://127.0.0.1:0'
      : onlyController
        ? controllerListener
        : `PLAINTEXT://127.0.0.1:0,${controllerListener}`;
    return startBroker({
      config: {
        ...FAST,
        'node.id': String(i),
        'process.roles': onlyController ? 'controller' : isVoter ? 'broker,controller' : 'broker',
        listeners,
        'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        'controller.listener.names': 'CONTROLLER',
        'controller.quorum.voters': votersString,
        'log.dirs': join(root, `node-${i}`),
        ...options.config,
        ...options.nodeConfig?.(i),
      },
      announce: () => {},
      route: (voter) => ({ host: '127.0.0.1', port: proxies.get(`${i}>${voter.id}`)?.port ?? voter.port }),
    }).then((b) => {
      nodes.set(i, b);
      return b;
    });
  };

  await reserved.release();
  const all = Array.from({ length: n }, (_, k) => k + 1);
  const started = await Promise.allSettled(all.map(start));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all([...nodes.values()].map((b) => b.kill()));
    await Promise.all([...proxies.values()].map((p) => p.close()));
    rmSync(root, { recursive: true, force: true });
    throw failed.reason;
  }

  const node = (i: number): RunningBroker => {
    const b = nodes.get(i);
    if (b === undefined) throw new Error(`node ${i} is not running`);
    return b;
  };
  const pairsOf = (i: number): FaultProxy[] =>
    [...proxies.entries()].filter(([k]) => k.startsWith(`${i}>`) || k.endsWith(`>${i}`)).map(([, p]) => p);

  return {
    get bootstrap() {
      return [...nodes.entries()]
        .filter(([i]) => !(options.controllerOnly === true && i <= voters))
        .map(([, b]) => b.bootstrap);
    },
    size: n,
    broker: node,
    isRunning: (i) => nodes.has(i),
    async stop(i) {
      const b = node(i);
      nodes.delete(i);
      await b.close();
    },
    async kill(i) {
      const b = node(i);
      nodes.delete(i);
      await b.kill();
    },
    restart: (i) => start(i),
    isolate(i) {
      for (const p of pairsOf(i)) p.block();
    },
    heal(i) {
      for (const p of pairsOf(i)) p.unblock();
    },
    activeController() {
      return [...nodes.values()].find((b) => b.controller?.isActive() === true);
    },
    async waitFor(predicate, timeoutMs = 15_000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      // A crash stop: a clean close of every node at once would wait for controlled shutdowns a
      // quorum that is going away can no longer commit.
      await Promise.all([...nodes.values()].map((b) => b.kill()));
      nodes.clear();
      await Promise.all([...proxies.values()].map((p) => p.close()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
