import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Admin } from '../../src/client/admin.ts';
import { KafkaProtocolError } from '../../src/client/errors.ts';
import { Producer } from '../../src/client/producer.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { FakeKafka } from './fake-broker.ts';

void describe('admin against the fake broker', () => {
  let kafka: FakeKafka;
  let admin: Admin;
  before(async () => {
    kafka = await FakeKafka.start(2);
    admin = new Admin({ bootstrapServers: kafka.bootstrap });
  });
  after(async () => {
    await admin.close();
    await kafka.stop();
  });

  void it('creates, lists, describes, grows and deletes topics', async () => {
    await admin.createTopics([{ topic: 'a-one', numPartitions: 2 }]);
    await assert.rejects(admin.createTopics([{ topic: 'a-one', numPartitions: 2 }]), (e: unknown) => {
      assert.ok(e instanceof KafkaProtocolError);
      assert.equal(e.code, ErrorCode.TOPIC_ALREADY_EXISTS);
      return true;
    });
    assert.ok((await admin.listTopics()).includes('a-one'));
    const [d] = await admin.describeTopics(['a-one']);
    assert.equal(d!.partitions.length, 2);
    await admin.createPartitions([{ topic: 'a-one', count: 4 }]);
    assert.equal((await admin.describeTopics(['a-one']))[0]!.partitions.length, 4);
    await admin.deleteTopics(['a-one']);
    assert.ok(!(await admin.listTopics()).includes('a-one'));
  });

  void it('describes and alters configs', async () => {
    await admin.createTopics([{ topic: 'a-cfg', numPartitions: 1 }]);
    await admin.incrementalAlterConfigs([
      { type: 'topic', name: 'a-cfg', ops: [{ name: 'cleanup.policy', value: 'compact' }] },
    ]);
    const [r] = await admin.describeConfigs([{ type: 'topic', name: 'a-cfg' }]);
    assert.equal(r!.configs.find((c) => c.name === 'cleanup.policy')?.value, 'compact');
  });

  void it('describes the cluster and deletes records', async () => {
    const c = await admin.describeCluster();
    assert.equal(c.clusterId, 'fake-cluster');
    assert.equal(c.brokers.length, 2);
    kafka.createTopic('a-del', 1);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0 });
    await producer.send(['a', 'b', 'c'].map((value) => ({ topic: 'a-del', value })));
    await producer.close();
    assert.deepEqual(await admin.deleteRecords([{ topic: 'a-del', partition: 0, offset: 2 }]), [
      { topic: 'a-del', partition: 0, lowWatermark: 2 },
    ]);
  });

  void it('sets, resets and reports group offsets with lag; lists and deletes groups', async () => {
    kafka.createTopic('a-grp', 2);
    const producer = new Producer({ bootstrapServers: kafka.bootstrap, lingerMs: 0 });
    await producer.send([0, 0, 0, 1].map((partition) => ({ topic: 'a-grp', value: 'x', partition })));
    await producer.close();
    await admin.alterGroupOffsets('ag', [
      { topic: 'a-grp', partition: 0, offset: 1 },
      { topic: 'a-grp', partition: 1, offset: 0 },
    ]);
    const offsets = await admin.listGroupOffsets('ag');
    assert.deepEqual(
      offsets.map((o) => [o.partition, o.offset, o.endOffset, o.lag]),
      [
        [0, 1, 3, 2],
        [1, 0, 1, 1],
      ],
    );
    await admin.resetGroupOffsets('ag', ['a-grp'], 'latest');
    assert.deepEqual(
      (await admin.listGroupOffsets('ag')).map((o) => o.lag),
      [0, 0],
    );
    assert.ok((await admin.listGroups()).some((g) => g.groupId === 'ag'));
    const [desc] = await admin.describeGroups(['ag']);
    assert.equal(desc!.offsets.length, 2);
    await admin.deleteGroups(['ag']);
    assert.ok(!(await admin.listGroups()).some((g) => g.groupId === 'ag'));
  });
});
