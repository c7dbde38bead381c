/**
 * Starts a broker in-process for end-to-end tests: a fresh temp directory, port 0 on
 * 127.0.0.1, no initial rebalance delay. `stop()` closes it and removes the directory.
 *
 *   const broker = await startTestBroker();
 *   after(() => broker.stop());
 *   new Kafka({ brokers: [broker.bootstrap] });
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBroker, startBroker } from '../../src/broker/start.ts';

export interface TestBroker extends RunningBroker {
  readonly dir: string;
  /** Closes the broker (cleanly) and deletes its directory. */
  stop(): Promise<void>;
  /** Closes the broker and starts a new one on the same directory (and port). */
  restart(options?: { crash?: boolean }): Promise<TestBroker>;
}

export interface TestBrokerOptions {
  /** Extra broker properties. */
  config?: Record<string, string>;
  /** Reuse a directory (restart tests); default a fresh temp dir. */
  dir?: string;
  port?: number;
}

export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'runnel-e2e-'));
  const broker = await startBroker({
    config: {
      'log.dirs': dir,
      listeners: `PLAINTEXT://127.0.0.1:${options.port ?? 0}`,
      'group.initial.rebalance.delay.ms': '0',
      ...options.config,
    },
    announce: () => {},
  });
  let stopped = false;
  const testBroker: TestBroker = Object.assign(Object.create(null) as object, broker, {
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(restartOptions?: { crash?: boolean }) {
      if (restartOptions?.crash) await broker.kill();
      else await broker.close();
      stopped = true;
      return startTestBroker({ ...options, dir, port: broker.port });
    },
  });
  return testBroker;
}
