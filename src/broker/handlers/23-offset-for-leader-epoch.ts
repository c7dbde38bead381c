/**
 * OffsetForLeaderEpoch (key 23), v0-4: for a leader epoch, the largest epoch <= it that
 * this leader's log knows and the offset where that epoch ended (the next epoch's start,
 * or the log end offset for the latest). Consumers use it to detect truncation after a
 * leader change. currentLeaderEpoch (v2+) is checked as everywhere (FENCED/UNKNOWN).
 * The current leader epoch counts from the moment of election, before its first append
 * (LeaderState.endOffsetForEpoch), as in Kafka.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { OffsetForLeaderEpochResponseOffsetForLeaderTopicResult } from '../../protocol/generated/offset-for-leader-epoch-response.ts';
import { defineHandler } from '../handler.ts';

export const offsetForLeaderEpochHandler = defineHandler({
  apiKey: ApiKey.OffsetForLeaderEpoch,
  minVersion: 0,
  maxVersion: 4,
  handle(request, ctx, services) {
    const topics: OffsetForLeaderEpochResponseOffsetForLeaderTopicResult[] = [];
    for (const t of request.topics) {
      const topic: OffsetForLeaderEpochResponseOffsetForLeaderTopicResult = { topic: t.topic, partitions: [] };
      topics.push(topic);
      for (const p of t.partitions) {
        const lookup = services.replicas.lookupLeader(
          t.topic,
          p.partition,
          ctx.apiVersion >= 2 ? p.currentLeaderEpoch : -1,
        );
        if (lookup.partition === undefined) {
          topic.partitions.push({
            errorCode: lookup.errorCode,
            partition: p.partition,
            leaderEpoch: -1,
            endOffset: -1n,
          });
          continue;
        }
        const found =
          lookup.partition.leaderState?.endOffsetForEpoch(p.leaderEpoch) ??
          lookup.partition.log.endOffsetForEpoch(p.leaderEpoch);
        topic.partitions.push({
          errorCode: ErrorCode.NONE,
          partition: p.partition,
          leaderEpoch: found.leaderEpoch,
          endOffset: BigInt(found.endOffset),
        });
      }
    }
    return { throttleTimeMs: 0, topics };
  },
});
