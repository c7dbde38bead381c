import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeQuorum } from '../../src/raft/describe-quorum.ts';
import { RaftAppendError } from '../../src/raft/raft.ts';
import { TestCluster } from './harness.ts';

void describe('raft: election', () => {
  void it('elects one leader, commits its LeaderChange batch first, and followers learn the high watermark', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    assert.equal(c.leaders().length, 1);
    assert.equal(leader.epoch(), 1);
    const first = leader.log.allBatches()[0]!;
    assert.equal(first.control, true);
    assert.equal(first.epoch, 1);
    c.append(['a', 'b']);
    c.advance(100);
    for (const id of [1, 2, 3]) {
      assert.equal(c.node(id).highWatermark(), 3, `node ${id}`);
      assert.deepEqual(c.listeners.get(id)!.dataRecords(), ['a', 'b']);
      assert.equal(c.node(id).epoch(), 1);
    }
    for (const id of [1, 2, 3]) if (c.node(id) !== leader) assert.equal(c.node(id).stateName(), 'follower');
  });

  void it('a single voter elects itself', () => {
    const c = new TestCluster([1]);
    const leader = c.electLeader();
    assert.equal(leader.config.nodeId, 1);
    c.append(['x']);
    c.advance(10);
    assert.deepEqual(c.listeners.get(1)!.dataRecords(), ['x']);
  });

  void it('scheduleAppend refuses a stale epoch and a non-leader', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    assert.throws(
      () => leader.scheduleAppend(leader.epoch() + 1, [Buffer.from('x')], c.nowMs),
      (e: unknown) => e instanceof RaftAppendError && e.kind === 'not-leader',
    );
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    assert.throws(
      () => follower.scheduleAppend(leader.epoch(), [Buffer.from('x')], c.nowMs),
      (e: unknown) => e instanceof RaftAppendError && e.kind === 'not-leader',
    );
  });

  void it('an observer follows the leader without voting and never counts toward the high watermark', () => {
    const c = new TestCluster([1, 2, 3], [9]);
    c.electLeader();
    c.append(['m']);
    c.advance(3000);
    const observer = c.node(9);
    assert.equal(observer.stateName(), 'follower');
    assert.deepEqual(c.listeners.get(9)!.dataRecords(), ['m']);
    // With two voters gone, the leader cannot commit even though the observer fetches.
    const leader = c.leader()!;
    for (const id of [1, 2, 3]) if (id !== leader.config.nodeId) c.isolated.add(id);
    const hw = leader.highWatermark();
    c.append(['n']);
    c.advance(500);
    assert.equal(leader.highWatermark(), hw);
  });
});

void describe('raft: pre-vote (KIP-996)', () => {
  void it('a partitioned voter does not bump the epoch, and rejoins as a follower without disturbing the leader', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    const epoch = leader.epoch();
    const lonely = [1, 2, 3].find((id) => id !== leader.config.nodeId)!;
    c.isolated.add(lonely);
    c.advance(20_000);
    // It kept trying pre-votes, never became a candidate: its epoch did not move.
    assert.equal(c.node(lonely).epoch(), epoch);
    assert.equal(c.node(lonely).stateName(), 'prospective');
    c.isolated.delete(lonely);
    c.advance(3000);
    assert.equal(c.leader(), leader);
    assert.equal(leader.epoch(), epoch);
    assert.equal(c.node(lonely).stateName(), 'follower');
    assert.ok(leader.stats.preVotesRejected + (c.node(lonely).stats.elections === 0 ? 1 : 0) >= 1);
  });

  void it('followers of a live leader reject pre-votes; with the leader gone a new one is elected in the next epoch', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    const epoch = leader.epoch();
    c.isolated.add(leader.config.nodeId);
    c.advance(10_000);
    const next = c.leaders().find((n) => n !== leader);
    assert.ok(next, 'a new leader');
    assert.ok(next.epoch() > epoch);
    // The old leader resigned on check-quorum.
    assert.notEqual(leader.stateName(), 'leader');
  });

  void it('followers whose fetch timeouts fire at different times still elect a leader when the leader dies', () => {
    // Regression: a prospective voter went back to following the dead leader whenever the other
    // voter (not yet timed out, or just sent back itself) named it in its vote answer; with the
    // two timeouts out of phase they undid each other's pre-vote round forever.
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    const l = leader.config.nodeId;
    const epoch = leader.epoch();
    const [early, late] = [1, 2, 3].filter((id) => id !== l);
    // `early` stops hearing the leader half a fetch timeout before `late` does.
    c.cut.add(`${l}>${early}`);
    c.advance(leader.config.fetchTimeoutMs / 2);
    c.isolated.add(l);
    c.advance(10_000);
    const next = c.leaders().find((n) => n !== leader);
    assert.ok(next, `a new leader: ${early} is ${c.node(early!).stateName()}, ${late} is ${c.node(late!).stateName()}`);
    assert.ok(next.epoch() > epoch);
  });
});

