/** DeleteGroups (key 42), v0-2: empty groups and their offsets (tombstones); NON_EMPTY_GROUP otherwise. */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const deleteGroupsHandler = defineHandler({
  apiKey: ApiKey.DeleteGroups,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, _ctx, services) {
    const results = await services.groups.deleteGroups(request.groupsNames);
    return { throttleTimeMs: 0, results };
  },
});
