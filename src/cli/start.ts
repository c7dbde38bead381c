/**
 * `runnel start`: a broker from Kafka properties, read (later wins) from Kafka's defaults
 * (Runnel's where they differ: PLAINTEXT://127.0.0.1:9092, data under ./data), --config
 * FILE (server.properties syntax), RUNNEL_* environment variables (RUNNEL_LOG_DIRS=/x is
 * log.dirs=/x) and repeated --set key=value (src/config does the parsing).
 *
 * An unknown or invalid setting stops the start with a message naming it (exit 1, no
 * stack trace). SIGTERM and SIGINT close the broker cleanly (exit 0).
 */

import { setBrokerHeapGrowth } from '../broker/heap-growth.ts';
import type { NetworkLogger } from '../broker/network/index.ts';
import { type RunningBroker, startBroker } from '../broker/start.ts';
import { type BrokerConfigOptions, brokerConfigFromOptions, ConfigError } from '../config/index.ts';
import { MetaPropertiesError } from '../metadata/meta-properties.ts';

function stderrLogger(level: string | undefined): NetworkLogger {
  const verbose = level === 'debug' || level === 'info';
  const line = (lvl: string, message: string, fields?: Record<string, unknown>): void => {
    process.stderr.write(`[${lvl}] ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
  };
  return {
    debug: (m, f) => {
      if (level === 'debug') line('debug', m, f);
    },
    info: (m, f) => {
      if (verbose) line('info', m, f);
    },
    warn: (m, f) => line('warn', m, f),
    error: (m, f) => line('error', m, f),
  };
}

/**
 * RUNNEL_START_TRACE=1: each step of the start on stderr, in ms since the process started
 * (performance.now()) and of CPU time used; the bundle's loader prints its steps the same way.
 */
function startTrace(): ((step: string) => void) | undefined {
  if (process.env.RUNNEL_START_TRACE !== '1') return undefined;
  const cpuMs = (): number => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  return (step) =>
    process.stderr.write(
      `runnel: start trace: ${performance.now().toFixed(1)} ms (cpu ${cpuMs().toFixed(1)} ms) ${step}\n`,
    );
}

/** Runs the broker until SIGTERM/SIGINT. Returns the process exit code. */
export async function runStart(options: BrokerConfigOptions): Promise<number> {
  let broker: RunningBroker;
  const trace = startTrace();
  trace?.('runnel start');
  setBrokerHeapGrowth();
  // A signal before the listening line ends the process as it always did (the default
  // action); one between that line and startBroker's return waits for the broker and
  // closes it cleanly (a client may already be using it).
  let announced = false;
  let signalled: NodeJS.Signals | undefined;
  const duringStart = (signal: NodeJS.Signals): void => {
    if (announced) {
      signalled ??= signal;
      return;
    }
    process.off('SIGTERM', duringStart);
    process.off('SIGINT', duringStart);
    process.kill(process.pid, signal);
  };
  process.on('SIGTERM', duringStart);
  process.on('SIGINT', duringStart);
  try {
    broker = await startBroker({
      config: brokerConfigFromOptions(options, process.env),
      logger: stderrLogger(process.env.RUNNEL_LOG_LEVEL),
      announce: (line) => {
        announced = true;
        process.stdout.write(`${line}\n`);
      },
      ...(trace !== undefined ? { trace } : {}),
    });
  } catch (err) {
    process.off('SIGTERM', duringStart);
    process.off('SIGINT', duringStart);
    if (err instanceof ConfigError || err instanceof MetaPropertiesError) {
      process.stderr.write(`runnel: ${err.message}\n`);
      return 1;
    }
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`runnel: cannot listen: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`runnel: ${signal} received, shutting down\n`);
      broker.close().then(
        () => {
          process.stdout.write('runnel: stopped cleanly\n');
          resolve(0);
        },
        (err: unknown) => {
          process.stderr.write(`runnel: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.off('SIGTERM', duringStart);
    process.off('SIGINT', duringStart);
    if (signalled !== undefined) stop(signalled);
  });
}
