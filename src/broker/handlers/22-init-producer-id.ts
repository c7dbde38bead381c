/**
 * InitProducerId (key 22), v0-5. Without a transactional id (idempotent producers):
 * a fresh producer id from the blocks the controller allocates, epoch 0. A producer
 * re-initialising (v3+, KIP-360) also gets a fresh id. With a transactional id the
 * transaction coordinator answers: the id's producer id with its epoch bumped (zombies
 * fenced), CONCURRENT_TRANSACTIONS while an earlier transaction completes,
 * INVALID_TRANSACTION_TIMEOUT above transaction.max.timeout.ms.
 */
import { fencedForVersion } from '../../coordinator/transaction/errors.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const initProducerIdHandler = defineHandler({
  apiKey: ApiKey.InitProducerId,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx, services) {
    const refuse = (errorCode: number) => ({ throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 });
    if (request.transactionalId === '') return refuse(ErrorCode.INVALID_REQUEST);
    if (request.transactionalId !== null) {
      const out = await services.transactions.initProducerId(
        request.transactionalId,
        request.transactionTimeoutMs,
        ctx.apiVersion >= 3 ? request.producerId : -1n,
        ctx.apiVersion >= 3 ? request.producerEpoch : -1,
      );
      return {
        throttleTimeMs: 0,
        errorCode: fencedForVersion(out.errorCode, ctx.apiVersion, 4),
        producerId: out.producerId,
        producerEpoch: out.producerEpoch,
      };
    }
    try {
      const producerId = await services.producerIds.nextProducerId();
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
    } catch {
      // The controller could not give a block (not ready, no quorum): retriable.
      return refuse(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    }
  },
});
