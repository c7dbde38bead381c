import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokerConfig, ConfigResourceType } from '../../src/config/broker-config.ts';
import { BROKER_CONFIG_DEFS, BROKER_CONFIGS } from '../../src/config/broker-defs.ts';
import { TOPIC_CONFIG_DEFS } from '../../src/config/topic-defs.ts';
import { ConfigError, ConfigSource, ConfigTypeId, LONG_MAX } from '../../src/config/types.ts';
import { formatValue, parseValue } from '../../src/config/values.ts';

const describeOne = (list: ReturnType<BrokerConfig['describeTopic']>, name: string) =>
  list.find((d) => d.name === name)!;

void describe('config tables', () => {
  void it('names are unique and every default passes its own type and validator', () => {
    const names = new Set<string>();
    for (const def of [...BROKER_CONFIG_DEFS, ...TOPIC_CONFIG_DEFS]) {
      const key = `${def.scope}:${def.name}`;
      assert.ok(!names.has(key), `duplicate ${key}`);
      names.add(key);
      if (def.defaultValue !== null) {
        const parsed = parseValue(def, def.defaultValue);
        assert.ok(parsed.ok, `${def.name}: ${parsed.ok ? '' : parsed.error}`);
      }
      assert.ok(def.doc.length > 0 && !def.doc.includes('\n'), `${def.name} needs a one-line doc`);
    }
  });

  void it('every broker synonym of a topic config is a broker property of the same kind', () => {
    for (const topic of TOPIC_CONFIG_DEFS) {
      for (const synonym of topic.brokerSynonyms) {
        const broker = BROKER_CONFIGS.get(synonym);
        assert.ok(broker, `${topic.name} -> ${synonym} is not in the broker table`);
        const timeUnit = synonym.endsWith('.hours') || synonym.endsWith('.minutes');
        if (!timeUnit && synonym !== 'log.flush.scheduler.interval.ms') {
          assert.equal(broker.type, topic.type, `${topic.name} vs ${synonym}`);
        }
      }
    }
  });

  void it("Kafka's well-known defaults", () => {
    const c = new BrokerConfig();
    const expect: Record<string, string | null> = {
      'message.max.bytes': '1048588',
      'socket.request.max.bytes': '104857600',
      'connections.max.idle.ms': '600000',
      'queued.max.requests': '500',
      'log.segment.bytes': '1073741824',
      'log.retention.hours': '168',
      'log.retention.bytes': '-1',
      'log.index.interval.bytes': '4096',
      'log.retention.check.interval.ms': '300000',
      'offsets.topic.num.partitions': '50',
      'offsets.retention.minutes': '10080',
      'group.initial.rebalance.delay.ms': '3000',
      'transaction.state.log.num.partitions': '50',
      'replica.lag.time.max.ms': '30000',
      'min.insync.replicas': '1',
      'unclean.leader.election.enable': 'false',
      listeners: 'PLAINTEXT://127.0.0.1:9092',
      'log.dir': './data',
      'num.partitions': '1',
      'default.replication.factor': '1',
      'auto.create.topics.enable': 'true',
      'delete.topic.enable': 'true',
      'log.cleanup.policy': 'delete',
      'advertised.listeners': undefined as unknown as null,
    };
    for (const [name, value] of Object.entries(expect)) assert.equal(c.get(name), value ?? undefined, name);
  });
});

