/**
 * DeleteRecords (key 21), v0-2: moves each partition's log start offset up to the given
 * offset (-1: the high watermark). Above the high watermark: OFFSET_OUT_OF_RANGE.
 * The answer's lowWatermark is the log start offset afterwards.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { DeleteRecordsResponseDeleteRecordsTopicResult } from '../../protocol/generated/delete-records-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const deleteRecordsHandler = defineHandler({
  apiKey: ApiKey.DeleteRecords,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, _ctx, services) {
    const topics: DeleteRecordsResponseDeleteRecordsTopicResult[] = [];
    const work: Promise<void>[] = [];
    for (const t of request.topics) {
      const topic: DeleteRecordsResponseDeleteRecordsTopicResult = { name: t.name, partitions: [] };
      topics.push(topic);
      for (const p of t.partitions) {
        const out = { partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: ErrorCode.NONE as number };
        topic.partitions.push(out);
        const lookup = services.replicas.lookupLeader(t.name, p.partitionIndex);
        if (lookup.partition === undefined) {
          out.errorCode = lookup.errorCode;
          continue;
        }
        const partition = lookup.partition;
        const hw = partition.highWatermark();
        const offset = p.offset === -1n ? hw : Number(p.offset);
        if (offset < 0 || offset > hw) {
          out.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
          out.lowWatermark = BigInt(partition.log.logStartOffset());
          continue;
        }
        work.push(
          partition.deleteRecordsBefore(offset).then(
            (r) => {
              out.errorCode = r.errorCode;
              out.lowWatermark = BigInt(r.lowWatermark);
            },
            () => {
              out.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
            },
          ),
        );
      }
    }
    await Promise.all(work);
    return { throttleTimeMs: 0, topics };
  },
});
