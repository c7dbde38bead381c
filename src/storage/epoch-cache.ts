/**
 * Leader epoch cache: epoch -> first offset written in that epoch, for OffsetForLeaderEpoch
 * and follower truncation. Persisted (FileLog) as `leader-epoch-checkpoint`:
 *   0\n<count>\n<epoch> <startOffset>\n...
 */
import type { EpochEndOffset } from './partition-log.ts';

export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

export class EpochCache {
  private entries: EpochEntry[] = [];

  constructor(entries: EpochEntry[] = []) {
    this.entries = entries.slice();
  }

  all(): readonly EpochEntry[] {
    return this.entries;
  }

  latestEpoch(): number {
    return this.entries.at(-1)?.epoch ?? -1;
  }

  /** Records that `epoch` starts at `startOffset`; returns true when the cache changed. */
  assign(epoch: number, startOffset: number): boolean {
    if (epoch < 0) return false;
    const last = this.entries.at(-1);
    if (last && epoch <= last.epoch) return false;
    // A new epoch cannot start before a previous one.
    while (this.entries.length > 0 && this.entries.at(-1)!.startOffset >= startOffset) this.entries.pop();
    this.entries.push({ epoch, startOffset });
    return true;
  }

  endOffsetFor(requested: number, logEndOffset: number): EpochEndOffset {
    if (requested < 0 || this.entries.length === 0) return { leaderEpoch: -1, endOffset: -1 };
    if (requested === this.latestEpoch()) return { leaderEpoch: requested, endOffset: logEndOffset };
    const higher = this.entries.findIndex((e) => e.epoch > requested);
    if (higher < 0) return { leaderEpoch: -1, endOffset: -1 };
    if (higher === 0) return { leaderEpoch: requested, endOffset: this.entries[0]!.startOffset };
    return { leaderEpoch: this.entries[higher - 1]!.epoch, endOffset: this.entries[higher]!.startOffset };
  }

  /** Drops entries starting at or after `endOffset` (truncation). Returns true when changed. */
  truncateFromEnd(endOffset: number): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.startOffset < endOffset);
    return this.entries.length !== before;
  }

  /** Moves the start to `startOffset`: the entry covering it starts there. */
  truncateFromStart(startOffset: number): boolean {
    let changed = false;
    while (this.entries.length > 1 && this.entries[1]!.startOffset <= startOffset) {
      this.entries.shift();
      changed = true;
    }
    const first = this.entries[0];
    if (first && first.startOffset < startOffset) {
      first.startOffset = startOffset;
      changed = true;
    }
    return changed;
  }

  clear(): void {
    this.entries = [];
  }

  serialize(): Buffer {
    const lines = ['0', String(this.entries.length), ...this.entries.map((e) => `${e.epoch} ${e.startOffset}`)];
    return Buffer.from(`${lines.join('\n')}\n`);
  }

  static parse(text: string): EpochCache {
    const lines = text.split('\n').filter((l) => l.length > 0);
    if (lines[0] !== '0') throw new Error('unknown leader-epoch-checkpoint version');
    const count = Number(lines[1]);
    const entries: EpochEntry[] = [];
    for (let i = 0; i < count; i++) {
      const [epoch, offset] = (lines[2 + i] ?? '').split(' ').map(Number);
      if (!Number.isInteger(epoch) || !Number.isInteger(offset)) throw new Error('bad leader-epoch-checkpoint line');
      entries.push({ epoch: epoch!, startOffset: offset! });
    }
    return new EpochCache(entries);
  }
}
