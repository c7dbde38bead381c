/**
 * SyncGroup (key 14), v0-5: the leader hands in the assignment of the generation; every
 * member gets its own once it is written. v5+ checks the protocol type and name.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const syncGroupHandler = defineHandler({
  apiKey: ApiKey.SyncGroup,
  minVersion: 0,
  maxVersion: 5,
  handle(request, ctx, services) {
    return services.groups.syncGroup({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: ctx.apiVersion >= 3 ? request.groupInstanceId : null,
      protocolType: ctx.apiVersion >= 5 ? request.protocolType : null,
      protocolName: ctx.apiVersion >= 5 ? request.protocolName : null,
      assignments: request.assignments.map((a) => ({ memberId: a.memberId, assignment: Buffer.from(a.assignment) })),
    });
  },
});
