/**
 * The `runnel` command. Sub-commands are thin shells over the broker and client
 * libraries; each lives in its own file under src/cli/.
 */
import { Command } from 'commander';
import { addBrokerConfigOptions, type BrokerConfigOptions } from '../config/index.ts';
import { VERSION } from '../version.ts';
import { registerCluster } from './cluster.ts';
import { registerConfigs } from './configs.ts';
import { registerConsume } from './consume.ts';
import { registerGroups } from './groups.ts';
import { registerPerf } from './perf.ts';
import { registerProduce } from './produce.ts';
import { runStart } from './start.ts';
import { registerTopics } from './topics.ts';

const program = new Command()
  .name('runnel')
  .description('Runnel: a Kafka-compatible event streaming platform for Node.js')
  .version(VERSION);

addBrokerConfigOptions(
  program.command('start').description('start a broker (listens on 127.0.0.1:9092, data under ./data)'),
).action(async (options: BrokerConfigOptions) => {
  process.exitCode = await runStart(options);
});

registerTopics(program);
registerProduce(program);
registerConsume(program);
registerGroups(program);
registerConfigs(program);
registerCluster(program);
registerPerf(program);

await program.parseAsync(process.argv);
