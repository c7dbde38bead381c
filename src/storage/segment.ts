/**
 * One segment of a file log: `<base>.log` (batches as received, offsets assigned),
 * `<base>.index` (sparse offset index: int32 relative offset of a batch's base offset,
 * int32 file position) and `<base>.timeindex` (int64 max timestamp so far, int32
 * relative offset of the batch that reached it). File names are the base offset
 * zero-padded to 20 digits, as Kafka names them.
 *
 * A Segment object holds only a few numbers; index contents live on disk and in the
 * shared IndexCache.
 */
import { posix } from 'node:path';
import type { BatchInfo } from './records.ts';

export const OFFSET_INDEX_ENTRY_SIZE = 8;
export const TIME_INDEX_ENTRY_SIZE = 12;
export const MAX_RELATIVE_OFFSET = 2 ** 31 - 1;

export function segmentFileName(baseOffset: number, suffix: string): string {
  return `${String(baseOffset).padStart(20, '0')}${suffix}`;
}

/** Parses `00000000000000000042.log` -> 42 (undefined when not a segment file of that suffix). */
export function parseSegmentFileName(name: string, suffix: string): number | undefined {
  if (!name.endsWith(suffix)) return undefined;
  const stem = name.slice(0, -suffix.length);
  if (!/^\d{20}$/.test(stem)) return undefined;
  return Number(stem);
}

/** The fields of a segment that an append changes: snapshot before, restore on failure. */
export interface SegmentState {
  size: number;
  nextOffset: number;
  maxTimestamp: number;
  offsetOfMaxTimestamp: number;
  indexEntries: number;
  timeIndexEntries: number;
  lastTimeIndexTimestamp: number;
  bytesSinceLastIndexEntry: number;
}

export function emptySegmentState(baseOffset: number): SegmentState {
  return {
    size: 0,
    nextOffset: baseOffset,
    maxTimestamp: -1,
    offsetOfMaxTimestamp: -1,
    indexEntries: 0,
    timeIndexEntries: 0,
    lastTimeIndexTimestamp: -1,
    bytesSinceLastIndexEntry: 0,
  };
}

export class Segment implements SegmentState {
  readonly logPath: string;
  readonly indexPath: string;
  readonly timeIndexPath: string;
  size = 0;
  /** Offset after the last batch (exact for the active segment; closed segments: when loaded). */
  nextOffset: number;
  maxTimestamp = -1;
  offsetOfMaxTimestamp = -1;
  indexEntries = 0;
  timeIndexEntries = 0;
  lastTimeIndexTimestamp = -1;
  bytesSinceLastIndexEntry = 0;
  /** maxTimestamp/offsetOfMaxTimestamp are known (closed segments load them lazily). */
  metaLoaded = false;
  /** Bumped when the segment's files are rewritten (truncation, compaction swap). */
  generation = 0;
  /**
   * Index entries counted in indexEntries/timeIndexEntries but not yet written to the
   * index files (pairs: relative offset, position / timestamp, relative offset). They are
   * written in groups, and before any fsync, roll or close; a crash that loses them costs
   * nothing because recovery rebuilds the indexes of every unflushed segment.
   */
  pendingOffset: number[] = [];
  pendingTime: number[] = [];

  constructor(
    readonly dir: string,
    readonly baseOffset: number,
    /** Time the segment was created or opened (segment.ms counts from here). */
    readonly createdMs: number,
  ) {
    this.nextOffset = baseOffset;
    this.logPath = posix.join(dir, segmentFileName(baseOffset, '.log'));
    this.indexPath = posix.join(dir, segmentFileName(baseOffset, '.index'));
    this.timeIndexPath = posix.join(dir, segmentFileName(baseOffset, '.timeindex'));
  }

  snapshot(): SegmentState {
    return {
      size: this.size,
      nextOffset: this.nextOffset,
      maxTimestamp: this.maxTimestamp,
      offsetOfMaxTimestamp: this.offsetOfMaxTimestamp,
      indexEntries: this.indexEntries,
      timeIndexEntries: this.timeIndexEntries,
      lastTimeIndexTimestamp: this.lastTimeIndexTimestamp,
      bytesSinceLastIndexEntry: this.bytesSinceLastIndexEntry,
    };
  }

  restore(s: SegmentState): void {
    Object.assign(this, s);
  }
}

