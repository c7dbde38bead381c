import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import { ReplicaManager } from '../../../src/broker/replica/replica-manager.ts';
import { memoryDisk } from '../../../src/env/disk-memory.ts';
import { MetadataPublisher } from '../../../src/metadata/cache.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { LogManager } from '../../../src/storage/log-manager.ts';
import { batch, harness, imageOf, ManualClock } from './helpers.ts';

void describe('replica manager', () => {
  void it('follows the image: creates, reconfigures, moves, deletes and re-creates partitions', async () => {
    const h = await harness([{ name: 'a', partitions: 2 }]);
    assert.equal(h.replicas.allPartitions().length, 2);
    assert.ok(h.replicas.getPartition('a', 1)?.isLeader());
    const id = h.replicas.topicId('a')!;
    await h.publish([{ name: 'a', topicId: id, partitions: 2, configs: { 'max.message.bytes': '100' } }]);
    assert.equal(h.replicas.getPartition('a', 0)!.config.maxMessageBytes, 100);
    await h.publish([{ name: 'a', topicId: id, partitions: 2, leader: 2, replicas: [1, 2], leaderEpoch: 1 }]);
    assert.equal(h.replicas.getPartition('a', 0)!.isLeader(), false);
    assert.equal(h.replicas.lookupLeader('a', 0).errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    await h.publish([{ name: 'a', topicId: id, partitions: 2, leader: 2, replicas: [2] }]);
    assert.equal(h.replicas.getPartition('a', 0), undefined, 'no longer a replica here');
    assert.equal(h.logs.logs.size, 0);
    await h.publish([]);
    assert.equal(h.replicas.lookupLeader('a', 0).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    await h.publish([{ name: 'a', partitions: 1 }]);
    assert.notEqual(h.replicas.topicId('a'), id);
    assert.ok(h.replicas.getPartition('a', 0)?.isLeader());
    await h.replicas.close();
  });

  void it('producer state survives restarts: snapshot at clean close, log replay after a crash', async () => {
    const disk = memoryDisk();
    const clock = new ManualClock();
    const image = imageOf([{ name: 't', partitions: 1 }]);
    const open = async () => {
      const logs = await LogManager.open({ dataDir: '/data', disk, clock });
      const replicas = await ReplicaManager.start({
        nodeId: 1,
        clock,
        metadata: new MetadataPublisher(image),
        logs,
        logDir: '/data',
        disk,
      });
      return { logs, replicas };
    };
    const send = async (replicas: ReplicaManager, records: Buffer) => {
      const { response } = await handleProduce(
        {
          transactionalId: null,
          acks: -1,
          timeoutMs: 1000,
          topicData: [{ name: 't', partitionData: [{ index: 0, records }] }],
        },
        9,
        { replicas, nowMs: () => clock.nowMs() },
      );
      return response.responses[0]!.partitionResponses[0]!;
    };
    const idem = (pid: bigint, seq: number) => batch(2, { producerId: pid, producerEpoch: 0, baseSequence: seq });

    let b = await open();
    assert.equal((await send(b.replicas, idem(1n, 0))).baseOffset, 0n);
    assert.equal((await send(b.replicas, idem(1n, 2))).baseOffset, 2n);
    await b.replicas.close();
    await b.logs.close();
    assert.ok((await disk.readdir('/data/t-0')).includes('00000000000000000004.snapshot'));

    // Clean restart: from the snapshot.
    b = await open();
    assert.equal((await send(b.replicas, idem(1n, 2))).baseOffset, 2n, 'duplicate found');
    assert.equal((await send(b.replicas, idem(2n, 0))).baseOffset, 4n);
    await b.replicas.tick(); // periodic snapshot at offset 6
    assert.equal((await send(b.replicas, idem(2n, 2))).baseOffset, 6n);
    // Crash: nothing more written; the snapshot at 6 plus the log tail rebuild the state.
    b.replicas.abandon();
    b.logs.abandon();
    disk.crash({ keepUnflushed: true });

    b = await open();
    assert.equal((await send(b.replicas, idem(2n, 2))).baseOffset, 6n, 'duplicate from the log tail');
    assert.equal((await send(b.replicas, idem(1n, 2))).baseOffset, 2n, 'duplicate from the snapshot');
    const gap = await send(b.replicas, idem(2n, 9));
    assert.equal(gap.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    // Without any snapshot: everything from the log.
    b.replicas.abandon();
    b.logs.abandon();
    for (const name of await disk.readdir('/data/t-0')) {
      if (name.endsWith('.snapshot')) await disk.unlink(`/data/t-0/${name}`);
    }
    b = await open();
    assert.equal((await send(b.replicas, idem(1n, 0))).baseOffset, 0n);
    assert.equal((await send(b.replicas, idem(2n, 4))).baseOffset, 8n);
    await b.replicas.close();
    await b.logs.close();
  });

  void it('nodeEndpoints: the listener endpoints of leaders (KIP-951)', async () => {
    const base = imageOf([{ name: 'a', partitions: 1, leader: 2, replicas: [2] }]);
    const broker = (nodeId: number, port: number) => ({
      nodeId,
      incarnationId: 'x',
      brokerEpoch: 1,
      endpoints: [{ name: 'PLAINTEXT', host: '10.0.0.1', port, securityProtocol: 0 }],
      rack: null,
      fenced: false,
      inControlledShutdown: false,
      logDirs: [],
    });
    const image = {
      ...base,
      brokers: new Map([
        [2, broker(2, 9092)],
        [3, broker(3, 9093)],
      ]),
    };
    const replicas = await ReplicaManager.start({
      nodeId: 1,
      clock: new ManualClock(),
      metadata: new MetadataPublisher(image),
      logs: { getOrCreateLog: () => Promise.reject(new Error('none here')), deleteLog: () => Promise.resolve() },
      logDir: '/data',
    });
    assert.deepEqual(replicas.nodeEndpoints([2, 2, 7], 'PLAINTEXT'), [
      { nodeId: 2, host: '10.0.0.1', port: 9092, rack: null },
    ]);
    assert.deepEqual(replicas.nodeEndpoints([3], 'OTHER'), []);
    await replicas.close();
  });

  void it('expires idle producers on the tick that follows an append (no timers)', async () => {
    const h = await harness([{ name: 't', partitions: 1 }]);
    const send = async (records: Buffer) =>
      handleProduce(
        {
          transactionalId: null,
          acks: 1,
          timeoutMs: 1000,
          topicData: [{ name: 't', partitionData: [{ index: 0, records }] }],
        },
        9,
        { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
      );
    const now = h.clock.nowMs();
    await send(batch([{ key: 'a', timestamp: now }], { producerId: 5n, producerEpoch: 0, baseSequence: 0 }));
    const p = h.replicas.getPartition('t', 0)!;
    assert.ok(p.producers.entry(5n));
    h.clock.advance(86_400_000 + 600_000);
    await send(batch([{ key: 'b', timestamp: h.clock.nowMs() }]));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(p.producers.entry(5n), undefined, 'expired after producer.id.expiration.ms');
    await h.replicas.close();
  });
});
