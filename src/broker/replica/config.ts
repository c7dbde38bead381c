/**
 * A partition's effective configuration: the topic's overrides (from the metadata image)
 * over the broker's topic defaults (log.* broker properties, already mapped to topic
 * names by the caller), over Kafka's defaults.
 */
import { logConfigFromTopicConfigs } from '../../storage/config.ts';
import type { PartitionConfig } from './partition.ts';

/** max.message.bytes default (Kafka: 1 MiB + record batch overhead). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** message.timestamp.after.max.ms default (Kafka 4: one hour). */
export const DEFAULT_TIMESTAMP_AFTER_MAX_MS = 3_600_000;

const LONG_MAX = '9223372036854775807';

function long(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === LONG_MAX) return Number.POSITIVE_INFINITY;
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

/**
 * Builds the effective config. A malformed value falls back to the default for that
 * property (configs are validated when they are set, by AlterConfigs/CreateTopics).
 */
export function partitionConfigFrom(
  overrides: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  defaults: Readonly<Record<string, string>> = {},
): PartitionConfig {
  const merged: Record<string, string> = { ...defaults };
  const entries = overrides instanceof Map ? overrides.entries() : Object.entries(overrides);
  for (const [k, v] of entries) merged[k] = v;
  let log: PartitionConfig['log'];
  try {
    log = logConfigFromTopicConfigs(merged);
  } catch {
    log = logConfigFromTopicConfigs({});
  }
  return {
    log,
    maxMessageBytes: long(merged['max.message.bytes'], DEFAULT_MAX_MESSAGE_BYTES),
    minInsyncReplicas: long(merged['min.insync.replicas'], 1),
    timestampBeforeMaxMs: long(merged['message.timestamp.before.max.ms'], Number.POSITIVE_INFINITY),
    timestampAfterMaxMs: long(merged['message.timestamp.after.max.ms'], DEFAULT_TIMESTAMP_AFTER_MAX_MS),
  };
}
