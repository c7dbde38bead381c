/**
 * What the metadata handlers and the controller need from the configuration: the
 * broker's own properties, validation of topic and broker configs, and descriptions of
 * effective configs with their sources and synonyms (DescribeConfigs, CreateTopics v5+).
 * src/config's BrokerConfig implements it.
 */
import type { ConfigDescription } from '../config/types.ts';
import type { ConfigRules } from './controller.ts';

export { type ConfigDescription, ConfigSource, type ConfigSynonym, ConfigTypeId } from '../config/types.ts';

export interface BrokerConfigView extends ConfigRules {
  /** The broker's effective static property (properties syntax), or undefined when unset without default. */
  get(name: string): string | undefined;
  /**
   * Effective configs of a topic: explicit ones over the broker's defaults (the broker's
   * dynamic per-broker and cluster-wide log.* configs, then its static ones).
   */
  describeTopic(
    explicit: ReadonlyMap<string, string>,
    brokerDynamic?: ReadonlyMap<string, string>,
    clusterDynamic?: ReadonlyMap<string, string>,
  ): ConfigDescription[];
  /** Effective configs of this broker: per-broker dynamic over cluster-wide dynamic over static over default. */
  describeBroker(
    dynamic: ReadonlyMap<string, string>,
    dynamicDefault: ReadonlyMap<string, string>,
  ): ConfigDescription[];
}
