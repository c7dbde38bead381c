/**
 * TxnOffsetCommit (key 28), v0-4: offsets committed inside a transaction. The group
 * coordinator writes them as the producer's transactional records in __consumer_offsets;
 * they become the group's committed offsets when the transaction's COMMIT marker reaches
 * that partition, and are dropped on ABORT. v3+ carries the consumer's group metadata
 * (generation, member id) and is fenced like OffsetCommit (KIP-447).
 */
import { fencedForVersion } from '../../coordinator/transaction/errors.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const txnOffsetCommitHandler = defineHandler({
  apiKey: ApiKey.TxnOffsetCommit,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, ctx, services) {
    const all = (code: number) => ({
      throttleTimeMs: 0,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })),
      })),
    });
    if (request.transactionalId === '' || request.groupId === '') return all(ErrorCode.INVALID_REQUEST);
    const v3 = ctx.apiVersion >= 3;
    const out = await services.groups.txnOffsetCommit({
      transactionalId: request.transactionalId,
      groupId: request.groupId,
      producerId: request.producerId,
      producerEpoch: request.producerEpoch,
      generationId: v3 ? request.generationId : -1,
      memberId: v3 ? request.memberId : '',
      groupInstanceId: v3 ? request.groupInstanceId : null,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          committedOffset: Number(p.committedOffset),
          committedLeaderEpoch: ctx.apiVersion >= 2 ? p.committedLeaderEpoch : -1,
          committedMetadata: p.committedMetadata,
        })),
      })),
    });
    if (out.errorCode !== 0) return all(fencedForVersion(out.errorCode, ctx.apiVersion, 3));
    return {
      throttleTimeMs: 0,
      topics: out.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode: fencedForVersion(p.errorCode, ctx.apiVersion, 3),
        })),
      })),
    };
  },
});
