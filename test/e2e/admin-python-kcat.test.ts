/**
 * Admin and metadata from clients outside Node: kcat (librdkafka) metadata with
 * auto-create, confluent-kafka's AdminClient (librdkafka), and kafka-python 2.0's KafkaAdminClient (old API versions: Metadata v1,
 * CreateTopics v0-v3, DescribeConfigs v0-v2...) through /usr/bin/python3.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startTestBroker, type TestBroker } from './fixture.ts';

const run = promisify(execFile);

const PYTHON_ADMIN = `
import json, sys
from kafka import KafkaAdminClient
from kafka.admin import NewTopic, NewPartitions, ConfigResource, ConfigResourceType
from kafka.errors import TopicAlreadyExistsError, InvalidPartitionsError, UnknownTopicOrPartitionError, InvalidReplicationFactorError
boot, node = sys.argv[1], sys.argv[2]
out = {}
admin = KafkaAdminClient(bootstrap_servers=boot, client_id='runnel-py', request_timeout_ms=10000)
r = admin.create_topics([NewTopic('py-a', 3, 1, topic_configs={'retention.ms': '120000'}), NewTopic('py-b', 1, 1)])
out['create'] = [[t[0], t[1]] for t in r.topic_errors]
def error_of(fn):
    try:
        fn()
        return 'none'
    except Exception as e:
        return type(e).__name__
out['dup'] = error_of(lambda: admin.create_topics([NewTopic('py-a', 1, 1)]))
out['rf'] = error_of(lambda: admin.create_topics([NewTopic('py-rf', 1, 3)]))
out['topics'] = sorted(admin.list_topics())
out['describe'] = [[t['topic'], t['error_code'], len(t['partitions'])] for t in admin.describe_topics(['py-a'])]
admin.create_partitions({'py-b': NewPartitions(4)})
out['partitions_b'] = len(admin.describe_topics(['py-b'])[0]['partitions'])
out['decrease'] = error_of(lambda: admin.create_partitions({'py-b': NewPartitions(2)}))
cfg = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'py-a')])
out['retention'] = [e[1] for e in cfg[0].resources[0][4] if e[0] == 'retention.ms']
admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, 'py-a', configs={'segment.ms': '3600000'})])
cfg = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'py-a')])
out['after_alter'] = {e[0]: e[1] for e in cfg[0].resources[0][4] if e[0] in ('segment.ms', 'retention.ms')}
bcfg = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, node)])
out['broker_num_partitions'] = [e[1] for e in bcfg[0].resources[0][4] if e[0] == 'num.partitions']
r = admin.delete_topics(['py-b'])
out['delete'] = [[t[0], t[1]] for t in r.topic_error_codes]
out['delete_unknown'] = error_of(lambda: admin.delete_topics(['py-never']))
out['topics_after'] = sorted(admin.list_topics())
admin.close()
print(json.dumps(out))
`;

const PYTHON_CONFLUENT = `
import sys, json
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
a = AdminClient({'bootstrap.servers': sys.argv[1]})
out = {}
fs = a.create_topics([NewTopic('ck-a', 2, 1, config={'retention.ms': '1000000'})], operation_timeout=5)
for t, f in fs.items():
    f.result()
out['created'] = True
fs = a.create_topics([NewTopic('ck-a', 2, 1)])
try:
    fs['ck-a'].result(); out['dup'] = 'none'
except Exception as e:
    out['dup'] = e.args[0].name()
fs = a.create_partitions([NewPartitions('ck-a', 3)])
fs['ck-a'].result()
fs = a.create_partitions([NewPartitions('ck-a', 1)])
try:
    fs['ck-a'].result(); out['dec'] = 'none'
except Exception as e:
    out['dec'] = e.args[0].name()
md = a.list_topics(timeout=5)
out['parts'] = len(md.topics['ck-a'].partitions)
out['cluster'] = md.cluster_id
r = ConfigResource('topic', 'ck-a')
cfg = a.describe_configs([r])[r].result()
out['retention'] = cfg['retention.ms'].value
r2 = ConfigResource('topic', 'ck-a', set_config={'segment.ms': '100000'})
a.alter_configs([r2])[r2].result()
cfg = a.describe_configs([r])[r].result()
out['segment'] = cfg['segment.ms'].value
rb = ConfigResource('broker', '1')
out['broker'] = a.describe_configs([rb])[rb].result()['num.partitions'].value
out['controller'] = md.controller_id
fs = a.delete_topics(['ck-a'], operation_timeout=5)
fs['ck-a'].result()
out['deleted'] = 'ck-a' not in a.list_topics(timeout=5).topics
print(json.dumps(out))
`;

void describe('kcat and kafka-python', { timeout: 60_000 }, () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    await broker?.stop();
  });

  void it('kcat -L lists the broker as controller, and -t auto-creates a topic', async () => {
    const { stdout } = await run('kcat', ['-L', '-b', broker.bootstrap, '-t', 'kcat-auto', '-m', '10'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.match(
      stdout,
      new RegExp(`broker ${broker.nodeId} at ${broker.bootstrap.replace('.', '\\.')} \\(controller\\)`),
    );
    assert.match(stdout, /topic "kcat-auto" with 1 partitions:/);
    assert.match(
      stdout,
      new RegExp(`partition 0, leader ${broker.nodeId}, replicas: ${broker.nodeId}, isrs: ${broker.nodeId}`),
    );
    assert.ok(broker.services.metadata.image().topicsByName.has('kcat-auto'));
    const all = await run('kcat', ['-L', '-b', broker.bootstrap, '-m', '10'], { encoding: 'utf8', timeout: 20_000 });
    assert.match(all.stdout, /topic "kcat-auto"/);
  });

  void it('kafka-python KafkaAdminClient creates, describes, grows, alters and deletes', async () => {
    const { stdout } = await run('/usr/bin/python3', ['-c', PYTHON_ADMIN, broker.bootstrap, String(broker.nodeId)], {
      encoding: 'utf8',
      timeout: 45_000,
    });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(out.create, [
      ['py-a', 0],
      ['py-b', 0],
    ]);
    assert.equal(out.dup, 'TopicAlreadyExistsError');
    assert.equal(out.rf, 'InvalidReplicationFactorError');
    assert.ok((out.topics as string[]).includes('py-a'));
    assert.deepEqual(out.describe, [['py-a', 0, 3]]);
    assert.equal(out.partitions_b, 4);
    assert.equal(out.decrease, 'InvalidPartitionsError');
    assert.deepEqual(out.retention, ['120000']);
    assert.deepEqual(out.after_alter, { 'retention.ms': '604800000', 'segment.ms': '3600000' });
    assert.deepEqual(out.broker_num_partitions, ['1']);
    assert.deepEqual(out.delete, [['py-b', 0]]);
    assert.equal(out.delete_unknown, 'UnknownTopicOrPartitionError');
    assert.ok(!(out.topics_after as string[]).includes('py-b'));
  });
  void it('confluent-kafka (librdkafka) AdminClient creates, grows, alters and deletes', async () => {
    const { stdout } = await run('/usr/bin/python3', ['-c', PYTHON_CONFLUENT, broker.bootstrap], {
      encoding: 'utf8',
      timeout: 45_000,
    });
    assert.deepEqual(JSON.parse(stdout), {
      created: true,
      dup: 'TOPIC_ALREADY_EXISTS',
      dec: 'INVALID_PARTITIONS',
      parts: 3,
      cluster: broker.clusterId,
      retention: '1000000',
      segment: '100000',
      broker: '1',
      controller: broker.nodeId,
      deleted: true,
    });
  });
});
