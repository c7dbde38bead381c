/**
 * The `runnel` command. Sub-commands are thin shells over the broker and client
 * libraries; each lives in its own file under src/cli/.
 */
import { Command } from 'commander';
import { VERSION } from '../version.ts';

const program = new Command()
  .name('runnel')
  .description('Runnel: a Kafka-compatible event streaming platform for Node.js')
  .version(VERSION);

program
  .command('start')
  .description('start a broker (listens on 127.0.0.1:9092, data under ./data)')
  .action(() => {
    console.log(`runnel ${VERSION}: the broker is not built yet; see README.md for what works today.`);
  });

await program.parseAsync(process.argv);
