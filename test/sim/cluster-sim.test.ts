/**
 * The cluster simulation in CI (src/sim/cluster-run.ts): CLUSTER_SIM_SEEDS seeds (default
 * 140) of 3 brokers running the real replication core and a controller quorum of 3 Raft
 * nodes running the real controller decisions under faults, and CLUSTER_SIM_SINGLE_SEEDS
 * (default 100) with one controller process (--controllers 1), every invariant checked
 * after every event; the same seed replays the same trace; and planted bugs (and unclean
 * leader election) are caught within a bounded number of seeds, which shows the checker
 * can fail. A failure names the seed; `npm run sim -- --sim cluster --seed S --verbose`
 * replays it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { FollowerState } from '../../src/replication/follower.ts';
import { LeaderState, serveFollowerFetch } from '../../src/replication/leader.ts';
import type { PlantedBug } from '../../src/sim/cluster-broker.ts';
import { type ClusterSimOptions, runClusterSeed } from '../../src/sim/cluster-run.ts';
import { logConfig } from '../../src/storage/config.ts';
import { MemoryLog } from '../../src/storage/memory-log.ts';
import { batchOf, ManualClock } from '../storage/helpers.ts';

const SEEDS = Number(process.env.CLUSTER_SIM_SEEDS ?? 140);
const SINGLE_SEEDS = Number(process.env.CLUSTER_SIM_SINGLE_SEEDS ?? 100);
const FIRST = Number(process.env.CLUSTER_SIM_FIRST_SEED ?? 1);

/** The first seed in [1, limit] whose run fails, with its error. */
async function firstFailure(limit: number, options: Omit<ClusterSimOptions, 'seed'>) {
  for (let seed = 1; seed <= limit; seed++) {
    const r = await runClusterSeed({ ...options, seed });
    if (!r.ok) return { seed, error: r.error ?? '' };
  }
  return undefined;
}

