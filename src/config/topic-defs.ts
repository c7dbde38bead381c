/**
 * Topic-level configs: Kafka's names, types, defaults and valid values, each with the
 * broker properties that supply its default when the topic does not set it. The facts
 * are Kafka's (4.x); the descriptions are ours.
 */
import { type Importance, LONG_MAX_STRING, type TopicConfigDef, type Validator } from './types.ts';

interface Extra {
  valid?: Validator;
  importance?: Importance;
  note?: string;
}

function t(
  name: string,
  type: TopicConfigDef['type'],
  defaultValue: string | null,
  brokerSynonyms: readonly string[],
  doc: string,
  extra: Extra = {},
): TopicConfigDef {
  return {
    scope: 'topic',
    name,
    type,
    defaultValue,
    brokerSynonyms,
    doc,
    importance: extra.importance ?? 'medium',
    ...extra,
  };
}

const atLeast = (min: number): Validator => ({ kind: 'range', min });
const between = (min: number, max: number): Validator => ({ kind: 'range', min, max });

export const COMPRESSION_TYPES = ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'] as const;
export const TIMESTAMP_TYPES = ['CreateTime', 'LogAppendTime'] as const;
export const CLEANUP_POLICIES = ['compact', 'delete'] as const;

const gzipLevel: Validator = {
  kind: 'custom',
  describe: '-1 (the codec default) or 1..9',
  check: (v) => (v === -1 || (typeof v === 'number' && v >= 1 && v <= 9) ? undefined : 'expected -1 or 1..9'),
};

/** [partition]:[broker] pairs, or "*" for all replicas. */
const throttledReplicas: Validator = {
  kind: 'custom',
  describe: '"*" or a list of partition:broker pairs',
  check: (v) => {
    const list = v as readonly string[];
    if (list.length === 1 && list[0] === '*') return undefined;
    const bad = list.find((x) => !/^\d+:\d+$/.test(x));
    return bad === undefined ? undefined : `expected "*" or partition:broker pairs (got "${bad}")`;
  },
};

