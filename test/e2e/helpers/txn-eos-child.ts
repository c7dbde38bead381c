/**
 * A consume-transform-produce worker for test/e2e/txn-eos.test.ts (kafkajs 2.2.4): reads
 * `in` with read_committed in group `group`, writes `out-<value>` to `out` and commits the
 * consumed offsets in the same transaction, one transaction per fetched batch. It prints
 * `sent <n>` once a transaction's records are sent (still open) and `committed <total>`
 * after each commit, so the test can kill it with SIGKILL in the middle of a transaction.
 *
 *   node --import tsx txn-eos-child.ts <bootstrap> <in> <out> <group> <transactional.id>
 */
import { Kafka, logLevel } from 'kafkajs';

const [bootstrap, input, output, group, transactionalId] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const kafka = new Kafka({
  clientId: 'eos-worker',
  brokers: [bootstrap],
  logLevel: process.env.EOS_DEBUG ? logLevel.INFO : logLevel.NOTHING,
  retry: { retries: 20, initialRetryTime: 50, maxRetryTime: 500 },
});
const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
const consumer = kafka.consumer({
  groupId: group,
  readUncommitted: false,
  maxBytesPerPartition: 400,
  maxWaitTimeInMs: 100,
  sessionTimeout: 6000,
  rebalanceTimeout: 8000,
  heartbeatInterval: 500,
});
await producer.connect();
await consumer.connect();
await consumer.subscribe({ topic: input, fromBeginning: true });
let total = 0;
await consumer.run({
  autoCommit: false,
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset }) => {
    if (batch.messages.length === 0) return;
    const txn = await producer.transaction();
    await txn.send({
      topic: output,
      messages: batch.messages.map((m) => ({ key: m.key, value: `out-${m.value?.toString()}` })),
    });
    process.stdout.write(`sent ${batch.messages.length}\n`);
    const last = batch.messages[batch.messages.length - 1]!;
    await txn.sendOffsets({
      consumerGroupId: group,
      topics: [
        { topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(last.offset) + 1) }] },
      ],
    });
    await txn.commit();
    resolveOffset(last.offset);
    total += batch.messages.length;
    process.stdout.write(`committed ${total}\n`);
  },
});
