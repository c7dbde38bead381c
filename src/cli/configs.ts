/**
 * `runnel configs`: describe and alter topic and broker configs (kafka-configs' flags).
 * Describe shows the configs set on the entity; `--all` adds defaults and static ones.
 */
import type { Command } from 'commander';
import type { ConfigResourceType } from '../client/index.ts';
import {
  action,
  addBootstrapOption,
  type BootstrapOptions,
  CliError,
  collect,
  examples,
  keyValues,
  splitList,
  withAdmin,
} from './common.ts';
import { formatTable } from './table.ts';
import { describeTopicsOrFail } from './topics.ts';

interface EntityOptions extends BootstrapOptions {
  entityType: string;
  entityName: string;
}

function resourceType(entityType: string): ConfigResourceType {
  if (entityType === 'topics' || entityType === 'topic') return 'topic';
  if (entityType === 'brokers' || entityType === 'broker') return 'broker';
  throw new CliError(`--entity-type must be topics or brokers, got "${entityType}"`);
}

export function registerConfigs(program: Command): void {
  const configs = program
    .command('configs')
    .description('describe and alter topic and broker configs')
    .addHelpText(
      'after',
      examples([
        'runnel configs describe --entity-type topics --entity-name orders',
        'runnel configs describe --entity-type brokers --entity-name 1 --all',
        'runnel configs alter --entity-type topics --entity-name orders --add-config retention.ms=3600000,cleanup.policy=compact',
        'runnel configs alter --entity-type topics --entity-name orders --delete-config retention.ms',
      ]),
    );

  const entity = (cmd: Command): Command =>
    addBootstrapOption(
      cmd
        .requiredOption('--entity-type <type>', 'topics or brokers')
        .requiredOption('--entity-name <name>', 'topic name or broker id'),
    );

  entity(
    configs
      .command('describe')
      .description('show the configs set on a topic or broker (--all: every config with its source)')
      .option('--all', 'include defaults and static broker configs'),
  )
    .addHelpText('after', examples(['runnel configs describe --entity-type topics --entity-name orders --all']))
    .action(
      action(async (opts: EntityOptions & { all?: boolean }) => {
        const type = resourceType(opts.entityType);
        return withAdmin(opts, async (admin) => {
          if (type === 'topic') await describeTopicsOrFail(admin, [opts.entityName]);
          const [res] = await admin.describeConfigs([{ type, name: opts.entityName }]);
          const dynamic = type === 'topic' ? ['dynamic-topic'] : ['dynamic-broker', 'dynamic-default-broker'];
          const rows = res!.configs
            .filter((c) => opts.all === true || dynamic.includes(c.source))
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
            .map((c) => [c.name, c.isSensitive ? '(sensitive)' : c.value, c.source, c.readOnly ? 'yes' : 'no']);
          process.stdout.write(`${formatTable(['name', 'value', 'source', 'read-only'], rows)}\n`);
          return 0;
        });
      }),
    );

  entity(
    configs
      .command('alter')
      .description('set and remove configs of a topic or broker')
      .option('--add-config <k=v,...>', 'configs to set (comma-separated, repeatable)', collect)
      .option('--delete-config <k,...>', 'configs to remove (comma-separated, repeatable)', collect),
  )
    .addHelpText(
      'after',
      examples([
        'runnel configs alter --entity-type topics --entity-name orders --add-config retention.ms=60000 --delete-config cleanup.policy',
      ]),
    )
    .action(
      action(async (opts: EntityOptions & { addConfig?: string[]; deleteConfig?: string[] }) => {
        const type = resourceType(opts.entityType);
        const sets = keyValues(opts.addConfig);
        const deletes = (opts.deleteConfig ?? []).flatMap(splitList);
        if (Object.keys(sets).length === 0 && deletes.length === 0) {
          throw new CliError('nothing to alter: give --add-config or --delete-config');
        }
        return withAdmin(opts, async (admin) => {
          if (type === 'topic') await describeTopicsOrFail(admin, [opts.entityName]);
          await admin.incrementalAlterConfigs([
            {
              type,
              name: opts.entityName,
              ops: [
                ...Object.entries(sets).map(([name, value]) => ({ name, value, op: 'set' as const })),
                ...deletes.map((name) => ({ name, op: 'delete' as const })),
              ],
            },
          ]);
          process.stdout.write(`updated configs of ${type} ${opts.entityName}\n`);
          return 0;
        });
      }),
    );
}
