/**
 * Consumer groups with the Python clients (/usr/bin/python3): kafka-python's group
 * consumer and admin (describe, list, offsets, delete), confluent-kafka's
 * cooperative-sticky assignment (a join revokes only the partitions that move) and
 * static membership (a restarted static member gets its partitions back without a
 * rebalance of the others).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { python } from './helpers/kcat.ts';

const TIMEOUT = { timeout: 120_000 };

const KAFKA_PYTHON_GROUP = `
import json, sys, threading, time
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
bootstrap, topic = sys.argv[1], sys.argv[2]
seen, stop = set(), threading.Event()
consumers = [KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id='py-group', auto_offset_reset='earliest',
    enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=300, max_poll_interval_ms=10000)
    for _ in range(2)]
def run(c):
    # Each consumer polls in its own thread: a JoinGroup waits for every member to rejoin.
    while not stop.is_set():
        for tp, recs in c.poll(timeout_ms=100).items():
            for r in recs: seen.add(r.value.decode())
        c.commit()
threads = [threading.Thread(target=run, args=(c,)) for c in consumers]
for t in threads: t.start()
deadline = time.time() + 40
while time.time() < deadline and not (all(len(c.assignment()) == 2 for c in consumers) and len(seen) == 40):
    time.sleep(0.05)
time.sleep(0.5)
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
described = admin.describe_consumer_groups(['py-group'])[0]
listed = [g[0] for g in admin.list_consumer_groups()]
stop.set()
for t in threads: t.join()
split = [sorted(p.partition for p in c.assignment()) for c in consumers]
for c in consumers: c.close()
offsets = admin.list_consumer_group_offsets('py-group')
total = sum(o.offset for o in offsets.values())
deleted = admin.delete_consumer_groups(['py-group'])
after = admin.list_consumer_group_offsets('py-group')
print(json.dumps({'split': split, 'seen': len(seen), 'state': described.state, 'members': len(described.members),
  'listed': 'py-group' in listed, 'committed': total, 'deleted': [[g, e.__name__] for g, e in deleted],
  'after': len(after)}))
`;

const CONFLUENT_COOPERATIVE = `
import json, sys, time
from confluent_kafka import Consumer
bootstrap, topic = sys.argv[1], sys.argv[2]
events = {'a': [], 'b': []}
def consumer(name):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'coop', 'partition.assignment.strategy': 'cooperative-sticky',
        'session.timeout.ms': 6000, 'heartbeat.interval.ms': 300, 'auto.offset.reset': 'earliest'})
    c.subscribe([topic], on_assign=lambda c, ps: events[name].append(['assign', sorted(p.partition for p in ps)]),
        on_revoke=lambda c, ps: events[name].append(['revoke', sorted(p.partition for p in ps)]))
    return c
a = consumer('a')
deadline = time.time() + 30
while time.time() < deadline and len(a.assignment()) != 4: a.poll(0.1)
b = consumer('b')
deadline = time.time() + 40
while time.time() < deadline and not (len(a.assignment()) == 2 and len(b.assignment()) == 2):
    a.poll(0.05); b.poll(0.05)
result = json.dumps({'a': sorted(p.partition for p in a.assignment()), 'b': sorted(p.partition for p in b.assignment()), 'events': events})
a.close(); b.close()
print(result)
`;

const CONFLUENT_STATIC = `
import json, sys, time
from confluent_kafka import Consumer
bootstrap, topic = sys.argv[1], sys.argv[2]
events = {'a': [], 'b1': [], 'b2': []}
def consumer(name, instance):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'static', 'group.instance.id': instance,
        'session.timeout.ms': 10000, 'heartbeat.interval.ms': 300, 'auto.offset.reset': 'earliest'})
    c.subscribe([topic], on_assign=lambda c, ps: events[name].append(['assign', sorted(p.partition for p in ps)]),
        on_revoke=lambda c, ps: events[name].append(['revoke', sorted(p.partition for p in ps)]))
    return c
a = consumer('a', 'inst-a')
b = consumer('b1', 'inst-b')
deadline = time.time() + 40
while time.time() < deadline and not (len(a.assignment()) == 2 and len(b.assignment()) == 2):
    a.poll(0.05); b.poll(0.05)
before = sorted(p.partition for p in b.assignment())
a_events_before = len(events['a'])
b.close()  # a static member leaves no LeaveGroup behind: its session keeps its place
b2 = consumer('b2', 'inst-b')
deadline = time.time() + 20
while time.time() < deadline and len(b2.assignment()) != 2:
    a.poll(0.05); b2.poll(0.05)
for _ in range(20):
    a.poll(0.05); b2.poll(0.05)
result = {'before': before, 'after': sorted(p.partition for p in b2.assignment()), 'a_new_events': events['a'][a_events_before:],
  'a': sorted(p.partition for p in a.assignment())}
a.close(); b2.close()
print(json.dumps(result))
`;

void describe('consumer groups with kafka-python and confluent-kafka', TIMEOUT, () => {
  let broker: TestBroker;
  let kafka: Kafka;

  before(async () => {
    broker = await startTestBroker();
    kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: ['pyt', 'coop', 'static'].map((topic) => ({ topic, numPartitions: 4 })),
    });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'pyt',
      messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 4, value: `m${i}` })),
    });
    await producer.disconnect();
  });
  after(async () => {
    await broker?.stop();
  });

  void it('kafka-python: two consumers split the partitions, commit; admin describes, lists and deletes', async () => {
    const out = JSON.parse(await python(KAFKA_PYTHON_GROUP, [broker.bootstrap, 'pyt'])) as Record<string, unknown>;
    assert.deepEqual(((out.split as number[][]).flat() as number[]).sort(), [0, 1, 2, 3]);
    assert.equal(out.seen, 40);
    assert.equal(out.state, 'Stable');
    assert.equal(out.members, 2);
    assert.equal(out.listed, true);
    assert.equal(out.committed, 40);
    assert.deepEqual(out.deleted, [['py-group', 'NoError']]);
    assert.equal(out.after, 0);
  });

  void it('confluent-kafka cooperative-sticky: a join revokes only what moves', async () => {
    const out = JSON.parse(await python(CONFLUENT_COOPERATIVE, [broker.bootstrap, 'coop'])) as {
      a: number[];
      b: number[];
      events: Record<string, [string, number[]][]>;
    };
    assert.equal(out.a.length, 2);
    assert.deepEqual([...out.a, ...out.b].sort(), [0, 1, 2, 3]);
    const revokes = out.events.a!.filter(([kind, ps]) => kind === 'revoke' && ps.length > 0);
    assert.equal(revokes.length, 1, JSON.stringify(out.events));
    assert.deepEqual(revokes[0]![1].sort(), out.b, 'a gave up exactly what b got');
  });

  void it('confluent-kafka static membership: a restarted member keeps its partitions without a rebalance', async () => {
    const out = JSON.parse(await python(CONFLUENT_STATIC, [broker.bootstrap, 'static'])) as {
      before: number[];
      after: number[];
      a_new_events: unknown[];
      a: number[];
    };
    assert.equal(out.before.length, 2);
    assert.deepEqual(out.after, out.before);
    assert.deepEqual(out.a_new_events, [], 'the other member saw no revoke/assign');
    assert.equal(out.a.length, 2);
  });
});