void describe('raft: log divergence', () => {
  void it('a deposed leader truncates its uncommitted batches to the new leader`s log', () => {
    const c = new TestCluster([1, 2, 3]);
    const old = c.electLeader();
    c.append(['committed']);
    c.advance(100);
    // Cut the leader off; it appends batches nobody else sees.
    c.isolated.add(old.config.nodeId);
    old.scheduleAppend(old.epoch(), [Buffer.from('lost-1')], c.nowMs);
    old.scheduleAppend(old.epoch(), [Buffer.from('lost-2'), Buffer.from('lost-3')], c.nowMs);
    c.advance(8000);
    const fresh = c.leaders().find((n) => n !== old)!;
    assert.ok(fresh);
    c.append(['new-1']);
    c.advance(100);
    c.isolated.delete(old.config.nodeId);
    c.advance(3000);
    assert.equal(old.stateName(), 'follower');
    assert.ok(old.stats.truncations >= 1);
    const recs = c.listeners.get(old.config.nodeId)!.dataRecords();
    assert.deepEqual(recs, ['committed', 'new-1']);
    // Same log everywhere.
    const logOf = (id: number): string =>
      c
        .node(id)
        .log.allBatches()
        .map((b) => `${b.baseOffset}:${b.epoch}:${b.records.length}`)
        .join(',');
    assert.equal(logOf(1), logOf(2));
    assert.equal(logOf(2), logOf(3));
  });
});

void describe('raft: snapshots', () => {
  void it('a follower behind the log start fetches the snapshot in chunks and resumes from its end', () => {
    const c = new TestCluster([1, 2, 3], [], { snapshotChunkBytes: 10 });
    const leader = c.electLeader();
    const lagging = [1, 2, 3].find((id) => id !== leader.config.nodeId)!;
    c.isolated.add(lagging);
    for (let i = 0; i < 10; i++) c.append([`r${i}`]);
    c.advance(100);
    const hw = leader.highWatermark();
    const data = Buffer.from('state-machine-at-the-high-watermark');
    const id = leader.createSnapshot(hw, data);
    assert.equal(leader.log.startOffset(), hw);
    c.append(['after']);
    c.isolated.delete(lagging);
    c.advance(2000);
    const f = c.node(lagging);
    assert.equal(f.stats.snapshotsFetched, 1);
    assert.deepEqual(c.listeners.get(lagging)!.snapshots, [id]);
    assert.deepEqual(f.latestSnapshotData(), data);
    assert.equal(f.log.startOffset(), hw);
    assert.deepEqual(c.listeners.get(lagging)!.dataRecords(), ['after']);
    assert.equal(f.highWatermark(), leader.highWatermark());
  });

  void it('createSnapshot refuses an offset above the high watermark', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    assert.throws(() => leader.createSnapshot(leader.highWatermark() + 5, Buffer.alloc(1)), RangeError);
  });
});

