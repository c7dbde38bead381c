/**
 * Runnel's configuration: Kafka's broker and topic properties as declarative tables,
 * loading from file / environment / flags, validation, and DescribeConfigs data.
 *
 *   const config = loadBrokerConfigFromCli({ configPath, sets, env: process.env });
 *   config.int('num.partitions'); config.listeners; config.topicDefaults();
 *   validateTopicConfig('retention.ms', 'abc'); // 'invalid value "abc" for "retention.ms": expected a long integer'
 */

export { BrokerConfig, ConfigResourceType, describeOrigin, type PropertyOrigin } from './broker-config.ts';
export { BROKER_CONFIG_DEFS, BROKER_CONFIGS } from './broker-defs.ts';
export { addBrokerConfigOptions, type BrokerConfigOptions, brokerConfigFromOptions } from './cli.ts';
export {
  formatHostPort,
  type ListenerEndpoint,
  parseListeners,
  parseProtocolMap,
  SECURITY_PROTOCOLS,
  type SecurityProtocolName,
} from './listeners.ts';
export { type PropertyEntry, parseProperties, propertiesToRecord, stringifyProperties } from './properties.ts';
export {
  type BrokerConfigSources,
  ENV_PREFIX,
  envNameToProperty,
  loadBrokerConfig,
  loadBrokerConfigFromCli,
  NON_PROPERTY_ENV,
  parseSetFlag,
  propertiesFromEnv,
  propertiesFromFile,
  propertyToEnvName,
} from './sources.ts';
export { parseTopicConfigValue, validateTopicConfig, validateTopicConfigs } from './topic-config.ts';
export { TOPIC_CONFIG_DEFS, TOPIC_CONFIGS } from './topic-defs.ts';
export * from './types.ts';
export { formatValue, parseByType, parseValue } from './values.ts';
