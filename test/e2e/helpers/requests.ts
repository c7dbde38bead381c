/** Request bodies for raw-client e2e tests (Produce v9, Fetch v12, InitProducerId v4). */
import { ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import type { FetchRequest } from '../../../src/protocol/generated/fetch-request.ts';
import type { ProduceRequest } from '../../../src/protocol/generated/produce-request.ts';

export function produceRequest(topic: string, partition: number, records: Buffer, acks = -1): ProduceRequest {
  return {
    transactionalId: null,
    acks,
    timeoutMs: 30_000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  };
}

export function fetchRequest(
  topic: string,
  partition: number,
  fetchOffset: number,
  o: { maxWaitMs?: number; minBytes?: number; maxBytes?: number } = {},
): FetchRequest {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1n },
    maxWaitMs: o.maxWaitMs ?? 0,
    minBytes: o.minBytes ?? 1,
    maxBytes: o.maxBytes ?? 50 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        topicId: ZERO_UUID,
        partitions: [
          {
            partition,
            currentLeaderEpoch: -1,
            fetchOffset: BigInt(fetchOffset),
            lastFetchedEpoch: -1,
            logStartOffset: -1n,
            partitionMaxBytes: o.maxBytes ?? 50 << 20,
            replicaDirectoryId: ZERO_UUID,
          },
        ],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}
