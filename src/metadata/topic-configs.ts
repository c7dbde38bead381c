/**
 * The topic configs a topic may set (Kafka's names, types, defaults and the broker
 * properties that supply their defaults), with value validation. Used until the config
 * module (src/config) provides the same table; the facts are Kafka's, the code ours.
 */
import { ConfigType } from './config-view.ts';

export interface TopicConfigDef {
  name: string;
  type: number;
  /** Kafka's default, as a string ("" for empty lists). */
  defaultValue: string;
  /** Broker properties that supply the default, most specific first. */
  brokerSynonyms: string[];
  /** Allowed values (case-sensitive), for enumerations and lists of them. */
  validValues?: string[];
  min?: number;
  max?: number;
  doc: string;
}

const LONG_MAX = '9223372036854775807';

function def(
  name: string,
  type: number,
  defaultValue: string,
  brokerSynonyms: string[],
  doc: string,
  extra: Partial<TopicConfigDef> = {},
): TopicConfigDef {
  return { name, type, defaultValue, brokerSynonyms, doc, ...extra };
}

const T = ConfigType;

export const TOPIC_CONFIGS: ReadonlyMap<string, TopicConfigDef> = new Map(
  [
    def(
      'cleanup.policy',
      T.LIST,
      'delete',
      ['log.cleanup.policy'],
      'How old log segments are discarded: delete, compact, or both.',
      {
        validValues: ['compact', 'delete'],
      },
    ),
    def(
      'compression.type',
      T.STRING,
      'producer',
      ['compression.type'],
      "Final compression of the topic; producer keeps the producer's codec.",
      {
        validValues: ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'],
      },
    ),
    def('compression.gzip.level', T.INT, '-1', ['compression.gzip.level'], 'Compression level for gzip.', {
      min: -1,
      max: 9,
    }),
    def('compression.lz4.level', T.INT, '9', ['compression.lz4.level'], 'Compression level for lz4.', {
      min: 1,
      max: 17,
    }),
    def('compression.zstd.level', T.INT, '3', ['compression.zstd.level'], 'Compression level for zstd.', {
      min: -131072,
      max: 22,
    }),
    def(
      'delete.retention.ms',
      T.LONG,
      '86400000',
      ['log.cleaner.delete.retention.ms'],
      'How long delete tombstones are kept in compacted topics.',
      { min: 0 },
    ),
    def(
      'file.delete.delay.ms',
      T.LONG,
      '60000',
      ['log.segment.delete.delay.ms'],
      'Time to wait before deleting a file.',
      { min: 0 },
    ),
    def('flush.messages', T.LONG, LONG_MAX, ['log.flush.interval.messages'], 'fsync after this many messages.', {
      min: 1,
    }),
    def('flush.ms', T.LONG, LONG_MAX, ['log.flush.interval.ms'], 'fsync after this much time.', { min: 0 }),
    def(
      'follower.replication.throttled.replicas',
      T.LIST,
      '',
      ['follower.replication.throttled.replicas'],
      'Replicas throttled on the follower side.',
    ),
    def(
      'index.interval.bytes',
      T.INT,
      '4096',
      ['log.index.interval.bytes'],
      'Log bytes between offset index entries.',
      { min: 0 },
    ),
    def(
      'leader.replication.throttled.replicas',
      T.LIST,
      '',
      ['leader.replication.throttled.replicas'],
      'Replicas throttled on the leader side.',
    ),
    def(
      'local.retention.bytes',
      T.LONG,
      '-2',
      ['log.local.retention.bytes'],
      'Local retention size with tiered storage.',
      { min: -2 },
    ),
    def('local.retention.ms', T.LONG, '-2', ['log.local.retention.ms'], 'Local retention time with tiered storage.', {
      min: -2,
    }),
    def(
      'max.compaction.lag.ms',
      T.LONG,
      LONG_MAX,
      ['log.cleaner.max.compaction.lag.ms'],
      'Longest a message stays ineligible for compaction.',
      { min: 1 },
    ),
    def('max.message.bytes', T.INT, '1048588', ['message.max.bytes'], 'Largest record batch size allowed.', { min: 0 }),
    def(
      'message.timestamp.after.max.ms',
      T.LONG,
      '3600000',
      ['log.message.timestamp.after.max.ms'],
      'Largest allowed lead of a message timestamp over the broker time.',
      { min: 0 },
    ),
    def(
      'message.timestamp.before.max.ms',
      T.LONG,
      LONG_MAX,
      ['log.message.timestamp.before.max.ms'],
      'Largest allowed lag of a message timestamp behind the broker time.',
      { min: 0 },
    ),
    def(
      'message.timestamp.type',
      T.STRING,
      'CreateTime',
      ['log.message.timestamp.type'],
      'CreateTime or LogAppendTime.',
      {
        validValues: ['CreateTime', 'LogAppendTime'],
      },
    ),
    def(
      'min.cleanable.dirty.ratio',
      T.DOUBLE,
      '0.5',
      ['log.cleaner.min.cleanable.ratio'],
      'Dirty ratio above which the log is compacted.',
      { min: 0, max: 1 },
    ),
    def(
      'min.compaction.lag.ms',
      T.LONG,
      '0',
      ['log.cleaner.min.compaction.lag.ms'],
      'Shortest time a message stays uncompacted.',
      { min: 0 },
    ),
    def('min.insync.replicas', T.INT, '1', ['min.insync.replicas'], 'Minimum in-sync replicas for acks=all.', {
      min: 1,
    }),
    def('preallocate', T.BOOLEAN, 'false', ['log.preallocate'], 'Preallocate segment files.'),
    def('remote.storage.enable', T.BOOLEAN, 'false', [], 'Tiered storage for this topic.'),
    def(
      'retention.bytes',
      T.LONG,
      '-1',
      ['log.retention.bytes'],
      'Largest partition size before old segments are deleted (-1: no limit).',
    ),
    def(
      'retention.ms',
      T.LONG,
      '604800000',
      ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'],
      'Longest time a segment is kept (-1: no limit).',
      { min: -1 },
    ),
    def('segment.bytes', T.INT, '1073741824', ['log.segment.bytes'], 'Segment file size.', { min: 14 }),
    def('segment.index.bytes', T.INT, '10485760', ['log.index.size.max.bytes'], 'Offset index size.', { min: 4 }),
    def(
      'segment.jitter.ms',
      T.LONG,
      '0',
      ['log.roll.jitter.ms', 'log.roll.jitter.hours'],
      'Random jitter subtracted from segment.ms.',
      { min: 0 },
    ),
    def('segment.ms', T.LONG, '604800000', ['log.roll.ms', 'log.roll.hours'], 'Time after which a segment is rolled.', {
      min: 1,
    }),
    def(
      'unclean.leader.election.enable',
      T.BOOLEAN,
      'false',
      ['unclean.leader.election.enable'],
      'Allow out-of-sync replicas to become leader.',
    ),
  ].map((d) => [d.name, d]),
);

