import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  envNameToProperty,
  loadBrokerConfig,
  loadBrokerConfigFromCli,
  parseSetFlag,
  propertiesFromEnv,
  propertyToEnvName,
} from '../../src/config/sources.ts';

const dir = mkdtempSync(join(tmpdir(), 'runnel-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

void describe('environment variables', () => {
  void it('map like the Kafka images: _ -> ., __ -> _, ___ -> -', () => {
    assert.equal(envNameToProperty('RUNNEL_LOG_DIRS'), 'log.dirs');
    assert.equal(envNameToProperty('RUNNEL_LISTENER_SECURITY_PROTOCOL_MAP'), 'listener.security.protocol.map');
    assert.equal(envNameToProperty('RUNNEL_FOO__BAR'), 'foo_bar');
    assert.equal(envNameToProperty('RUNNEL_FOO___BAR_BAZ'), 'foo-bar.baz');
    assert.equal(envNameToProperty('KAFKA_LOG_DIRS'), undefined);
    assert.equal(envNameToProperty('RUNNEL_'), undefined);
    for (const name of ['log.dirs', 'foo_bar', 'foo-bar.baz', 'group.consumer.max.size']) {
      assert.equal(envNameToProperty(propertyToEnvName(name)), name);
    }
  });

  void it('takes only RUNNEL_ variables, minus the reserved ones', () => {
    const props = propertiesFromEnv({
      PATH: '/bin',
      RUNNEL_NUM_PARTITIONS: '3',
      RUNNEL_LOG_LEVEL: 'debug',
      RUNNEL_FROM_SOURCE: '1',
      RUNNEL_BOOTSTRAP_SERVER: 'localhost:9092',
      HOME: undefined,
    });
    assert.deepEqual(props, [
      { name: 'num.partitions', value: '3', origin: { kind: 'env', variable: 'RUNNEL_NUM_PARTITIONS' } },
    ]);
  });
});

void describe('--set flags', () => {
  void it('split at the first =', () => {
    assert.deepEqual(parseSetFlag('listeners=PLAINTEXT://:9092'), {
      name: 'listeners',
      value: 'PLAINTEXT://:9092',
      origin: { kind: 'flag' },
    });
    assert.equal(parseSetFlag('sasl.jaas.config=a=b').value, 'a=b');
    assert.equal(parseSetFlag('x.y=').value, '');
    assert.throws(() => parseSetFlag('num.partitions'), /expected key=value/);
    assert.throws(() => parseSetFlag('=3'), /expected key=value/);
  });
});

void describe('precedence', () => {
  const file = { path: 'server.properties', text: 'num.partitions=2\nlog.retention.hours=10\nbroker.rack=file\n' };

  void it('defaults < file < environment < --set < overrides', () => {
    const c = loadBrokerConfig({
      file,
      env: { RUNNEL_LOG_RETENTION_HOURS: '20', RUNNEL_BROKER_RACK: 'env' },
      sets: ['broker.rack=flag1', 'broker.rack=flag2', 'default.replication.factor=1'],
      overrides: { 'default.replication.factor': '1' },
    });
    assert.equal(c.int('num.partitions'), 2); // file
    assert.equal(c.int('log.retention.hours'), 20); // env over file
    assert.equal(c.string('broker.rack'), 'flag2'); // last flag over env
    assert.equal(c.int('queued.max.requests'), 500); // default
    assert.deepEqual(c.origins.get('num.partitions'), { kind: 'file', path: 'server.properties', line: 1 });
  });

  void it('errors name the property and where it came from', () => {
    assert.throws(() => loadBrokerConfig({ file: { path: 'a.properties', text: '\nfoo.bar=1' } }), {
      message: 'unknown configuration "foo.bar" (a.properties, line 2)',
    });
    assert.throws(() => loadBrokerConfig({ env: { RUNNEL_NUM_PARTITIONS: 'abc' } }), {
      message:
        'invalid value "abc" for "num.partitions": expected an integer (environment variable RUNNEL_NUM_PARTITIONS)',
    });
    assert.throws(() => loadBrokerConfig({ sets: ['num.partitions=abc'] }), {
      message: 'invalid value "abc" for "num.partitions": expected an integer (--set)',
    });
    // A bad value in the file is fine once a higher source replaces it.
    assert.equal(
      loadBrokerConfig({ file: { path: 'f', text: 'num.partitions=abc' }, sets: ['num.partitions=4'] }).int(
        'num.partitions',
      ),
      4,
    );
  });

  void it('a __proto__ key is just an unknown configuration', () => {
    assert.throws(
      () => loadBrokerConfig({ file: { path: 'f', text: '__proto__=1' } }),
      /unknown configuration "__proto__"/,
    );
    assert.throws(() => loadBrokerConfig({ sets: ['constructor=1'] }), /unknown configuration "constructor"/);
  });

  void it('reads --config FILE', () => {
    const path = join(dir, 'server.properties');
    writeFileSync(path, '# test\nlisteners=PLAINTEXT://127.0.0.1:0\nlog.dirs=/tmp/runnel-x\n');
    const c = loadBrokerConfigFromCli({ configPath: path, sets: ['num.partitions=5'], env: {} });
    assert.equal(c.listeners[0]!.port, 0);
    assert.deepEqual(c.logDirs(), ['/tmp/runnel-x']);
    assert.equal(c.int('num.partitions'), 5);
    assert.throws(
      () => loadBrokerConfigFromCli({ configPath: join(dir, 'missing.properties') }),
      /cannot read config file .*ENOENT/,
    );
  });
});

void describe("Kafka's own sample configuration", () => {
  void it('the KRaft single-node server.properties shipped with Kafka 4 loads', () => {
    // The property names and values of Kafka's config/server.properties (comments ours).
    const text = [
      '# Server basics',
      'process.roles=broker,controller',
      'node.id=1',
      'controller.quorum.bootstrap.servers=localhost:9093',
      '# Socket server settings',
      'listeners=PLAINTEXT://:9092,CONTROLLER://:9093',
      'inter.broker.listener.name=PLAINTEXT',
      'advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093',
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
      'num.network.threads=3',
      'num.io.threads=8',
      'socket.send.buffer.bytes=102400',
      'socket.receive.buffer.bytes=102400',
      'socket.request.max.bytes=104857600',
      '# Log basics',
      'log.dirs=/tmp/kraft-combined-logs',
      'num.partitions=1',
      'num.recovery.threads.per.data.dir=1',
      '# Internal topic settings',
      'offsets.topic.replication.factor=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      '# Log retention policy',
      'log.retention.hours=168',
      'log.segment.bytes=1073741824',
      'log.retention.check.interval.ms=300000',
    ].join('\n');
    const c = loadBrokerConfig({ file: { path: 'server.properties', text } });
    assert.deepEqual(
      c.listeners.map((l) => `${l.name}:${l.port}`),
      ['PLAINTEXT:9092', 'CONTROLLER:9093'],
    );
    assert.equal(c.nodeId, 1);
    assert.deepEqual(c.logDirs(), ['/tmp/kraft-combined-logs']);
  });
});