void describe('cluster simulation', () => {
  void it('the same seed replays the same event trace', async () => {
    for (const [seed, controllers] of [
      [1, 3],
      [47, 3],
      [135, 1],
    ] as const) {
      const a = await runClusterSeed({ seed, controllers });
      const b = await runClusterSeed({ seed, controllers });
      assert.equal(a.ok, true, a.error);
      assert.equal(a.traceHash, b.traceHash, `seed ${seed}`);
      assert.equal(a.steps, b.steps);
      assert.equal(a.committed, b.committed);
      assert.equal(a.metadataBatches, b.metadataBatches);
    }
    const c = await runClusterSeed({ seed: 2 });
    const d = await runClusterSeed({ seed: 3 });
    assert.notEqual(c.traceHash, d.traceHash);
  });

  void it('through the wire bytes (generated codecs at their newest versions) a run is the same run', async () => {
    // With the quorum, the controllers' Raft RPCs go through their bytes too (src/raft/wire.ts).
    for (let seed = 100; seed < 108; seed++) {
      const controllers = seed < 105 ? 3 : 1;
      const plain = await runClusterSeed({ seed, controllers });
      const wire = await runClusterSeed({ seed, controllers, wire: true });
      assert.equal(wire.ok, true, wire.error);
      assert.equal(wire.traceHash, plain.traceHash, `seed ${seed}`);
    }
  });

  void it('--steps bounds a run', async () => {
    const r = await runClusterSeed({ seed: 7, maxSteps: 300 });
    assert.equal(r.steps, 300);
    assert.equal(r.ok, true);
  });

  // Found by seed 135: a new leader that had appended nothing in its epoch answered a
  // follower's fetch with DivergingEpoch -1/-1, which the follower ignores, so it kept
  // records of the old epoch the leader did not have, and the high watermark passed them.
  // An empty leader's epoch cache is read as Kafka's is after an election (only the
  // current epoch, from the log end): the older epoch ends at 0, the follower truncates.
  void it('a leader with nothing in its epoch cache answers the older epoch as ending at its log end; the follower truncates', async () => {
    const clock = new ManualClock();
    const leaderLog = new MemoryLog({ topic: 't', partition: 0, config: logConfig(), clock });
    const followerLog = new MemoryLog({ topic: 't', partition: 0, config: logConfig(), clock });
    await followerLog.append(batchOf(3), { leaderEpoch: 1 });
    const leader = new LeaderState({
      localId: 2,
      log: leaderLog,
      nowMs: 0,
      leaderEpoch: 2,
      partitionEpoch: 2,
      replicas: [1, 2, 3],
      isr: [1, 2, 3],
      minInsyncReplicas: 2,
    });
    const f = new FollowerState({
      topic: 't',
      topicId: 'id',
      partition: 0,
      leaderId: 2,
      leaderEpoch: 2,
      log: followerLog,
    });
    const p = f.fetchPartition(1 << 20);
    const { data } = await serveFollowerFetch(
      leader,
      leaderLog,
      {
        replicaId: 1,
        brokerEpoch: -1,
        currentLeaderEpoch: 2,
        fetchOffset: Number(p.fetchOffset),
        lastFetchedEpoch: p.lastFetchedEpoch,
        logStartOffset: 0,
        maxBytes: 1 << 20,
      },
      0,
    );
    assert.equal(data.errorCode, ErrorCode.NONE);
    assert.deepEqual(data.divergingEpoch, { epoch: 1, endOffset: 0n });
    assert.equal(leaderLog.highWatermark(), 0, 'the follower fetch did not count');
    const outcome = await f.handleResponse(data, 3, 0);
    assert.deepEqual(outcome, { kind: 'truncated', offset: 0 });
    assert.equal(followerLog.logEndOffset(), 0);
  });

  // Seed 5655: DeleteRecords moved the leader's log start inside a batch while a follower
  // had diverged; the leader's epoch cache starts the epoch at the log start, the follower
  // truncates there and the leader's next answer starts with the batch below it: the
  // append fails, as in Kafka (UnexpectedAppendOffsetException on a non-empty log), and
  // the follower stops following the partition until the leader epoch changes.
  void it('a follower append below its log end marks the partition failed, as Kafka does', async () => {
    const r = await runClusterSeed({ seed: 5655, controllers: 1 });
    assert.equal(r.ok, true, r.error);
    assert.ok(r.failedFollowers >= 1);
  });

  for (const [bug, limit] of [
    ['hw-is-leo', 20],
    ['ack-before-isr', 20],
  ] as [PlantedBug, number][]) {
    void it(`planted bug ${bug} is caught within ${limit} seeds`, async () => {
      const found = await firstFailure(limit, { bug });
      assert.ok(found, `no seed in 1..${limit} caught ${bug}`);
      assert.match(found.error, /InvariantViolation/);
    });
  }

  // The controller quorum's planted bug: the Raft leader acts as soon as it is elected,
  // before its epoch's LeaderChange is committed (so before it knows what is committed).
  void it('planted bug controller-acts-early is caught within 3 seeds', async () => {
    const found = await firstFailure(3, { controllerBug: 'controller-acts-early' });
    assert.ok(found, 'no seed in 1..3 caught controller-acts-early');
    assert.match(found.error, /acted before knowing the committed state/);
  });

  // And: it answers an operation as soon as Raft took its batch, before the batch commits.
  void it('planted bug answer-before-commit is caught within 3 seeds', async () => {
    const found = await firstFailure(3, { controllerBug: 'answer-before-commit' });
    assert.ok(found, 'no seed in 1..3 caught answer-before-commit');
    assert.match(found.error, /is told .* committed/);
  });

  void it('unclean leader election (a lagging replica elected) is caught as lost or diverged data', async () => {
    // One controller process: first found at seed 3 (with the quorum, at seed 5).
    const found = await firstFailure(80, { uncleanLeaderElection: true, controllers: 1 });
    assert.ok(found, 'no seed in 1..80 caught the data unclean election loses');
    assert.match(found.error, /below its high watermark|went back|lost|never committed/);
  });

  void it(`${SEEDS} seeds with a controller quorum keep every invariant, the Raft ones too, and every partition acknowledges again after faults heal`, {
    timeout: 300_000,
  }, async () => {
    const failures: string[] = [];
    let acknowledged = 0;
    let controllerCrashes = 0;
    let activations = 0;
    let notController = 0;
    let metadataBatches = 0;
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
      const r = await runClusterSeed({ seed });
      acknowledged += r.acknowledged;
      controllerCrashes += r.controllerCrashes;
      activations += r.controllerActivations ?? 0;
      notController += r.notControllerAnswers ?? 0;
      metadataBatches += r.metadataBatches ?? 0;
      if (!r.ok) {
        failures.push(
          `seed ${seed}: ${r.error?.split('\n')[0]} (replay: npm run sim -- --sim cluster --seed ${seed} --verbose)`,
        );
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(acknowledged > SEEDS * 20, 'the runs acknowledge records');
    assert.ok(metadataBatches > SEEDS * 5, 'the controllers commit metadata');
    if (SEEDS >= 50) {
      assert.ok(controllerCrashes > 0, 'controller nodes crash');
      assert.ok(activations > SEEDS, 'the active controller changes');
      assert.ok(notController > 0, 'brokers are sent to the active controller by NOT_CONTROLLER');
    }
  });

  void it(`${SINGLE_SEEDS} seeds with one controller process keep every invariant and every partition acknowledges again after faults heal`, {
    timeout: 300_000,
  }, async () => {
    const failures: string[] = [];
    let committed = 0;
    let acknowledged = 0;
    let consumed = 0;
    let leaderChanges = 0;
    let truncations = 0;
    let powerLosses = 0;
    let shutdowns = 0;
    let deletions = 0;
    for (let seed = FIRST; seed < FIRST + SINGLE_SEEDS; seed++) {
      const r = await runClusterSeed({ seed, controllers: 1 });
      committed += r.committed;
      acknowledged += r.acknowledged;
      consumed += r.consumed;
      leaderChanges += r.leaderChanges;
      truncations += r.truncations;
      powerLosses += r.powerLosses;
      shutdowns += r.controlledShutdowns;
      deletions += r.recordDeletions;
      if (!r.ok) {
        failures.push(
          `seed ${seed}: ${r.error?.split('\n')[0]} (replay: npm run sim -- --sim cluster --controllers 1 --seed ${seed} --verbose)`,
        );
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(acknowledged > SINGLE_SEEDS * 20, 'the runs acknowledge records');
    assert.ok(committed >= acknowledged, 'what was acknowledged is committed');
    assert.ok(consumed > 0, 'the consumer reads');
    if (SINGLE_SEEDS >= 100) {
      assert.ok(leaderChanges > SINGLE_SEEDS * 3, 'leadership moves');
      assert.ok(truncations > 0, 'some followers truncate diverged logs');
      assert.ok(powerLosses > 0, 'some runs lose unflushed writes');
      assert.ok(deletions > 0, 'DeleteRecords moves log starts');
      assert.ok(shutdowns > 0, 'some brokers shut down under the control of the controller');
    }
  });
});
