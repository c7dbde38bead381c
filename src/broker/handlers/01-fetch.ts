/**
 * Fetch (key 1), v4-17: sessions, long poll, byte limits (fetch/fetch.ts). v0-3 need
 * message format conversion (v0/v1), which Kafka 4 dropped: they get UNSUPPORTED_VERSION.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { FETCH_MAX_VERSION, FETCH_MIN_VERSION, handleFetch } from '../fetch/fetch.ts';
import { defineHandler } from '../handler.ts';

export const fetchHandler = defineHandler({
  apiKey: ApiKey.Fetch,
  minVersion: FETCH_MIN_VERSION,
  maxVersion: FETCH_MAX_VERSION,
  async handle(request, ctx, services) {
    const response = await handleFetch(request, ctx.apiVersion, {
      replicas: services.replicas,
      sessions: services.fetchSessions,
      clock: services.clock,
    });
    if (ctx.apiVersion >= 16) {
      const leaders = response.responses.flatMap((t) =>
        t.partitions.filter((p) => p.currentLeader.leaderId >= 0).map((p) => p.currentLeader.leaderId),
      );
      if (leaders.length > 0) response.nodeEndpoints = services.replicas.nodeEndpoints(leaders, ctx.listenerName);
    }
    return response;
  },
});
