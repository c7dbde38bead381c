/**
 * `runnel topics`: list, create, describe, alter (partitions and configs), delete.
 */
import type { Command } from 'commander';
import { type Admin, type ConfigEntry, KafkaProtocolError, type TopicDescription } from '../client/index.ts';
import {
  action,
  addBootstrapOption,
  type BootstrapOptions,
  CliError,
  collect,
  examples,
  keyValues,
  parseIntArg,
  splitList,
  withAdmin,
} from './common.ts';
import { formatTable } from './table.ts';

const UNKNOWN_TOPIC_OR_PARTITION = 3;
const TOPIC_ALREADY_EXISTS = 36;

export function registerTopics(program: Command): void {
  const topics = program
    .command('topics')
    .description('list, create, describe, alter and delete topics')
    .addHelpText(
      'after',
      examples([
        'runnel topics list',
        'runnel topics create --topic orders --partitions 6 --config retention.ms=86400000',
        'runnel topics describe --topic orders',
        'runnel topics alter --topic orders --partitions 12',
        'runnel topics alter --topic orders --config cleanup.policy=compact --delete-config retention.ms',
        'runnel topics delete --topic orders',
      ]),
    );

  addBootstrapOption(
    topics
      .command('list')
      .description('print topic names, one a line')
      .option('--exclude-internal', 'leave out internal topics such as __consumer_offsets'),
  )
    .addHelpText('after', examples(['runnel topics list --exclude-internal']))
    .action(
      action(async (opts: BootstrapOptions & { excludeInternal?: boolean }) =>
        withAdmin(opts, async (admin) => {
          const names = await admin.listTopics({ includeInternal: opts.excludeInternal !== true });
          for (const name of names) process.stdout.write(`${name}\n`);
          return 0;
        }),
      ),
    );

  addBootstrapOption(
    topics
      .command('create')
      .description('create a topic')
      .requiredOption('--topic <name>', 'topic to create')
      .option(
        '--partitions <n>',
        "partition count (default the broker's num.partitions)",
        parseIntArg('--partitions', 1),
      )
      .option(
        '--replication-factor <n>',
        "replicas per partition (default the broker's default.replication.factor)",
        parseIntArg('--replication-factor', 1),
      )
      .option('--config <key=value>', 'topic config (repeatable, or comma-separated)', collect)
      .option('--if-not-exists', 'succeed quietly when the topic exists'),
  )
    .addHelpText('after', examples(['runnel topics create --topic orders --partitions 3 --replication-factor 1']))
    .action(
      action(
        async (
          opts: BootstrapOptions & {
            topic: string;
            partitions?: number;
            replicationFactor?: number;
            config?: string[];
            ifNotExists?: boolean;
          },
        ) =>
          withAdmin(opts, async (admin) => {
            try {
              await admin.createTopics([
                {
                  topic: opts.topic,
                  numPartitions: opts.partitions ?? -1,
                  replicationFactor: opts.replicationFactor ?? -1,
                  configs: keyValues(opts.config),
                },
              ]);
            } catch (e) {
              if (opts.ifNotExists && e instanceof KafkaProtocolError && e.code === TOPIC_ALREADY_EXISTS) return 0;
              throw e;
            }
            process.stdout.write(`created topic ${opts.topic}\n`);
            return 0;
          }),
      ),
    );

  addBootstrapOption(
    topics
      .command('describe')
      .description(
        'show topics (all when no --topic): id, partitions, replication, configs, and per partition leader, replicas, isr',
      )
      .option('--topic <name>', 'topic to describe (repeatable)', collect)
      .option('--exclude-internal', 'leave out internal topics when describing all'),
  )
    .addHelpText('after', examples(['runnel topics describe', 'runnel topics describe --topic orders']))
    .action(
      action(async (opts: BootstrapOptions & { topic?: string[]; excludeInternal?: boolean }) =>
        withAdmin(opts, async (admin) => {
          const names = opts.topic ?? (await admin.listTopics({ includeInternal: opts.excludeInternal !== true }));
          if (names.length === 0) return 0;
          const described = await describeTopicsOrFail(admin, names);
          const configs = await admin.describeConfigs(described.map((t) => ({ type: 'topic' as const, name: t.name })));
          const summary = described.map((t, i) => [
            t.name,
            t.topicId,
            t.partitions.length,
            t.partitions[0]?.replicas.length ?? 0,
            dynamicConfigs(configs[i]!.configs) || '-',
          ]);
          process.stdout.write(`${formatTable(['topic', 'id', 'partitions', 'replication', 'configs'], summary)}\n\n`);
          const rows = described.flatMap((t) =>
            t.partitions.map((p) => [t.name, p.partition, p.leader, p.replicas.join(','), p.isr.join(',')]),
          );
          process.stdout.write(`${formatTable(['topic', 'partition', 'leader', 'replicas', 'isr'], rows)}\n`);
          return 0;
        }),
      ),
    );

  addBootstrapOption(
    topics
      .command('alter')
      .description('add partitions to a topic and/or change its configs')
      .requiredOption('--topic <name>', 'topic to alter')
      .option('--partitions <n>', 'new, larger partition count', parseIntArg('--partitions', 1))
      .option('--config <key=value>', 'config to set (repeatable, or comma-separated)', collect)
      .option('--delete-config <key>', 'config to remove, back to its default (repeatable)', collect),
  )
    .addHelpText(
      'after',
      examples([
        'runnel topics alter --topic orders --partitions 12',
        'runnel topics alter --topic orders --config retention.ms=3600000',
      ]),
    )
    .action(
      action(
        async (
          opts: BootstrapOptions & { topic: string; partitions?: number; config?: string[]; deleteConfig?: string[] },
        ) => {
          const sets = keyValues(opts.config);
          const deletes = (opts.deleteConfig ?? []).flatMap(splitList);
          if (opts.partitions === undefined && Object.keys(sets).length === 0 && deletes.length === 0) {
            throw new CliError('nothing to alter: give --partitions, --config or --delete-config');
          }
          return withAdmin(opts, async (admin) => {
            await describeTopicsOrFail(admin, [opts.topic]);
            if (opts.partitions !== undefined) {
              await admin.createPartitions([{ topic: opts.topic, count: opts.partitions }]);
              process.stdout.write(`topic ${opts.topic} now has ${opts.partitions} partitions\n`);
            }
            if (Object.keys(sets).length > 0 || deletes.length > 0) {
              await admin.incrementalAlterConfigs([
                {
                  type: 'topic',
                  name: opts.topic,
                  ops: [
                    ...Object.entries(sets).map(([name, value]) => ({ name, value, op: 'set' as const })),
                    ...deletes.map((name) => ({ name, op: 'delete' as const })),
                  ],
                },
              ]);
              process.stdout.write(`updated configs of topic ${opts.topic}\n`);
            }
            return 0;
          });
        },
      ),
    );

  addBootstrapOption(
    topics
      .command('delete')
      .description('delete a topic and its data')
      .requiredOption('--topic <name>', 'topic to delete (repeatable)', collect)
      .option('--if-exists', 'succeed quietly when the topic does not exist'),
  )
    .addHelpText('after', examples(['runnel topics delete --topic orders']))
    .action(
      action(async (opts: BootstrapOptions & { topic: string[]; ifExists?: boolean }) =>
        withAdmin(opts, async (admin) => {
          for (const topic of opts.topic) {
            try {
              await admin.deleteTopics([topic]);
            } catch (e) {
              if (e instanceof KafkaProtocolError && e.code === UNKNOWN_TOPIC_OR_PARTITION) {
                if (opts.ifExists) continue;
                throw new CliError(`topic ${topic} does not exist`);
              }
              throw e;
            }
            process.stdout.write(`deleted topic ${topic}\n`);
          }
          return 0;
        }),
      ),
    );
}

/** describeTopics with a plain message for a missing topic. */
export async function describeTopicsOrFail(admin: Admin, names: string[]): Promise<TopicDescription[]> {
  try {
    return await admin.describeTopics(names);
  } catch (e) {
    if (e instanceof KafkaProtocolError && e.code === UNKNOWN_TOPIC_OR_PARTITION) {
      const missing = e.message.replace(/^.*: topic /, '');
      throw new CliError(`topic ${missing} does not exist`);
    }
    throw e;
  }
}

/** Configs set on the topic itself, as `k=v,k2=v2`. */
function dynamicConfigs(configs: readonly ConfigEntry[]): string {
  return configs
    .filter((c) => c.source === 'dynamic-topic')
    .map((c) => `${c.name}=${c.isSensitive ? '(sensitive)' : (c.value ?? '')}`)
    .sort()
    .join(',');
}
