/**
 * A broker in a child process (`node --import tsx`), for tests that kill -9 it and for the
 * benchmark. The child runs startBroker and prints the bootstrap address on stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./broker-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface SpawnedBroker {
  readonly bootstrap: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Milliseconds from spawn to the listening line. */
  readonly startupMs: number;
  /** Of which: loading the broker's modules, and startBroker() itself. */
  readonly importMs: number;
  readonly startBrokerMs: number;
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (clean close), and wait for the exit. */
  stop(): Promise<void>;
}

export async function spawnBroker(dir: string, config: Record<string, string> = {}, port = 0): Promise<SpawnedBroker> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(port), JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ bootstrap: string; importMs: number; startBrokerMs: number }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start in 30 s: ${stderr}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /BOOTSTRAP (\S+) (\S+) (\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ bootstrap: m[1]!, importMs: Number(m[2]), startBrokerMs: Number(m[3]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (${code}) before listening: ${stderr}`));
    });
  });
  const startupMs = performance.now() - started;
  return {
    bootstrap: ready.bootstrap,
    pid: child.pid!,
    child,
    startupMs,
    importMs: ready.importMs,
    startBrokerMs: ready.startBrokerMs,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
