/**
 * `runnel groups`: list, describe (members, committed offsets and lag), reset-offsets (a plan
 * printed by default, applied with `--execute`, like kafka-consumer-groups) and delete.
 */
import type { Command } from 'commander';
import { type Admin, type GroupDescription, KafkaProtocolError } from '../client/index.ts';
import {
  action,
  addBootstrapOption,
  type BootstrapOptions,
  CliError,
  collect,
  examples,
  parseIntArg,
  parseTime,
  withAdmin,
} from './common.ts';
import { formatTable } from './table.ts';
import { describeTopicsOrFail } from './topics.ts';

const GROUP_ID_NOT_FOUND = 69;

interface ResetOptions extends BootstrapOptions {
  group: string;
  topic: string[];
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: string;
  shiftBy?: number;
  dryRun?: boolean;
  execute?: boolean;
}

export function registerGroups(program: Command): void {
  const groups = program
    .command('groups')
    .description('list, describe, reset offsets of and delete consumer groups')
    .addHelpText(
      'after',
      examples([
        'runnel groups list',
        'runnel groups describe --group billing',
        'runnel groups reset-offsets --group billing --topic orders --to-earliest',
        'runnel groups reset-offsets --group billing --topic orders --shift-by -10 --execute',
        'runnel groups delete --group billing',
      ]),
    );

  addBootstrapOption(groups.command('list').description('list the groups on every broker'))
    .addHelpText('after', examples(['runnel groups list']))
    .action(
      action(async (opts: BootstrapOptions) =>
        withAdmin(opts, async (admin) => {
          const list = await admin.listGroups();
          const rows = list.map((g) => [g.groupId, g.type || '-', g.protocolType || '-', g.state || '-']);
          process.stdout.write(`${formatTable(['group', 'type', 'protocol-type', 'state'], rows)}\n`);
          return 0;
        }),
      ),
    );

  addBootstrapOption(
    groups
      .command('describe')
      .description("a group's state, members, and per partition committed offset, log end offset and lag")
      .requiredOption('--group <id>', 'group to describe (repeatable)', collect),
  )
    .addHelpText('after', examples(['runnel groups describe --group billing']))
    .action(
      action(async (opts: BootstrapOptions & { group: string[] }) =>
        withAdmin(opts, async (admin) => {
          const described = await admin.describeGroups(opts.group);
          const out: string[] = [];
          for (const g of described) {
            if (g.state === 'Dead' && g.members.length === 0 && g.offsets.length === 0) {
              throw new CliError(`group ${g.groupId} does not exist`);
            }
            const committed = new Set(g.offsets.map((o) => `${o.topic}\0${o.partition}`));
            const uncommitted = g.members
              .flatMap((m) => m.assignment)
              .filter((tp) => !committed.has(`${tp.topic}\0${tp.partition}`));
            const ends = await admin.listOffsets(uncommitted.map((tp) => ({ ...tp, spec: 'latest' as const })));
            out.push(describeText(g, new Map(ends.map((e) => [`${e.topic}\0${e.partition}`, e.offset]))));
          }
          process.stdout.write(`${out.join('\n\n')}\n`);
          return 0;
        }),
      ),
    );

  addBootstrapOption(
    groups
      .command('reset-offsets')
      .description("move a group's committed offsets (the group must have no active members)")
      .requiredOption('--group <id>', 'group whose offsets to reset')
      .requiredOption('--topic <name>', 'topic whose partitions to reset (repeatable)', collect)
      .option('--to-earliest', 'to the log start offset')
      .option('--to-latest', 'to the log end offset')
      .option('--to-offset <n>', 'to this offset (kept within the log)', parseIntArg('--to-offset', 0))
      .option('--to-datetime <ISO>', 'to the first record at or after this time')
      .option('--shift-by <n>', 'by n from the committed offset (negative goes back)', parseIntArg('--shift-by'))
      .option('--dry-run', 'print the new offsets without changing anything (the default)')
      .option('--execute', 'apply the new offsets'),
  )
    .addHelpText(
      'after',
      examples([
        'runnel groups reset-offsets --group billing --topic orders --to-earliest',
        'runnel groups reset-offsets --group billing --topic orders --to-datetime 2026-01-01T00:00:00Z --execute',
        'runnel groups reset-offsets --group billing --topic orders --shift-by -100 --execute',
      ]),
    )
    .action(action(async (opts: ResetOptions) => resetOffsets(opts)));

  addBootstrapOption(
    groups
      .command('delete')
      .description('delete a group and its committed offsets (it must have no active members)')
      .requiredOption('--group <id>', 'group to delete (repeatable)', collect),
  )
    .addHelpText('after', examples(['runnel groups delete --group billing']))
    .action(
      action(async (opts: BootstrapOptions & { group: string[] }) =>
        withAdmin(opts, async (admin) => {
          for (const g of opts.group) {
            try {
              await admin.deleteGroups([g]);
            } catch (e) {
              if (e instanceof KafkaProtocolError && e.code === GROUP_ID_NOT_FOUND) {
                throw new CliError(`group ${g} does not exist`);
              }
              throw e;
            }
            process.stdout.write(`deleted group ${g}\n`);
          }
          return 0;
        }),
      ),
    );
}

