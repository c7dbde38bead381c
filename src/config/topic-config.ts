/**
 * Topic config checks for CreateTopics and (Incremental)AlterConfigs: one value at a time
 * (validateTopicConfig) and the whole effective set (validateTopicConfigs, which also
 * catches settings that contradict each other). Messages name the config; the handler
 * maps them to INVALID_CONFIG.
 */
import { TOPIC_CONFIGS } from './topic-defs.ts';
import type { ConfigValue } from './types.ts';
import { parseValue } from './values.ts';

/** Error message for a topic config value, or undefined when it is valid. null (delete) is always valid for known names. */
export function validateTopicConfig(name: string, value: string | null): string | undefined {
  const def = TOPIC_CONFIGS.get(name);
  if (def === undefined) return `unknown topic configuration "${name}"`;
  if (value === null) return undefined;
  const parsed = parseValue(def, value);
  return parsed.ok ? undefined : parsed.error;
}

/** Parsed value of a topic config (the caller has validated it); undefined for unknown names or bad values. */
export function parseTopicConfigValue(name: string, value: string): ConfigValue | undefined {
  const def = TOPIC_CONFIGS.get(name);
  if (def === undefined) return undefined;
  const parsed = parseValue(def, value);
  return parsed.ok ? parsed.value : undefined;
}

/**
 * Checks a topic's configs as a whole: every explicit value, then the rules between
 * values, applied to the effective configs (explicit over broker defaults).
 * `effective` maps every topic config to its effective string (BrokerConfig.effectiveTopicConfig).
 */
export function validateTopicConfigs(
  explicit: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  effective: Readonly<Record<string, string>> = {},
): string | undefined {
  const entries = explicit instanceof Map ? [...explicit.entries()] : Object.entries(explicit);
  for (const [name, value] of entries) {
    const problem = validateTopicConfig(name, value);
    if (problem !== undefined) return problem;
  }
  const merged: Record<string, string> = { ...effective, ...Object.fromEntries(entries) };
  const num = (name: string): number | undefined => {
    const raw = merged[name] ?? TOPIC_CONFIGS.get(name)?.defaultValue ?? undefined;
    if (raw === undefined || raw === null) return undefined;
    const v = parseTopicConfigValue(name, raw);
    return typeof v === 'number' ? v : undefined;
  };
  const minLag = num('min.compaction.lag.ms');
  const maxLag = num('max.compaction.lag.ms');
  if (minLag !== undefined && maxLag !== undefined && minLag > maxLag) {
    return `conflicting topic configs: min.compaction.lag.ms (${merged['min.compaction.lag.ms']}) is above max.compaction.lag.ms (${merged['max.compaction.lag.ms']})`;
  }
  return undefined;
}
