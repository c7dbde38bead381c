/**
 * OffsetFetch (key 9), v0-9. v0-7: one group (null topics = all, v2+; top-level error
 * code v2+); v8+: several groups at once; v9: member id and epoch of consumer-protocol
 * groups. Unknown partitions answer offset -1. require_stable (v7+): a partition whose
 * transactional offset commit awaits its marker answers UNSTABLE_OFFSET_COMMIT (retriable).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { OffsetFetchResponseTopic } from '../../protocol/generated/offset-fetch-response.ts';
import { defineHandler } from '../handler.ts';

export const offsetFetchHandler = defineHandler({
  apiKey: ApiKey.OffsetFetch,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, ctx, services) {
    const fetchOne = async (
      groupId: string,
      topics: { name: string; partitionIndexes: number[] }[] | null,
      memberId: string | null,
      memberEpoch: number,
    ) => {
      const out = await services.groups.fetchOffsets(
        groupId,
        topics,
        memberId,
        memberEpoch,
        ctx.apiVersion >= 7 && request.requireStable,
      );
      const wireTopics: OffsetFetchResponseTopic[] = out.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          committedOffset: BigInt(p.committedOffset),
          committedLeaderEpoch: p.committedLeaderEpoch,
          metadata: p.metadata,
          errorCode: p.errorCode,
        })),
      }));
      return { errorCode: out.errorCode, topics: wireTopics };
    };
    if (ctx.apiVersion >= 8) {
      const groups = await Promise.all(
        request.groups.map(async (g) => {
          const out = await fetchOne(g.groupId, g.topics, ctx.apiVersion >= 9 ? g.memberId : null, g.memberEpoch);
          return { groupId: g.groupId, topics: out.topics, errorCode: out.errorCode };
        }),
      );
      return { throttleTimeMs: 0, topics: [], errorCode: 0, groups };
    }
    const topics = ctx.apiVersion >= 2 ? request.topics : (request.topics ?? []);
    const out = await fetchOne(request.groupId, topics, null, -1);
    if (out.errorCode !== 0 && ctx.apiVersion < 2) {
      // No top-level error code before v2: each requested partition carries it.
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        groups: [],
        topics: (topics ?? []).map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((partitionIndex) => ({
            partitionIndex,
            committedOffset: -1n,
            committedLeaderEpoch: -1,
            metadata: '',
            errorCode: out.errorCode,
          })),
        })),
      };
    }
    return { throttleTimeMs: 0, topics: out.topics, errorCode: out.errorCode, groups: [] };
  },
});
