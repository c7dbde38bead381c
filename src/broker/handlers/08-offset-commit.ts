/**
 * OffsetCommit (key 8), v0-9. v0: no group membership; v1: per-partition commit
 * timestamps; v2-4: retention time; v5+: broker retention only; v7+: group.instance.id;
 * v9: member epoch of consumer-protocol groups. Partitions of unknown topics get
 * UNKNOWN_TOPIC_OR_PARTITION; the rest are checked against the group and written.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const offsetCommitHandler = defineHandler({
  apiKey: ApiKey.OffsetCommit,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, ctx, services) {
    const image = services.metadata.image();
    const exists = (topic: string, partition: number) =>
      image.topicsByName.get(topic)?.partitions.has(partition) ?? false;
    const valid = request.topics
      .map((t) => ({
        name: t.name,
        partitions: t.partitions
          .filter((p) => exists(t.name, p.partitionIndex))
          .map((p) => ({
            partitionIndex: p.partitionIndex,
            committedOffset: Number(p.committedOffset),
            committedLeaderEpoch: ctx.apiVersion >= 6 ? p.committedLeaderEpoch : -1,
            commitTimestampMs: ctx.apiVersion === 1 ? Number(p.commitTimestamp) : -1,
            committedMetadata: p.committedMetadata,
          })),
      }))
      .filter((t) => t.partitions.length > 0);
    const out =
      valid.length === 0 && request.groupId !== ''
        ? { errorCode: 0, topics: [] }
        : await services.groups.commitOffsets({
            groupId: request.groupId,
            generationIdOrMemberEpoch: ctx.apiVersion >= 1 ? request.generationIdOrMemberEpoch : -1,
            memberId: ctx.apiVersion >= 1 ? request.memberId : '',
            groupInstanceId: ctx.apiVersion >= 7 ? request.groupInstanceId : null,
            retentionTimeMs: ctx.apiVersion >= 2 && ctx.apiVersion <= 4 ? Number(request.retentionTimeMs) : -1,
            apiVersion: ctx.apiVersion,
            topics: valid,
          });
    const codeOf = (topic: string, partition: number): number => {
      if (!exists(topic, partition)) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      if (request.groupId === '') return ErrorCode.INVALID_GROUP_ID;
      if (out.errorCode !== 0) return out.errorCode;
      return (
        out.topics.find((t) => t.name === topic)?.partitions.find((p) => p.partitionIndex === partition)?.errorCode ??
        ErrorCode.UNKNOWN_SERVER_ERROR
      );
    };
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode: codeOf(t.name, p.partitionIndex),
        })),
      })),
    };
  },
});
