/**
 * Failover of the active controller, repeated: on three broker+controller nodes, kill the
 * active controller (a crash: nothing flushed, sockets dropped), expect another node to be
 * the active controller within a few seconds, restart the killed node and expect it back as
 * a follower of that leader with the metadata log caught up. Each round also creates a
 * topic through the new controller, so the quorum commits between kills.
 *
 * CI runs a few rounds; RUNNEL_FAILOVER_ROUNDS=N runs more (the soak used to hunt the
 * intermittent leaderless quorum; see docs/raft.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestCluster, type TestCluster } from './cluster-fixture.ts';

const ROUNDS = Number(process.env.RUNNEL_FAILOVER_ROUNDS ?? '3');
/** How long the quorum may stay without an active controller after a kill. */
const FAILOVER_LIMIT_MS = Number(process.env.RUNNEL_FAILOVER_LIMIT_MS ?? '5000');

function describeNodes(cluster: TestCluster): string {
  const out: string[] = [];
  for (let i = 1; i <= cluster.size; i++) {
    if (!cluster.isRunning(i)) {
      out.push(`node ${i}: down`);
      continue;
    }
    const b = cluster.broker(i);
    const q = b.raft.node.quorumState();
    out.push(
      `node ${i}: ${b.raft.node.stateName()} epoch ${b.raft.node.epoch()} leader ${b.raft.leaderAndEpoch().leaderId} ` +
        `hw ${b.raft.highWatermark()} end ${b.raft.node.flushedEndOffset()} active ${b.controller?.isActive() === true} ` +
        `quorum ${JSON.stringify(q)} driver failure ${String(b.raft.failure)} dropped ${b.raft.droppedMessages}\n` +
        `  state ${JSON.stringify((b.raft.node as unknown as { state: unknown }).state, (_k, v) => (v instanceof Map || v instanceof Set ? [...v] : v))} now ${performance.now()}`,
    );
  }
  return out.join('\n');
}

void describe(`controller failover, ${ROUNDS} rounds of kill -> new leader -> restart`, () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster({ brokers: 3 });
    await cluster.waitFor(() => cluster.activeController() !== undefined, 20_000, 'an active controller');
  });
  after(async () => {
    await cluster?.close();
  });

  void it('a new active controller after each kill; the killed node rejoins as a follower', async (t) => {
    const failovers: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const old = cluster.activeController();
      assert.ok(old !== undefined, `round ${round}: an active controller before the kill`);
      const victim = old.nodeId;
      const oldEpoch = old.raft.node.epoch();
      await cluster.kill(victim);
      const killedAt = Date.now();
      try {
        await cluster.waitFor(
          () => {
            const now = cluster.activeController();
            return now !== undefined && now.nodeId !== victim && now.raft.node.epoch() > oldEpoch;
          },
          FAILOVER_LIMIT_MS,
          `round ${round}: a new active controller after killing node ${victim}`,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${describeNodes(cluster)}`);
      }
      failovers.push(Date.now() - killedAt);
      const leader = cluster.activeController()!;
      // The new controller commits: a topic created through it shows in its image.
      const [created] = await leader.controller!.createTopics(
        [{ name: `failover-${round}`, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
        false,
      );
      assert.equal(created?.errorCode, 0, `round ${round}: topic created (${created?.errorMessage})`);

      await cluster.restart(victim);
      try {
        await cluster.waitFor(
          () => {
            const back = cluster.broker(victim);
            const now = cluster.activeController();
            return (
              now !== undefined &&
              back.raft.node.stateName() === 'follower' &&
              back.raft.leaderAndEpoch().leaderId === now.nodeId &&
              back.raft.highWatermark() >= now.raft.highWatermark() - 1 &&
              back.controller?.image().topicsByName.has(`failover-${round}`) === true
            );
          },
          15_000,
          `round ${round}: node ${victim} back as a follower with the log caught up`,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${describeNodes(cluster)}`);
      }
    }
    t.diagnostic(`failover ms per round: ${failovers.join(', ')}`);
  });
});
