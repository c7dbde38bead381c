import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateTopicConfig, validateTopicConfigs } from '../../src/config/topic-config.ts';

void describe('topic config validation', () => {
  void it('accepts valid values', () => {
    const ok: Array<[string, string]> = [
      ['retention.ms', '-1'],
      ['retention.ms', '9223372036854775807'],
      ['retention.bytes', '-1'],
      ['cleanup.policy', 'compact,delete'],
      ['cleanup.policy', 'compact'],
      ['cleanup.policy', ''],
      ['compression.type', 'zstd'],
      ['min.cleanable.dirty.ratio', '0.01'],
      ['min.cleanable.dirty.ratio', '1'],
      ['message.timestamp.type', 'LogAppendTime'],
      ['segment.bytes', '1048576'],
      ['unclean.leader.election.enable', 'TRUE'],
      ['compression.gzip.level', '-1'],
      ['leader.replication.throttled.replicas', '*'],
      ['leader.replication.throttled.replicas', '0:1,1:2'],
    ];
    for (const [name, value] of ok) assert.equal(validateTopicConfig(name, value), undefined, `${name}=${value}`);
    assert.equal(validateTopicConfig('retention.ms', null), undefined);
  });

  void it('refuses bad values with a message naming the config', () => {
    const bad: Array<[string, string, RegExp]> = [
      ['retention.ms', 'abc', /^invalid value "abc" for "retention.ms": expected a long integer$/],
      ['retention.ms', '-2', /at least -1/],
      ['segment.bytes', '10', /at least 14/],
      ['segment.bytes', '4294967296', /expected an integer/],
      ['cleanup.policy', 'compact,purge', /got "purge"/],
      ['compression.type', 'brotli', /one of uncompressed, zstd, lz4, snappy, gzip, producer/],
      ['min.cleanable.dirty.ratio', '1.5', /between 0 and 1/],
      ['min.insync.replicas', '0', /at least 1/],
      ['message.timestamp.type', 'Create', /one of CreateTime, LogAppendTime/],
      ['compression.gzip.level', '0', /-1 or 1..9/],
      ['leader.replication.throttled.replicas', 'a:b', /partition:broker/],
      ['max.compaction.lag.ms', '0', /at least 1/],
    ];
    for (const [name, value, re] of bad) assert.match(validateTopicConfig(name, value) ?? '', re, `${name}=${value}`);
    assert.equal(validateTopicConfig('retention.hours', '1'), 'unknown topic configuration "retention.hours"');
  });

  void it('checks configs together', () => {
    assert.equal(validateTopicConfigs({ 'retention.ms': '1', 'cleanup.policy': 'compact' }), undefined);
    assert.match(validateTopicConfigs(new Map([['retention.ms', 'x']]))!, /retention.ms/);
    assert.match(
      validateTopicConfigs({ 'min.compaction.lag.ms': '100', 'max.compaction.lag.ms': '10' })!,
      /min.compaction.lag.ms \(100\) is above max.compaction.lag.ms \(10\)/,
    );
    // The other side may come from the effective (broker default) config.
    assert.match(validateTopicConfigs({ 'min.compaction.lag.ms': '100' }, { 'max.compaction.lag.ms': '50' })!, /above/);
  });
});
