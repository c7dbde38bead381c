/**
 * IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT per config, on
 * topics and brokers (this node's id, or "" for the cluster-wide default), validated by
 * the controller with INVALID_CONFIG for bad names or values.
 */

import { controllerErrorCode } from '../../metadata/controller.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const incrementalAlterConfigsHandler = defineHandler({
  apiKey: ApiKey.IncrementalAlterConfigs,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, _ctx, services) {
    try {
      const responses = await services.controller.incrementalAlterConfigs(
        request.resources.map((r) => ({
          resourceType: r.resourceType,
          resourceName: r.resourceName,
          configs: r.configs.map((c) => ({ name: c.name, op: c.configOperation, value: c.value })),
        })),
        request.validateOnly,
      );
      return { throttleTimeMs: 0, responses };
    } catch (err) {
      const errorCode = controllerErrorCode(err);
      return {
        throttleTimeMs: 0,
        responses: request.resources.map((r) => ({
          errorCode,
          errorMessage: null,
          resourceType: r.resourceType,
          resourceName: r.resourceName,
        })),
      };
    }
  },
});
