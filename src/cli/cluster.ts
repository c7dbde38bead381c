/**
 * `runnel cluster`: the cluster id, the controller and the brokers.
 */
import type { Command } from 'commander';
import { action, addBootstrapOption, type BootstrapOptions, examples, withAdmin } from './common.ts';
import { formatTable } from './table.ts';

export function registerCluster(program: Command): void {
  addBootstrapOption(program.command('cluster').description('show the cluster id, the controller and the brokers'))
    .addHelpText('after', examples(['runnel cluster', 'runnel cluster --bootstrap-server kafka-1:9092']))
    .action(
      action(async (opts: BootstrapOptions) =>
        withAdmin(opts, async (admin) => {
          const c = await admin.describeCluster();
          const rows = [...c.brokers]
            .sort((a, b) => a.nodeId - b.nodeId)
            .map((b) => [b.nodeId, b.host, b.port, b.rack, b.nodeId === c.controller ? 'yes' : '']);
          process.stdout.write(
            `cluster id: ${c.clusterId ?? '-'}\ncontroller: ${c.controller >= 0 ? c.controller : '-'}\n\n` +
              `${formatTable(['id', 'host', 'port', 'rack', 'controller'], rows)}\n`,
          );
          return 0;
        }),
      ),
    );
}
