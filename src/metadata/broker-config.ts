/**
 * The broker's properties as the metadata side sees them: Kafka property names with
 * Kafka's defaults (Runnel's where they differ: listeners on 127.0.0.1:9092, data under
 * ./data), validated at start, described by DescribeConfigs with sources and synonyms.
 *
 * Bridges to src/config once that module provides the full property table; this table
 * carries the properties the broker uses today and every broker synonym of a topic config.
 */
import { type BrokerConfigView, type ConfigDescription, ConfigSource, ConfigType } from './config-view.ts';
import { ConfigResourceType } from './image.ts';
import { TOPIC_CONFIGS, type TopicConfigDef, validateTopicConfig, validateValue } from './topic-configs.ts';

const T = ConfigType;

interface BrokerPropertyDef {
  name: string;
  type: number;
  defaultValue: string | null;
  /** May be changed through IncrementalAlterConfigs (cluster-wide or per broker). */
  dynamic: boolean;
  sensitive?: boolean;
  min?: number;
  validValues?: string[];
  doc: string;
}

function p(
  name: string,
  type: number,
  defaultValue: string | null,
  dynamic: boolean,
  doc: string,
  extra: Partial<BrokerPropertyDef> = {},
): BrokerPropertyDef {
  return { name, type, defaultValue, dynamic, doc, ...extra };
}

const LONG_MAX = '9223372036854775807';

/** Broker properties beyond the topic-default synonyms. */
const BROKER_PROPERTIES: BrokerPropertyDef[] = [
  p('node.id', T.INT, '1', false, 'The node id of this server.', { min: 0 }),
  p('broker.id', T.INT, '-1', false, 'Alias of node.id.'),
  p('process.roles', T.LIST, 'broker,controller', false, 'Roles of this node.'),
  p('listeners', T.STRING, 'PLAINTEXT://127.0.0.1:9092', false, 'Listeners: NAME://host:port, comma-separated.'),
  p('advertised.listeners', T.STRING, null, false, 'Listeners advertised to clients (default: listeners).'),
  p(
    'listener.security.protocol.map',
    T.STRING,
    'PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
    false,
    'Listener name to security protocol.',
  ),
  p('inter.broker.listener.name', T.STRING, null, false, 'Listener brokers use between themselves.'),
  p('controller.listener.names', T.STRING, null, false, 'Listeners of the controller.'),
  p('controller.quorum.voters', T.LIST, '', false, 'The quorum voters.'),
  p('controller.quorum.bootstrap.servers', T.LIST, '', false, 'Quorum bootstrap servers.'),
  p('log.dirs', T.STRING, './data', false, 'Directories where data is kept.'),
  p('log.dir', T.STRING, './data', false, 'Data directory (when log.dirs is not set).'),
  p('metadata.log.dir', T.STRING, null, false, 'Directory of the metadata log (default: the first of log.dirs).'),
  p('cluster.id', T.STRING, null, false, 'Cluster id to format empty log dirs with (Runnel; default random).'),
  p('broker.rack', T.STRING, null, false, 'Rack of this broker.'),
  p('num.partitions', T.INT, '1', true, 'Default number of partitions of a new topic.', { min: 1 }),
  p('default.replication.factor', T.INT, '1', true, 'Default replication factor of a new topic.', { min: 1 }),
  p('auto.create.topics.enable', T.BOOLEAN, 'true', false, 'Create topics on Metadata requests for unknown topics.'),
  p('delete.topic.enable', T.BOOLEAN, 'true', false, 'Allow deleting topics.'),
  p('socket.request.max.bytes', T.INT, '104857600', false, 'Largest request accepted.', { min: 1 }),
  p('socket.send.buffer.bytes', T.INT, '102400', false, 'SO_SNDBUF (-1: OS default).'),
  p('socket.receive.buffer.bytes', T.INT, '102400', false, 'SO_RCVBUF (-1: OS default).'),
  p('connections.max.idle.ms', T.LONG, '600000', false, 'Idle connections are closed after this.'),
  p('max.connections', T.INT, '2147483647', true, 'Most connections accepted.', { min: 0 }),
  p('queued.max.requests', T.INT, '500', false, 'Requests in flight per connection.', { min: 1 }),
  p('num.network.threads', T.INT, '3', true, 'Kept for compatibility.', { min: 1 }),
  p('num.io.threads', T.INT, '8', true, 'Kept for compatibility.', { min: 1 }),
  p('num.recovery.threads.per.data.dir', T.INT, '2', true, 'Logs opened at once per directory at start.', { min: 1 }),
  p('log.retention.check.interval.ms', T.LONG, '300000', false, 'How often retention runs.', { min: 1 }),
  p('log.cleaner.backoff.ms', T.LONG, '15000', false, 'Sleep of the cleaner when there is nothing to clean.', {
    min: 0,
  }),
  p('log.cleaner.enable', T.BOOLEAN, 'true', false, 'Run the log cleaner (compaction).'),
  p('log.flush.scheduler.interval.ms', T.LONG, LONG_MAX, false, 'How often flush.ms is checked.'),
  p('offsets.topic.replication.factor', T.SHORT, '1', false, 'Replication factor of __consumer_offsets.', { min: 1 }),
  p('offsets.topic.num.partitions', T.INT, '50', false, 'Partitions of __consumer_offsets.', { min: 1 }),
  p('offsets.retention.minutes', T.INT, '10080', false, 'How long committed offsets of empty groups are kept.', {
    min: 1,
  }),
  p('offsets.commit.timeout.ms', T.INT, '5000', false, 'Offset commit timeout.', { min: 1 }),
  p('transaction.state.log.replication.factor', T.SHORT, '1', false, 'Replication factor of __transaction_state.', {
    min: 1,
  }),
  p('transaction.state.log.min.isr', T.INT, '1', false, 'min.insync.replicas of __transaction_state.', { min: 1 }),
  p('transaction.state.log.num.partitions', T.INT, '50', false, 'Partitions of __transaction_state.', { min: 1 }),
  p('transactional.id.expiration.ms', T.INT, '604800000', false, 'Idle transactional ids expire after this.', {
    min: 1,
  }),
  p('transaction.max.timeout.ms', T.INT, '900000', false, 'Longest transaction timeout allowed.', { min: 1 }),
  p('group.initial.rebalance.delay.ms', T.INT, '3000', false, 'Delay of the first rebalance of a new group.', {
    min: 0,
  }),
  p('group.min.session.timeout.ms', T.INT, '6000', false, 'Shortest session timeout allowed.'),
  p('group.max.session.timeout.ms', T.INT, '1800000', false, 'Longest session timeout allowed.'),
  p('group.max.size', T.INT, '2147483647', false, 'Most members in a group.', { min: 1 }),
  p('producer.id.expiration.ms', T.INT, '86400000', true, 'Idle producer ids expire after this.', { min: 1 }),
  p('replica.lag.time.max.ms', T.LONG, '30000', false, 'Followers behind longer than this leave the ISR.'),
  p('log.retention.minutes', T.INT, null, true, 'retention.ms default in minutes.'),
  p('log.retention.hours', T.INT, '168', true, 'retention.ms default in hours.'),
  p('log.roll.hours', T.INT, '168', true, 'segment.ms default in hours.', { min: 1 }),
  p('log.roll.jitter.hours', T.INT, '0', true, 'segment.jitter.ms default in hours.', { min: 0 }),
  p('ssl.keystore.password', T.PASSWORD, null, true, 'Keystore password.', { sensitive: true }),
  p('sasl.jaas.config', T.PASSWORD, null, true, 'JAAS login context.', { sensitive: true }),
];

