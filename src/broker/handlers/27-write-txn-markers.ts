/**
 * WriteTxnMarkers (key 27), v0-1, sent by transaction coordinators to partition leaders:
 * a COMMIT or ABORT control batch of the producer is appended to each partition this
 * node leads and waited on until the ISR has it (acks=all). Errors are per partition
 * (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, ...; the coordinator retries).
 * For a __consumer_offsets partition the group coordinator writes the marker itself, so
 * the producer's pending transactional offset commits are committed or dropped with it.
 */
import { GROUP_METADATA_TOPIC } from '../../coordinator/group/coordinator.ts';
import { buildMarkerBatch } from '../../coordinator/runtime/replica-log.ts';
import type { TxnMarker } from '../../coordinator/runtime/runtime.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { readBatchHeader } from '../../protocol/records/index.ts';
import { defineHandler } from '../handler.ts';
import type { BrokerServices } from '../services.ts';

/** How long a marker waits for the ISR (Kafka waits request.timeout.ms). */
const MARKER_COMMIT_TIMEOUT_MS = 30_000;

async function writeMarker(topic: string, partition: number, marker: TxnMarker, services: BrokerServices) {
  const found = services.replicas.lookupLeader(topic, partition);
  if (found.partition === undefined) return found.errorCode;
  if (topic === GROUP_METADATA_TOPIC) {
    const code = await services.groups.writeTxnMarker(partition, marker);
    // The group shard not (yet) here while the partition is: the coordinator tries again.
    if (code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) {
      return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    }
    return code;
  }
  const p = found.partition;
  const batch = buildMarkerBatch(marker, services.clock.nowMs());
  const outcome = await p.appendAsLeader(batch, [readBatchHeader(batch, 0)]);
  if (outcome.kind === 'error') return outcome.errorCode;
  if (outcome.kind === 'duplicate') return ErrorCode.NONE;
  const committed = await p.waitForCommit(outcome.lastOffset, MARKER_COMMIT_TIMEOUT_MS);
  return committed ? ErrorCode.NONE : ErrorCode.REQUEST_TIMED_OUT;
}

export const writeTxnMarkersHandler = defineHandler({
  apiKey: ApiKey.WriteTxnMarkers,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, _ctx, services) {
    const markers = await Promise.all(
      request.markers.map(async (m) => {
        const marker: TxnMarker = {
          producerId: m.producerId,
          producerEpoch: m.producerEpoch,
          committed: m.transactionResult,
          coordinatorEpoch: m.coordinatorEpoch,
        };
        const topics = await Promise.all(
          m.topics.map(async (t) => ({
            name: t.name,
            partitions: await Promise.all(
              t.partitionIndexes.map(async (partitionIndex) => ({
                partitionIndex,
                errorCode: await writeMarker(t.name, partitionIndex, marker, services),
              })),
            ),
          })),
        );
        return { producerId: m.producerId, topics };
      }),
    );
    return { markers };
  },
});
