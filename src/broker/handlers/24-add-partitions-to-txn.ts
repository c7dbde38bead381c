/**
 * AddPartitionsToTxn (key 24), v0-5. v0-3 (clients): one transaction's partitions join
 * it (it becomes Ongoing); a partition unknown to the metadata gets
 * UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED. v4+ (brokers,
 * KIP-890): several transactions per request, each either added or, with verifyOnly,
 * checked (NONE when the partition is in the producer's ongoing transaction).
 */
import { fencedForVersion } from '../../coordinator/transaction/errors.ts';
import type { TopicPartitionRef } from '../../coordinator/transaction/shard.ts';
import type {
  AddPartitionsToTxnRequestAddPartitionsToTxnTopic,
  AddPartitionsToTxnRequestAddPartitionsToTxnTransaction,
} from '../../protocol/generated/add-partitions-to-txn-request.ts';
import type { AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult } from '../../protocol/generated/add-partitions-to-txn-response.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';
import type { BrokerServices } from '../services.ts';

function results(
  topics: readonly AddPartitionsToTxnRequestAddPartitionsToTxnTopic[],
  codeOf: (topic: string, partition: number, index: number) => number,
): AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[] {
  let i = 0;
  return topics.map((t) => ({
    name: t.name,
    resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: codeOf(t.name, p, i++) })),
  }));
}

async function handleOne(
  txn: AddPartitionsToTxnRequestAddPartitionsToTxnTransaction,
  apiVersion: number,
  services: BrokerServices,
): Promise<AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[]> {
  const partitions: TopicPartitionRef[] = [];
  for (const t of txn.topics) for (const p of t.partitions) partitions.push({ topic: t.name, partition: p });
  if (txn.transactionalId === '') return results(txn.topics, () => ErrorCode.INVALID_REQUEST);
  if (txn.verifyOnly) {
    const codes = await services.transactions.verifyPartitions(
      txn.transactionalId,
      txn.producerId,
      txn.producerEpoch,
      partitions,
    );
    return results(txn.topics, (_t, _p, i) => codes[i] ?? ErrorCode.UNKNOWN_SERVER_ERROR);
  }
  const image = services.metadata.image();
  const unknown = (topic: string, partition: number): boolean =>
    image.topicsByName.get(topic)?.partitions.has(partition) !== true;
  if (partitions.some((tp) => unknown(tp.topic, tp.partition))) {
    return results(txn.topics, (t, p) =>
      unknown(t, p) ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.OPERATION_NOT_ATTEMPTED,
    );
  }
  const code = await services.transactions.addPartitions(
    txn.transactionalId,
    txn.producerId,
    txn.producerEpoch,
    partitions,
  );
  const mapped = fencedForVersion(code, apiVersion, 2);
  return results(txn.topics, () => mapped);
}

export const addPartitionsToTxnHandler = defineHandler({
  apiKey: ApiKey.AddPartitionsToTxn,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, ctx, services) {
    if (ctx.apiVersion <= 3) {
      const resultsByTopicV3AndBelow = await handleOne(
        {
          transactionalId: request.v3AndBelowTransactionalId,
          producerId: request.v3AndBelowProducerId,
          producerEpoch: request.v3AndBelowProducerEpoch,
          verifyOnly: false,
          topics: request.v3AndBelowTopics,
        },
        ctx.apiVersion,
        services,
      );
      return { throttleTimeMs: 0, errorCode: 0, resultsByTransaction: [], resultsByTopicV3AndBelow };
    }
    const resultsByTransaction = await Promise.all(
      request.transactions.map(async (txn) => ({
        transactionalId: txn.transactionalId,
        topicResults: await handleOne(txn, ctx.apiVersion, services),
      })),
    );
    return { throttleTimeMs: 0, errorCode: 0, resultsByTransaction, resultsByTopicV3AndBelow: [] };
  },
});