/** Properties that default a topic config (log.retention.ms etc.), from the topic table. */
function synonymDefs(): BrokerPropertyDef[] {
  const out: BrokerPropertyDef[] = [];
  for (const d of TOPIC_CONFIGS.values()) {
    const primary = d.brokerSynonyms[0];
    if (primary === undefined) continue;
    // Hour/minute variants are in BROKER_PROPERTIES; the primary one carries the topic's default,
    // except retention/roll, whose ms property defaults to null (hours win).
    const nullDefault = primary === 'log.retention.ms' || primary === 'log.roll.ms';
    out.push({
      name: primary,
      type: d.type,
      defaultValue: nullDefault ? null : d.defaultValue,
      dynamic: true,
      doc: d.doc,
      ...(d.min !== undefined ? { min: d.min } : {}),
      ...(d.validValues !== undefined ? { validValues: d.validValues } : {}),
    });
  }
  return out;
}

export const BROKER_PROPERTY_DEFS: ReadonlyMap<string, BrokerPropertyDef> = new Map(
  [...synonymDefs(), ...BROKER_PROPERTIES].map((d) => [d.name, d]),
);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function asTopicDef(d: BrokerPropertyDef): TopicConfigDef {
  return {
    name: d.name,
    type: d.type,
    defaultValue: d.defaultValue ?? '',
    brokerSynonyms: [],
    doc: d.doc,
    ...(d.min !== undefined ? { min: d.min } : {}),
    ...(d.validValues !== undefined ? { validValues: d.validValues } : {}),
  };
}

function validateBrokerValue(d: BrokerPropertyDef, value: string): string | undefined {
  if (d.type === T.PASSWORD || d.type === T.STRING) {
    if (d.validValues !== undefined && !d.validValues.includes(value)) {
      return `Invalid value ${value} for configuration ${d.name}: String must be one of: ${d.validValues.join(', ')}`;
    }
    return undefined;
  }
  return validateValue(asTopicDef(d), value);
}

