/**
 * AlterConfigs (key 33, superseded by IncrementalAlterConfigs): the given configs
 * replace every dynamic config of the resource (those not listed are removed).
 */

import { controllerErrorCode } from '../../metadata/controller.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const alterConfigsHandler = defineHandler({
  apiKey: ApiKey.AlterConfigs,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, _ctx, services) {
    try {
      const responses = await services.controller.alterConfigs(
        request.resources.map((r) => ({
          resourceType: r.resourceType,
          resourceName: r.resourceName,
          configs: r.configs.map((c) => ({ name: c.name, value: c.value })),
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
