/** ListGroups (key 16), v0-5: groups of every loaded shard; v4+ state filter, v5+ type filter. */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const listGroupsHandler = defineHandler({
  apiKey: ApiKey.ListGroups,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx, services) {
    const out = await services.groups.listGroups(
      ctx.apiVersion >= 4 ? request.statesFilter : [],
      ctx.apiVersion >= 5 ? request.typesFilter : [],
    );
    return { throttleTimeMs: 0, errorCode: out.errorCode, groups: out.groups };
  },
});
