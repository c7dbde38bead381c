/**
 * Test harness for the group coordinator: a manual clock, an in-memory coordinator log
 * and a coordinator over them, with a fixed topic list for consumer-protocol groups.
 */

import { createHash } from 'node:crypto';
import { DEFAULT_GROUP_CONFIG, type GroupCoordinatorConfig } from '../../src/coordinator/group/config.ts';
import type { TopicLookup } from '../../src/coordinator/group/consumer-group.ts';
import { GroupCoordinator } from '../../src/coordinator/group/coordinator.ts';
import { MemoryCoordinatorLog } from '../../src/coordinator/runtime/memory-log.ts';
import { seededRandom } from '../../src/env/random.ts';
import { uuidFromBytes } from '../../src/protocol/codec/uuid.ts';
import { ManualClockBase } from '../helpers/manual-clock.ts';

/** The shared manual clock, letting the coordinator's queued operations finish around each timer. */
export class TestClock extends ManualClockBase {
  constructor() {
    super(1_700_000_000_000);
  }
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      await settle();
      if (!this.runNextDue(target)) break;
    }
    this.now = target;
    await settle();
  }
}

/** Lets queued promise chains run (operations, appends) without any wall-clock wait. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function fixedTopics(topics: Record<string, number>): TopicLookup & { set(name: string, n: number): void } {
  const ids = new Map<string, string>();
  const counts = new Map<string, number>(Object.entries(topics));
  const idOf = (name: string): string => {
    let id = ids.get(name);
    if (id === undefined) {
      id = uuidFromBytes(createHash('md5').update(name).digest());
      ids.set(name, id);
    }
    return id;
  };
  return {
    byName(name) {
      const n = counts.get(name);
      return n === undefined ? undefined : { topicId: idOf(name), numPartitions: n };
    },
    nameOf(topicId) {
      for (const [name, id] of ids) if (id === topicId) return name;
      return undefined;
    },
    names() {
      return counts.keys();
    },
    set(name, n) {
      counts.set(name, n);
    },
  };
}

export interface Harness {
  clock: TestClock;
  log: MemoryCoordinatorLog;
  coordinator: GroupCoordinator;
  config: GroupCoordinatorConfig;
  topics: ReturnType<typeof fixedTopics>;
  /** A new coordinator on the same log (a restart): every shard replayed. */
  restart(): Promise<GroupCoordinator>;
}

export async function harness(
  overrides: Partial<GroupCoordinatorConfig> = {},
  topics: Record<string, number> = { t: 4 },
): Promise<Harness> {
  const clock = new TestClock();
  const log = new MemoryCoordinatorLog();
  const config = { ...DEFAULT_GROUP_CONFIG, initialRebalanceDelayMs: 0, numPartitions: 5, ...overrides };
  const lookup = fixedTopics(topics);
  let seed = 1;
  const make = async (): Promise<GroupCoordinator> => {
    const c = new GroupCoordinator({ nodeId: 1, clock, random: seededRandom(seed++), config, log, topics: lookup });
    for (let p = 0; p < config.numPartitions; p++) await c.loadShard(p);
    return c;
  };
  const h: Harness = {
    clock,
    log,
    config,
    topics: lookup,
    coordinator: await make(),
    async restart() {
      await h.coordinator.close();
      h.coordinator = await make();
      return h.coordinator;
    },
  };
  return h;
}

/** A consumer-protocol subscription (version 0) for `topics`. */
export function subscription(topics: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 0])];
  const n = Buffer.alloc(4);
  n.writeInt32BE(topics.length);
  parts.push(n);
  for (const t of topics) {
    const len = Buffer.alloc(2);
    len.writeInt16BE(Buffer.byteLength(t));
    parts.push(len, Buffer.from(t));
  }
  parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  return Buffer.concat(parts);
}
