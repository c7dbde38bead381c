/**
 * Child process body for spawn-broker.ts: argv = dir, port, JSON config overrides.
 * Prints "BOOTSTRAP host:port importMs startMs" once listening (the time loading the
 * broker's modules took and the time startBroker took); SIGTERM closes the broker cleanly.
 */
async function main(): Promise<void> {
  const [dir, port, json] = process.argv.slice(2);
  const importStarted = performance.now();
  const { startBroker } = await import('../../../src/broker/start.ts');
  const started = performance.now();
  const broker = await startBroker({
    config: {
      'log.dirs': dir!,
      listeners: `PLAINTEXT://127.0.0.1:${port ?? '0'}`,
      'group.initial.rebalance.delay.ms': '0',
      ...(JSON.parse(json ?? '{}') as Record<string, string>),
    },
    announce: () => {},
  });
  const importMs = started - importStarted;
  const startMs = performance.now() - started;
  process.stdout.write(`BOOTSTRAP ${broker.bootstrap} ${importMs.toFixed(1)} ${startMs.toFixed(1)}\n`);
  process.on('SIGTERM', () => {
    void broker.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
