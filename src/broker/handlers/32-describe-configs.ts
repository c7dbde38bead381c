/**
 * DescribeConfigs (key 32): effective configs of topics and of this broker, with their
 * source (v1+), synonyms (v1+, when asked), type and documentation (v3+, when asked).
 * Sensitive values are null. A broker resource named "" describes the cluster-wide
 * dynamic defaults only; any other broker id than this node's is refused.
 */

import { type ConfigDescription, ConfigSource } from '../../metadata/config-view.ts';
import { validateTopicName } from '../../metadata/controller.ts';
import { ConfigResourceType, resourceConfigs } from '../../metadata/image.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { DescribeConfigsRequestDescribeConfigsResource } from '../../protocol/generated/describe-configs-request.ts';
import type {
  DescribeConfigsResponseDescribeConfigsResourceResult,
  DescribeConfigsResponseDescribeConfigsResult,
} from '../../protocol/generated/describe-configs-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';
import type { BrokerServices } from '../services.ts';

function describe(
  resource: DescribeConfigsRequestDescribeConfigsResource,
  services: BrokerServices,
): { errorCode: number; errorMessage: string | null; configs: ConfigDescription[] } {
  const image = services.metadata.image();
  const { resourceType, resourceName } = resource;
  if (resourceType === ConfigResourceType.TOPIC) {
    const nameError = validateTopicName(resourceName);
    if (nameError !== undefined)
      return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: nameError, configs: [] };
    if (!image.topicsByName.has(resourceName)) {
      return {
        errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        errorMessage: `Topic ${resourceName} does not exist.`,
        configs: [],
      };
    }
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      configs: services.config.describeTopic(
        resourceConfigs(image, resourceType, resourceName),
        resourceConfigs(image, ConfigResourceType.BROKER, String(services.nodeId)),
        resourceConfigs(image, ConfigResourceType.BROKER, ''),
      ),
    };
  }
  if (resourceType === ConfigResourceType.BROKER) {
    const clusterDefaults = resourceConfigs(image, ConfigResourceType.BROKER, '');
    if (resourceName === '') {
      return {
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        configs: services.config
          .describeBroker(new Map(), clusterDefaults)
          .filter((c) => c.source === ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
          .map((c) => ({
            ...c,
            synonyms: c.synonyms.filter((s) => s.source === ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
          })),
      };
    }
    if (resourceName !== String(services.nodeId)) {
      return {
        errorCode: ErrorCode.INVALID_REQUEST,
        errorMessage: `Unexpected broker id, expected ${services.nodeId}, but received ${resourceName}`,
        configs: [],
      };
    }
    return {
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      configs: services.config.describeBroker(
        resourceConfigs(image, ConfigResourceType.BROKER, resourceName),
        clusterDefaults,
      ),
    };
  }
  if (resourceType === ConfigResourceType.BROKER_LOGGER) {
    return { errorCode: ErrorCode.NONE, errorMessage: null, configs: [] };
  }
  return {
    errorCode: ErrorCode.INVALID_REQUEST,
    errorMessage: `Unsupported resource type ${resourceType}`,
    configs: [],
  };
}

export const describeConfigsHandler = defineHandler({
  apiKey: ApiKey.DescribeConfigs,
  minVersion: 0,
  maxVersion: 4,
  handle(request, ctx, services) {
    const v = ctx.apiVersion;
    const results: DescribeConfigsResponseDescribeConfigsResult[] = request.resources.map((resource) => {
      const { errorCode, errorMessage, configs } = describe(resource, services);
      const keys = resource.configurationKeys === null ? null : new Set(resource.configurationKeys);
      const entries: DescribeConfigsResponseDescribeConfigsResourceResult[] = configs
        .filter((c) => keys === null || keys.has(c.name))
        .map((c) => ({
          name: c.name,
          value: c.isSensitive ? null : c.value,
          readOnly: c.readOnly,
          isDefault: c.source === ConfigSource.DEFAULT_CONFIG,
          // v0 has no source field; Kafka answers v0 with isDefault only.
          configSource: c.source,
          isSensitive: c.isSensitive,
          synonyms: v >= 1 && request.includeSynonyms ? c.synonyms : [],
          configType: c.configType,
          documentation: v >= 3 && request.includeDocumentation ? c.documentation : null,
        }));
      return {
        errorCode,
        errorMessage,
        resourceType: resource.resourceType,
        resourceName: resource.resourceName,
        configs: entries,
      };
    });
    return { throttleTimeMs: 0, results };
  },
});
