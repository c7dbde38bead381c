/**
 * A hand-driven cluster of RaftNodes for unit tests: time advances only when a test says
 * so, messages queue until delivered, and persistence is immediate (each call's work is
 * "durable" at once), so tests read as a sequence of protocol steps.
 */
import { seededRandom } from '../../src/env/random.ts';
import type { RaftConfig } from '../../src/raft/config.ts';
import { raftConfig } from '../../src/raft/config.ts';
import type { RaftListener } from '../../src/raft/raft.ts';
import { RaftNode } from '../../src/raft/raft.ts';
import type { LeaderAndEpoch, LogBatch, RaftMessage, SnapshotId } from '../../src/raft/types.ts';

export class Recorder implements RaftListener {
  committed: LogBatch[] = [];
  snapshots: SnapshotId[] = [];
  leaders: LeaderAndEpoch[] = [];
  handleCommit(batches: readonly LogBatch[]): void {
    this.committed.push(...batches);
  }
  handleLoadSnapshot(id: SnapshotId): void {
    this.snapshots.push(id);
    this.committed = [];
  }
  handleLeaderChange(leader: LeaderAndEpoch): void {
    this.leaders.push(leader);
  }
  dataRecords(): string[] {
    return this.committed.filter((b) => !b.control).flatMap((b) => b.records.map((r) => r.toString()));
  }
}

export class TestCluster {
  readonly nodes = new Map<number, RaftNode>();
  readonly listeners = new Map<number, Recorder>();
  nowMs = 0;
  queue: RaftMessage[] = [];
  /** Nodes whose messages (both ways) are dropped. */
  readonly isolated = new Set<number>();
  /** Links cut one way, "from>to". */
  readonly cut = new Set<string>();
  delivered: RaftMessage[] = [];

  constructor(
    readonly voters: number[],
    observers: number[] = [],
    private readonly overrides: Partial<RaftConfig> = {},
  ) {
    for (const id of [...voters, ...observers]) this.add(id);
  }

  add(id: number, recovered?: ConstructorParameters<typeof RaftNode>[0]['recovered']): RaftNode {
    const listener = new Recorder();
    const options: ConstructorParameters<typeof RaftNode>[0] = {
      config: raftConfig(id, this.voters, this.overrides),
      random: seededRandom(id * 7919),
      send: (m) => this.queue.push(m),
      nowMs: this.nowMs,
    };
    if (recovered) options.recovered = recovered;
    const node = new RaftNode(options);
    node.register(listener);
    this.nodes.set(id, node);
    this.listeners.set(id, listener);
    this.persist(node);
    return node;
  }

  node(id: number): RaftNode {
    return this.nodes.get(id)!;
  }

  private persist(node: RaftNode): void {
    if (node.pendingPersist()) node.persisted(node.log.endOffset(), this.nowMs);
  }

  private blocked(m: RaftMessage): boolean {
    return this.isolated.has(m.from) || this.isolated.has(m.to) || this.cut.has(`${m.from}>${m.to}`);
  }

  /** Delivers queued messages (and what they cause) until none is left. */
  deliverAll(limit = 10_000): void {
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > limit) throw new Error('message storm');
      const m = this.queue.shift()!;
      if (this.blocked(m)) continue;
      const node = this.nodes.get(m.to);
      if (!node) continue;
      this.delivered.push(m);
      node.handle(m, this.nowMs);
      this.persist(node);
    }
  }

  pollAll(): void {
    for (const node of this.nodes.values()) {
      node.poll(this.nowMs);
      this.persist(node);
    }
  }

  /** Advances time in steps, polling every node and delivering messages at each. */
  advance(ms: number, stepMs = 5): void {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      this.nowMs = Math.min(end, this.nowMs + stepMs);
      this.pollAll();
      this.deliverAll();
    }
  }

  leaders(): RaftNode[] {
    return [...this.nodes.values()].filter((n) => n.stateName() === 'leader');
  }

  leader(): RaftNode | undefined {
    const ls = this.leaders();
    return ls.length === 1 ? ls[0] : undefined;
  }

  /** Advances until exactly one leader exists whose high watermark covers its epoch. */
  electLeader(maxMs = 20_000): RaftNode {
    const end = this.nowMs + maxMs;
    while (this.nowMs < end) {
      this.advance(10);
      const l = this.leader();
      if (l && l.highWatermark() > 0 && l.log.lastEpoch() === l.epoch()) return l;
    }
    throw new Error('no leader elected');
  }

  append(records: string[]): number {
    const l = this.leader();
    if (!l) throw new Error('no leader');
    const offset = l.scheduleAppend(
      l.epoch(),
      records.map((r) => Buffer.from(r)),
      this.nowMs,
    );
    this.persist(l);
    return offset;
  }
}
