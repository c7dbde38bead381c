/**
 * A partition leader that is not the active controller, cut off from the others
 * (cluster-isolation-scenario.ts has the scenario and what it checks).
 */
import { after, before, describe, it } from 'node:test';
import { isolateLeader } from './cluster-isolation-scenario.ts';
import { type ProcessCluster, startProcessCluster } from './cluster-process-helpers.ts';

void describe('a partition leader isolated from the cluster', { timeout: 180_000 }, () => {
  let cluster: ProcessCluster | undefined;
  before(async () => {
    cluster = await startProcessCluster({ nodes: 3, proxied: true });
  });
  after(async () => {
    await cluster?.close();
  });

  void it('acknowledges nothing alone; the others elect a leader; after healing every replica has exactly the acknowledged records', async (t) => {
    t.diagnostic(await isolateLeader(cluster!, { leaderIsController: false }));
  });
});
