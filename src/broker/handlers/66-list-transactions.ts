/**
 * ListTransactions (key 66), v0-1: the transactional ids this node coordinates, filtered
 * by state names, producer ids and (v1) how long the transaction has been running.
 * State names Kafka does not know come back in `unknownStateFilters`.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const listTransactionsHandler = defineHandler({
  apiKey: ApiKey.ListTransactions,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, ctx, services) {
    const durationMs = ctx.apiVersion >= 1 ? Number(request.durationFilter) : -1;
    const out = await services.transactions.list(request.stateFilters, request.producerIdFilters, durationMs);
    return {
      throttleTimeMs: 0,
      errorCode: out.errorCode,
      unknownStateFilters: out.unknownStates,
      transactionStates: out.transactions,
    };
  },
});
