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
  handle(request, ctx, services) {
    return handleFetch(request, ctx.apiVersion, {
      replicas: services.replicas,
      sessions: services.fetchSessions,
      clock: services.clock,
    });
  },
});
