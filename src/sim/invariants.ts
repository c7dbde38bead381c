/**
 * Safety invariants, checked after every simulated event (a violation throws
 * InvariantViolation, which the runner reports with the seed):
 *
 * 1. at most one leader per epoch, and a new leader's log holds every committed batch;
 * 2. a node's epoch never goes back while it runs, and a restart recovers at least the
 *    epoch it had fsynced (an epoch held only in memory, never announced, may be lost);
 * 3. a node's high watermark never goes back, across restarts too (after a restart it
 *    is unknown until learned, and then at least what it was);
 * 4. committed batches are identical everywhere: the first node whose high watermark
 *    passes a batch records it, every other node's batch at that offset must match, and
 *    every state machine's hash at an applied offset must match;
 * 5. committed entries are never lost: the newest committed batch is durable (fsynced,
 *    or covered by a snapshot) on a majority of voters, counting a down node by what its
 *    disk held when it crashed (every committed batch, at the end of a run); and a
 *    restarted node recovers everything it had fsynced.
 */
import type { RaftLog } from '../raft/log.ts';
import type { LogBatch } from '../raft/types.ts';
import { batchEnd } from '../raft/types.ts';
import type { SimRaftNode } from './raft-node.ts';

export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

function batchKey(b: LogBatch): string {
  let s = `${b.epoch}/${b.records.length}`;
  for (const r of b.records) s += `|${r.toString('latin1')}`;
  return s;
}

export class InvariantChecker {
  private readonly leaderOfEpoch = new Map<number, number>();
  private readonly maxEpoch = new Map<number, number>();
  private readonly maxHw = new Map<number, number>();
  /** Committed batches by base offset. */
  readonly committed = new Map<number, string>();
  /** Base offsets of committed batches, in order, and the end of the committed log. */
  private readonly committedBases: number[] = [];
  committedEnd = 0;
  /** State machine hash at each applied offset (first node to apply it sets it). */
  private readonly hashAt = new Map<number, number>();
  /** Per node: committed batches below this offset were compared. */
  private readonly checkedUpTo = new Map<number, number>();
  checks = 0;

  constructor(
    private readonly nodes: readonly SimRaftNode[],
    private readonly voters: readonly number[],
  ) {}

  private fail(message: string): never {
    throw new InvariantViolation(message);
  }

  /** A node applied batches: record/compare them and its state machine hash. */
  onCommit(node: SimRaftNode, batches: readonly LogBatch[]): void {
    for (const b of batches) this.recordCommitted(node.id, b);
    const m = node.machine;
    const h = this.hashAt.get(m.appliedOffset);
    if (h === undefined) this.hashAt.set(m.appliedOffset, m.hash);
    else if (h !== m.hash) this.fail(`node ${node.id}: state machine hash at ${m.appliedOffset} differs`);
  }

  private recordCommitted(nodeId: number, b: LogBatch): void {
    const key = this.committed.get(b.baseOffset);
    if (key === undefined) {
      if (b.baseOffset !== this.committedEnd) {
        if (b.baseOffset > this.committedEnd)
          this.fail(`node ${nodeId}: committed batch at ${b.baseOffset} leaves a gap at ${this.committedEnd}`);
        this.fail(`node ${nodeId}: committed batch at ${b.baseOffset} is not a committed batch boundary`);
      }
      this.committed.set(b.baseOffset, batchKey(b));
      this.committedBases.push(b.baseOffset);
      this.committedEnd = batchEnd(b);
    } else if (key !== batchKey(b)) {
      this.fail(`node ${nodeId}: committed batch at ${b.baseOffset} differs: ${batchKey(b)} vs ${key}`);
    }
  }

  /** A node restarted: its recovered log must hold everything it had fsynced. */
  onRestart(node: SimRaftNode): void {
    const raft = node.raft;
    if (!raft) return;
    const recovered = raft.log;
    if (recovered.endOffset() < node.lastFlushedEnd && recovered.startOffset() < node.lastFlushedEnd) {
      this.fail(
        `node ${node.id}: recovered log ends at ${recovered.endOffset()}, had fsynced up to ${node.lastFlushedEnd}`,
      );
    }
    this.checkedUpTo.set(node.id, recovered.startOffset());
    if (raft.epoch() < node.durableEpoch) {
      this.fail(`node ${node.id}: recovered epoch ${raft.epoch()}, had fsynced epoch ${node.durableEpoch}`);
    }
    this.maxEpoch.set(node.id, raft.epoch());
  }

