/**
 * A node that is both a partition's leader and the active controller, cut off from the
 * others: the two others elect a new active controller, which fences the lost node and
 * elects a new partition leader; nothing acknowledged is lost, nothing written alone is kept
 * (cluster-isolation-scenario.ts has the scenario and what it checks).
 */
import { after, before, describe, it } from 'node:test';
import { isolateLeader } from './cluster-isolation-scenario.ts';
import { type ProcessCluster, startProcessCluster } from './cluster-process-helpers.ts';

void describe('the active controller, leading a partition, isolated from the cluster', { timeout: 180_000 }, () => {
  let cluster: ProcessCluster | undefined;
  before(async () => {
    cluster = await startProcessCluster({ nodes: 3, proxied: true });
  });
  after(async () => {
    await cluster?.close();
  });

  void it('acknowledges nothing alone; the others elect a leader; after healing every replica has exactly the acknowledged records', async (t) => {
    t.diagnostic(await isolateLeader(cluster!, { leaderIsController: true }));
  });
});
