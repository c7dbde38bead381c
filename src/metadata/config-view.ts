/**
 * What the metadata handlers and the controller need from the configuration: the
 * broker's own properties, validation of topic and broker configs, and descriptions of
 * effective configs with their sources and synonyms (DescribeConfigs, CreateTopics v5+).
 * The implementation sits on src/config (see broker/config-view.ts wiring in start.ts).
 */
import type { ConfigRules } from './controller.ts';

/** DescribeConfigs config sources (Kafka's DescribeConfigsResponse.ConfigSource ids). */
export const ConfigSource = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;

/** DescribeConfigs config types (Kafka's ConfigType ids). */
export const ConfigType = {
  UNKNOWN: 0,
  BOOLEAN: 1,
  STRING: 2,
  INT: 3,
  SHORT: 4,
  LONG: 5,
  DOUBLE: 6,
  LIST: 7,
  CLASS: 8,
  PASSWORD: 9,
} as const;

export interface ConfigSynonym {
  name: string;
  value: string | null;
  source: number;
}

export interface ConfigDescription {
  name: string;
  /** null for sensitive values. */
  value: string | null;
  readOnly: boolean;
  source: number;
  isSensitive: boolean;
  /** Effective first, then what it overrides (topic -> broker dynamic -> static -> default). */
  synonyms: ConfigSynonym[];
  configType: number;
  documentation: string | null;
}

export interface BrokerConfigView extends ConfigRules {
  /** The broker's effective static property (string form), or undefined when unknown. */
  get(name: string): string | undefined;
  /** Effective configs of a topic: explicit ones over the broker's defaults. */
  describeTopic(explicit: ReadonlyMap<string, string>): ConfigDescription[];
  /** Effective configs of this broker: per-broker dynamic over cluster-default dynamic over static over default. */
  describeBroker(
    dynamic: ReadonlyMap<string, string>,
    dynamicDefault: ReadonlyMap<string, string>,
  ): ConfigDescription[];
}