/** Checks every given property: unknown names and invalid values throw ConfigError naming the property. */
export function validateBrokerProperties(props: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(props)) {
    const d = BROKER_PROPERTY_DEFS.get(name);
    if (d === undefined) throw new ConfigError(`Unknown configuration '${name}'`);
    const message = validateBrokerValue(d, value);
    if (message !== undefined) throw new ConfigError(message);
  }
}

/** The broker's effective static properties with describe and validation. */
export class StaticBrokerConfig implements BrokerConfigView {
  constructor(private readonly props: Readonly<Record<string, string>>) {}

  get(name: string): string | undefined {
    return this.props[name] ?? BROKER_PROPERTY_DEFS.get(name)?.defaultValue ?? undefined;
  }

  int(name: string): number {
    return Number(this.get(name));
  }

  /** Static values of the broker's topic-default properties (retention from hours/minutes as Kafka). */
  private staticTopicDefault(d: TopicConfigDef): { name: string; value: string } | undefined {
    for (const synonym of d.brokerSynonyms) {
      const value = this.props[synonym];
      if (value === undefined) continue;
      return { name: synonym, value: convertSynonym(synonym, value) };
    }
    return undefined;
  }

  /** Topic configs the broker's static properties set (log.retention.hours=2 -> retention.ms), by topic name. */
  topicDefaults(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of TOPIC_CONFIGS.values()) {
      const set = this.staticTopicDefault(d);
      if (set !== undefined) out[d.name] = set.value;
    }
    return out;
  }

  validateTopicConfig(name: string, value: string): string | undefined {
    return validateTopicConfig(name, value);
  }

  validateBrokerConfig(name: string, value: string): string | undefined {
    const d = BROKER_PROPERTY_DEFS.get(name);
    if (d === undefined) return `Unknown broker config name: ${name}`;
    if (!d.dynamic) return `Cannot update these configs dynamically: Set(${name})`;
    if (value === '') return undefined;
    return validateBrokerValue(d, value);
  }

  isList(resourceType: number, name: string): boolean {
    if (resourceType === ConfigResourceType.TOPIC) return TOPIC_CONFIGS.get(name)?.type === T.LIST;
    return BROKER_PROPERTY_DEFS.get(name)?.type === T.LIST;
  }

  describeTopic(explicit: ReadonlyMap<string, string>): ConfigDescription[] {
    const out: ConfigDescription[] = [];
    for (const d of TOPIC_CONFIGS.values()) {
      const synonyms: ConfigDescription['synonyms'] = [];
      const set = explicit.get(d.name);
      if (set !== undefined) synonyms.push({ name: d.name, value: set, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
      const fromBroker = this.staticTopicDefault(d);
      if (fromBroker !== undefined) {
        synonyms.push({ name: fromBroker.name, value: fromBroker.value, source: ConfigSource.STATIC_BROKER_CONFIG });
      }
      const primary = d.brokerSynonyms[0];
      if (primary !== undefined) {
        synonyms.push({ name: primary, value: d.defaultValue, source: ConfigSource.DEFAULT_CONFIG });
      }
      const effective = synonyms[0] ?? { name: d.name, value: d.defaultValue, source: ConfigSource.DEFAULT_CONFIG };
      out.push({
        name: d.name,
        value: effective.value,
        readOnly: false,
        source: effective.source,
        isSensitive: false,
        synonyms,
        configType: d.type,
        documentation: d.doc,
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
        configType: T.UNKNOWN,
        documentation: null,
      });
    }
    return out;
  }

  describeBroker(
    dynamic: ReadonlyMap<string, string>,
    dynamicDefault: ReadonlyMap<string, string>,
  ): ConfigDescription[] {
    const out: ConfigDescription[] = [];
    for (const d of BROKER_PROPERTY_DEFS.values()) {
      const synonyms: ConfigDescription['synonyms'] = [];
      const add = (value: string | undefined | null, source: number): void => {
        if (value === undefined || value === null) return;
        synonyms.push({ name: d.name, value: d.sensitive ? null : value, source });
      };
      add(dynamic.get(d.name), ConfigSource.DYNAMIC_BROKER_CONFIG);
      add(dynamicDefault.get(d.name), ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG);
      add(this.props[d.name], ConfigSource.STATIC_BROKER_CONFIG);
      add(d.defaultValue, ConfigSource.DEFAULT_CONFIG);
      const effective = synonyms[0];
      out.push({
        name: d.name,
        value: d.sensitive ? null : (effective?.value ?? null),
        readOnly: !d.dynamic,
        source: effective?.source ?? ConfigSource.DEFAULT_CONFIG,
        isSensitive: d.sensitive ?? false,
        synonyms,
        configType: d.type,
        documentation: d.doc,
      });
    }
    return out;
  }
}

/** log.retention.hours=2 gives retention.ms=7200000, and so on. */
function convertSynonym(synonym: string, value: string): string {
  const n = Number(value);
  if (synonym.endsWith('.hours')) return String(n * 3_600_000);
  if (synonym.endsWith('.minutes')) return String(n * 60_000);
  return value;
}
