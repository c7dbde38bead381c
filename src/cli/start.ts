/**
 * `runnel start`: a broker from Kafka properties, read (later wins) from
 *   1. Runnel's defaults (PLAINTEXT://127.0.0.1:9092, data under ./data),
 *   2. --config FILE (a Kafka server.properties file),
 *   3. RUNNEL_* environment variables (RUNNEL_LOG_DIRS=/x is log.dirs=/x; as in Kafka's
 *      container images "_" stands for ".", "__" for "_" and "___" for "-"),
 *   4. --set key=value, repeatable.
 * An unknown or invalid setting stops the start with a message naming it (exit 1).
 * SIGTERM and SIGINT close the broker cleanly (exit 0).
 */
import { readFileSync } from 'node:fs';
import type { NetworkLogger } from '../broker/network/index.ts';
import { ConfigError, type RunningBroker, startBroker } from '../broker/start.ts';
import { MetaPropertiesError, parseProperties } from '../metadata/meta-properties.ts';

export interface StartCommandOptions {
  config?: string;
  set?: string[];
}

/** RUNNEL_LOG_DIRS -> log.dirs; RUNNEL_FOO__BAR -> foo_bar; RUNNEL_A___B -> a-b. */
export function propertyFromEnvName(name: string): string | undefined {
  if (!name.startsWith('RUNNEL_') || name.length === 'RUNNEL_'.length) return undefined;
  return name
    .slice('RUNNEL_'.length)
    .toLowerCase()
    .replaceAll('___', '\u0000')
    .replaceAll('__', '\u0001')
    .replaceAll('_', '.')
    .replaceAll('\u0000', '-')
    .replaceAll('\u0001', '_');
}

/** Settings from the file, the environment and --set, in that order of precedence (last wins). */
export function collectSettings(options: StartCommandOptions, env: NodeJS.ProcessEnv): Record<string, string> {
  const props: Record<string, string> = {};
  if (options.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.config, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read --config ${options.config}: ${(err as Error).message}`);
    }
    for (const [k, v] of parseProperties(text)) props[k] = v;
  }
  for (const [name, value] of Object.entries(env)) {
    const key = propertyFromEnvName(name);
    // RUNNEL_ variables that are not settings (e.g. RUNNEL_LOG_LEVEL) are left to their readers.
    if (key !== undefined && value !== undefined && !NON_SETTING_ENV.has(name)) props[key] = value;
  }
  for (const pair of options.set ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${pair}: expected key=value`);
    props[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  return props;
}

const NON_SETTING_ENV = new Set(['RUNNEL_LOG_LEVEL']);

function stderrLogger(level: string | undefined): NetworkLogger {
  const debug = level === 'debug';
  const line = (lvl: string, message: string, fields?: Record<string, unknown>): void => {
    process.stderr.write(`[${lvl}] ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
  };
  return {
    debug: (m, f) => {
      if (debug) line('debug', m, f);
    },
    info: (m, f) => {
      if (debug) line('info', m, f);
    },
    warn: (m, f) => line('warn', m, f),
    error: (m, f) => line('error', m, f),
  };
}

/** Runs the broker until SIGTERM/SIGINT. Returns the process exit code. */
export async function runStart(options: StartCommandOptions): Promise<number> {
  let broker: RunningBroker;
  try {
    broker = await startBroker({
      config: collectSettings(options, process.env),
      logger: stderrLogger(process.env.RUNNEL_LOG_LEVEL),
      announce: (line) => process.stdout.write(`${line}\n`),
    });
  } catch (err) {
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
          process.stderr.write(`runnel: shutdown failed: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
