/**
 * ListOffsets (key 2), v0-10. Timestamps: -2 earliest, -1 latest (the high watermark,
 * or the last stable offset under read_committed), -3 the record with the largest
 * timestamp (v7+), -4 earliest local (= earliest: no tiered storage), -5 latest tiered
 * (v9+: -1/-1, nothing is tiered); any other value finds the first offset whose
 * timestamp is >= it (v1+), or -1/-1 when there is none. v0 answers in oldStyleOffsets.
 * The leader epoch (v4+) is that of the batch found, or the current one for -1.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type {
  ListOffsetsResponseListOffsetsPartitionResponse,
  ListOffsetsResponseListOffsetsTopicResponse,
} from '../../protocol/generated/list-offsets-response.ts';
import { defineHandler } from '../handler.ts';

const EARLIEST = -2n;
const LATEST = -1n;
const MAX_TIMESTAMP = -3n;
const EARLIEST_LOCAL = -4n;
const LATEST_TIERED = -5n;

export const listOffsetsHandler = defineHandler({
  apiKey: ApiKey.ListOffsets,
  minVersion: 0,
  maxVersion: 10,
  async handle(request, ctx, services) {
    const v = ctx.apiVersion;
    const topics: ListOffsetsResponseListOffsetsTopicResponse[] = [];
    const work: Promise<void>[] = [];
    for (const t of request.topics) {
      const topic: ListOffsetsResponseListOffsetsTopicResponse = { name: t.name, partitions: [] };
      topics.push(topic);
      for (const p of t.partitions) {
        const out: ListOffsetsResponseListOffsetsPartitionResponse = {
          partitionIndex: p.partitionIndex,
          errorCode: ErrorCode.NONE,
          oldStyleOffsets: [],
          timestamp: -1n,
          offset: -1n,
          leaderEpoch: -1,
        };
        topic.partitions.push(out);
        const lookup = services.replicas.lookupLeader(t.name, p.partitionIndex, v >= 4 ? p.currentLeaderEpoch : -1);
        if (lookup.partition === undefined) {
          out.errorCode = lookup.errorCode;
          continue;
        }
        const partition = lookup.partition;
        const ts = p.timestamp;
        work.push(
          (async () => {
            let offset = -1;
            let timestamp = -1;
            let epoch = -1;
            try {
              if (ts === EARLIEST || ts === EARLIEST_LOCAL) {
                offset = partition.log.logStartOffset();
                epoch = epochAt(partition.log, offset);
              } else if (ts === LATEST) {
                offset = request.isolationLevel === 1 ? partition.lastStableOffset() : partition.highWatermark();
                epoch = partition.leaderEpoch;
              } else if (ts === LATEST_TIERED) {
                // Nothing is tiered: -1/-1.
              } else if (ts === MAX_TIMESTAMP) {
                const found = await partition.log.maxTimestamp();
                if (found !== undefined && found.offset < partition.highWatermark()) {
                  ({ offset, timestamp, leaderEpoch: epoch } = found);
                }
              } else if (ts >= 0n) {
                const found = await partition.log.offsetForTimestamp(Number(ts));
                const limit = request.isolationLevel === 1 ? partition.lastStableOffset() : partition.highWatermark();
                if (found !== undefined && found.offset < limit) {
                  ({ offset, timestamp, leaderEpoch: epoch } = found);
                }
              } else {
                out.errorCode = ErrorCode.INVALID_REQUEST;
                return;
              }
            } catch {
              out.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
              return;
            }
            if (v === 0) {
              // v0: a list of offsets; at most maxNumOffsets, newest first.
              if (offset >= 0 && p.maxNumOffsets > 0) out.oldStyleOffsets = [BigInt(offset)];
              return;
            }
            out.offset = BigInt(offset);
            out.timestamp = BigInt(timestamp);
            out.leaderEpoch = epoch;
          })(),
        );
      }
    }
    await Promise.all(work);
    return { throttleTimeMs: 0, topics };
  },
});

/** The leader epoch that wrote `offset` (from the epoch cache via endOffsetForEpoch), or -1. */
function epochAt(
  log: { latestEpoch(): number; endOffsetForEpoch(e: number): { leaderEpoch: number; endOffset: number } },
  offset: number,
): number {
  // Walk epochs down from the latest until one's range holds the offset.
  let epoch = log.latestEpoch();
  while (epoch >= 0) {
    const prev = log.endOffsetForEpoch(epoch - 1);
    if (prev.endOffset <= offset || prev.leaderEpoch < 0) return epoch;
    epoch = prev.leaderEpoch;
  }
  return -1;
}
