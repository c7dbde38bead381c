/**
 * replication-offset-checkpoint: the text layout round-trips, garbage reads as empty, and
 * a replica manager writes it on close and starts a partition's high watermark from it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseHighWatermarks,
  readHighWatermarks,
  serializeHighWatermarks,
} from '../../../src/broker/replica/hw-checkpoint.ts';
import {
  DEFAULT_REPLICATION_SETTINGS,
  RACK_AWARE_REPLICA_SELECTOR,
  ReplicaManager,
} from '../../../src/broker/replica/replica-manager.ts';
import { replicationSettingsFrom } from '../../../src/broker/replica/replication-config.ts';
import { memoryDisk } from '../../../src/env/disk-memory.ts';
import { MetadataPublisher } from '../../../src/metadata/cache.ts';
import { batch, imageOf, ManualClock, MemoryLogs } from './helpers.ts';

void describe('high watermark checkpoint', () => {
  void it('round-trips and rejects malformed files', () => {
    const text = serializeHighWatermarks(
      new Map([
        ['a-0', { topic: 'a', partition: 0, hw: 12 }],
        ['b.c-3', { topic: 'b.c', partition: 3, hw: 0 }],
      ]),
    ).toString();
    assert.equal(text, '0\n2\na 0 12\nb.c 3 0\n');
    assert.deepEqual(
      parseHighWatermarks(text),
      new Map([
        ['a-0', 12],
        ['b.c-3', 0],
      ]),
    );
    assert.equal(parseHighWatermarks('1\n1\na 0 1\n').size, 0);
    assert.equal(parseHighWatermarks('0\n1\na x 1\n').size, 0);
  });

  void it('is written on close and read back when a partition opens', async () => {
    const clock = new ManualClock();
    const disk = memoryDisk();
    const logs = new MemoryLogs(clock);
    // This node (1) follows partition t-0 led by node 2, which is not around.
    const image = imageOf([{ name: 't', partitions: 1, leader: 2, replicas: [2, 1], isr: [2, 1], leaderEpoch: 3 }]);
    const start = () =>
      ReplicaManager.start({ nodeId: 1, clock, metadata: new MetadataPublisher(image), logs, logDir: '/data', disk });
    const first = await start();
    const log = logs.logs.get('t-0')!;
    const records = batch(5);
    await log.appendAsFollower(records);
    log.updateHighWatermark(4);
    await first.close();
    assert.deepEqual(await readHighWatermarks(disk, '/data'), new Map([['t-0', 4]]));

    log.updateHighWatermark(0); // as a freshly recovered log would start
    await log.truncateTo(5);
    const second = await start();
    assert.equal(second.getPartition('t', 0)?.highWatermark(), 4);
    assert.equal(second.getPartition('t', 0)?.isFollower(), true);
    second.abandon();
  });
});

void describe('replication settings from broker properties', () => {
  void it('reads the replica.* properties and keeps defaults for the rest', () => {
    const props: Record<string, string> = {
      'replica.lag.time.max.ms': '1500',
      'replica.fetch.wait.max.ms': 'x',
      'replica.selector.class': RACK_AWARE_REPLICA_SELECTOR,
    };
    const s = replicationSettingsFrom((n) => props[n]);
    assert.equal(s.replicaLagTimeMaxMs, 1500);
    assert.equal(s.replicaFetchWaitMaxMs, DEFAULT_REPLICATION_SETTINGS.replicaFetchWaitMaxMs);
    assert.equal(s.replicaSelectorClass, RACK_AWARE_REPLICA_SELECTOR);
    assert.equal(s.interBrokerListenerName, undefined);
  });
});