/** Index entries produced while tracking batches, to be written after the log bytes. */
export class IndexEntries {
  readonly offset: number[] = [];
  readonly time: number[] = [];

  offsetBuffer(): Buffer {
    const buf = Buffer.allocUnsafe((this.offset.length / 2) * OFFSET_INDEX_ENTRY_SIZE);
    for (let i = 0; i < this.offset.length; i += 2) {
      buf.writeInt32BE(this.offset[i]!, i * 4);
      buf.writeInt32BE(this.offset[i + 1]!, i * 4 + 4);
    }
    return buf;
  }

  timeBuffer(): Buffer {
    const buf = Buffer.allocUnsafe((this.time.length / 2) * TIME_INDEX_ENTRY_SIZE);
    for (let i = 0, j = 0; i < this.time.length; i += 2, j += TIME_INDEX_ENTRY_SIZE) {
      buf.writeBigInt64BE(BigInt(this.time[i]!), j);
      buf.writeInt32BE(this.time[i + 1]!, j + 8);
    }
    return buf;
  }
}

/**
 * Accounts for one batch written at `position` of the segment: timestamps, next offset,
 * and an offset (and time) index entry every indexIntervalBytes.
 */
export function trackBatch(
  seg: SegmentState,
  baseOffset: number,
  info: BatchInfo,
  position: number,
  intervalBytes: number,
  out: IndexEntries,
): void {
  if (info.maxTimestamp > seg.maxTimestamp) {
    seg.maxTimestamp = info.maxTimestamp;
    seg.offsetOfMaxTimestamp = info.baseOffset;
  }
  if (seg.bytesSinceLastIndexEntry > intervalBytes) {
    out.offset.push(info.baseOffset - baseOffset, position);
    seg.indexEntries++;
    if (seg.maxTimestamp > seg.lastTimeIndexTimestamp) {
      out.time.push(seg.maxTimestamp, seg.offsetOfMaxTimestamp - baseOffset);
      seg.timeIndexEntries++;
      seg.lastTimeIndexTimestamp = seg.maxTimestamp;
    }
    seg.bytesSinceLastIndexEntry = 0;
  }
  seg.bytesSinceLastIndexEntry += info.sizeInBytes;
  seg.size = position + info.sizeInBytes;
  seg.nextOffset = info.baseOffset + info.lastOffsetDelta + 1;
}

/** The final time index entry of a segment that stops being active (or closes). */
export function finalTimeEntry(seg: SegmentState, baseOffset: number, out: IndexEntries): void {
  if (seg.maxTimestamp > seg.lastTimeIndexTimestamp && seg.offsetOfMaxTimestamp >= baseOffset) {
    out.time.push(seg.maxTimestamp, seg.offsetOfMaxTimestamp - baseOffset);
    seg.timeIndexEntries++;
    seg.lastTimeIndexTimestamp = seg.maxTimestamp;
  }
}

/** Position of the largest offset index entry with relative offset <= relOffset (0 if none). */
export function lookupOffsetIndex(buf: Buffer, entries: number, relOffset: number): number {
  let lo = 0;
  let hi = entries - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (buf.readInt32BE(mid * OFFSET_INDEX_ENTRY_SIZE) <= relOffset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? 0 : buf.readInt32BE(found * OFFSET_INDEX_ENTRY_SIZE + 4);
}

/** Relative offset of the largest time index entry with timestamp < timestampMs (-1 if none). */
export function lookupTimeIndex(buf: Buffer, entries: number, timestampMs: number): number {
  let lo = 0;
  let hi = entries - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (Number(buf.readBigInt64BE(mid * TIME_INDEX_ENTRY_SIZE)) < timestampMs) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? -1 : buf.readInt32BE(found * TIME_INDEX_ENTRY_SIZE + 8);
}

/** Number of offset index entries whose relative offset is < relOffset. */
export function countOffsetEntriesBelow(buf: Buffer, entries: number, relOffset: number): number {
  let n = 0;
  while (n < entries && buf.readInt32BE(n * OFFSET_INDEX_ENTRY_SIZE) < relOffset) n++;
  return n;
}

/** Number of time index entries whose relative offset is < relOffset. */
export function countTimeEntriesBelow(buf: Buffer, entries: number, relOffset: number): number {
  let n = 0;
  while (n < entries && buf.readInt32BE(n * TIME_INDEX_ENTRY_SIZE + 8) < relOffset) n++;
  return n;
}
