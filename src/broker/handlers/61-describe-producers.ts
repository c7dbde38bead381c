/**
 * DescribeProducers (key 61), v0: the producers with state on partitions this node
 * leads (id, epoch, last sequence and timestamp). The current transaction's start offset
 * and the coordinator epoch are -1 until partitions track open transactions.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const describeProducersHandler = defineHandler({
  apiKey: ApiKey.DescribeProducers,
  minVersion: 0,
  maxVersion: 0,
  handle(request, _ctx, services) {
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((partitionIndex) => {
          const found = services.replicas.lookupLeader(t.name, partitionIndex);
          if (found.partition === undefined) {
            return { partitionIndex, errorCode: found.errorCode, errorMessage: null, activeProducers: [] };
          }
          const activeProducers = [...found.partition.producers.entries()].map((e) => ({
            producerId: e.producerId,
            producerEpoch: e.producerEpoch,
            lastSequence: e.batches.at(-1)?.lastSeq ?? -1,
            lastTimestamp: BigInt(e.lastTimestampMs),
            coordinatorEpoch: -1,
            currentTxnStartOffset: -1n,
          }));
          return { partitionIndex, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers };
        }),
      })),
    };
  },
});
