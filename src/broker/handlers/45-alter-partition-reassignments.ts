/**
 * AlterPartitionReassignments (key 45, KIP-455): start or cancel replica reassignments;
 * the active controller decides (forwarded there when this node is not it).
 */
import { controllerErrorCode } from '../../metadata/controller.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const alterPartitionReassignmentsHandler = defineHandler({
  apiKey: ApiKey.AlterPartitionReassignments,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, _ctx, services) {
    try {
      return await services.controller.alterPartitionReassignments(request);
    } catch (err) {
      const errorCode = controllerErrorCode(err);
      return {
        throttleTimeMs: 0,
        errorCode,
        errorMessage: null,
        responses: request.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode, errorMessage: null })),
        })),
      };
    }
  },
});
