import type { FetchResponsePartitionData } from '../../src/protocol/generated/fetch-response.ts';

/** A Fetch answer's partition entry with no error, high watermark 10 and the given records. */
export function fetchPartition(index: number, records: Buffer | null): FetchResponsePartitionData {
  return {
    partitionIndex: index,
    errorCode: 0,
    highWatermark: 10n,
    lastStableOffset: 10n,
    logStartOffset: 0n,
    divergingEpoch: { epoch: -1, endOffset: -1n },
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1n, epoch: -1 },
    abortedTransactions: null,
    preferredReadReplica: -1,
    records,
  };
}