const TYPE_NAMES: Record<number, string> = {
  [T.BOOLEAN]: 'BOOLEAN',
  [T.INT]: 'INT',
  [T.LONG]: 'LONG',
  [T.DOUBLE]: 'DOUBLE',
  [T.STRING]: 'STRING',
  [T.LIST]: 'LIST',
};

/** Validates a value against a definition; returns Kafka's message or undefined. */
export function validateValue(d: TopicConfigDef, value: string): string | undefined {
  const bad = (why: string): string => `Invalid value ${value} for configuration ${d.name}: ${why}`;
  const trimmed = value.trim();
  switch (d.type) {
    case T.BOOLEAN:
      if (!/^(true|false)$/i.test(trimmed)) return bad('Expected value to be either true or false');
      return undefined;
    case T.INT:
    case T.LONG: {
      if (!/^-?\d+$/.test(trimmed)) return bad(`Not a number of type ${TYPE_NAMES[d.type]}`);
      const n = BigInt(trimmed);
      const [lo, hi] = d.type === T.INT ? [-(2n ** 31n), 2n ** 31n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
      if (n < lo || n > hi) return bad(`Not a number of type ${TYPE_NAMES[d.type]}`);
      if (d.min !== undefined && n < BigInt(d.min)) return bad(`Value must be at least ${d.min}`);
      if (d.max !== undefined && n > BigInt(d.max)) return bad(`Value must be no more than ${d.max}`);
      return undefined;
    }
    case T.DOUBLE: {
      const n = Number(trimmed);
      if (trimmed === '' || !Number.isFinite(n)) return bad('Not a number of type DOUBLE');
      if (d.min !== undefined && n < d.min) return bad(`Value must be at least ${d.min}`);
      if (d.max !== undefined && n > d.max) return bad(`Value must be no more than ${d.max}`);
      return undefined;
    }
    case T.LIST: {
      if (d.validValues === undefined) return undefined;
      const items = trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim());
      for (const item of items) {
        if (!d.validValues.includes(item)) return bad(`String must be one of: ${d.validValues.join(', ')}`);
      }
      if (d.name === 'cleanup.policy' && items.length === 0) return bad('Empty list not allowed');
      return undefined;
    }
    default:
      if (d.validValues !== undefined && !d.validValues.includes(trimmed)) {
        return bad(`String must be one of: ${d.validValues.join(', ')}`);
      }
      return undefined;
  }
}

export function validateTopicConfig(name: string, value: string): string | undefined {
  const d = TOPIC_CONFIGS.get(name);
  if (d === undefined) return `Unknown topic config name: ${name}`;
  return validateValue(d, value);
}
