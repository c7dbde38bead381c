/**
 * Per-log configuration, with Kafka's topic config names and defaults. Units are in the
 * names; "none" is -1 for retention and Infinity for flush thresholds (Kafka's Long.MAX).
 */
export interface LogConfig {
  /** segment.bytes: roll when the active segment would exceed this. */
  segmentBytes: number;
  /** segment.ms: roll when the active segment is older than this. */
  segmentMs: number;
  /** segment.index.bytes: roll when an index of the active segment is full. */
  segmentIndexBytes: number;
  /** index.interval.bytes: one offset (and time) index entry per this many log bytes. */
  indexIntervalBytes: number;
  /** retention.ms (-1: keep forever), by a closed segment's largest timestamp. */
  retentionMs: number;
  /** retention.bytes (-1: no size limit). */
  retentionBytes: number;
  /** cleanup.policy: delete, compact, or both. */
  cleanupPolicy: { delete: boolean; compact: boolean };
  /** delete.retention.ms: how long a tombstone survives compaction. */
  deleteRetentionMs: number;
  /** min.cleanable.dirty.ratio. */
  minCleanableDirtyRatio: number;
  /** min.compaction.lag.ms: records younger than this are not compacted. */
  minCompactionLagMs: number;
  /** flush.messages: fsync after this many records (Infinity: leave it to the OS). */
  flushMessages: number;
  /** flush.ms: fsync when the last flush is older than this (Infinity: never). */
  flushMs: number;
  /** message.timestamp.type. */
  messageTimestampType: 'CreateTime' | 'LogAppendTime';
}

export const defaultLogConfig: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  segmentIndexBytes: 10 * 1024 * 1024,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  cleanupPolicy: Object.freeze({ delete: true, compact: false }),
  deleteRetentionMs: 24 * 3600 * 1000,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
  flushMessages: Number.POSITIVE_INFINITY,
  flushMs: Number.POSITIVE_INFINITY,
  messageTimestampType: 'CreateTime',
});

export function logConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  return { ...defaultLogConfig, ...overrides };
}

const LONG_MAX = '9223372036854775807';

function num(value: string, infiniteAtLongMax = false): number {
  if (infiniteAtLongMax && value === LONG_MAX) return Number.POSITIVE_INFINITY;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${value}`);
  return n;
}

/**
 * Builds a LogConfig from Kafka topic configs (string values, Kafka names); names not
 * listed here are ignored. Throws on a malformed value (the caller maps it to
 * INVALID_CONFIG).
 */
export function logConfigFromTopicConfigs(
  configs: Readonly<Record<string, string>>,
  base = defaultLogConfig,
): LogConfig {
  const c: LogConfig = { ...base, cleanupPolicy: { ...base.cleanupPolicy } };
  for (const [name, value] of Object.entries(configs)) {
    switch (name) {
      case 'segment.bytes':
        c.segmentBytes = num(value);
        break;
      case 'segment.ms':
        c.segmentMs = num(value, true);
        break;
      case 'segment.index.bytes':
        c.segmentIndexBytes = num(value);
        break;
      case 'index.interval.bytes':
        c.indexIntervalBytes = num(value);
        break;
      case 'retention.ms':
        c.retentionMs = num(value);
        break;
      case 'retention.bytes':
        c.retentionBytes = num(value);
        break;
      case 'cleanup.policy': {
        const parts = value.split(',').map((s) => s.trim());
        if (parts.some((p) => p !== 'delete' && p !== 'compact')) throw new Error(`bad cleanup.policy: ${value}`);
        c.cleanupPolicy = { delete: parts.includes('delete'), compact: parts.includes('compact') };
        break;
      }
      case 'delete.retention.ms':
        c.deleteRetentionMs = num(value);
        break;
      case 'min.cleanable.dirty.ratio':
        c.minCleanableDirtyRatio = num(value);
        break;
      case 'min.compaction.lag.ms':
        c.minCompactionLagMs = num(value);
        break;
      case 'flush.messages':
        c.flushMessages = num(value, true);
        break;
      case 'flush.ms':
        c.flushMs = num(value, true);
        break;
      case 'message.timestamp.type':
        if (value !== 'CreateTime' && value !== 'LogAppendTime')
          throw new Error(`bad message.timestamp.type: ${value}`);
        c.messageTimestampType = value;
        break;
    }
  }
  return c;
}
