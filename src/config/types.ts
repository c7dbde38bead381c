/**
 * The shape of a configuration property, as the declarative tables in broker-defs.ts and
 * topic-defs.ts spell it: Kafka's name, type, default and valid values, our one-line doc.
 */

export type ConfigTypeName = 'boolean' | 'short' | 'int' | 'long' | 'double' | 'string' | 'list' | 'password' | 'class';

/** A parsed value: numbers for short/int/long/double (Kafka's Long.MAX_VALUE is LONG_MAX), lists as arrays. */
export type ConfigValue = boolean | number | string | readonly string[] | null;

/** Kafka's Long.MAX_VALUE, written as Kafka writes it. */
export const LONG_MAX_STRING = '9223372036854775807';
/**
 * Kafka's Long.MAX_VALUE as a parsed number. "No limit" in Kafka's configs (flush.ms,
 * max.compaction.lag.ms, ...) is Long.MAX_VALUE; we read it as Infinity so that
 * comparisons keep meaning "never", and print it back as 9223372036854775807.
 */
export const LONG_MAX = Number.POSITIVE_INFINITY;

export type Importance = 'high' | 'medium' | 'low';

/**
 * Whether a broker property may change without a restart (IncrementalAlterConfigs on a
 * BROKER resource): Kafka's "dynamic update mode".
 */
export type DynamicMode = 'read-only' | 'per-broker' | 'cluster-wide';

export type Validator =
  | { kind: 'range'; min?: number; max?: number }
  | { kind: 'in'; values: readonly string[]; caseInsensitive?: boolean }
  /** Every list element is one of values. */
  | { kind: 'list-in'; values: readonly string[]; allowEmpty?: boolean }
  /** Free-form: returns what was expected ("a host:port pair") or undefined when valid. */
  | { kind: 'custom'; describe: string; check(value: ConfigValue): string | undefined };

interface BaseDef {
  name: string;
  type: ConfigTypeName;
  /** Default as Kafka writes it in properties syntax; null for "no default". */
  defaultValue: string | null;
  valid?: Validator;
  importance: Importance;
  /** One line, our words. */
  doc: string;
  /** Where Runnel departs from Kafka, or what it does not do (yet). */
  note?: string;
}

export interface BrokerConfigDef extends BaseDef {
  scope: 'broker';
  dynamic: DynamicMode;
}

export interface TopicConfigDef extends BaseDef {
  scope: 'topic';
  /**
   * Broker properties that supply this config's default when the topic does not set it,
   * most specific first (retention.ms <- log.retention.ms, log.retention.minutes, log.retention.hours).
   */
  brokerSynonyms: readonly string[];
}

export type ConfigDef = BrokerConfigDef | TopicConfigDef;

/** DescribeConfigs config sources (the ids of Kafka's DescribeConfigsResponse ConfigSource). */
export const ConfigSource = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;

/** DescribeConfigs config types (the ids of Kafka's DescribeConfigsResponse ConfigType, v3+). */
export const ConfigTypeId = {
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

export const CONFIG_TYPE_IDS: Readonly<Record<ConfigTypeName, number>> = {
  boolean: ConfigTypeId.BOOLEAN,
  string: ConfigTypeId.STRING,
  int: ConfigTypeId.INT,
  short: ConfigTypeId.SHORT,
  long: ConfigTypeId.LONG,
  double: ConfigTypeId.DOUBLE,
  list: ConfigTypeId.LIST,
  class: ConfigTypeId.CLASS,
  password: ConfigTypeId.PASSWORD,
};

export interface ConfigSynonym {
  name: string;
  /** null for sensitive values. */
  value: string | null;
  source: number;
}

/** One entry of a DescribeConfigs result (structurally the metadata layer's ConfigDescription). */
export interface ConfigDescription {
  name: string;
  /** null for sensitive values and for properties without a value. */
  value: string | null;
  readOnly: boolean;
  source: number;
  isSensitive: boolean;
  /** The effective value first, then what it overrides (topic -> dynamic broker -> static -> default). */
  synonyms: ConfigSynonym[];
  configType: number;
  documentation: string | null;
}

/** A configuration problem found at start; the message names the property. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
