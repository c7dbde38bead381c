/**
 * Child processes, ports and deadlines for the benchmark. Every process started here is
 * registered so that it is killed when the benchmark exits, however it exits.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOOPBACK = '127.0.0.1';

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function killAllNow(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

/** A new temporary directory under `parent`, removed by `remove()` or, failing that, at exit. */
export async function makeTempDir(parent: string, prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(parent, prefix));
  tempDirs.add(path);
  return {
    path,
    async remove() {
      await rm(path, { recursive: true, force: true });
      tempDirs.delete(path);
    },
  };
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

/** Rejects with a message naming `what` if `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, LOOPBACK);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port from listen(0)');
  return address.port;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: LOOPBACK, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    await sleep(20);
  }
  throw new Error(`nothing listening on ${LOOPBACK}:${port} after ${timeoutMs} ms`);
}

export interface Started {
  readonly child: ChildProcess;
  /** The last lines the process wrote to stdout and stderr, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_KEEP_CHARS = 4000;

/** Spawns `command` (no shell), keeping the tail of its output and registering it for cleanup. */
export function startProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Started {
  return adopt(spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Keeps the tail of a child's output, registers it for cleanup and gives it a stop(). */
function adopt(child: ChildProcess): Started {
  running.add(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_KEEP_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      tail += `\nspawn error: ${error.message}`;
      resolve();
    });
  });
  return {
    child,
    output: () => tail,
    async stop(graceMs = 3000) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
    },
  };
}

/** A message between the benchmark and a forked child: `type` says what it is. */
export interface ChildMessage {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** A TypeScript child with an IPC channel: messages in order, waited for by type. */
export interface ForkedChild extends Started {
  send(message: ChildMessage): void;
  /**
   * The next message of `type` not yet taken (messages that came before the call count).
   * Rejects on a message of type "error" (its `message` field), on exit, or after `timeoutMs`.
   */
  next(type: string, timeoutMs: number, what: string): Promise<ChildMessage>;
}

/** Inbox bound: a child that sends more untaken messages than this is broken. */
const INBOX_LIMIT = 10_000;

/**
 * Forks `script` through tsx with an IPC channel (node --import tsx script ...args), registered
 * for cleanup like startProcess. A child should exit when the channel closes (`disconnect`).
 */
export function forkTsx(script: string, args: string[], env?: NodeJS.ProcessEnv): ForkedChild {
  const child = fork(script, args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    ...(env === undefined ? {} : { env }),
  });
  const started = adopt(child);
  const inbox: ChildMessage[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
    waiters.clear();
  };
  let exitedWith: string | undefined;
  child.on('message', (message: ChildMessage) => {
    if (inbox.length < INBOX_LIMIT) inbox.push(message);
    wake();
  });
  child.once('exit', (code, signal) => {
    exitedWith = String(code ?? signal);
    wake();
  });
  return {
    ...started,
    send(message) {
      if (child.connected) child.send(message);
    },
    async next(type, timeoutMs, what) {
      const found = async (): Promise<ChildMessage> => {
        for (;;) {
          const error = inbox.findIndex((m) => m.type === 'error');
          if (error >= 0) throw new Error(`${what}: ${String(inbox[error]!.message)}`);
          const index = inbox.findIndex((m) => m.type === type);
          if (index >= 0) return inbox.splice(index, 1)[0]!;
          if (exitedWith !== undefined) {
            throw new Error(`${what}: child exited (${exitedWith}): ${started.output().slice(-600)}`);
          }
          await new Promise<void>((resolve) => waiters.add(resolve));
        }
      };
      return await withTimeout(found(), timeoutMs, what);
    },
  };
}

/** Resident set size of a running process in bytes, from /proc (Linux only). */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** The first line a started process writes to stdout (that starts with `prefix`), without the newline. */
export async function firstLine(started: Started, timeoutMs: number, what: string, prefix = ''): Promise<string> {
  const stdout = started.child.stdout;
  if (stdout === null) throw new Error(`${what}: no stdout`);
  const line = new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n')) {
        const line = text.slice(0, end);
        text = text.slice(end + 1);
        if (line.startsWith(prefix)) {
          stdout.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    stdout.on('data', onData);
    started.child.once('exit', (code, signal) =>
      reject(new Error(`${what}: exited (${code ?? signal}) before printing a line: ${started.output().slice(-800)}`)),
    );
  });
  return await withTimeout(line, timeoutMs, what);
}

/** Arguments that run a TypeScript file with this Node through tsx, as `npm run` scripts do. */
export function tsxArgs(script: string, args: string[] = []): string[] {
  return ['--import', 'tsx', script, ...args];
}

export interface Server {
  readonly port: number;
  /** From the server's start-up output, or "unknown". */
  readonly version: string;
  stop(): Promise<void>;
}

/**
 * Starts a server of ours on a free loopback port, working in a new temporary directory, and
 * waits until it accepts connections. `args` builds its command line from the port and the dir;
 * `versionPattern`'s first group finds its version in what it printed.
 */
export async function startServer(
  name: string,
  command: string,
  args: (port: number, dir: string) => string[],
  versionPattern: RegExp,
): Promise<Server> {
  const dir = await makeTempDir(tmpdir(), `runnel-bench-${name}-`);
  const port = await freePort();
  let server: Started | undefined;
  try {
    server = startProcess(command, args(port, dir.path));
    await waitForPort(port, 10_000, server.child);
    const started = server;
    return {
      port,
      version: versionPattern.exec(started.output())?.[1] ?? 'unknown',
      async stop() {
        await started.stop();
        await dir.remove();
      },
    };
  } catch (error) {
    await server?.stop();
    await dir.remove();
    throw new Error(
      `${name}: ${error instanceof Error ? error.message : String(error)}: ${server?.output().slice(-300) ?? ''}`,
    );
  }
}
