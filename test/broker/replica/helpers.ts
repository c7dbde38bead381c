/**
 * Helpers for replica/produce/fetch unit tests: a ReplicaManager over in-memory logs,
 * driven by a manual clock and a hand-built metadata image.
 */

import { FetchSessionCache } from '../../../src/broker/fetch/sessions.ts';
import { type LogProvider, ReplicaManager } from '../../../src/broker/replica/replica-manager.ts';
import { seededRandom } from '../../../src/env/random.ts';
import { MetadataPublisher } from '../../../src/metadata/cache.ts';
import { emptyImage, type MetadataImage, type PartitionImage, type TopicImage } from '../../../src/metadata/image.ts';
import { buildRecordBatch, type RecordInput } from '../../../src/protocol/records/index.ts';
import type { LogConfig } from '../../../src/storage/config.ts';
import { MemoryLog } from '../../../src/storage/memory-log.ts';
import type { PartitionLog } from '../../../src/storage/partition-log.ts';
import { ManualClock } from '../../storage/helpers.ts';

export { ManualClock };

export interface TopicSpec {
  name: string;
  partitions: number;
  topicId?: string;
  configs?: Record<string, string>;
  /** Leader of every partition (default node 1). */
  leader?: number;
  replicas?: number[];
  isr?: number[];
  leaderEpoch?: number;
}

let idCounter = 0;
export function topicIdFor(name: string): string {
  idCounter++;
  return Buffer.from(`${name}:${idCounter}`.padEnd(16, '.').slice(0, 16)).toString('base64url');
}

export function imageOf(specs: readonly TopicSpec[], base = emptyImage('test-cluster')): MetadataImage {
  const byName = new Map<string, TopicImage>();
  const byId = new Map<string, TopicImage>();
  const configs = new Map(base.configs);
  for (const s of specs) {
    const partitions = new Map<number, PartitionImage>();
    for (let i = 0; i < s.partitions; i++) {
      partitions.set(i, {
        partitionId: i,
        replicas: s.replicas ?? [s.leader ?? 1],
        isr: s.isr ?? s.replicas ?? [s.leader ?? 1],
        removingReplicas: [],
        addingReplicas: [],
        leader: s.leader ?? 1,
        leaderEpoch: s.leaderEpoch ?? 0,
        partitionEpoch: 0,
        leaderRecoveryState: 0,
      });
    }
    const topic: TopicImage = { name: s.name, topicId: s.topicId ?? topicIdFor(s.name), partitions };
    byName.set(s.name, topic);
    byId.set(topic.topicId, topic);
    if (s.configs) configs.set(`2:${s.name}`, new Map(Object.entries(s.configs)));
  }
  return { ...base, offset: base.offset + 1, topicsByName: byName, topicsById: byId, configs };
}

export class MemoryLogs implements LogProvider {
  readonly logs = new Map<string, MemoryLog>();
  constructor(private readonly clock: ManualClock) {}
  getOrCreateLog(topic: string, partition: number, config: LogConfig): Promise<PartitionLog> {
    const k = `${topic}-${partition}`;
    let log = this.logs.get(k);
    if (!log) {
      log = new MemoryLog({ topic, partition, config, clock: this.clock });
      this.logs.set(k, log);
    }
    return Promise.resolve(log);
  }
  deleteLog(topic: string, partition: number): Promise<void> {
    this.logs.delete(`${topic}-${partition}`);
    return Promise.resolve();
  }
}

export interface Harness {
  clock: ManualClock;
  publisher: MetadataPublisher;
  replicas: ReplicaManager;
  sessions: FetchSessionCache;
  logs: MemoryLogs;
  publish(specs: TopicSpec[]): Promise<void>;
}

export async function harness(
  specs: TopicSpec[],
  options: { nodeId?: number; sessionSlots?: number } = {},
): Promise<Harness> {
  const clock = new ManualClock();
  const image = imageOf(specs);
  const publisher = new MetadataPublisher(image, (err) => {
    throw err;
  });
  const logs = new MemoryLogs(clock);
  const replicas = await ReplicaManager.start({
    nodeId: options.nodeId ?? 1,
    clock,
    metadata: publisher,
    logs,
    logDir: '/data',
  });
  const sessions = new FetchSessionCache(clock, seededRandom(7), options.sessionSlots ?? 1000);
  return {
    clock,
    publisher,
    replicas,
    sessions,
    logs,
    async publish(next) {
      const previous = publisher.image();
      const image = imageOf(next, previous);
      const changed = new Map<string, Set<number>>();
      const created = new Set<string>();
      for (const t of image.topicsByName.values()) {
        const before = previous.topicsByName.get(t.name);
        if (before?.topicId !== t.topicId) created.add(t.topicId);
        changed.set(t.topicId, new Set(t.partitions.keys()));
      }
      const deleted = [...previous.topicsByName.values()].filter((t) => !image.topicsById.has(t.topicId));
      await publisher.publish(image, {
        createdTopics: created,
        changedPartitions: changed,
        deletedTopics: deleted,
        changedConfigs: new Set(next.filter((s) => s.configs).map((s) => `2:${s.name}`)),
        changedBrokers: new Set(),
        changedFeatures: false,
      });
    },
  };
}

export function batch(
  records: Partial<RecordInput>[] | number,
  opts: Parameters<typeof buildRecordBatch>[0] extends infer O ? Partial<O> : never = {},
): Buffer {
  const list: RecordInput[] =
    typeof records === 'number'
      ? Array.from({ length: records }, (_, i) => ({ key: `k${i}`, value: `v${i}`, timestamp: 1_700_000_000_000 }))
      : records.map((r) => ({ timestamp: 1_700_000_000_000, ...r }));
  return buildRecordBatch({ ...opts, records: list });
}