export const TOPIC_CONFIG_DEFS: readonly TopicConfigDef[] = [
  t(
    'cleanup.policy',
    'list',
    'delete',
    ['log.cleanup.policy'],
    'How old segments go: deleted, compacted (latest value per key kept), or both.',
    {
      valid: { kind: 'list-in', values: CLEANUP_POLICIES },
    },
  ),
  t(
    'compression.type',
    'string',
    'producer',
    ['compression.type'],
    "Codec batches are stored with; producer keeps the producer's own codec.",
    {
      valid: { kind: 'in', values: COMPRESSION_TYPES },
    },
  ),
  t(
    'compression.gzip.level',
    'int',
    '-1',
    ['compression.gzip.level'],
    'gzip level when the broker recompresses to gzip.',
    {
      valid: gzipLevel,
      importance: 'low',
    },
  ),
  t('compression.lz4.level', 'int', '9', ['compression.lz4.level'], 'lz4 level when the broker recompresses to lz4.', {
    valid: between(1, 17),
    importance: 'low',
  }),
  t(
    'compression.zstd.level',
    'int',
    '3',
    ['compression.zstd.level'],
    'zstd level when the broker recompresses to zstd.',
    {
      valid: between(-131072, 22),
      importance: 'low',
    },
  ),
  t(
    'delete.retention.ms',
    'long',
    '86400000',
    ['log.cleaner.delete.retention.ms'],
    'How long a tombstone outlives compaction, so slow readers still see the delete.',
    {
      valid: atLeast(0),
    },
  ),
  t(
    'file.delete.delay.ms',
    'long',
    '60000',
    ['log.segment.delete.delay.ms'],
    'Grace period between dropping a segment and removing its files.',
    {
      valid: atLeast(0),
      importance: 'low',
    },
  ),
  t(
    'flush.messages',
    'long',
    LONG_MAX_STRING,
    ['log.flush.interval.messages'],
    'fsync the log after this many records (default: leave it to the OS).',
    {
      valid: atLeast(1),
    },
  ),
  t(
    'flush.ms',
    'long',
    LONG_MAX_STRING,
    ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'],
    'fsync the log when the last fsync is older than this (default: never).',
    {
      valid: atLeast(0),
    },
  ),
  t(
    'follower.replication.throttled.replicas',
    'list',
    '',
    [],
    'Replicas whose follower-side replication is throttled.',
    {
      valid: throttledReplicas,
      importance: 'low',
      note: 'Accepted and stored; Runnel does not throttle replication.',
    },
  ),
  t(
    'index.interval.bytes',
    'int',
    '4096',
    ['log.index.interval.bytes'],
    'One offset-index entry per this many log bytes.',
    {
      valid: atLeast(0),
    },
  ),
  t('leader.replication.throttled.replicas', 'list', '', [], 'Replicas whose leader-side replication is throttled.', {
    valid: throttledReplicas,
    importance: 'low',
    note: 'Accepted and stored; Runnel does not throttle replication.',
  }),
  t(
    'local.retention.bytes',
    'long',
    '-2',
    ['log.local.retention.bytes'],
    'Local bytes kept with tiered storage (-2: retention.bytes).',
    {
      valid: atLeast(-2),
      note: 'Tiered storage is not implemented; accepted for compatibility.',
    },
  ),
  t(
    'local.retention.ms',
    'long',
    '-2',
    ['log.local.retention.ms'],
    'Local time kept with tiered storage (-2: retention.ms).',
    {
      valid: atLeast(-2),
      note: 'Tiered storage is not implemented; accepted for compatibility.',
    },
  ),
  t(
    'max.compaction.lag.ms',
    'long',
    LONG_MAX_STRING,
    ['log.cleaner.max.compaction.lag.ms'],
    'Longest a record may wait before it becomes eligible for compaction.',
    {
      valid: atLeast(1),
    },
  ),
  t(
    'max.message.bytes',
    'int',
    '1048588',
    ['message.max.bytes'],
    'Largest record batch (after compression) a producer may append.',
    {
      valid: atLeast(0),
    },
  ),
  t(
    'message.downconversion.enable',
    'boolean',
    'true',
    ['log.message.downconversion.enable'],
    'Whether old fetch versions get down-converted batches.',
    {
      importance: 'low',
      note: 'A deprecated no-op since Kafka 4.0; Runnel never down-converts.',
    },
  ),
  t(
    'message.timestamp.after.max.ms',
    'long',
    '3600000',
    ['log.message.timestamp.after.max.ms'],
    'How far ahead of broker time a CreateTime timestamp may be.',
    {
      valid: atLeast(0),
    },
  ),
  t(
    'message.timestamp.before.max.ms',
    'long',
    LONG_MAX_STRING,
    ['log.message.timestamp.before.max.ms'],
    'How far behind broker time a CreateTime timestamp may be.',
    {
      valid: atLeast(0),
    },
  ),
  t(
    'message.timestamp.type',
    'string',
    'CreateTime',
    ['log.message.timestamp.type'],
    "Record timestamps: the producer's (CreateTime) or the broker's append time.",
    {
      valid: { kind: 'in', values: TIMESTAMP_TYPES },
    },
  ),
  t(
    'min.cleanable.dirty.ratio',
    'double',
    '0.5',
    ['log.cleaner.min.cleanable.ratio'],
    'Share of uncompacted log that makes a partition worth compacting.',
    {
      valid: between(0, 1),
    },
  ),
  t(
    'min.compaction.lag.ms',
    'long',
    '0',
    ['log.cleaner.min.compaction.lag.ms'],
    'Records younger than this are never compacted.',
    {
      valid: atLeast(0),
    },
  ),
  t(
    'min.insync.replicas',
    'int',
    '1',
    ['min.insync.replicas'],
    'Replicas that must have a write before an acks=all produce succeeds.',
    {
      valid: atLeast(1),
      importance: 'high',
    },
  ),
  t('preallocate', 'boolean', 'false', ['log.preallocate'], 'Preallocate segment files on disk.', {
    importance: 'low',
    note: 'Accepted; Runnel does not preallocate.',
  }),
  t('remote.storage.enable', 'boolean', 'false', [], 'Use tiered storage for this topic.', {
    note: 'Tiered storage is not implemented; only false is useful.',
  }),
  t(
    'retention.bytes',
    'long',
    '-1',
    ['log.retention.bytes'],
    'Partition size above which the oldest segments are deleted (-1: no limit).',
  ),
  t(
    'retention.ms',
    'long',
    '604800000',
    ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'],
    'Age after which a segment is deleted (-1: no limit).',
    {
      valid: atLeast(-1),
      importance: 'high',
    },
  ),
  t('segment.bytes', 'int', '1073741824', ['log.segment.bytes'], 'Size at which the active segment is rolled.', {
    valid: atLeast(14),
    note: 'Kafka 4 raised the minimum to 1 MiB; Runnel keeps the older minimum of 14 bytes so tests can use small segments.',
  }),
  t(
    'segment.index.bytes',
    'int',
    '10485760',
    ['log.index.size.max.bytes'],
    'Size of the offset and time indexes of a segment.',
    {
      valid: atLeast(4),
    },
  ),
  t(
    'segment.jitter.ms',
    'long',
    '0',
    ['log.roll.jitter.ms', 'log.roll.jitter.hours'],
    'Random amount taken off segment.ms so segments do not all roll at once.',
    {
      valid: atLeast(0),
    },
  ),
  t(
    'segment.ms',
    'long',
    '604800000',
    ['log.roll.ms', 'log.roll.hours'],
    'Age at which the active segment is rolled even if not full.',
    {
      valid: atLeast(1),
    },
  ),
  t(
    'unclean.leader.election.enable',
    'boolean',
    'false',
    ['unclean.leader.election.enable'],
    'Let an out-of-sync replica become leader (may lose data).',
  ),
];

export const TOPIC_CONFIGS: ReadonlyMap<string, TopicConfigDef> = new Map(TOPIC_CONFIG_DEFS.map((d) => [d.name, d]));