void describe('BrokerConfig', () => {
  void it('types values: ints, booleans, lists, Long.MAX as Infinity', () => {
    const c = new BrokerConfig({
      'num.partitions': ' 12 ',
      'auto.create.topics.enable': 'FALSE',
      'process.roles': 'broker',
    });
    assert.equal(c.int('num.partitions'), 12);
    assert.equal(c.bool('auto.create.topics.enable'), false);
    assert.deepEqual(c.list('process.roles'), ['broker']);
    assert.equal(c.int('log.flush.interval.messages'), LONG_MAX);
    assert.equal(formatValue('long', LONG_MAX), '9223372036854775807');
    assert.equal(formatValue('double', 1), '1.0');
    assert.equal(c.intOrNull('log.retention.ms'), null);
  });

  void it('retention precedence: log.retention.ms > minutes > hours', () => {
    assert.equal(new BrokerConfig().logRetentionMs(), 604_800_000);
    assert.equal(new BrokerConfig({ 'log.retention.hours': '1' }).logRetentionMs(), 3_600_000);
    assert.equal(
      new BrokerConfig({ 'log.retention.hours': '1', 'log.retention.minutes': '2' }).logRetentionMs(),
      120_000,
    );
    assert.equal(
      new BrokerConfig({
        'log.retention.hours': '1',
        'log.retention.minutes': '2',
        'log.retention.ms': '5',
      }).logRetentionMs(),
      5,
    );
    assert.equal(new BrokerConfig({ 'log.retention.hours': '-1' }).logRetentionMs(), -1);
    assert.equal(new BrokerConfig({ 'log.retention.ms': '-7' }).logRetentionMs(), -1);
    assert.equal(new BrokerConfig({ 'log.roll.hours': '2' }).logRollMs(), 7_200_000);
  });

  void it('topic defaults carry what the broker sets, in topic units', () => {
    const c = new BrokerConfig({
      'log.retention.minutes': '3',
      'message.max.bytes': '2000',
      'log.cleanup.policy': 'compact',
    });
    assert.deepEqual(c.topicDefaults(), {
      'retention.ms': '180000',
      'max.message.bytes': '2000',
      'cleanup.policy': 'compact',
    });
    // Dynamic broker values win over static ones.
    assert.equal(c.topicDefaults(new Map([['message.max.bytes', '3000']]))['max.message.bytes'], '3000');
    const eff = c.effectiveTopicConfig(new Map([['retention.ms', '10']]));
    assert.equal(eff['retention.ms'], '10');
    assert.equal(eff['segment.bytes'], '1073741824');
    assert.equal(eff['max.message.bytes'], '2000');
  });

  void it('log.dirs wins over log.dir; node.id falls back to broker.id', () => {
    assert.deepEqual(new BrokerConfig().logDirs(), ['./data']);
    assert.deepEqual(new BrokerConfig({ 'log.dir': '/a' }).logDirs(), ['/a']);
    assert.deepEqual(new BrokerConfig({ 'log.dir': '/a', 'log.dirs': '/b, /c' }).logDirs(), ['/b', '/c']);
    assert.equal(new BrokerConfig().nodeId, 1);
    assert.equal(new BrokerConfig({ 'broker.id': '7' }).nodeId, 7);
    assert.equal(new BrokerConfig({ 'node.id': '3', 'broker.id': '3' }).nodeId, 3);
    assert.throws(() => new BrokerConfig({ 'node.id': '3', 'broker.id': '4' }), /disagree/);
  });

  void it('parses listeners and advertised listeners', () => {
    const c = new BrokerConfig({
      listeners: 'PLAINTEXT://:0,INTERNAL://127.0.0.1:0',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT',
      'advertised.listeners': 'PLAINTEXT://broker.example:9092',
    });
    assert.equal(c.listeners.length, 2);
    assert.equal(c.listeners[0]!.host, '');
    assert.deepEqual(
      c.advertisedListeners.map((l) => `${l.name} ${l.host}:${l.port}`),
      ['PLAINTEXT broker.example:9092'],
    );
    assert.throws(
      () =>
        new BrokerConfig({
          'advertised.listeners': 'OTHER://x:1',
          'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT',
        }),
      /not in listeners/,
    );
  });

  void it('stops on unknown or invalid properties, naming each', () => {
    assert.throws(() => new BrokerConfig({ 'foo.bar': '1' }), {
      name: 'ConfigError',
      message: 'unknown configuration "foo.bar"',
    });
    assert.throws(() => new BrokerConfig({ 'num.partitions': 'abc' }), {
      message: 'invalid value "abc" for "num.partitions": expected an integer',
    });
    assert.throws(() => new BrokerConfig({ 'num.partitions': '0' }), /expected a value at least 1/);
    assert.throws(() => new BrokerConfig({ 'num.partitions': '2147483648' }), /expected an integer/);
    assert.throws(() => new BrokerConfig({ 'log.retention.ms': '9223372036854775808' }), /expected a long integer/);
    assert.throws(() => new BrokerConfig({ 'log.cleaner.min.cleanable.ratio': 'x' }), /expected a number/);
    assert.throws(() => new BrokerConfig({ 'auto.create.topics.enable': 'yes' }), /expected true or false/);
    assert.throws(
      () => new BrokerConfig({ 'log.message.timestamp.type': 'createtime' }),
      /one of CreateTime, LogAppendTime/,
    );
    assert.throws(() => new BrokerConfig({ 'log.cleanup.policy': 'delete,archive' }), /got "archive"/);
    assert.throws(() => new BrokerConfig({ 'create.topic.policy.class.name': 'not a class' }), /expected a class name/);
    assert.throws(
      () => new BrokerConfig({ 'ssl.key.password': 'x', 'num.io.threads': '0' }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(!err.message.includes('"x"'));
        return true;
      },
    );
    assert.throws(
      () => new BrokerConfig({ 'a.b': '1', 'c.d': '2' }),
      /configuration problems:\n {2}unknown configuration "a.b"\n {2}unknown configuration "c.d"/,
    );
    assert.throws(
      () => new BrokerConfig({ 'group.min.session.timeout.ms': '10', 'group.max.session.timeout.ms': '5' }),
      /is above/,
    );
  });

  void it('validates dynamic broker changes and knows list types', () => {
    const c = new BrokerConfig();
    assert.equal(c.validateBrokerConfig('log.retention.ms', '1000'), undefined);
    assert.equal(c.validateBrokerConfig('log.retention.ms', ''), undefined);
    assert.match(c.validateBrokerConfig('log.retention.ms', 'x')!, /invalid value "x"/);
    assert.match(c.validateBrokerConfig('node.id', '5')!, /read-only/);
    assert.match(c.validateBrokerConfig('nope', '5')!, /unknown configuration "nope"/);
    assert.equal(c.isList(ConfigResourceType.TOPIC, 'cleanup.policy'), true);
    assert.equal(c.isList(ConfigResourceType.TOPIC, 'retention.ms'), false);
    assert.equal(c.isList(ConfigResourceType.BROKER, 'log.cleanup.policy'), true);
  });
});

