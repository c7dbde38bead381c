/**
 * What every client sub-command shares: the `--bootstrap-server` option, `k=v` parsing,
 * turning any failure into one plain line on stderr with a non-zero exit code, and a first
 * connection attempt that fails fast (the client library would otherwise keep retrying an
 * unreachable broker for `default.api.timeout.ms`).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { Admin, type Cluster, KafkaClientError, KafkaConnectionError, KafkaProtocolError } from '../client/index.ts';

export const DEFAULT_BOOTSTRAP = 'localhost:9092';

export interface BootstrapOptions {
  bootstrapServer: string;
}

/** A failure the user caused (bad flags, a missing topic): printed as is. */
export class CliError extends Error {}

export function addBootstrapOption(cmd: Command): Command {
  return cmd.option(
    '--bootstrap-server <host:port>',
    'broker(s) to connect to, comma-separated',
    process.env.RUNNEL_BOOTSTRAP_SERVER ?? DEFAULT_BOOTSTRAP,
  );
}

/** Client options every sub-command passes to Admin, Producer and Consumer. */
export function clientOptions(opts: BootstrapOptions): {
  bootstrapServers: string;
  clientId: string;
  connectionSetupTimeoutMs: number;
  defaultApiTimeoutMs: number;
} {
  return {
    bootstrapServers: opts.bootstrapServer,
    clientId: 'runnel-cli',
    connectionSetupTimeoutMs: 10000,
    defaultApiTimeoutMs: 30000,
  };
}

/** One connection attempt to the bootstrap servers, so an unreachable cluster fails at once. */
export async function checkReachable(cluster: Cluster, bootstrap: string): Promise<void> {
  try {
    await cluster.anyConnection();
  } catch (e) {
    throw new CliError(`cannot reach ${bootstrap}: ${connectionReason(e)}`);
  }
}

function connectionReason(e: unknown): string {
  const code = errnoCode(e);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default:
      if (e instanceof Error && /timed out/.test(e.message)) return 'connection timed out';
      return e instanceof Error ? e.message : String(e);
  }
}

function errnoCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** One line for any error: ours as is, Kafka errors by name, anything else by message. */
export function errorLine(e: unknown, bootstrap?: string): string {
  if (e instanceof CliError) return e.message;
  if (e instanceof KafkaProtocolError) return e.message;
  if (e instanceof KafkaConnectionError && bootstrap !== undefined) {
    return `cannot reach ${bootstrap}: ${connectionReason(e)}`;
  }
  if (e instanceof KafkaClientError) return e.message;
  if (e instanceof Error) return e.message.split('\n')[0]!;
  return String(e);
}

/**
 * Wraps a sub-command's action: failures print `runnel: <one line>` on stderr and exit 1.
 * The process exits explicitly so no stray timer or socket keeps it alive.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | undefined>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code = 0;
    try {
      code = (await fn(...args)) ?? 0;
    } catch (e) {
      const opts = args.find(
        (a): a is BootstrapOptions => typeof a === 'object' && a !== null && 'bootstrapServer' in a,
      );
      process.stderr.write(`runnel: ${errorLine(e, opts?.bootstrapServer)}\n`);
      code = 1;
    }
    await flushStdout();
    process.exit(code);
  };
}

function flushStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.writableLength === 0) resolve();
    else process.stdout.write('', () => resolve());
  });
}

/** `k=v` into [k, v]; the value may contain '='. */
export function parseKeyValue(s: string, what = 'entry'): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new CliError(`${what} "${s}" is not key=value`);
  return [s.slice(0, i), s.slice(i + 1)];
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Repeated `k=v` options (each may also be `k=v,k2=v2`) into a record. */
export function keyValues(list: readonly string[] | undefined, what = 'config'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    for (const part of splitList(item)) {
      const [k, v] = parseKeyValue(part, what);
      out[k] = v;
    }
  }
  return out;
}

/** `a,b,c` into parts, skipping empty ones. */
export function splitList(s: string): string[] {
  return s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

export function parseIntArg(name: string, min = Number.MIN_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    }
    return n;
  };
}

/** Milliseconds since the epoch, or an ISO-8601 date/time. */
export function parseTime(v: string): number {
  if (/^\d+$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new CliError(`"${v}" is neither epoch milliseconds nor an ISO-8601 time`);
  return ms;
}

/** The help text's "Examples:" block. */
export function examples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** Runs `fn` with an Admin client that reached the cluster, closing it afterwards. */
export async function withAdmin<T>(opts: BootstrapOptions, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin(clientOptions(opts));
  try {
    await checkReachable(admin.cluster, opts.bootstrapServer);
    return await fn(admin);
  } finally {
    await admin.close();
  }
}
