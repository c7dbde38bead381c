/**
 * The command-line side of configuration, for `runnel start`:
 *
 *   addBrokerConfigOptions(program.command('start')).action((opts) => {
 *     const config = brokerConfigFromOptions(opts); // throws ConfigError: print err.message, exit 1
 *   });
 *
 * gives `--config FILE` and repeatable `--set key=value`.
 */
import type { Command } from 'commander';
import type { BrokerConfig } from './broker-config.ts';
import { loadBrokerConfigFromCli } from './sources.ts';

export interface BrokerConfigOptions {
  config?: string;
  set?: string[];
}

export function addBrokerConfigOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'read broker properties from a server.properties-style file')
    .option(
      '--set <key=value>',
      'set a broker property (repeatable; wins over the file and RUNNEL_* environment variables)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    );
}

export function brokerConfigFromOptions(
  options: BrokerConfigOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): BrokerConfig {
  return loadBrokerConfigFromCli({ configPath: options.config, sets: options.set ?? [], env });
}
