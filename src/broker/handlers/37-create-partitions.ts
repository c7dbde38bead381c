/**
 * CreatePartitions (key 37): raises a topic's partition count. Equal or lower counts get
 * INVALID_PARTITIONS; explicit assignments name the replicas of each new partition.
 */

import { controllerErrorCode } from '../../metadata/controller.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const createPartitionsHandler = defineHandler({
  apiKey: ApiKey.CreatePartitions,
  minVersion: 0,
  maxVersion: 3,
  async handle(request, _ctx, services) {
    try {
      const results = await services.controller.createPartitions(
        request.topics.map((t) => ({
          name: t.name,
          count: t.count,
          assignments: t.assignments === null ? null : t.assignments.map((a) => a.brokerIds),
        })),
        request.validateOnly,
      );
      return { throttleTimeMs: 0, results };
    } catch (err) {
      const errorCode = controllerErrorCode(err);
      return {
        throttleTimeMs: 0,
        results: request.topics.map((t) => ({ name: t.name, errorCode, errorMessage: null })),
      };
    }
  },
});
