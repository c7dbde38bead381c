/**
 * The `runnel` command. Sub-commands are thin shells over the broker and client
 * libraries; each lives in its own file under src/cli/.
 */
import { Command } from 'commander';
import { addBrokerConfigOptions, type BrokerConfigOptions } from '../config/index.ts';
import { VERSION } from '../version.ts';
import { registerCluster } from './cluster.ts';
import { examples } from './common.ts';
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
  .version(VERSION)
  .addHelpText(
    'after',
    `${examples([
      'runnel start',
      'runnel topics create --topic orders --partitions 3',
      "echo 'hello' | runnel produce --topic orders",
      'runnel consume --topic orders --from-beginning',
      'runnel groups describe --group billing',
      'runnel perf produce --topic orders --num-records 100000 --record-size 100 --throughput -1',
      'runnel <command> --help',
    ])}\nClient commands take --bootstrap-server host:port (default localhost:9092, or $RUNNEL_BOOTSTRAP_SERVER).\n`,
  );

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

// Not a top-level await: the production bundle is CommonJS (see tools/build.mjs). A rejection
// still ends the process with the error, as an unhandled rejection.
void program.parseAsync(process.argv);
