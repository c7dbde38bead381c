/**
 * OffsetDelete (key 47), v0: removes committed offsets of a group (tombstones), except
 * for topics a live group subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const offsetDeleteHandler = defineHandler({
  apiKey: ApiKey.OffsetDelete,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, _ctx, services) {
    const image = services.metadata.image();
    const known = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions
        .map((p) => p.partitionIndex)
        .filter((p) => image.topicsByName.get(t.name)?.partitions.has(p) ?? false),
    }));
    const out = await services.groups.deleteOffsets(request.groupId, known);
    if (out.errorCode !== 0) return { errorCode: out.errorCode, throttleTimeMs: 0, topics: [] };
    return {
      errorCode: 0,
      throttleTimeMs: 0,
      topics: request.topics.map((t, i) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode:
            out.topics[i]?.partitions.find((x) => x.partitionIndex === p.partitionIndex)?.errorCode ??
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        })),
      })),
    };
  },
});
