/**
 * CreateTopics (key 19): validated and applied by the metadata controller (one
 * operation for the whole request). v1+ may ask for validateOnly; v5+ answers with the
 * partition count, replication factor and the effective configs; v7 with the topic id.
 */

import { type CreateTopicResult, controllerErrorCode } from '../../metadata/controller.ts';
import { ConfigResourceType, resourceConfigs } from '../../metadata/image.ts';
import { ZERO_UUID } from '../../protocol/codec/uuid.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { CreateTopicsResponseCreatableTopicResult } from '../../protocol/generated/create-topics-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';
import type { BrokerServices } from '../services.ts';

function toResponse(r: CreateTopicResult, services: BrokerServices): CreateTopicsResponseCreatableTopicResult {
  const image = services.metadata.image();
  const ok = r.errorCode === ErrorCode.NONE;
  return {
    name: r.name,
    topicId: r.topicId,
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    topicConfigErrorCode: ErrorCode.NONE,
    numPartitions: ok ? r.numPartitions : -1,
    replicationFactor: ok ? r.replicationFactor : -1,
    configs: ok
      ? services.config
          .describeTopic(
            r.configs,
            resourceConfigs(image, ConfigResourceType.BROKER, String(services.nodeId)),
            resourceConfigs(image, ConfigResourceType.BROKER, ''),
          )
          .map((c) => ({
            name: c.name,
            value: c.isSensitive ? null : c.value,
            readOnly: c.readOnly,
            configSource: c.source,
            isSensitive: c.isSensitive,
          }))
      : null,
  };
}

export const createTopicsHandler = defineHandler({
  apiKey: ApiKey.CreateTopics,
  minVersion: 0,
  maxVersion: 7,
  async handle(request, ctx, services) {
    const validateOnly = ctx.apiVersion >= 1 && request.validateOnly;
    let results: CreateTopicResult[];
    try {
      results = await services.controller.createTopics(
        request.topics.map((t) => ({
          name: t.name,
          numPartitions: t.numPartitions,
          replicationFactor: t.replicationFactor,
          assignments: t.assignments.map((a) => ({ partitionIndex: a.partitionIndex, brokerIds: a.brokerIds })),
          configs: t.configs.map((c) => ({ name: c.name, value: c.value })),
        })),
        validateOnly,
      );
    } catch (err) {
      const errorCode = controllerErrorCode(err);
      results = request.topics.map((t) => ({
        name: t.name,
        topicId: ZERO_UUID,
        errorCode,
        errorMessage: null,
        numPartitions: -1,
        replicationFactor: -1,
        configs: new Map(),
      }));
    }
    return { throttleTimeMs: 0, topics: results.map((r) => toResponse(r, services)) };
  },
});
