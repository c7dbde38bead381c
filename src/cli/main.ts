/**
 * The `runnel` command. Sub-commands are thin shells over the broker and client
 * libraries; each lives in its own file under src/cli/.
 */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { runStart } from './start.ts';

const program = new Command()
  .name('runnel')
  .description('Runnel: a Kafka-compatible event streaming platform for Node.js')
  .version(VERSION);

program
  .command('start')
  .description('start a broker (listens on 127.0.0.1:9092, data under ./data)')
  .option('-c, --config <file>', 'Kafka server.properties file')
  .option(
    '-s, --set <key=value>',
    'broker property, repeatable (e.g. --set listeners=PLAINTEXT://127.0.0.1:19092)',
    (value: string, previous: string[]) => [...previous, value],
    [] as string[],
  )
  .action(async (options: { config?: string; set: string[] }) => {
    process.exitCode = await runStart(options);
  });

await program.parseAsync(process.argv);
