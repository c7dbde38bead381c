/**
 * Child process that runs one Runnel broker for the benchmark. Usage:
 *   node --import tsx bench/harness/broker-child.ts <path of src/broker/start.ts> '<startBroker options as JSON>'
 * Prints one line once the broker listens: READY_PREFIX + { bootstrap, readyMs, importMs }, where readyMs
 * is the time startBroker() took and importMs the time loading the broker's modules took.
 * Closes the broker on SIGTERM; exits by itself after an hour at most.
 */

import { pathToFileURL } from 'node:url';
import { READY_PREFIX } from './broker-child-protocol.ts';

interface BrokerHandle {
  readonly bootstrap: string;
  close(): Promise<void>;
}

type StartBroker = (options: Record<string, unknown>) => Promise<BrokerHandle>;

const LIFETIME_MS = 3_600_000;

const [entryPath, optionsJson] = process.argv.slice(2);
if (entryPath === undefined) throw new Error('usage: broker-child.ts <broker entry> [options JSON]');
const options = JSON.parse(optionsJson ?? '{}') as Record<string, unknown>;
// A computed specifier: the broker may not exist yet, and the type checker must not look for it.
const entry = pathToFileURL(entryPath).href;
const importStart = performance.now();
const module = (await import(entry)) as { startBroker?: StartBroker };
const startBroker = module.startBroker;
if (typeof startBroker !== 'function') throw new Error(`${entryPath} does not export startBroker()`);
const start = performance.now();
const broker = await startBroker(options);
const readyMs = performance.now() - start;
process.stdout.write(
  `${READY_PREFIX}${JSON.stringify({ bootstrap: broker.bootstrap, readyMs, importMs: start - importStart })}\n`,
);

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  broker.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`close failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
setTimeout(shutdown, LIFETIME_MS).unref();
// Stay alive even if the broker's own handles are unref'd.
setInterval(() => undefined, 60_000);