  /** After every event. */
  check(): void {
    this.checks++;
    for (const node of this.nodes) {
      const raft = node.raft;
      if (!node.up || !raft) continue;
      const epoch = raft.epoch();
      const prevEpoch = this.maxEpoch.get(node.id) ?? 0;
      if (epoch < prevEpoch) this.fail(`node ${node.id}: epoch went back from ${prevEpoch} to ${epoch}`);
      this.maxEpoch.set(node.id, epoch);
      if (raft.stateName() === 'leader') {
        const other = this.leaderOfEpoch.get(epoch);
        if (other === undefined) {
          this.leaderOfEpoch.set(epoch, node.id);
          this.checkLeaderCompleteness(node.id, raft.log);
        } else if (other !== node.id) this.fail(`two leaders in epoch ${epoch}: ${other} and ${node.id}`);
      }
      const hw = raft.highWatermark();
      if (hw >= 0) {
        const prevHw = this.maxHw.get(node.id) ?? -1;
        if (hw < prevHw) this.fail(`node ${node.id}: high watermark went back from ${prevHw} to ${hw}`);
        this.maxHw.set(node.id, hw);
        this.compareLog(node.id, raft.log, hw);
      }
    }
    this.checkDurableMajority();
  }

  /** A new leader's log holds every batch committed so far (Raft's leader completeness). */
  private checkLeaderCompleteness(nodeId: number, log: RaftLog): void {
    const end = this.committedEnd;
    if (end === 0 || log.startOffset() >= end) return;
    const lastBase = this.committedBases[this.committedBases.length - 1]!;
    const b = log.batchContaining(lastBase);
    if (!b || b.baseOffset !== lastBase || batchKey(b) !== this.committed.get(lastBase)) {
      this.fail(`node ${nodeId} leads without the committed batch at ${lastBase}`);
    }
  }

  /** Committed batches this node holds below its high watermark match the recorded ones. */
  private compareLog(nodeId: number, log: RaftLog, hw: number): void {
    let from = Math.max(this.checkedUpTo.get(nodeId) ?? 0, log.startOffset());
    if (from >= hw) return;
    for (const b of log.batchesFrom(from, Number.MAX_SAFE_INTEGER)) {
      if (batchEnd(b) > hw) break;
      this.recordCommitted(nodeId, b);
      from = batchEnd(b);
    }
    this.checkedUpTo.set(nodeId, from);
  }

  /**
   * End of a run: every committed batch, not only the newest, is durable on a majority of
   * voters (in its fsynced log, or below its snapshot).
   */
  checkAllDurable(): void {
    const majority = Math.floor(this.voters.length / 2) + 1;
    for (const base of this.committedBases) {
      const key = this.committed.get(base)!;
      let holders = 0;
      for (const node of this.nodes) {
        if (!this.voters.includes(node.id)) continue;
        const log = node.up ? node.raft?.log : node.lastLog;
        const durable = node.up ? (node.raft?.flushedEndOffset() ?? 0) : node.lastFlushedEnd;
        if (!log) continue;
        if (log.startOffset() > base) {
          holders++;
          continue;
        }
        const b = log.batchContaining(base);
        if (b && b.baseOffset === base && batchEnd(b) <= durable && batchKey(b) === key) holders++;
      }
      if (holders < majority) this.fail(`committed batch at ${base} is durable on ${holders} voters at the end`);
    }
  }

  private checkDurableMajority(): void {
    const end = this.committedEnd;
    if (end === 0) return;
    const lastBase = this.committedBases[this.committedBases.length - 1]!;
    const key = this.committed.get(lastBase)!;
    let holders = 0;
    for (const node of this.nodes) {
      if (!this.voters.includes(node.id)) continue;
      const log = node.up ? node.raft?.log : node.lastLog;
      const durable = node.up ? (node.raft?.flushedEndOffset() ?? 0) : node.lastFlushedEnd;
      if (!log) continue;
      if (log.startOffset() >= end) {
        holders++;
        continue;
      }
      if (durable < end) continue;
      const b = log.batchContaining(lastBase);
      if (b && b.baseOffset === lastBase && batchKey(b) === key) holders++;
    }
    const majority = Math.floor(this.voters.length / 2) + 1;
    if (holders < majority)
      this.fail(`committed batch at ${lastBase} is durable on ${holders} voters, fewer than ${majority}`);
  }
}
