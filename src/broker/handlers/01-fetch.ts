/**
 * Fetch (key 1), v0-17: sessions, long poll, byte limits (fetch/fetch.ts). v0-3 get
 * their records down-converted to message format v0/v1 (fetch/down-convert.ts).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { FETCH_MAX_VERSION, FETCH_MIN_VERSION, handleFetch } from '../fetch/fetch.ts';
import { fetchReadBuffers } from '../fetch/read-buffers.ts';
import { defineHandler } from '../handler.ts';

export const fetchHandler = defineHandler({
  apiKey: ApiKey.Fetch,
  minVersion: FETCH_MIN_VERSION,
  maxVersion: FETCH_MAX_VERSION,
  async handle(request, ctx, services) {
    // Reads go into pooled buffers, given back once the response is on the socket.
    const readBuffers = ctx.afterResponseWritten === undefined ? undefined : fetchReadBuffers.lease();
    if (readBuffers !== undefined) ctx.afterResponseWritten!(() => readBuffers.release());
    const response = await handleFetch(request, ctx.apiVersion, {
      replicas: services.replicas,
      sessions: services.fetchSessions,
      clock: services.clock,
      readBuffers,
    });
    if (ctx.apiVersion >= 16) {
      const leaders = response.responses.flatMap((t) =>
        t.partitions.filter((p) => p.currentLeader.leaderId >= 0).map((p) => p.currentLeader.leaderId),
      );
      if (leaders.length > 0) response.nodeEndpoints = services.replicas.nodeEndpoints(leaders, ctx.listenerName);
    }
    return response;
  },
  gatheredBytes(response, minBytes) {
    let bytes = 0;
    for (const t of response.responses) {
      for (const p of t.partitions) if (p.records !== null && p.records.length >= minBytes) bytes += p.records.length;
    }
    return bytes;
  },
});
