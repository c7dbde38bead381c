/**
 * The config module as its consumers use it: a drop-in BrokerConfigView for the metadata
 * layer, and listener settings that start a network listener.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startListener } from '../../src/broker/network/listener.ts';
import { BrokerConfig } from '../../src/config/broker-config.ts';
import { loadBrokerConfig } from '../../src/config/sources.ts';
import { systemClock } from '../../src/env/clock.ts';
import type { BrokerConfigView } from '../../src/metadata/config-view.ts';

void describe('config consumers', () => {
  void it('BrokerConfig is a BrokerConfigView', () => {
    const view: BrokerConfigView = new BrokerConfig({ 'log.retention.hours': '1' });
    assert.equal(view.get('log.retention.hours'), '1');
    assert.equal(view.validateTopicConfig('retention.ms', '10'), undefined);
    assert.ok(view.describeTopic(new Map()).length > 20);
  });

  void it('listener settings start a listener', async () => {
    const config = loadBrokerConfig({ sets: ['listeners=PLAINTEXT://127.0.0.1:0', 'queued.max.requests=7'] });
    const [endpoint] = config.listeners;
    const listener = await startListener({
      name: endpoint!.name,
      host: endpoint!.host,
      port: endpoint!.port,
      maxRequestBytes: config.int('socket.request.max.bytes'),
      maxInFlightPerConnection: config.int('queued.max.requests'),
      idleTimeoutMs: config.int('connections.max.idle.ms'),
      clock: systemClock,
      onFrame: () => null,
    });
    assert.ok(listener.port > 0);
    await listener.close();
  });
});
