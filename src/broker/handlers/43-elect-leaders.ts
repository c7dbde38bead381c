/**
 * ElectLeaders (key 43, KIP-460): preferred or unclean leader elections, decided by the
 * active controller (forwarded there when this node is not it).
 */
import { controllerErrorCode } from '../../metadata/controller.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const electLeadersHandler = defineHandler({
  apiKey: ApiKey.ElectLeaders,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, _ctx, services) {
    try {
      return await services.controller.electLeaders(request);
    } catch (err) {
      const errorCode = controllerErrorCode(err);
      return {
        throttleTimeMs: 0,
        errorCode,
        replicaElectionResults: (request.topicPartitions ?? []).map((t) => ({
          topic: t.topic,
          partitionResult: t.partitions.map((partitionId) => ({ partitionId, errorCode, errorMessage: null })),
        })),
      };
    }
  },
});
