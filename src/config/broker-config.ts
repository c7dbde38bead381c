/**
 * The broker's configuration once loaded: every explicit property validated against the
 * table, typed getters, the values derived from several properties (log.retention.ms >
 * minutes > hours, log.dirs > log.dir, listeners), the topic defaults the broker supplies,
 * and DescribeConfigs descriptions with sources and synonyms.
 *
 * The class satisfies the metadata layer's BrokerConfigView (get, validateTopicConfig,
 * validateBrokerConfig, isList, describeTopic, describeBroker) structurally.
 */
import { BROKER_CONFIGS } from './broker-defs.ts';
import { type ListenerEndpoint, parseListeners, parseProtocolMap } from './listeners.ts';
import { validateTopicConfig } from './topic-config.ts';
import { TOPIC_CONFIGS } from './topic-defs.ts';
import {
  type BrokerConfigDef,
  CONFIG_TYPE_IDS,
  type ConfigDescription,
  ConfigError,
  ConfigSource,
  type ConfigSynonym,
  ConfigTypeId,
  type ConfigValue,
  type TopicConfigDef,
} from './types.ts';
import { formatValue, parseValue } from './values.ts';

/** Where an explicit property came from, for error messages. */
export type PropertyOrigin =
  | { kind: 'file'; path: string; line: number }
  | { kind: 'env'; variable: string }
  | { kind: 'flag' }
  | { kind: 'code' };

export function describeOrigin(origin: PropertyOrigin | undefined): string {
  if (origin === undefined) return '';
  switch (origin.kind) {
    case 'file':
      return ` (${origin.path}, line ${origin.line})`;
    case 'env':
      return ` (environment variable ${origin.variable})`;
    case 'flag':
      return ' (--set)';
    case 'code':
      return '';
  }
}

const LISTENER_PREFIX_RE = /^listener\.name\.([a-z0-9_-]+)\.(.+)$/i;

/** Kafka's ConfigResource types, for isList(). */
export const ConfigResourceType = { TOPIC: 2, BROKER: 4 } as const;

type Maps = ReadonlyMap<string, string>;
const NONE: Maps = new Map();

/** Converts a broker synonym's value to its topic config's unit (hours and minutes to ms). */
function toTopicUnit(synonym: string, value: string): string {
  const factor = synonym.endsWith('.hours') ? 3_600_000 : synonym.endsWith('.minutes') ? 60_000 : 1;
  if (factor === 1 && synonym !== 'log.retention.ms') return value;
  const n = Number(value.trim());
  if (!Number.isFinite(n)) return value;
  // A negative time in any unit means "no limit", which Kafka writes as -1.
  return n < 0 ? '-1' : String(n * factor);
}

export class BrokerConfig {
  private readonly explicit: ReadonlyMap<string, string>;
  private readonly parsed = new Map<string, ConfigValue>();
  /** listener.name.<listener>.<property> overrides, by upper-cased listener name. */
  private readonly perListener = new Map<string, Map<string, string>>();
  readonly origins: ReadonlyMap<string, PropertyOrigin>;
  /** Listeners to bind, validated. */
  readonly listeners: readonly ListenerEndpoint[];
  /** Listeners given to clients (advertised.listeners, else listeners). */
  readonly advertisedListeners: readonly ListenerEndpoint[];

  /** Validates the explicit properties; throws ConfigError naming every problem. */
  constructor(props: Readonly<Record<string, string>> = {}, origins: ReadonlyMap<string, PropertyOrigin> = new Map()) {
    this.origins = origins;
    const problems: string[] = [];
    const explicit = new Map<string, string>();
    for (const [name, raw] of Object.entries(props)) {
      const prefixed = LISTENER_PREFIX_RE.exec(name);
      if (prefixed) {
        const problem = this.addListenerOverride(prefixed[1]!.toUpperCase(), prefixed[2]!, raw, name);
        if (problem !== undefined) problems.push(problem + describeOrigin(origins.get(name)));
        continue;
      }
      const def = BROKER_CONFIGS.get(name);
      if (def === undefined) {
        problems.push(`unknown configuration "${name}"${describeOrigin(origins.get(name))}${suggest(name)}`);
        continue;
      }
      const result = parseValue(def, raw);
      if (!result.ok) {
        problems.push(result.error + describeOrigin(origins.get(name)));
        continue;
      }
      explicit.set(name, raw);
      this.parsed.set(name, result.value);
    }
    this.explicit = explicit;
    let listeners: ListenerEndpoint[] = [];
    let advertised: ListenerEndpoint[] = [];
    if (problems.length === 0) {
      try {
        const map = parseProtocolMap(this.string('listener.security.protocol.map') ?? '');
        listeners = parseListeners(this.string('listeners') ?? '', map, 'listeners');
        const adv = this.string('advertised.listeners');
        advertised = adv === null || adv === '' ? listeners : parseListeners(adv, map, 'advertised.listeners');
        const names = new Set(listeners.map((l) => l.name));
        const stray = advertised.find((l) => !names.has(l.name));
        if (stray !== undefined) {
          throw new ConfigError(`advertised.listeners names ${stray.name}, which is not in listeners`);
        }
        for (const listener of this.perListener.keys()) {
          if (!names.has(listener)) {
            throw new ConfigError(
              `listener.name.${listener.toLowerCase()}.* names a listener that is not in listeners`,
            );
          }
        }
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(err.message);
      }
      problems.push(...this.crossChecks());
    }
    if (problems.length > 0) {
      throw new ConfigError(
        problems.length === 1 ? problems[0]! : `configuration problems:\n  ${problems.join('\n  ')}`,
      );
    }
    this.listeners = listeners;
    this.advertisedListeners = advertised;
  }

