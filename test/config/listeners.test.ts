import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHostPort, parseListeners, parseProtocolMap } from '../../src/config/listeners.ts';
import { ConfigError } from '../../src/config/types.ts';

const MAP = parseProtocolMap('PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT');

void describe('listeners', () => {
  void it('parses NAME://host:port entries with their protocols', () => {
    assert.deepEqual(parseListeners('PLAINTEXT://127.0.0.1:9092, internal://:9093,SSL://[::1]:0', MAP), [
      { name: 'PLAINTEXT', securityProtocol: 'PLAINTEXT', host: '127.0.0.1', port: 9092 },
      { name: 'INTERNAL', securityProtocol: 'PLAINTEXT', host: '', port: 9093 },
      { name: 'SSL', securityProtocol: 'SSL', host: '::1', port: 0 },
    ]);
  });

  void it('refuses malformed entries, unmapped names, duplicates and bad ports', () => {
    const bad = [
      'PLAINTEXT://localhost',
      'localhost:9092',
      'OTHER://:9092',
      'PLAINTEXT://:9092,PLAINTEXT://:9093',
      'PLAINTEXT://:9092,INTERNAL://:9092',
      'PLAINTEXT://:70000',
      '',
    ];
    for (const value of bad) assert.throws(() => parseListeners(value, MAP), ConfigError, value);
    // Two ephemeral ports are fine.
    assert.equal(parseListeners('PLAINTEXT://:0,INTERNAL://:0', MAP).length, 2);
  });

  void it('refuses to advertise a wildcard address', () => {
    assert.throws(() => parseListeners('PLAINTEXT://0.0.0.0:9092', MAP, 'advertised.listeners'), /wildcard/);
    assert.equal(parseListeners('PLAINTEXT://0.0.0.0:9092', MAP)[0]!.host, '0.0.0.0');
  });

  void it('parses the protocol map and refuses unknown protocols', () => {
    assert.equal(parseProtocolMap('a:sasl_ssl').get('A'), 'SASL_SSL');
    assert.throws(() => parseProtocolMap('A:TLS'), /unknown security protocol "TLS"/);
    assert.throws(() => parseProtocolMap('A'), ConfigError);
  });

  void it('formats host:port with IPv6 brackets', () => {
    assert.equal(formatHostPort('::1', 9092), '[::1]:9092');
    assert.equal(formatHostPort('localhost', 9092), 'localhost:9092');
  });
});
