/** ConsumerGroupDescribe (key 69), v0: epochs, members, current and target assignments of KIP-848 groups. */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

const ALL_GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
const OPERATIONS_OMITTED = -2147483648;

export const consumerGroupDescribeHandler = defineHandler({
  apiKey: ApiKey.ConsumerGroupDescribe,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, _ctx, services) {
    const groups = await services.groups.consumerGroupDescribe(request.groupIds);
    const ops = request.includeAuthorizedOperations ? ALL_GROUP_OPERATIONS : OPERATIONS_OMITTED;
    return { throttleTimeMs: 0, groups: groups.map((g) => ({ ...g, authorizedOperations: ops })) };
  },
});
