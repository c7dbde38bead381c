import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { addBrokerConfigOptions, type BrokerConfigOptions, brokerConfigFromOptions } from '../../src/config/cli.ts';

void describe('CLI options', () => {
  void it('--set repeats and wins over the environment', () => {
    const cmd = addBrokerConfigOptions(new Command().exitOverride());
    cmd.parse(['--set', 'num.partitions=3', '--set', 'broker.rack=r1', '--set', 'num.partitions=4'], { from: 'user' });
    const opts = cmd.opts<BrokerConfigOptions>();
    assert.deepEqual(opts.set, ['num.partitions=3', 'broker.rack=r1', 'num.partitions=4']);
    const config = brokerConfigFromOptions(opts, { RUNNEL_NUM_PARTITIONS: '9', RUNNEL_LOG_DIR: '/tmp/r' });
    assert.equal(config.int('num.partitions'), 4);
    assert.equal(config.string('broker.rack'), 'r1');
    assert.deepEqual(config.logDirs(), ['/tmp/r']);
  });
});