  /**
   * listener.name.<listener>.<property>: a known broker property (validated as such) or a
   * SASL mechanism-scoped one (listener.name.sasl_ssl.plain.sasl.jaas.config), kept as given.
   */
  private addListenerOverride(listener: string, property: string, raw: string, fullName: string): string | undefined {
    const def = BROKER_CONFIGS.get(property);
    if (def !== undefined) {
      const result = parseValue(def, raw);
      if (!result.ok) return result.error.replace(`"${property}"`, `"${fullName}"`);
    } else if (!/^[a-z0-9-]+\.sasl\.[a-z.]+$/.test(property)) {
      return `unknown configuration "${fullName}" ("${property}" is not a broker property)`;
    }
    let map = this.perListener.get(listener);
    if (map === undefined) this.perListener.set(listener, (map = new Map()));
    map.set(property, raw);
    return undefined;
  }

  /** A property as one listener sees it: listener.name.<listener>.<name> if set, else the broker-wide value. */
  listenerProperty(listenerName: string, name: string): string | undefined {
    return this.perListener.get(listenerName.toUpperCase())?.get(name) ?? this.get(name);
  }

  private crossChecks(): string[] {
    const out: string[] = [];
    const nodeId = this.explicit.has('node.id') ? this.int('node.id') : undefined;
    const brokerId = this.int('broker.id');
    if (nodeId !== undefined && brokerId >= 0 && nodeId !== brokerId) {
      out.push(`node.id (${nodeId}) and broker.id (${brokerId}) disagree`);
    }
    const order = (lo: string, hi: string): void => {
      if (this.int(lo) > this.int(hi)) out.push(`${lo} (${this.int(lo)}) is above ${hi} (${this.int(hi)})`);
    };
    order('group.min.session.timeout.ms', 'group.max.session.timeout.ms');
    order('group.consumer.min.session.timeout.ms', 'group.consumer.session.timeout.ms');
    order('group.consumer.session.timeout.ms', 'group.consumer.max.session.timeout.ms');
    order('group.consumer.min.heartbeat.interval.ms', 'group.consumer.heartbeat.interval.ms');
    order('group.consumer.heartbeat.interval.ms', 'group.consumer.max.heartbeat.interval.ms');
    if (this.int('group.consumer.heartbeat.interval.ms') >= this.int('group.consumer.session.timeout.ms')) {
      out.push('group.consumer.heartbeat.interval.ms must be below group.consumer.session.timeout.ms');
    }
    if (this.logDirs().length === 0) out.push('log.dirs (or log.dir) must name at least one directory');
    return out;
  }

  // --- Raw and typed access

  /** Whether the property was set explicitly (file, environment, flag). */
  isSet(name: string): boolean {
    return this.explicit.has(name);
  }

  /** Effective value in properties syntax (explicit or default); undefined when it has none or the name is unknown. */
  get(name: string): string | undefined {
    const raw = this.explicit.get(name);
    if (raw !== undefined) return raw;
    return BROKER_CONFIGS.get(name)?.defaultValue ?? undefined;
  }

  /** Effective typed value; null when unset without default. Throws for unknown names (a bug). */
  value(name: string): ConfigValue {
    const def = this.def(name);
    if (this.parsed.has(name)) return this.parsed.get(name)!;
    if (def.defaultValue === null) return null;
    const result = parseValue(def, def.defaultValue);
    if (!result.ok) throw new Error(`bad default for ${name}: ${result.error}`);
    return result.value;
  }

  /** Numeric property (short, int, long, double). Long.MAX_VALUE reads as Infinity. Throws when unset without default. */
  int(name: string): number {
    const v = this.value(name);
    if (typeof v !== 'number') throw new Error(`${name} is not a number (${String(v)})`);
    return v;
  }

