/**
 * JoinGroup (key 11), v0-9: classic-protocol group membership. The response may wait
 * for the other members (the rebalance); see src/coordinator/group/shard.ts. v0 has no
 * rebalance timeout (the session timeout stands in); v4+ requires a known member id
 * (MEMBER_ID_REQUIRED, KIP-394); v5+ static membership (KIP-345).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';

export const joinGroupHandler = defineHandler({
  apiKey: ApiKey.JoinGroup,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, ctx, services) {
    const response = await services.groups.joinGroup({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: ctx.apiVersion >= 5 ? request.groupInstanceId : null,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: ctx.apiVersion >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
      protocolType: request.protocolType,
      protocols: request.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
      clientId: ctx.clientId,
      clientHost: `/${ctx.connection.remoteAddress}`,
      apiVersion: ctx.apiVersion,
    });
    // v0-6 carry no protocol type and a non-null protocol name.
    return ctx.apiVersion < 7 ? { ...response, protocolName: response.protocolName ?? '' } : response;
  },
});
