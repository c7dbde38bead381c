/**
 * AddOffsetsToTxn (key 25), v0-4: the group's __consumer_offsets partition joins the
 * producer's transaction, so that its TxnOffsetCommit gets the transaction's marker.
 */
import { fencedForVersion } from '../../coordinator/transaction/errors.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const addOffsetsToTxnHandler = defineHandler({
  apiKey: ApiKey.AddOffsetsToTxn,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, ctx, services) {
    if (request.transactionalId === '' || request.groupId === '') {
      return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST };
    }
    const code = await services.transactions.addOffsets(
      request.transactionalId,
      request.producerId,
      request.producerEpoch,
      request.groupId,
    );
    return { throttleTimeMs: 0, errorCode: fencedForVersion(code, ctx.apiVersion, 2) };
  },
});
