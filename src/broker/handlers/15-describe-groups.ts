/** DescribeGroups (key 15), v0-5: state, protocol and members (metadata and assignment when Stable). */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

/** No authorizer: every group operation (READ, DESCRIBE, DELETE as Kafka's AclOperation bits). */
const ALL_GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
const OPERATIONS_OMITTED = -2147483648;

export const describeGroupsHandler = defineHandler({
  apiKey: ApiKey.DescribeGroups,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx, services) {
    const groups = await services.groups.describeGroups(request.groups);
    const ops = ctx.apiVersion >= 3 && request.includeAuthorizedOperations ? ALL_GROUP_OPERATIONS : OPERATIONS_OMITTED;
    return {
      throttleTimeMs: 0,
      groups: groups.map((g) => ({ ...g, authorizedOperations: ops })),
    };
  },
});