  /** Numeric property or null when unset without default. */
  intOrNull(name: string): number | null {
    const v = this.value(name);
    return typeof v === 'number' ? v : null;
  }

  bool(name: string): boolean {
    const v = this.value(name);
    if (typeof v !== 'boolean') throw new Error(`${name} is not a boolean`);
    return v;
  }

  string(name: string): string | null {
    const v = this.value(name);
    return typeof v === 'string' ? v : null;
  }

  list(name: string): readonly string[] {
    const v = this.value(name);
    return Array.isArray(v) ? (v as readonly string[]) : [];
  }

  private def(name: string): BrokerConfigDef {
    const def = BROKER_CONFIGS.get(name);
    if (def === undefined) throw new Error(`unknown broker property ${name}`);
    return def;
  }

  // --- Derived values

  /** node.id, or broker.id when only that is set. */
  get nodeId(): number {
    if (!this.explicit.has('node.id') && this.int('broker.id') >= 0) return this.int('broker.id');
    return this.int('node.id');
  }

  /** log.dirs if set, else log.dir; split on commas. */
  logDirs(): string[] {
    const raw = this.explicit.has('log.dirs') ? this.string('log.dirs') : this.string('log.dir');
    return (raw ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  /** Default retention.ms: log.retention.ms > minutes > hours (-1: no limit). */
  logRetentionMs(): number {
    return Number(this.resolveTopicDefault(TOPIC_CONFIGS.get('retention.ms')!, NONE, NONE)?.value ?? '604800000');
  }

  /** Default segment.ms: log.roll.ms > log.roll.hours. */
  logRollMs(): number {
    return Number(this.resolveTopicDefault(TOPIC_CONFIGS.get('segment.ms')!, NONE, NONE)?.value ?? '604800000');
  }

  // --- Topic defaults

  /**
   * The broker synonym that decides a topic config's default: the first synonym with a value,
   * looking at each synonym in turn through dynamic per-broker, dynamic cluster-wide, static and default values.
   */
  private topicSynonyms(def: TopicConfigDef, dynamic: Maps, dynamicDefault: Maps): ConfigSynonym[] {
    const out: ConfigSynonym[] = [];
    for (const synonym of def.brokerSynonyms) {
      const d = dynamic.get(synonym);
      if (d !== undefined) out.push({ name: synonym, value: d, source: ConfigSource.DYNAMIC_BROKER_CONFIG });
      const dd = dynamicDefault.get(synonym);
      if (dd !== undefined) out.push({ name: synonym, value: dd, source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG });
      const s = this.explicit.get(synonym);
      if (s !== undefined) out.push({ name: synonym, value: s, source: ConfigSource.STATIC_BROKER_CONFIG });
      const fallback = BROKER_CONFIGS.get(synonym)?.defaultValue;
      if (fallback !== undefined && fallback !== null) {
        out.push({ name: synonym, value: fallback, source: ConfigSource.DEFAULT_CONFIG });
      }
    }
    return out;
  }

  private resolveTopicDefault(def: TopicConfigDef, dynamic: Maps, dynamicDefault: Maps): ConfigSynonym | undefined {
    const first = this.topicSynonyms(def, dynamic, dynamicDefault)[0];
    if (first === undefined || first.value === null) return undefined;
    return { ...first, value: toTopicUnit(first.name, first.value) };
  }

  /**
   * Topic configs whose default the broker changes (a log.* property set statically or
   * dynamically), by topic config name, in the topic's units (log.retention.hours=2 gives
   * retention.ms=7200000).
   */
  topicDefaults(dynamic: Maps = NONE, dynamicDefault: Maps = NONE): Record<string, string> {
    const out: Record<string, string> = {};
    for (const def of TOPIC_CONFIGS.values()) {
      const r = this.resolveTopicDefault(def, dynamic, dynamicDefault);
      if (r !== undefined && r.source !== ConfigSource.DEFAULT_CONFIG) out[def.name] = r.value!;
    }
    return out;
  }

  /** Every topic config's effective value for a topic with these explicit configs. */
  effectiveTopicConfig(
    explicit: Maps = NONE,
    dynamic: Maps = NONE,
    dynamicDefault: Maps = NONE,
  ): Record<string, string> {
    const out: Record<string, string> = {};
    for (const def of TOPIC_CONFIGS.values()) {
      const set = explicit.get(def.name);
      const value = set ?? this.resolveTopicDefault(def, dynamic, dynamicDefault)?.value ?? def.defaultValue;
      if (value !== null) out[def.name] = value;
    }
    return out;
  }

  // --- Validation of later changes (CreateTopics, IncrementalAlterConfigs)

  validateTopicConfig(name: string, value: string | null): string | undefined {
    return validateTopicConfig(name, value);
  }

  /** For a BROKER resource: unknown names, read-only properties and bad values are refused; '' (delete) is fine. */
  validateBrokerConfig(name: string, value: string | null): string | undefined {
    const def = BROKER_CONFIGS.get(name);
    if (def === undefined) return `unknown configuration "${name}"`;
    if (def.dynamic === 'read-only') return `"${name}" cannot be changed while the broker runs (it is read-only)`;
    if (value === null || value === '') return undefined;
    const parsed = parseValue(def, value);
    return parsed.ok ? undefined : parsed.error;
  }

  isList(resourceType: number, name: string): boolean {
    if (resourceType === ConfigResourceType.TOPIC) return TOPIC_CONFIGS.get(name)?.type === 'list';
    return BROKER_CONFIGS.get(name)?.type === 'list';
  }

  // --- DescribeConfigs

  /** Every topic config of a topic: explicit topic value over broker synonyms over Kafka's default. */
  describeTopic(explicit: Maps, dynamic: Maps = NONE, dynamicDefault: Maps = NONE): ConfigDescription[] {
    const out: ConfigDescription[] = [];
    for (const def of TOPIC_CONFIGS.values()) {
      const synonyms: ConfigSynonym[] = [];
      const set = explicit.get(def.name);
      if (set !== undefined) synonyms.push({ name: def.name, value: set, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
      synonyms.push(...this.topicSynonyms(def, dynamic, dynamicDefault));
      const first = synonyms[0];
      const value =
        first === undefined ? def.defaultValue : first.value === null ? null : toTopicUnit(first.name, first.value);
      out.push({
        name: def.name,
        value,
        readOnly: false,
        source: first?.source ?? ConfigSource.DEFAULT_CONFIG,
        isSensitive: false,
        synonyms,
        configType: CONFIG_TYPE_IDS[def.type],
        documentation: def.doc,
      });
    }
    for (const [name, value] of explicit) {
      if (TOPIC_CONFIGS.has(name)) continue;
      out.push({
        name,
        value,
        readOnly: false,
        source: ConfigSource.DYNAMIC_TOPIC_CONFIG,
        isSensitive: false,
        synonyms: [{ name, value, source: ConfigSource.DYNAMIC_TOPIC_CONFIG }],
        configType: ConfigTypeId.UNKNOWN,
        documentation: null,
      });
    }
    return out;
  }

  /** Every broker property: per-broker dynamic over cluster-wide dynamic over static over default. */
  describeBroker(dynamic: Maps = NONE, dynamicDefault: Maps = NONE): ConfigDescription[] {
    const out: ConfigDescription[] = [];
    for (const def of BROKER_CONFIGS.values()) {
      const sensitive = def.type === 'password';
      const synonyms: ConfigSynonym[] = [];
      const add = (value: string | null | undefined, source: number): void => {
        if (value === undefined || value === null) return;
        synonyms.push({ name: def.name, value: sensitive ? null : value, source });
      };
      add(dynamic.get(def.name), ConfigSource.DYNAMIC_BROKER_CONFIG);
      add(dynamicDefault.get(def.name), ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG);
      add(this.explicit.get(def.name), ConfigSource.STATIC_BROKER_CONFIG);
      add(def.defaultValue, ConfigSource.DEFAULT_CONFIG);
      const first = synonyms[0];
      out.push({
        name: def.name,
        value: sensitive ? null : (first?.value ?? null),
        readOnly: def.dynamic === 'read-only',
        source: first?.source ?? ConfigSource.DEFAULT_CONFIG,
        isSensitive: sensitive,
        synonyms,
        configType: CONFIG_TYPE_IDS[def.type],
        documentation: def.doc,
      });
    }
    return out;
  }

  /** Explicit properties in properties syntax (passwords hidden), for a start-up log line. */
  explicitForLog(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, raw] of this.explicit) {
      out[name] = BROKER_CONFIGS.get(name)?.type === 'password' ? '[hidden]' : raw;
    }
    return out;
  }

  /** A typed value back in properties syntax. */
  static format(name: string, value: ConfigValue): string | null {
    const def = BROKER_CONFIGS.get(name) ?? TOPIC_CONFIGS.get(name);
    return def === undefined ? null : formatValue(def.type, value);
  }
}

/** ' (did you mean "x"?)' for a near miss among broker and topic names. */
function suggest(name: string): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of BROKER_CONFIGS.keys()) {
    const d = distance(name, candidate, bestDistance);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  if (best === undefined && TOPIC_CONFIGS.has(name))
    return ' (that is a topic config; its broker default has another name)';
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

/** Levenshtein distance, giving up at limit. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin >= limit) return limit;
    prev = cur;
  }
  return prev[b.length]!;
}
