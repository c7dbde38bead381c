/**
 * What the simulator needs of a node type, so more than Raft voters can run under it.
 * (The cluster simulation's broker, cluster-broker.ts, follows the same discipline with a
 * richer crash: `crash(powerLoss)` keeps or drops the unflushed page cache, `start()`
 * recovers; Kafka's logs are not fsynced before acknowledging, replication is.) A process:
 *
 * - takes messages from the SimNetwork (`receive`), returning the promise of its work so
 *   the scheduler awaits it before the next event (nothing interleaves);
 * - keeps its durable state on its own memoryDisk, and makes it durable before the
 *   messages that announce it leave (the driver discipline of raft-node.ts);
 * - `crash()` drops everything in memory and what the disk had not fsynced;
 *   `restart()` recovers from the disk alone.
 */
import type { MemoryDisk } from '../env/disk-memory.ts';
import type { Routable } from './network.ts';

export interface SimProcess<M extends Routable> {
  readonly id: number;
  readonly disk: MemoryDisk;
  readonly up: boolean;
  receive(message: M): Promise<void> | undefined;
  crash(): void;
  restart(): Promise<void>;
}
