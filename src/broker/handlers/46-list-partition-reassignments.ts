/**
 * ListPartitionReassignments (key 46, KIP-455): the reassignments in progress, as the
 * active controller sees them (forwarded there when this node is not it).
 */
import { controllerErrorCode } from '../../metadata/controller.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const listPartitionReassignmentsHandler = defineHandler({
  apiKey: ApiKey.ListPartitionReassignments,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, _ctx, services) {
    try {
      return await services.controller.listPartitionReassignments(request);
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: controllerErrorCode(err), errorMessage: null, topics: [] };
    }
  },
});
