/**
 * ConsumerGroupHeartbeat (key 68), v0-1: the KIP-848 consumer protocol. Joining (epoch
 * 0), heartbeating, leaving (-1, or -2 for a static member); the answer carries the
 * member epoch and the partitions the member may own now (see
 * src/coordinator/group/consumer-group.ts).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const consumerGroupHeartbeatHandler = defineHandler({
  apiKey: ApiKey.ConsumerGroupHeartbeat,
  minVersion: 0,
  maxVersion: 1,
  handle(request, ctx, services) {
    return services.groups.consumerGroupHeartbeat(
      request,
      ctx.clientId,
      `/${ctx.connection.remoteAddress}`,
      ctx.apiVersion,
    );
  },
});
