/**
 * Child process body for spawn-broker.ts: argv = dir, port, JSON config overrides.
 * Prints "BOOTSTRAP host:port" once listening; SIGTERM closes the broker cleanly.
 */
import { startBroker } from '../../../src/broker/start.ts';

async function main(): Promise<void> {
  const [dir, port, json] = process.argv.slice(2);
  const broker = await startBroker({
    config: {
      'log.dirs': dir!,
      listeners: `PLAINTEXT://127.0.0.1:${port ?? '0'}`,
      'group.initial.rebalance.delay.ms': '0',
      ...(JSON.parse(json ?? '{}') as Record<string, string>),
    },
    announce: () => {},
  });
  process.stdout.write(`BOOTSTRAP ${broker.bootstrap}\n`);
  process.on('SIGTERM', () => {
    void broker.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
