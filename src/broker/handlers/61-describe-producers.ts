/**
 * DescribeProducers (key 61), v0: the producers with state on partitions this node
 * leads (id, epoch, last sequence and timestamp), the coordinator epoch of the producer's
 * last transaction marker and the first offset of its ongoing transaction (-1: none).
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
            coordinatorEpoch: e.coordinatorEpoch,
            currentTxnStartOffset: BigInt(e.currentTxnFirstOffset),
          }));
          return { partitionIndex, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers };
        }),
      })),
    };
  },
});
