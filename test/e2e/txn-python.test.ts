/**
 * Transactions with confluent-kafka (librdkafka) through /usr/bin/python3:
 * init_transactions, a committed transaction with send_offsets_to_transaction, an aborted
 * one, and a second producer with the same transactional.id fencing the first. The
 * broker's partition log must hold the COMMIT/ABORT markers and the group only the
 * committed transaction's offset.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import {
  ControlRecordType,
  decodeControlKey,
  decodeRecordBatch,
  iterateBatches,
} from '../../src/protocol/records/index.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { python } from './helpers/kcat.ts';

const CONFLUENT_TXN = `
import json, sys
from confluent_kafka import Producer, Consumer, TopicPartition, KafkaException
bootstrap, topic, src = sys.argv[1], sys.argv[2], sys.argv[3]
conf = {'bootstrap.servers': bootstrap, 'transactional.id': 'py-txn', 'transaction.timeout.ms': 20000}
p = Producer(conf)
p.init_transactions(20)
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-g', 'enable.auto.commit': False})
meta = c.consumer_group_metadata()
p.begin_transaction()
p.produce(topic, value=b'committed', partition=0)
p.send_offsets_to_transaction([TopicPartition(src, 0, 7)], meta, 20)
p.commit_transaction(20)
p.begin_transaction()
p.produce(topic, value=b'aborted', partition=0)
p.send_offsets_to_transaction([TopicPartition(src, 0, 11)], meta, 20)
# Written before the abort: abort_transaction purges what librdkafka still holds unsent.
p.flush(20)
p.abort_transaction(20)
# A second producer with the same transactional.id fences the first.
p2 = Producer(conf)
p2.init_transactions(20)
fenced = None
try:
    p.begin_transaction()
    p.produce(topic, value=b'zombie', partition=0)
    p.commit_transaction(20)
except KafkaException as e:
    err = e.args[0]
    fenced = {'name': err.name(), 'fatal': err.fatal(), 'text': err.str()}
p2.begin_transaction()
p2.produce(topic, value=b'second', partition=0)
p2.commit_transaction(20)
c.close()
print(json.dumps({'fenced': fenced}))
`;

void describe('transactions: confluent-kafka (librdkafka)', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let kafka: Kafka;

  before(async () => {
    broker = await startTestBroker({
      config: { 'transaction.state.log.num.partitions': '4', 'offsets.topic.num.partitions': '4' },
    });
    kafka = new Kafka({ clientId: 'runnel-txn-py', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: 'pyout', numPartitions: 1 },
        { topic: 'pysrc', numPartitions: 1 },
      ],
    });
    await admin.disconnect();
  });

  after(async () => {
    await broker?.stop();
  });

  void it('commits, aborts and fences; markers in the log, offsets only from the committed transaction', async () => {
    const out = JSON.parse(await python(CONFLUENT_TXN, [broker.bootstrap, 'pyout', 'pysrc'])) as {
      fenced: { name: string; fatal: boolean; text: string } | null;
    };
    assert.ok(out.fenced, 'the first producer was fenced');
    assert.match(`${out.fenced.name} ${out.fenced.text}`, /FENCED|epoch/i);

    const p = broker.services.replicas.getPartition('pyout', 0)!;
    const read = await p.log.read(0, 1 << 20, { maxOffset: p.log.logEndOffset(), minOneBatch: true });
    assert.equal(read.kind, 'records');
    const entries: string[] = [];
    if (read.kind === 'records') {
      for (const { position } of iterateBatches(read.records)) {
        const b = decodeRecordBatch(read.records, position);
        if (b.isControl) {
          const type = decodeControlKey(b.records[0]!.key).type;
          entries.push(`${type === ControlRecordType.Commit ? 'COMMIT' : 'ABORT'}@${b.producerEpoch}`);
        } else {
          entries.push(...b.records.map((r) => `${r.value?.toString()}@${b.producerEpoch}`));
        }
      }
    }
    // committed, its COMMIT; aborted, its ABORT; then the second producer's (epoch + 1) transaction.
    assert.deepEqual(entries.slice(0, 4), ['committed@0', 'COMMIT@0', 'aborted@0', 'ABORT@0']);
    // The zombie's AddPartitionsToTxn was refused, so its record never reached the partition.
    assert.deepEqual(entries.slice(4), ['second@1', 'COMMIT@1']);

    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchOffsets({ groupId: 'py-g', topics: ['pysrc'] });
      assert.equal(offsets[0]!.partitions[0]!.offset, '7');
    } finally {
      await admin.disconnect();
    }
  });
});
