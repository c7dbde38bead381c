/**
 * LeaveGroup (key 13), v0-5. v0-2: one member id; v3+: a batch of members, static ones
 * by group.instance.id (KIP-345), each with its own error code.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const leaveGroupHandler = defineHandler({
  apiKey: ApiKey.LeaveGroup,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx, services) {
    const batched = ctx.apiVersion >= 3;
    const leaving = batched
      ? request.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
      : [{ memberId: request.memberId, groupInstanceId: null }];
    const out = await services.groups.leaveGroup(request.groupId, leaving);
    if (batched) return { throttleTimeMs: 0, errorCode: out.errorCode, members: out.members };
    const errorCode = out.errorCode !== 0 ? out.errorCode : (out.members[0]?.errorCode ?? 0);
    return { throttleTimeMs: 0, errorCode, members: [] };
  },
});
