/** Heartbeat (key 12), v0-4: keeps a classic-group member's session alive; tells it of rebalances. */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const heartbeatHandler = defineHandler({
  apiKey: ApiKey.Heartbeat,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, ctx, services) {
    const errorCode = await services.groups.heartbeat(
      request.groupId,
      request.memberId,
      ctx.apiVersion >= 3 ? request.groupInstanceId : null,
      request.generationId,
    );
    return { throttleTimeMs: 0, errorCode };
  },
});
