/**
 * The built-in consumer group assignors of the classic protocol, by the names the Java client
 * advertises in JoinGroup (`partition.assignment.strategy`): range, roundrobin, sticky and
 * cooperative-sticky.
 */
import { rangeAssignor } from './range.ts';
import { roundRobinAssignor } from './round-robin.ts';
import { cooperativeStickyAssignor, stickyAssignor } from './sticky.ts';
import type { Assignor } from './types.ts';

export { rangeAssignor } from './range.ts';
export { roundRobinAssignor } from './round-robin.ts';
export { cooperativeStickyAssignor, stickyAssignor } from './sticky.ts';
export * from './types.ts';

export const BUILT_IN_ASSIGNORS: ReadonlyMap<string, Assignor> = new Map(
  [rangeAssignor, roundRobinAssignor, stickyAssignor, cooperativeStickyAssignor].map((a) => [a.name, a]),
);