void describe('raft: check quorum and resignation', () => {
  void it('a leader that hears from no majority within 1.5 x fetch timeout resigns', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    const others = [1, 2, 3].filter((id) => id !== leader.config.nodeId);
    for (const id of others) c.cut.add(`${id}>${leader.config.nodeId}`);
    const t0 = c.nowMs;
    while (leader.stateName() === 'leader' && c.nowMs - t0 < 10_000) c.advance(10);
    assert.equal(leader.stateName() === 'leader', false);
    const waited = c.nowMs - t0;
    assert.ok(waited >= 2000 && waited <= 3000 + 600, `resigned after ${waited} ms`);
    assert.equal(leader.stats.checkQuorumResignations, 1);
  });

  void it('graceful resignation: EndQuorumEpoch makes a successor take over quickly', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    const epoch = leader.epoch();
    leader.resign(c.nowMs);
    const t0 = c.nowMs;
    let next = c.leaders().find((n) => n !== leader);
    while (!next && c.nowMs - t0 < 5000) {
      c.advance(5);
      next = c.leaders().find((n) => n !== leader);
    }
    assert.ok(next);
    assert.equal(next.epoch(), epoch + 1);
    assert.ok(c.nowMs - t0 < 1000, `took ${c.nowMs - t0} ms`);
  });
});

void describe('raft: votes', () => {
  void it('grants one vote per epoch and refuses a candidate with a shorter log', () => {
    const c = new TestCluster([1, 2, 3]);
    c.electLeader();
    c.append(['x']);
    c.advance(100);
    const voter = c.node(2);
    const epoch = voter.epoch();
    const ask = (candidateId: number, lastOffset: number, lastEpoch: number): boolean => {
      c.queue = [];
      voter.handle(
        {
          type: 'vote-request',
          preVote: false,
          from: candidateId,
          to: 2,
          correlationId: 999,
          body: {
            clusterId: 'runnel-cluster',
            voterId: 2,
            topics: [
              {
                topicName: '__cluster_metadata',
                partitions: [
                  {
                    partitionIndex: 0,
                    candidateEpoch: epoch + 5,
                    candidateId,
                    candidateDirectoryId: '',
                    voterDirectoryId: '',
                    lastOffsetEpoch: lastEpoch,
                    lastOffset: BigInt(lastOffset),
                  },
                ],
              },
            ],
          },
        },
        c.nowMs,
      );
      const res = c.queue.find((m) => m.type === 'vote-response');
      assert.ok(res && res.type === 'vote-response');
      return res.body.topics[0]!.partitions[0]!.voteGranted;
    };
    assert.equal(ask(3, 0, 0), false, 'shorter log');
    assert.equal(voter.epoch(), epoch + 5, 'a real vote request of a higher epoch moves the voter there');
    assert.equal(ask(3, 100, epoch), true);
    assert.equal(voter.quorumState().votedId, 3);
    assert.equal(ask(1, 100, epoch), false, 'already voted for 3 in this epoch');
    assert.equal(ask(3, 100, epoch), true, 'the same candidate again');
  });
});

void describe('raft: DescribeQuorum', () => {
  void it('the leader describes voters and observers; a follower points at the leader', () => {
    const c = new TestCluster([1, 2, 3], [7]);
    const leader = c.electLeader();
    c.append(['x']);
    c.advance(1000);
    const d = describeQuorum(leader, c.nowMs, (ms) => 1_700_000_000_000 + ms);
    const p = d.topics[0]!.partitions[0]!;
    assert.equal(p.errorCode, 0);
    assert.equal(p.leaderId, leader.config.nodeId);
    assert.equal(p.highWatermark, BigInt(leader.highWatermark()));
    assert.deepEqual(
      p.currentVoters.map((v) => v.replicaId),
      [1, 2, 3],
    );
    for (const v of p.currentVoters) assert.equal(v.logEndOffset, BigInt(leader.log.endOffset()));
    assert.deepEqual(
      p.observers.map((o) => o.replicaId),
      [7],
    );
    const follower = [...c.nodes.values()].find((n) => n.stateName() === 'follower')!;
    const f = describeQuorum(follower, c.nowMs, (ms) => ms).topics[0]!.partitions[0]!;
    assert.equal(f.errorCode, 6);
    assert.equal(f.leaderId, leader.config.nodeId);
  });
});

void describe('raft: bounds', () => {
  void it('a leader that cannot commit refuses appends beyond maxUncommittedRecords (back-pressure)', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    for (const id of [1, 2, 3]) if (id !== leader.config.nodeId) c.isolated.add(id);
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; i < 20_000 && refused === undefined; i++) {
      try {
        leader.scheduleAppend(leader.epoch(), [Buffer.from('x')], c.nowMs);
        accepted++;
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof RaftAppendError && refused.kind === 'buffer-full');
    assert.equal(accepted, 10_000);
  });
});
