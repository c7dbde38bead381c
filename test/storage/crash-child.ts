/**
 * Child process of crash.test.ts: appends to one log in a loop and prints every
 * acknowledged append as "ack <base> <last> <crc>" once append() has returned (the bytes
 * were handed to the OS). The parent kills it with SIGKILL at a random moment.
 */
import { systemClock } from '../../src/env/clock.ts';
import { nodeDisk } from '../../src/env/disk.ts';
import { seededRandom } from '../../src/env/random.ts';
import { logConfig } from '../../src/storage/config.ts';
import { LogManager } from '../../src/storage/log-manager.ts';
import { buildSimpleBatch } from '../../src/storage/records.ts';

const [dataDir, seedArg] = process.argv.slice(2);
const random = seededRandom(Number(seedArg));
const manager = await LogManager.open({
  dataDir: dataDir!,
  disk: nodeDisk,
  clock: systemClock,
  defaultConfig: logConfig({ segmentBytes: 48 * 1024, indexIntervalBytes: 1024, flushMessages: 500 }),
  maxOpenFiles: 16,
});
const log = await manager.getOrCreateLog('crash', 0);
process.stdout.write(`ready ${log.logEndOffset()}\n`);
for (let seq = 0; ; seq++) {
  const count = 1 + random.int(8);
  const records = Array.from({ length: count }, (_, i) => ({
    key: `k${seq % 50}`,
    value: Buffer.alloc(random.int(1500), 97 + (i % 26)),
    timestampMs: Date.now(),
  }));
  const batch = buildSimpleBatch(records);
  const r = await log.append(batch, { leaderEpoch: 1 });
  process.stdout.write(`ack ${r.baseOffset} ${r.lastOffset} ${batch.readUInt32BE(17)}\n`);
}