/** The group's line and table; `ends` has log end offsets of assigned partitions without a committed offset. */
function describeText(g: GroupDescription, ends: Map<string, number>): string {
  const owner = new Map<string, GroupDescription['members'][number]>();
  for (const m of g.members) for (const tp of m.assignment) owner.set(`${tp.topic}\0${tp.partition}`, m);
  const rows: (string | number | null)[][] = g.offsets.map((o) => {
    const m = owner.get(`${o.topic}\0${o.partition}`);
    owner.delete(`${o.topic}\0${o.partition}`);
    return [
      o.topic,
      o.partition,
      o.offset,
      o.endOffset,
      o.lag,
      m?.memberId ?? null,
      m?.clientHost ?? null,
      m?.clientId ?? null,
    ];
  });
  // Assigned partitions without a committed offset yet.
  for (const [k, m] of owner) {
    const [topic, partition] = k.split('\0') as [string, string];
    rows.push([topic, Number(partition), null, ends.get(k) ?? null, null, m.memberId, m.clientHost, m.clientId]);
  }
  rows.sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : (a[1] as number) - (b[1] as number)));
  const header = `group ${g.groupId}: state ${g.state}, ${g.members.length} member${g.members.length === 1 ? '' : 's'}, type ${g.type}${g.protocol ? `, assignor ${g.protocol}` : ''}`;
  const table = formatTable(
    ['topic', 'partition', 'current-offset', 'log-end-offset', 'lag', 'member-id', 'host', 'client-id'],
    rows,
  );
  return `${header}\n${table}`;
}

async function resetOffsets(opts: ResetOptions): Promise<number> {
  const chosen = [
    opts.toEarliest === true,
    opts.toLatest === true,
    opts.toOffset !== undefined,
    opts.toDatetime !== undefined,
    opts.shiftBy !== undefined,
  ].filter(Boolean).length;
  if (chosen !== 1) {
    throw new CliError('give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by');
  }
  if (opts.dryRun && opts.execute) throw new CliError('give --dry-run or --execute, not both');
  const timestamp = opts.toDatetime !== undefined ? parseTime(opts.toDatetime) : undefined;
  return withAdmin(opts, async (admin) => {
    const plan = await resetPlan(admin, opts, timestamp);
    if (opts.execute) {
      const [g] = await admin.describeGroups([opts.group]);
      if (g !== undefined && g.members.length > 0) {
        throw new CliError(`group ${opts.group} has ${g.members.length} active member(s): stop them before resetting`);
      }
      await admin.alterGroupOffsets(
        opts.group,
        plan.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      );
    }
    const rows = plan.map((p) => [opts.group, p.topic, p.partition, p.current, p.offset]);
    process.stdout.write(`${formatTable(['group', 'topic', 'partition', 'current-offset', 'new-offset'], rows)}\n`);
    if (!opts.execute) process.stderr.write('dry run: nothing changed (add --execute to apply)\n');
    return 0;
  });
}

/** New offset per partition, kept within [log start, log end] as Kafka's tool does. */
async function resetPlan(
  admin: Admin,
  opts: ResetOptions,
  timestamp: number | undefined,
): Promise<{ topic: string; partition: number; current: number | null; offset: number }[]> {
  const topics = await describeTopicsOrFail(admin, opts.topic);
  const tps = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
  const [earliest, latest, committed] = await Promise.all([
    admin.listOffsets(tps.map((tp) => ({ ...tp, spec: 'earliest' as const }))),
    admin.listOffsets(tps.map((tp) => ({ ...tp, spec: 'latest' as const }))),
    admin.listGroupOffsets(opts.group),
  ]);
  const byTime =
    timestamp !== undefined ? await admin.listOffsets(tps.map((tp) => ({ ...tp, spec: { timestamp } }))) : [];
  const find = <T extends { topic: string; partition: number }>(list: T[], tp: { topic: string; partition: number }) =>
    list.find((o) => o.topic === tp.topic && o.partition === tp.partition);
  return tps.map((tp) => {
    const low = find(earliest, tp)!.offset;
    const high = find(latest, tp)!.offset;
    const current = find(committed, tp)?.offset ?? null;
    let target: number;
    if (opts.toEarliest) target = low;
    else if (opts.toLatest) target = high;
    else if (opts.toOffset !== undefined) target = opts.toOffset;
    else if (timestamp !== undefined) {
      const t = find(byTime, tp)?.offset ?? -1;
      target = t >= 0 ? t : high;
    } else target = (current ?? low) + opts.shiftBy!;
    return { ...tp, current, offset: Math.min(high, Math.max(low, target)) };
  });
}
