/**
 * DescribeTransactions (key 65), v0: state, timeout, start time, producer and partitions
 * of transactional ids this node coordinates (NOT_COORDINATOR for others,
 * TRANSACTIONAL_ID_NOT_FOUND for unknown ones).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const describeTransactionsHandler = defineHandler({
  apiKey: ApiKey.DescribeTransactions,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, _ctx, services) {
    const transactionStates = await Promise.all(
      request.transactionalIds.map((id) => services.transactions.describe(id)),
    );
    return { throttleTimeMs: 0, transactionStates };
  },
});
