/**
 * A consume-transform-produce worker for test/e2e/txn-eos.test.ts (kafkajs 2.2.4): reads
 * `in` with read_committed in group `group`, writes `out-<value>` to `out` and commits the
 * consumed offsets in the same transaction, one transaction per fetched batch. It prints
 * `sent <n>` once a transaction's records are sent (still open) and `committed <total>`
 * after each commit. With EOS_STOP_AFTER=n it leaves the first transaction after n
 * committed records open (and waits to be killed with SIGKILL).
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
const producer = kafka.producer({
  transactionalId,
  idempotent: true,
  maxInFlightRequests: 1,
  transactionTimeout: 5000,
  // InitProducerId answers CONCURRENT_TRANSACTIONS while the coordinator aborts the
  // killed worker's transaction: retry for long enough.
  retry: { retries: 50, initialRetryTime: 100, maxRetryTime: 1000 },
});
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
const stopAfter = Number(process.env.EOS_STOP_AFTER ?? 0);
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
    // The test's crash point: once `stopAfter` records are committed, the next
    // transaction stays open (records sent, no commit) until the process is killed.
    if (stopAfter > 0 && total >= stopAfter) await new Promise(() => {});
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