void describe('DescribeConfigs data', () => {
  void it('topic configs: source and synonyms in precedence order', () => {
    const c = new BrokerConfig({ 'log.retention.hours': '2' });
    const none = describeOne(c.describeTopic(new Map()), 'retention.ms');
    assert.equal(none.value, '7200000');
    assert.equal(none.source, ConfigSource.STATIC_BROKER_CONFIG);
    assert.deepEqual(none.synonyms, [
      { name: 'log.retention.hours', value: '2', source: ConfigSource.STATIC_BROKER_CONFIG },
      { name: 'log.retention.hours', value: '168', source: ConfigSource.DEFAULT_CONFIG },
    ]);
    assert.equal(none.configType, ConfigTypeId.LONG);
    assert.equal(none.readOnly, false);

    const set = describeOne(c.describeTopic(new Map([['retention.ms', '99']])), 'retention.ms');
    assert.equal(set.value, '99');
    assert.equal(set.source, ConfigSource.DYNAMIC_TOPIC_CONFIG);
    assert.equal(set.synonyms[0]!.name, 'retention.ms');

    const dyn = describeOne(
      c.describeTopic(new Map(), new Map(), new Map([['log.retention.ms', '5']])),
      'retention.ms',
    );
    assert.equal(dyn.value, '5');
    assert.equal(dyn.source, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG);

    const fresh = describeOne(new BrokerConfig().describeTopic(new Map()), 'segment.bytes');
    assert.equal(fresh.value, '1073741824');
    assert.equal(fresh.source, ConfigSource.DEFAULT_CONFIG);
    assert.deepEqual(fresh.synonyms, [
      { name: 'log.segment.bytes', value: '1073741824', source: ConfigSource.DEFAULT_CONFIG },
    ]);

    const noSynonym = describeOne(new BrokerConfig().describeTopic(new Map()), 'remote.storage.enable');
    assert.equal(noSynonym.value, 'false');
    assert.deepEqual(noSynonym.synonyms, []);
  });

  void it('broker configs: sources, read-only, sensitive values hidden', () => {
    const c = new BrokerConfig({ 'num.partitions': '4', 'ssl.keystore.password': 'secret' });
    const all = c.describeBroker(new Map([['num.partitions', '6']]), new Map());
    const np = all.find((d) => d.name === 'num.partitions')!;
    assert.equal(np.value, '6');
    assert.equal(np.source, ConfigSource.DYNAMIC_BROKER_CONFIG);
    assert.deepEqual(
      np.synonyms.map((s) => [s.value, s.source]),
      [
        ['6', ConfigSource.DYNAMIC_BROKER_CONFIG],
        ['4', ConfigSource.STATIC_BROKER_CONFIG],
        ['1', ConfigSource.DEFAULT_CONFIG],
      ],
    );
    assert.equal(np.readOnly, false);
    const pw = all.find((d) => d.name === 'ssl.keystore.password')!;
    assert.equal(pw.value, null);
    assert.equal(pw.isSensitive, true);
    assert.ok(pw.synonyms.every((s) => s.value === null));
    assert.equal(all.find((d) => d.name === 'node.id')!.readOnly, true);
    assert.deepEqual(c.explicitForLog(), { 'num.partitions': '4', 'ssl.keystore.password': '[hidden]' });
  });
});

void describe('per-listener properties', () => {
  void it('listener.name.<listener>.<property> overrides one listener, validated like the property', () => {
    const c = new BrokerConfig({
      listeners: 'PLAINTEXT://:0,INTERNAL://:0',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT',
      'listener.name.internal.max.connections': '10',
      'listener.name.internal.plain.sasl.jaas.config': 'x required;',
    });
    assert.equal(c.listenerProperty('INTERNAL', 'max.connections'), '10');
    assert.equal(c.listenerProperty('PLAINTEXT', 'max.connections'), '2147483647');
    assert.equal(c.listenerProperty('internal', 'plain.sasl.jaas.config'), 'x required;');
    assert.throws(
      () => new BrokerConfig({ 'listener.name.plaintext.max.connections': 'many' }),
      /invalid value "many" for "listener.name.plaintext.max.connections": expected an integer/,
    );
    assert.throws(
      () => new BrokerConfig({ 'listener.name.plaintext.nope': '1' }),
      /unknown configuration "listener.name.plaintext.nope"/,
    );
    assert.throws(() => new BrokerConfig({ 'listener.name.other.max.connections': '1' }), /not in listeners/);
  });
});
