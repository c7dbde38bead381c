/**
 * DescribeTopicPartitions (key 75, KIP-966): topics (all when none are named) in name
 * order, their partitions paged by responsePartitionLimit (capped at Kafka's
 * max.request.partition.size.limit default, 2000) with a cursor {topicName,
 * partitionIndex} to continue from; nextCursor is null when everything was returned.
 */

import { isInternalTopic } from '../../metadata/controller.ts';
import { ZERO_UUID } from '../../protocol/codec/uuid.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { DescribeTopicPartitionsResponseTopic } from '../../protocol/generated/describe-topic-partitions-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';
import { ALL_TOPIC_OPERATIONS, describePartitions } from './03-metadata.ts';

/** Kafka's max.request.partition.size.limit default. */
export const MAX_PARTITIONS_PER_RESPONSE = 2000;

export const describeTopicPartitionsHandler = defineHandler({
  apiKey: ApiKey.DescribeTopicPartitions,
  minVersion: 0,
  maxVersion: 0,
  handle(request, ctx, services) {
    const image = services.metadata.image();
    const cursor = request.cursor;
    const limit = Math.max(1, Math.min(request.responsePartitionLimit, MAX_PARTITIONS_PER_RESPONSE));
    const names =
      request.topics.length === 0 ? [...image.topicsByName.keys()] : [...new Set(request.topics.map((t) => t.name))];
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const topics: DescribeTopicPartitionsResponseTopic[] = [];
    let remaining = limit;
    let nextCursor: { topicName: string; partitionIndex: number } | null = null;
    for (const name of names) {
      if (cursor !== null && name < cursor.topicName) continue;
      const topic = image.topicsByName.get(name);
      if (topic === undefined) {
        topics.push({
          errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          name,
          topicId: ZERO_UUID,
          isInternal: false,
          partitions: [],
          topicAuthorizedOperations: ALL_TOPIC_OPERATIONS,
        });
        continue;
      }
      if (remaining === 0) {
        nextCursor = { topicName: name, partitionIndex: 0 };
        break;
      }
      const first = cursor !== null && name === cursor.topicName ? Math.max(0, cursor.partitionIndex) : 0;
      const all = describePartitions(image, topic, ctx.listenerName).filter((p) => p.partitionIndex >= first);
      const page = all.slice(0, remaining);
      remaining -= page.length;
      topics.push({
        errorCode: ErrorCode.NONE,
        name,
        topicId: topic.topicId,
        isInternal: isInternalTopic(name),
        partitions: page.map((p) => ({ ...p, eligibleLeaderReplicas: [], lastKnownElr: [] })),
        topicAuthorizedOperations: ALL_TOPIC_OPERATIONS,
      });
      if (page.length < all.length) {
        nextCursor = { topicName: name, partitionIndex: all[page.length]!.partitionIndex };
        break;
      }
    }
    return { throttleTimeMs: 0, topics, nextCursor };
  },
});
