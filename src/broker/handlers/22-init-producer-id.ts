/**
 * InitProducerId (key 22), v0-5. Without a transactional id (idempotent producers):
 * a fresh producer id from the blocks the controller allocates, epoch 0. A producer
 * re-initialising (v3+, KIP-360) also gets a fresh id. With a transactional id the
 * transaction coordinator answers; until it exists: COORDINATOR_NOT_AVAILABLE.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const initProducerIdHandler = defineHandler({
  apiKey: ApiKey.InitProducerId,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, _ctx, services) {
    const refuse = (errorCode: number) => ({ throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 });
    if (request.transactionalId !== null) return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    try {
      const producerId = await services.producerIds.nextProducerId();
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
    } catch {
      // The controller could not give a block (not ready, no quorum): retriable.
      return refuse(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    }
  },
});
