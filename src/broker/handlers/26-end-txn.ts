/**
 * EndTxn (key 26), v0-4: commit or abort the producer's ongoing transaction. The answer
 * comes once PrepareCommit/PrepareAbort is written to __transaction_state; the markers
 * follow in the background (CONCURRENT_TRANSACTIONS to the producer meanwhile). A retry
 * of a completed end answers NONE. Transaction version 1: the epoch stays (v5, where
 * the coordinator bumps it at every end, is not served).
 */
import { fencedForVersion } from '../../coordinator/transaction/errors.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const endTxnHandler = defineHandler({
  apiKey: ApiKey.EndTxn,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, ctx, services) {
    const answer = (errorCode: number) => ({ throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 });
    if (request.transactionalId === '') return answer(ErrorCode.INVALID_REQUEST);
    const code = await services.transactions.endTxn(
      request.transactionalId,
      request.producerId,
      request.producerEpoch,
      request.committed,
    );
    return answer(fencedForVersion(code, ctx.apiVersion, 2));
  },
});
