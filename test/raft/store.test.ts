import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readWholeFile } from '../../src/env/disk.ts';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import { decodeRecordBatches } from '../../src/protocol/records/batch.ts';
import { parseQuorumVoters, raftConfig } from '../../src/raft/config.ts';
import { RaftNode } from '../../src/raft/raft.ts';
import { RaftStore } from '../../src/raft/store.ts';
import type { RaftMessage } from '../../src/raft/types.ts';
import { TestCluster } from './harness.ts';

async function persistAll(store: RaftStore, node: RaftNode): Promise<void> {
  const work = node.pendingPersist();
  if (!work) return;
  await store.write(work, node.log);
  await store.sync(node.log);
  node.persisted(node.log.endOffset(), 0);
}

void describe('raft store', () => {
  void it('recovers the quorum state (epoch, vote) after a crash, so a voter never votes twice in an epoch', async () => {
    const disk = memoryDisk();
    const config = raftConfig(2, [1, 2, 3]);
    let { store, recovered } = await RaftStore.open(disk, '/q', config.clusterId);
    const sent: RaftMessage[] = [];
    let node = new RaftNode({ config, random: seededRandom(1), send: (m) => sent.push(m), recovered, nowMs: 0 });
    const voteFor = (candidateId: number): RaftMessage => ({
      type: 'vote-request',
      preVote: false,
      from: candidateId,
      to: 2,
      correlationId: 1,
      body: {
        clusterId: config.clusterId,
        voterId: 2,
        topics: [
          {
            topicName: '__cluster_metadata',
            partitions: [
              {
                partitionIndex: 0,
                candidateEpoch: 4,
                candidateId,
                candidateDirectoryId: '',
                voterDirectoryId: '',
                lastOffsetEpoch: 0,
                lastOffset: 0n,
              },
            ],
          },
        ],
      },
    });
    node.handle(voteFor(1), 0);
    await persistAll(store, node);
    const granted = (m: RaftMessage | undefined): boolean =>
      m?.type === 'vote-response' && m.body.topics[0]!.partitions[0]!.voteGranted;
    assert.equal(granted(sent.pop()), true);
    disk.crash();
    ({ store, recovered } = await RaftStore.open(disk, '/q', config.clusterId));
    assert.deepEqual(recovered.quorum, { epoch: 4, leaderId: -1, votedId: 1 });
    node = new RaftNode({ config, random: seededRandom(1), send: (m) => sent.push(m), recovered, nowMs: 0 });
    node.handle(voteFor(3), 0);
    assert.equal(granted(sent.pop()), false);
    node.handle(voteFor(1), 0);
    assert.equal(granted(sent.pop()), true);
  });

  void it('keeps fsynced batches, drops an unsynced (torn) tail, and restores a snapshot with the log above it', async () => {
    const c = new TestCluster([1]);
    const leader = c.electLeader();
    for (let i = 0; i < 5; i++) c.append([`r${i}`]);
    c.advance(10);
    const disk = memoryDisk();
    const { store } = await RaftStore.open(disk, '/r', 'x');
    // Write everything the leader has, durably.
    await store.write({ logDirtyFrom: 0 }, leader.log);
    await store.sync(leader.log);
    // A snapshot at offset 3, then two more batches that never reach fsync.
    const snapEnd = leader.log.allBatches()[2]!.baseOffset + 1;
    leader.createSnapshot(snapEnd, Buffer.from('snap'));
    await store.write(
      { snapshot: { id: leader.log.latestSnapshot()!, data: Buffer.from('snap') }, logStartChanged: true },
      leader.log,
    );
    await store.sync(leader.log);
    const durableEnd = leader.log.endOffset();
    c.append(['t1']);
    c.append(['t2']);
    await store.write({ logDirtyFrom: durableEnd }, leader.log);
    disk.crash({ random: seededRandom(5) });
    const { recovered } = await RaftStore.open(disk, '/r', 'x');
    assert.equal(recovered.log.startOffset(), snapEnd);
    assert.deepEqual(recovered.log.latestSnapshot(), leader.log.latestSnapshot());
    assert.deepEqual(recovered.snapshotData, Buffer.from('snap'));
    assert.equal(recovered.log.endOffset(), durableEnd);
    assert.deepEqual(
      recovered.log.allBatches().map((b) => b.records.map(String)),
      leader.log
        .allBatches()
        .filter((b) => b.baseOffset < durableEnd)
        .map((b) => b.records.map(String)),
    );
  });

  void it('a truncation below what was written cuts the file', async () => {
    const c = new TestCluster([1]);
    const leader = c.electLeader();
    for (let i = 0; i < 4; i++) c.append([`r${i}`]);
    const disk = memoryDisk();
    const { store } = await RaftStore.open(disk, '/t', 'x');
    await store.write({ logDirtyFrom: 0 }, leader.log);
    await store.sync(leader.log);
    const cut = leader.log.allBatches()[2]!.baseOffset;
    leader.log.truncateTo(cut);
    await store.write({ logDirtyFrom: cut }, leader.log);
    await store.sync(leader.log);
    disk.crash();
    const { recovered } = await RaftStore.open(disk, '/t', 'x');
    assert.equal(recovered.log.endOffset(), cut);
    // The log file is plain Kafka record batches (a .log segment's bytes).
    const bytes = (await readWholeFile(disk, '/t/log'))!;
    const rbs = decodeRecordBatches(bytes);
    assert.deepEqual(
      rbs.map((b) => [b.baseOffset, b.partitionLeaderEpoch, b.isControl]),
      recovered.log.allBatches().map((b) => [b.baseOffset, b.epoch, b.control]),
    );
    assert.equal(rbs[0]!.isControl, true, 'the LeaderChange control batch comes first');
  });
});

void describe('raft config', () => {
  void it('parses controller.quorum.voters', () => {
    assert.deepEqual(parseQuorumVoters('1@localhost:9093, 2@[::1]:9094,3@h3:9095'), [
      { id: 1, host: 'localhost', port: 9093 },
      { id: 2, host: '::1', port: 9094 },
      { id: 3, host: 'h3', port: 9095 },
    ]);
    assert.throws(() => parseQuorumVoters('1@a:1,1@b:2'), /twice/);
    assert.throws(() => parseQuorumVoters('x@a:1'), /id@host:port/);
    assert.throws(() => parseQuorumVoters(''), /no voters/);
  });
});
