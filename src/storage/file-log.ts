/**
 * FileLog: a partition log as segments in one directory on a Disk.
 *
 *   <dir>/00000000000000000000.log        batches, exactly as appended
 *   <dir>/00000000000000000000.index      sparse offset index
 *   <dir>/00000000000000000000.timeindex  time index
 *   <dir>/leader-epoch-checkpoint         epoch -> start offset
 *   <dir>/log-start-offset-checkpoint     moved by DeleteRecords
 *   <dir>/recovery-point-offset-checkpoint everything below is fsynced
 *   <dir>/cleaner-offset-checkpoint       compaction's first dirty offset
 *
 * Concurrency: every change (append, roll, truncation, retention, compaction swap, flush)
 * runs in the log's SerialQueue, one at a time. Reads run concurrently with appends: an
 * append publishes the new segment size only after its bytes (and index entries) are
 * written. Operations that remove or rewrite bytes readers may be looking at (truncation,
 * segment deletion, compaction swap) also take the exclusive side of a RwLock whose
 * shared side readers hold.
 */
import { posix } from 'node:path';
import type { Clock } from '../env/clock.ts';
import type { Disk } from '../env/disk.ts';
import { StorageError, toStorageError } from '../env/disk.ts';
import { assignBatchOffset, BATCH_HEADER_SIZE, setLogAppendTime } from '../protocol/records/batch-header.ts';
import {
  cleanBatch,
  collectKeys,
  dirtyRatio,
  firstRecordAtOrAfter,
  noteProducerBatch,
  TxnCleaning,
} from './compaction.ts';
import type { LogConfig } from './config.ts';
import { EpochCache } from './epoch-cache.ts';
import { FilePool, IndexCache, RwLock, SerialQueue } from './file-pool.ts';
import type {
  AppendOptions,
  AppendResult,
  CompactionResult,
  DeleteRecordsResult,
  EpochEndOffset,
  PartitionLog,
  ReadOptions,
  ReadResult,
  TimestampAndOffset,
} from './partition-log.ts';
import { type BatchInfo, batchProblem, lastOffsetOfInfo, readBatchInfo, validateBatches } from './records.ts';
import {
  countOffsetEntriesBelow,
  countTimeEntriesBelow,
  emptySegmentState,
  finalTimeEntry,
  IndexEntries,
  lookupOffsetIndex,
  lookupTimeIndex,
  MAX_RELATIVE_OFFSET,
  OFFSET_INDEX_ENTRY_SIZE,
  parseSegmentFileName,
  Segment,
  type SegmentState,
  segmentFileName,
  TIME_INDEX_ENTRY_SIZE,
  trackBatch,
} from './segment.ts';
import { type AbortedTxn, FileTxnIndex } from './txn-index.ts';

export interface FileLogOptions {
  dir: string;
  topic: string;
  partition: number;
  config: LogConfig;
  disk: Disk;
  clock: Clock;
  /** Shared by all logs of a LogManager; a private one (64 handles) when omitted. */
  pool?: FilePool;
  indexCache?: IndexCache;
  /** The previous process closed this log cleanly: skip the recovery scan. */
  cleanShutdown?: boolean;
  /** Initial high watermark (owned by replication); defaults to the log start offset. */
  highWatermark?: number;
  /** Appends allowed to wait on this log before 'overloaded' errors. */
  maxPendingAppends?: number;
  /** Bound on the keys one compaction pass holds in memory. */
  maxCompactionKeys?: number;
  /** Failures of background work (the flush after a roll). */
  onBackgroundError?: (err: unknown) => void;
}

export interface RecoveryStats {
  /** Segments scanned batch by batch (CRC-checked) at open. */
  segmentsScanned: number;
  /** Bytes cut from torn or corrupt tails, and in segments deleted after them. */
  bytesTruncated: number;
  /** Segments deleted because they followed a bad batch. */
  segmentsDeleted: number;
}

const SCAN_CHUNK_BYTES = 64 * 1024;
/** Pending index numbers (two per entry) that trigger a write of the index files. */
const PENDING_INDEX_NUMBERS = 256;
const BULK_CHUNK_BYTES = 4 * 1024 * 1024;
/**
 * A fetch reads maxBytes plus this much in one go: the batches skipped between the index
 * entry and the fetch offset (about index.interval.bytes) and the header of the batch that
 * no longer fits, so that the walk over headers need not read again.
 */
const READ_SLACK_BYTES = 64 * 1024;
/**
 * Reads within this many bytes of the active segment's end are marked `cached` for the
 * Disk (small ones then skip the thread pool, SYNC_READ_MAX_BYTES): consumers and
 * followers at the tail read what was appended moments ago.
 */
const RECENT_TAIL_BYTES = 1024 * 1024;
const MAX_READ_CHUNK_BYTES = 16 * 1024 * 1024;
const LOG_START_CHECKPOINT = 'log-start-offset-checkpoint';
const RECOVERY_POINT_CHECKPOINT = 'recovery-point-offset-checkpoint';
const CLEANER_CHECKPOINT = 'cleaner-offset-checkpoint';
const EPOCH_CHECKPOINT = 'leader-epoch-checkpoint';

/** A whole batch read while streaming a segment. */
interface StreamedBatch {
  buf: Buffer;
  /** Where the batch starts in buf. */
  at: number;
  /** Where it starts in the file. */
  position: number;
  size: number;
}

/** Bounds on one group commit (see FileLog.append). */
const MAX_GROUP_APPENDS = 256;
const MAX_GROUP_BYTES = 8 * 1024 * 1024;

interface QueuedAppend {
  buf: Buffer;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

interface AppendGroup {
  readonly leaderEpoch: number;
  readonly items: QueuedAppend[];
  bytes: number;
}

export class FileLog implements PartitionLog {
  readonly topic: string;
  readonly partition: number;
  config: LogConfig;
  private readonly dir: string;
  private readonly disk: Disk;
  private readonly clock: Clock;
  private readonly pool: FilePool;
  private readonly indexCache: IndexCache;
  private readonly queue: SerialQueue;
  private readonly lock = new RwLock();
  private segments: Segment[] = [];
  private startOffset = 0;
  private endOffset = 0;
  private hw = 0;
  private recoveryPoint = 0;
  private cleanerCheckpoint = 0;
  private epochs = new EpochCache();
  private unflushedRecords = 0;
  /** The group of appends still open to more (see append()). */
  private openGroup: AppendGroup | undefined;
  /** Appends that joined a group instead of taking a queue slot of their own. */
  private joinedAppends = 0;
  /** Bumped by every truncation: a flush that overlapped one does not move the recovery point. */
  private truncations = 0;
  private flushChain: Promise<void> = Promise.resolve();
  private lastFlushMs: number;
  private pendingRepair: { seg: Segment; state: SegmentState } | undefined;
  private compacting = false;
  private closed = false;
  /** Set when the files no longer match the in-memory state (a failed swap): reopen to recover. */
  private failed: StorageError | undefined;
  private readonly maxCompactionKeys: number;
  private readonly recovery: RecoveryStats = { segmentsScanned: 0, bytesTruncated: 0, segmentsDeleted: 0 };
  private readonly txnIndex: FileTxnIndex;

  private constructor(private readonly options: FileLogOptions) {
    this.topic = options.topic;
    this.partition = options.partition;
    this.config = options.config;
    this.dir = options.dir;
    this.disk = options.disk;
    this.clock = options.clock;
    this.pool = options.pool ?? new FilePool(options.disk, 64);
    this.indexCache = options.indexCache ?? new IndexCache(16 * 1024 * 1024);
    this.queue = new SerialQueue(options.maxPendingAppends ?? 1000);
    this.lastFlushMs = options.clock.monotonicMs();
    this.maxCompactionKeys = options.maxCompactionKeys ?? 1_000_000;
    this.txnIndex = new FileTxnIndex(options.disk, options.dir);
  }

  /** Opens (creating if needed) and recovers the log in `options.dir`. */
  static async open(options: FileLogOptions): Promise<FileLog> {
    const log = new FileLog(options);
    await log.load();
    return log;
  }

  // ---- state ------------------------------------------------------------------------

  logStartOffset(): number {
    return this.startOffset;
  }
  logEndOffset(): number {
    return this.endOffset;
  }
  highWatermark(): number {
    return this.hw;
  }
  updateHighWatermark(offset: number): number {
    this.hw = Math.max(this.startOffset, Math.min(offset, this.endOffset));
    return this.hw;
  }
  latestEpoch(): number {
    return this.epochs.latestEpoch();
  }
  endOffsetForEpoch(leaderEpoch: number): EpochEndOffset {
    return this.epochs.endOffsetFor(leaderEpoch, this.endOffset);
  }
  updateConfig(config: LogConfig): void {
    this.config = config;
  }
  segmentCount(): number {
    return this.segments.length;
  }
  sizeInBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }
  /** For tests and tools: the base offsets of the segments. */
  segmentBaseOffsets(): number[] {
    return this.segments.map((s) => s.baseOffset);
  }
  recoveryPointOffset(): number {
    return this.recoveryPoint;
  }
  /** What recovery did when this log was opened (for the broker's log). */
  recoveryStats(): Readonly<RecoveryStats> {
    return this.recovery;
  }

  private active(): Segment {
    return this.segments.at(-1)!;
  }

  private checkOpen(): void {
    if (this.failed) throw this.failed;
    if (this.closed) throw new StorageError('closed', `log ${this.topic}-${this.partition} is closed`);
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(
      async () => {
        this.checkOpen();
        return fn();
      },
      () => new StorageError('overloaded', `too many operations waiting on ${this.topic}-${this.partition}`),
    );
  }

  /** Index of the last segment whose base offset is <= offset (0 when before all). */
  private floorIndex(segments: readonly Segment[], offset: number): number {
    let lo = 0;
    let hi = segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (segments[mid]!.baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  // ---- file helpers -----------------------------------------------------------------

  private path(name: string): string {
    return posix.join(this.dir, name);
  }

  private readAt(path: string, position: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.pool.withFile(path, (f) => f.read(position, length, into));
  }

  private async loadIndex(path: string, entries: number, entrySize: number): Promise<Buffer> {
    const wanted = entries * entrySize;
    const cached = this.indexCache.get(path);
    if (cached && cached.length >= wanted) return cached.buf;
    const buf = await this.readAt(path, 0, wanted);
    if (buf.length < wanted) throw new StorageError('corrupt', `index shorter than expected`, path);
    this.indexCache.set(path, buf);
    return buf;
  }

  private async readNumberCheckpoint(name: string): Promise<number | undefined> {
    const path = this.path(name);
    if (!(await this.disk.stat(path))) return undefined;
    const text = (await this.readAt(path, 0, 256)).toString();
    const lines = text.split('\n');
    const value = Number(lines[1]);
    return lines[0] === '0' && Number.isSafeInteger(value) ? value : undefined;
  }

  /** Replaces a checkpoint file atomically (tmp, fsync, rename, fsync dir). */
  private async writeCheckpoint(name: string, data: Buffer): Promise<void> {
    const path = this.path(name);
    const tmp = `${path}.tmp`;
    await this.pool.withFile(
      tmp,
      async (f) => {
        await f.truncate(0);
        await f.write(0, data);
        await f.sync();
      },
      true,
    );
    this.pool.invalidate(tmp);
    await this.disk.rename(tmp, path);
    await this.disk.syncDir(this.dir);
  }

  private writeNumberCheckpoint(name: string, value: number): Promise<void> {
    return this.writeCheckpoint(name, Buffer.from(`0\n${value}\n`));
  }

  private persistEpochs(): Promise<void> {
    return this.writeCheckpoint(EPOCH_CHECKPOINT, this.epochs.serialize());
  }

  private async unlinkQuietly(path: string): Promise<void> {
    this.pool.invalidate(path);
    this.indexCache.invalidate(path);
    try {
      await this.disk.unlink(path);
    } catch (err) {
      if (!(err instanceof StorageError && err.kind === 'not-found')) throw err;
    }
  }

  private async deleteSegmentFiles(seg: Segment): Promise<void> {
    await this.unlinkQuietly(seg.logPath);
    await this.unlinkQuietly(seg.indexPath);
    await this.unlinkQuietly(seg.timeIndexPath);
    await this.txnIndex.dropSegment(seg.baseOffset);
  }

  private async createSegment(baseOffset: number): Promise<Segment> {
    const seg = new Segment(this.dir, baseOffset, this.clock.nowMs());
    for (const path of [seg.logPath, seg.indexPath, seg.timeIndexPath]) {
      await this.pool.withFile(path, (f) => f.truncate(0), true);
    }
    seg.metaLoaded = true;
    return seg;
  }

  private async syncSegment(seg: Segment): Promise<void> {
    for (const path of [seg.logPath, seg.indexPath, seg.timeIndexPath]) {
      await this.pool.withFile(path, (f) => f.datasync());
    }
  }

  /**
   * Streams the whole batches of a file from `from` to `end`. Yields undefined once, at
   * the first position where no well-framed batch fits (recovery truncates there).
   */
  private async *streamBatches(
    path: string,
    from: number,
    end: number,
    checkCrc: boolean,
  ): AsyncGenerator<StreamedBatch | { bad: string; position: number }> {
    let buf: Buffer = Buffer.alloc(0);
    let bufPos = from;
    let pos = from;
    while (pos < end) {
      if (end - pos < BATCH_HEADER_SIZE) {
        yield { bad: 'short header', position: pos };
        return;
      }
      if (pos + BATCH_HEADER_SIZE > bufPos + buf.length) {
        buf = await this.readAt(path, pos, Math.min(BULK_CHUNK_BYTES, end - pos));
        bufPos = pos;
        if (buf.length < BATCH_HEADER_SIZE) {
          yield { bad: 'file shorter than expected', position: pos };
          return;
        }
      }
      const size = buf.readInt32BE(pos - bufPos + 8) + 12;
      if (size < BATCH_HEADER_SIZE || pos + size > end) {
        yield { bad: `bad batch length ${size}`, position: pos };
        return;
      }
      if (pos + size > bufPos + buf.length) {
        buf = await this.readAt(path, pos, Math.min(Math.max(size, BULK_CHUNK_BYTES), end - pos));
        bufPos = pos;
      }
      const problem = batchProblem(buf, pos - bufPos, checkCrc);
      if (problem) {
        yield { bad: problem, position: pos };
        return;
      }
      yield { buf, at: pos - bufPos, position: pos, size };
      pos += size;
    }
  }

  // ---- open and recovery --------------------------------------------------------------

  private async load(): Promise<void> {
    await this.disk.mkdirp(this.dir);
    let names = await this.disk.readdir(this.dir);
    // Leftovers of an interrupted compaction or checkpoint write.
    for (const name of names) {
      if (name.endsWith('.cleaned') || name.endsWith('.tmp') || name.endsWith('.deleted')) {
        await this.unlinkQuietly(this.path(name));
      }
    }
    for (const name of names) {
      const base = parseSegmentFileName(name, '.log.swap');
      if (base === undefined) continue;
      // The cleaned segment was complete (it is renamed to .swap only after fsync): finish
      // the swap, delete the segments it replaced, and let recovery rebuild its indexes.
      const swapPath = this.path(name);
      const size = (await this.disk.stat(swapPath))?.size ?? 0;
      let lastOffset = base;
      for await (const item of this.streamBatches(swapPath, 0, size, false)) {
        if ('bad' in item) break;
        lastOffset = lastOffsetOfInfo(readBatchInfo(item.buf, item.at, item.position));
      }
      this.pool.invalidate(swapPath);
      for (const other of names) {
        const otherBase = parseSegmentFileName(other, '.log');
        if (otherBase !== undefined && otherBase > base && otherBase <= lastOffset) {
          await this.deleteSegmentFiles(new Segment(this.dir, otherBase, 0));
        }
      }
      await this.disk.rename(swapPath, this.path(segmentFileName(base, '.log')));
      await this.unlinkQuietly(this.path(segmentFileName(base, '.index')));
      await this.unlinkQuietly(this.path(segmentFileName(base, '.timeindex')));
    }
    names = await this.disk.readdir(this.dir);
    const bases = names
      .map((n) => parseSegmentFileName(n, '.log'))
      .filter((b): b is number => b !== undefined)
      .sort((a, b) => a - b);

    const lsoCheckpoint = await this.readNumberCheckpoint(LOG_START_CHECKPOINT);
    const rpCheckpoint = await this.readNumberCheckpoint(RECOVERY_POINT_CHECKPOINT);
    const cleanerCheckpoint = await this.readNumberCheckpoint(CLEANER_CHECKPOINT);
    if (names.includes(EPOCH_CHECKPOINT)) {
      try {
        const text = await this.readAt(this.path(EPOCH_CHECKPOINT), 0, 1 << 20);
        this.epochs = EpochCache.parse(text.toString());
      } catch {
        this.epochs = new EpochCache(); // rebuilt from the batches recovery scans
      }
    }

    const now = this.clock.nowMs();
    const segments: Segment[] = [];
    const indexValid: boolean[] = [];
    for (const base of bases) {
      const seg = new Segment(this.dir, base, now);
      const logStat = await this.disk.stat(seg.logPath);
      const indexStat = await this.disk.stat(seg.indexPath);
      const timeStat = await this.disk.stat(seg.timeIndexPath);
      seg.size = logStat?.size ?? 0;
      const valid =
        indexStat !== undefined &&
        timeStat !== undefined &&
        indexStat.size % OFFSET_INDEX_ENTRY_SIZE === 0 &&
        timeStat.size % TIME_INDEX_ENTRY_SIZE === 0;
      if (valid) {
        seg.indexEntries = indexStat.size / OFFSET_INDEX_ENTRY_SIZE;
        seg.timeIndexEntries = timeStat.size / TIME_INDEX_ENTRY_SIZE;
      }
      segments.push(seg);
      indexValid.push(valid);
    }

    // An empty segment that is not the last holds nothing: drop it (a roll that failed
    // after creating its files can leave one behind).
    for (let i = segments.length - 2; i >= 0; i--) {
      if (segments[i]!.size === 0) {
        await this.deleteSegmentFiles(segments[i]!);
        segments.splice(i, 1);
        indexValid.splice(i, 1);
      }
    }

    let recovered = false;
    if (segments.length === 0) {
      segments.push(await this.createSegment(lsoCheckpoint ?? 0));
    } else {
      const recoverFrom = this.options.cleanShutdown
        ? segments.length
        : this.floorIndex(segments, rpCheckpoint ?? segments[0]!.baseOffset);
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i]!;
        const isLast = i === segments.length - 1;
        let truncated = false;
        if (i >= recoverFrom || !indexValid[i]) {
          truncated = await this.recoverSegment(seg, isLast);
          recovered = true;
        } else if (isLast && !(await this.loadActiveState(seg))) {
          truncated = await this.recoverSegment(seg, true);
          recovered = true;
        }
        if (truncated && !isLast) {
          // Everything after the first bad batch goes, later segments included.
          for (const later of segments.splice(i + 1)) {
            this.recovery.bytesTruncated += later.size;
            this.recovery.segmentsDeleted++;
            await this.deleteSegmentFiles(later);
          }
          if (!seg.metaLoaded) seg.metaLoaded = true;
          break;
        }
      }
    }
    // An empty last segment left by a failed roll, while appends went on into the previous
    // one: its base is inside the previous segment's offsets. Drop it.
    const last = segments.at(-1)!;
    const previous = segments.at(-2);
    if (previous && last.size === 0) {
      if (!previous.metaLoaded || previous.nextOffset === previous.baseOffset) {
        if (!(await this.loadActiveState(previous))) await this.recoverSegment(previous, true);
      }
      if (previous.nextOffset > last.baseOffset) {
        await this.deleteSegmentFiles(last);
        segments.pop();
      }
    }
    this.segments = segments;
    await this.txnIndex.load(
      await this.disk.readdir(this.dir),
      segments.map((seg) => seg.baseOffset),
    );
    const active = this.active();
    this.endOffset = Math.max(active.nextOffset, active.baseOffset);
    // Entries of markers lost with a truncated tail go too (the replay writes them again).
    await this.txnIndex.truncateFrom(this.endOffset);
    this.startOffset = Math.max(lsoCheckpoint ?? 0, segments[0]!.baseOffset);
    if (this.startOffset > this.endOffset) {
      await this.resetTo(this.startOffset);
    }
    // Epochs that start past the recovered end lost their batches. An empty log keeps the
    // entry at its start offset (left there by retention or DeleteRecords).
    const cutEnd = this.epochs.truncateFromEnd(
      this.endOffset === this.startOffset ? this.endOffset + 1 : this.endOffset,
    );
    const cutStart = this.epochs.truncateFromStart(this.startOffset);
    if ((cutEnd || cutStart || recovered) && this.epochs.all().length > 0) await this.persistEpochs();
    this.hw = Math.max(this.startOffset, Math.min(this.options.highWatermark ?? this.startOffset, this.endOffset));
    this.cleanerCheckpoint = Math.min(cleanerCheckpoint ?? this.startOffset, this.endOffset);
    if (recovered || (rpCheckpoint !== undefined && rpCheckpoint > this.endOffset)) {
      this.recoveryPoint = this.endOffset;
      await this.writeNumberCheckpoint(RECOVERY_POINT_CHECKPOINT, this.recoveryPoint);
    } else {
      // A new log, or a clean shutdown (whose close flushed everything).
      this.recoveryPoint = this.options.cleanShutdown || rpCheckpoint === undefined ? this.endOffset : rpCheckpoint;
    }
  }

  /**
   * Scans a segment from the start, checking every batch (framing, CRC, monotonic
   * offsets), truncates it at the first bad batch, rewrites both indexes and fsyncs.
   * Returns true when bytes were cut.
   */
  private async recoverSegment(seg: Segment, isActive: boolean): Promise<boolean> {
    const fileSize = await this.pool.withFile(seg.logPath, (f) => f.size());
    const state = emptySegmentState(seg.baseOffset);
    const entries = new IndexEntries();
    let validEnd = 0;
    for await (const item of this.streamBatches(seg.logPath, 0, fileSize, true)) {
      if ('bad' in item) break;
      const info = readBatchInfo(item.buf, item.at, item.position);
      if (info.baseOffset < state.nextOffset || lastOffsetOfInfo(info) - seg.baseOffset > MAX_RELATIVE_OFFSET) break;
      trackBatch(state, seg.baseOffset, info, item.position, this.config.indexIntervalBytes, entries);
      this.epochs.assign(info.partitionLeaderEpoch, info.baseOffset);
      validEnd = item.position + item.size;
    }
    if (!isActive) finalTimeEntry(state, seg.baseOffset, entries);
    const truncated = validEnd < fileSize;
    if (truncated) await this.pool.withFile(seg.logPath, (f) => f.truncate(validEnd));
    this.recovery.segmentsScanned++;
    this.recovery.bytesTruncated += fileSize - validEnd;
    const offsetBuf = entries.offsetBuffer();
    const timeBuf = entries.timeBuffer();
    for (const [path, buf] of [
      [seg.indexPath, offsetBuf],
      [seg.timeIndexPath, timeBuf],
    ] as const) {
      this.indexCache.invalidate(path);
      await this.pool.withFile(
        path,
        async (f) => {
          await f.truncate(0);
          await f.write(0, buf);
        },
        true,
      );
    }
    await this.syncSegment(seg);
    seg.restore(state);
    seg.pendingOffset = [];
    seg.pendingTime = [];
    seg.metaLoaded = true;
    seg.generation++;
    return truncated;
  }

  /** Loads the state of the active segment of a cleanly closed log. False if inconsistent. */
  private async loadActiveState(seg: Segment): Promise<boolean> {
    const state = emptySegmentState(seg.baseOffset);
    state.size = seg.size;
    state.indexEntries = seg.indexEntries;
    state.timeIndexEntries = seg.timeIndexEntries;
    let from = 0;
    if (seg.indexEntries > 0) {
      const last = await this.readAt(
        seg.indexPath,
        (seg.indexEntries - 1) * OFFSET_INDEX_ENTRY_SIZE,
        OFFSET_INDEX_ENTRY_SIZE,
      );
      if (last.length < OFFSET_INDEX_ENTRY_SIZE) return false;
      from = last.readInt32BE(4);
      if (from >= seg.size) return false;
    }
    if (seg.timeIndexEntries > 0) {
      const last = await this.readAt(
        seg.timeIndexPath,
        (seg.timeIndexEntries - 1) * TIME_INDEX_ENTRY_SIZE,
        TIME_INDEX_ENTRY_SIZE,
      );
      if (last.length < TIME_INDEX_ENTRY_SIZE) return false;
      state.maxTimestamp = state.lastTimeIndexTimestamp = Number(last.readBigInt64BE(0));
      state.offsetOfMaxTimestamp = seg.baseOffset + last.readInt32BE(8);
    }
    let pos = from;
    for await (const item of this.streamBatches(seg.logPath, from, seg.size, false)) {
      if ('bad' in item) return false;
      const info = readBatchInfo(item.buf, item.at, item.position);
      if (info.maxTimestamp > state.maxTimestamp) {
        state.maxTimestamp = info.maxTimestamp;
        state.offsetOfMaxTimestamp = info.baseOffset;
      }
      state.nextOffset = lastOffsetOfInfo(info) + 1;
      pos = item.position + item.size;
    }
    if (pos !== seg.size) return false;
    state.bytesSinceLastIndexEntry = seg.size - from;
    seg.restore(state);
    seg.metaLoaded = true;
    return true;
  }

  /** Loads max timestamp of a closed segment (from its time index's last entry, or a scan). */
  private async ensureMeta(seg: Segment): Promise<void> {
    if (seg.metaLoaded) return;
    if (seg.timeIndexEntries > 0) {
      const last = await this.readAt(
        seg.timeIndexPath,
        (seg.timeIndexEntries - 1) * TIME_INDEX_ENTRY_SIZE,
        TIME_INDEX_ENTRY_SIZE,
      );
      if (last.length === TIME_INDEX_ENTRY_SIZE) {
        seg.maxTimestamp = seg.lastTimeIndexTimestamp = Number(last.readBigInt64BE(0));
        seg.offsetOfMaxTimestamp = seg.baseOffset + last.readInt32BE(8);
        seg.metaLoaded = true;
        return;
      }
    }
    for await (const item of this.streamBatches(seg.logPath, 0, seg.size, false)) {
      if ('bad' in item) break;
      const info = readBatchInfo(item.buf, item.at, item.position);
      if (info.maxTimestamp > seg.maxTimestamp) {
        seg.maxTimestamp = info.maxTimestamp;
        seg.offsetOfMaxTimestamp = info.baseOffset;
      }
      seg.nextOffset = lastOffsetOfInfo(info) + 1;
    }
    seg.metaLoaded = true;
  }

  // ---- append -------------------------------------------------------------------------

  /**
   * Group commit: appends that arrive while the log is busy (an append being written, a
   * flush planned) wait in one open group; when the group's turn comes it is validated item
   * by item (a bad batch fails only its own append), given consecutive offsets and written
   * with one write. Each append is acknowledged with its own offsets once the whole group is
   * written (and flushed, when flush.messages says so); a failed write fails every append
   * of the group and is rolled back, so no append is acknowledged for bytes not written.
   */
  append(batches: Buffer, options: AppendOptions): Promise<AppendResult> {
    const group = this.openGroup;
    if (
      group !== undefined &&
      group.leaderEpoch === options.leaderEpoch &&
      group.items.length < MAX_GROUP_APPENDS &&
      group.bytes + batches.length <= Math.min(MAX_GROUP_BYTES, this.config.segmentBytes) &&
      this.queue.size() + this.joinedAppends < this.queue.maxPending
    ) {
      this.joinedAppends++;
      group.bytes += batches.length;
      return new Promise<AppendResult>((resolve, reject) => {
        group.items.push({ buf: batches, resolve, reject });
      }).finally(() => {
        this.joinedAppends--;
      });
    }
    let first!: QueuedAppend;
    const result = new Promise<AppendResult>((resolve, reject) => {
      first = { buf: batches, resolve, reject };
    });
    const opened: AppendGroup = { leaderEpoch: options.leaderEpoch, items: [first], bytes: batches.length };
    this.openGroup = opened;
    this.enqueue(() => {
      // From here on the group is closed: later appends start the next one.
      if (this.openGroup === opened) this.openGroup = undefined;
      return this.appendGroup(opened);
    }).catch((err: unknown) => {
      // Not run at all (closed, overloaded): every append of the group fails alike.
      if (this.openGroup === opened) this.openGroup = undefined;
      for (const item of opened.items) item.reject(err);
    });
    return result;
  }

  appendAsFollower(batches: Buffer): Promise<AppendResult> {
    return this.enqueue(async () => {
      const results = await this.doAppend([batches], [validateBatches(batches)], false, -1);
      return results[0]!;
    });
  }

  private async appendGroup(group: AppendGroup): Promise<void> {
    const valid: QueuedAppend[] = [];
    const infos: BatchInfo[][] = [];
    for (const item of group.items) {
      try {
        infos.push(validateBatches(item.buf));
        valid.push(item);
      } catch (err) {
        item.reject(err);
      }
    }
    if (valid.length === 0) return;
    let results: AppendResult[];
    try {
      results = await this.doAppend(
        valid.map((item) => item.buf),
        infos,
        true,
        group.leaderEpoch,
      );
    } catch (err) {
      for (const item of valid) item.reject(err);
      return;
    }
    for (let i = 0; i < valid.length; i++) valid[i]!.resolve(results[i]!);
  }

  /**
   * Appends `bufs` (each validated into its `infos`) back to back with one write; returns
   * one result per buffer. Leader appends (assign) get their offsets (and leader epoch)
   * rewritten in place in each buffer.
   */
  private async doAppend(
    bufs: readonly Buffer[],
    infosPerBuf: BatchInfo[][],
    assign: boolean,
    leaderEpoch: number,
  ): Promise<AppendResult[]> {
    await this.repair();
    const now = this.clock.nowMs();
    let logAppendTimeMs = -1;
    if (assign) {
      const logAppendTime = this.config.messageTimestampType === 'LogAppendTime';
      if (logAppendTime) logAppendTimeMs = now;
      let next = this.endOffset;
      for (let b = 0; b < bufs.length; b++) {
        const buf = bufs[b]!;
        for (const info of infosPerBuf[b]!) {
          assignBatchOffset(buf, info.position, next, leaderEpoch);
          if (logAppendTime) {
            setLogAppendTime(buf, info.position, now);
            info.maxTimestamp = now;
          }
          info.baseOffset = next;
          info.partitionLeaderEpoch = leaderEpoch;
          next += info.lastOffsetDelta + 1;
        }
      }
    } else {
      let expected = this.endOffset;
      for (const infos of infosPerBuf) {
        for (const info of infos) {
          if (info.baseOffset < expected) {
            throw new StorageError(
              'corrupt',
              `follower append at offset ${info.baseOffset} below the expected ${expected} (log ${this.topic}-${this.partition})`,
            );
          }
          expected = lastOffsetOfInfo(info) + 1;
        }
      }
    }
    // One result per buffer, read before the infos are shifted to the combined buffer.
    const results: AppendResult[] = infosPerBuf.map((infos) => {
      let recordCount = 0;
      for (const info of infos) recordCount += info.recordsCount;
      return {
        baseOffset: infos[0]!.baseOffset,
        lastOffset: lastOffsetOfInfo(infos.at(-1)!),
        logAppendTimeMs,
        logStartOffset: 0,
        recordCount,
      };
    });
    // The group is written with one pwritev of its buffers as they are (no copy into one
    // buffer); positions of its batches become relative to the group's start.
    let bytes: number;
    let infos: BatchInfo[];
    if (bufs.length === 1) {
      bytes = bufs[0]!.length;
      infos = infosPerBuf[0]!;
    } else {
      infos = [];
      let shift = 0;
      for (let b = 0; b < bufs.length; b++) {
        for (const info of infosPerBuf[b]!) {
          info.position += shift;
          infos.push(info);
        }
        shift += bufs[b]!.length;
      }
      bytes = shift;
    }
    const firstOffset = infos[0]!.baseOffset;
    const lastOffset = lastOffsetOfInfo(infos.at(-1)!);
    await this.maybeRoll(bytes, infos.length, firstOffset, lastOffset, now);

    const seg = this.active();
    const before = seg.snapshot();
    const position = seg.size;
    const epochsBefore = new EpochCache(this.epochs.all().map((e) => ({ ...e })));
    const entries = new IndexEntries();
    try {
      await this.pool.withFile(seg.logPath, (f) =>
        bufs.length === 1 ? f.write(position, bufs[0]!) : f.writev(position, bufs),
      );
      const state = seg.snapshot();
      for (const info of infos) {
        trackBatch(state, seg.baseOffset, info, position + info.position, this.config.indexIntervalBytes, entries);
      }
      let epochsChanged = false;
      if (assign) epochsChanged = this.epochs.assign(leaderEpoch, firstOffset);
      else
        for (const info of infos)
          epochsChanged = this.epochs.assign(info.partitionLeaderEpoch, info.baseOffset) || epochsChanged;
      if (epochsChanged) await this.persistEpochs();
      // Publish: readers see the new bytes (and index entries) from here on.
      seg.restore(state);
      for (const n of entries.offset) seg.pendingOffset.push(n);
      for (const n of entries.time) seg.pendingTime.push(n);
      this.endOffset = lastOffset + 1;
    } catch (err) {
      this.epochs = epochsBefore;
      await this.rollback(seg, before);
      throw toStorageError(err, seg.logPath);
    }
    if (seg.pendingOffset.length + seg.pendingTime.length >= PENDING_INDEX_NUMBERS) {
      try {
        await this.writePendingIndex(seg);
      } catch {
        // Kept pending; written by a later append, the next flush, roll or close.
      }
    }
    for (const r of results) this.unflushedRecords += r.recordCount;
    if (this.unflushedRecords >= this.config.flushMessages) await this.flushNow();
    for (const r of results) r.logStartOffset = this.startOffset;
    return results;
  }

  /** Writes a segment's pending index entries to its index files. */
  private async writePendingIndex(seg: Segment): Promise<void> {
    if (seg.pendingOffset.length > 0) {
      const entries = new IndexEntries();
      entries.offset.push(...seg.pendingOffset);
      const data = entries.offsetBuffer();
      const at = (seg.indexEntries - seg.pendingOffset.length / 2) * OFFSET_INDEX_ENTRY_SIZE;
      await this.pool.withFile(seg.indexPath, (f) => f.write(at, data));
      this.indexCache.append(seg.indexPath, data, at);
      seg.pendingOffset = [];
    }
    if (seg.pendingTime.length > 0) {
      const entries = new IndexEntries();
      entries.time.push(...seg.pendingTime);
      const data = entries.timeBuffer();
      const at = (seg.timeIndexEntries - seg.pendingTime.length / 2) * TIME_INDEX_ENTRY_SIZE;
      await this.pool.withFile(seg.timeIndexPath, (f) => f.write(at, data));
      this.indexCache.append(seg.timeIndexPath, data, at);
      seg.pendingTime = [];
    }
  }

  /** Adds the final time index entry of a segment that stops being active (or closes). */
  private async finishTimeIndex(seg: Segment): Promise<void> {
    const state = seg.snapshot();
    const entries = new IndexEntries();
    finalTimeEntry(state, seg.baseOffset, entries);
    seg.restore(state);
    seg.pendingTime.push(...entries.time);
    await this.writePendingIndex(seg);
  }

  /** Cuts back whatever a failed append may have written; retried before the next append. */
  private async rollback(seg: Segment, state: SegmentState): Promise<void> {
    this.pendingRepair = { seg, state };
    try {
      await this.repair();
    } catch {
      // Left for the next append (or the next open's recovery).
    }
  }

  private async repair(): Promise<void> {
    const pending = this.pendingRepair;
    if (!pending) return;
    const { seg, state } = pending;
    if (this.segments.includes(seg)) await this.pool.withFile(seg.logPath, (f) => f.truncate(state.size));
    this.pendingRepair = undefined;
  }

  private async maybeRoll(bytes: number, batches: number, first: number, last: number, now: number): Promise<void> {
    const seg = this.active();
    if (seg.size === 0) return;
    const c = this.config;
    const maxOffsetEntries = Math.floor(c.segmentIndexBytes / OFFSET_INDEX_ENTRY_SIZE);
    const maxTimeEntries = Math.floor(c.segmentIndexBytes / TIME_INDEX_ENTRY_SIZE);
    if (
      seg.size + bytes > c.segmentBytes ||
      now - seg.createdMs >= c.segmentMs ||
      seg.indexEntries + batches >= maxOffsetEntries ||
      seg.timeIndexEntries + batches + 1 >= maxTimeEntries ||
      last - seg.baseOffset > MAX_RELATIVE_OFFSET
    ) {
      await this.rollTo(Math.max(first, this.endOffset));
    }
  }

  /** Closes the active segment (final time index entry, fsync) and starts one at `base`. */
  private async rollTo(base: number): Promise<void> {
    const old = this.active();
    await this.finishTimeIndex(old);
    let seg: Segment;
    try {
      seg = await this.createSegment(base);
    } catch (err) {
      // Leave no half-created segment behind (load() also copes if this fails too).
      await this.deleteSegmentFiles(new Segment(this.dir, base, 0)).catch(() => {});
      throw err;
    }
    if (old.size === 0) {
      this.segments = [...this.segments.slice(0, -1), seg];
      await this.deleteSegmentFiles(old);
    } else {
      this.segments = [...this.segments, seg];
    }
    await this.disk.syncDir(this.dir);
    // Kafka flushes a segment when it rolls, in the background: recovery after a crash
    // then only scans from here. A failure leaves the recovery point behind (more to scan).
    this.flushUpTo(base).catch((err: unknown) => this.options.onBackgroundError?.(err));
  }

  /** Public roll (tests, tools): closes the active segment if it has data. */
  roll(): Promise<void> {
    return this.enqueue(async () => {
      if (this.active().size > 0) await this.rollTo(this.endOffset);
    });
  }

  // ---- flush --------------------------------------------------------------------------

  private async flushSegmentsBelow(offset: number): Promise<void> {
    if (offset <= this.recoveryPoint) return;
    const from = this.floorIndex(this.segments, this.recoveryPoint);
    for (let i = from; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      if (seg.baseOffset >= offset) break;
      await this.writePendingIndex(seg);
      await this.syncSegment(seg);
    }
    this.recoveryPoint = offset;
    if (offset >= this.endOffset) this.unflushedRecords = 0;
    this.lastFlushMs = this.clock.monotonicMs();
    await this.writeNumberCheckpoint(RECOVERY_POINT_CHECKPOINT, this.recoveryPoint);
  }

  private flushNow(): Promise<void> {
    return this.flushSegmentsBelow(this.endOffset);
  }

  /**
   * fsyncs everything appended so far without holding the append queue during the fsync:
   * pending index entries are written and the segments picked inside the queue, synced
   * outside it, and the recovery point advanced inside it again (unless a truncation
   * happened meanwhile: the synced bytes may then be gone). Flushes run one at a time.
   */
  flush(): Promise<void> {
    return this.flushUpTo(undefined);
  }

  private flushUpTo(target: number | undefined): Promise<void> {
    const run = async (): Promise<void> => {
      const plan = await this.enqueue(async () => {
        const to = target ?? this.endOffset;
        if (to <= this.recoveryPoint) return undefined;
        const segments = this.segments
          .slice(this.floorIndex(this.segments, this.recoveryPoint))
          .filter((seg) => seg.baseOffset < to);
        for (const seg of segments) await this.writePendingIndex(seg);
        const unflushed = this.unflushedRecords;
        if (to >= this.endOffset) this.unflushedRecords = 0;
        return { to, segments, truncations: this.truncations, unflushed };
      });
      if (!plan) return;
      try {
        for (const seg of plan.segments) {
          try {
            await this.syncSegment(seg);
          } catch (err) {
            // Deleted by retention meanwhile: nothing left to sync.
            if (this.segments.includes(seg)) throw err;
          }
        }
      } catch (err) {
        this.unflushedRecords += plan.unflushed;
        throw err;
      }
      await this.enqueue(async () => {
        if (this.truncations !== plan.truncations || plan.to <= this.recoveryPoint) return;
        this.recoveryPoint = plan.to;
        this.lastFlushMs = this.clock.monotonicMs();
        await this.writeNumberCheckpoint(RECOVERY_POINT_CHECKPOINT, this.recoveryPoint);
      });
    };
    const result = this.flushChain.then(run);
    this.flushChain = result.catch(() => {});
    return result;
  }

  async maybeFlush(nowMs: number): Promise<void> {
    void nowMs;
    if (!Number.isFinite(this.config.flushMs)) return;
    if (this.clock.monotonicMs() - this.lastFlushMs < this.config.flushMs) return;
    if (this.endOffset <= this.recoveryPoint) return;
    await this.flush();
  }

  // ---- read ---------------------------------------------------------------------------

  async read(fetchOffset: number, maxBytes: number, options: ReadOptions = {}): Promise<ReadResult> {
    this.checkOpen();
    const logStartOffset = this.startOffset;
    const logEndOffset = this.endOffset;
    const highWatermark = this.hw;
    if (fetchOffset < logStartOffset || fetchOffset > logEndOffset) {
      return { kind: 'offset-out-of-range', logStartOffset, logEndOffset, highWatermark };
    }
    const limit = Math.min(options.maxOffset ?? logEndOffset, logEndOffset);
    const minOneBatch = options.minOneBatch ?? true;
    const done = (records: Buffer): ReadResult => ({
      kind: 'records',
      records,
      logStartOffset,
      logEndOffset,
      highWatermark,
    });
    if (fetchOffset >= limit) return done(Buffer.alloc(0));
    return this.lock.shared(async () => {
      const segments = this.segments;
      for (let i = this.floorIndex(segments, fetchOffset); i < segments.length; i++) {
        const seg = segments[i]!;
        if (seg.baseOffset >= limit) break;
        const end = seg.size;
        if (end === 0) continue;
        const cursor = new Cursor(
          this,
          seg.logPath,
          end,
          // The fetched range and the header after it in one read: the records go out as a
          // view of that chunk (one read, one allocation per fetch rather than three).
          Math.min(Math.max(maxBytes, SCAN_CHUNK_BYTES) + READ_SLACK_BYTES, MAX_READ_CHUNK_BYTES),
          options.allocate,
          i === segments.length - 1 ? end - RECENT_TAIL_BYTES : Number.POSITIVE_INFINITY,
        );
        let pos = await this.positionFor(seg, fetchOffset);
        let start = -1;
        let total = 0;
        for (;;) {
          const info = await cursor.info(pos);
          if (!info) break;
          const last = lastOffsetOfInfo(info);
          if (start < 0) {
            if (last < fetchOffset) {
              pos += info.sizeInBytes;
              continue;
            }
            start = pos;
          }
          if (last >= limit) break;
          if (total + info.sizeInBytes > maxBytes && (total > 0 || !minOneBatch)) break;
          total += info.sizeInBytes;
          pos += info.sizeInBytes;
        }
        if (start < 0) continue; // nothing at or after fetchOffset in this segment
        return done(total === 0 ? Buffer.alloc(0) : await cursor.bytes(start, total));
      }
      return done(Buffer.alloc(0));
    });
  }

  /** readAt for Cursor. */
  readBytes(path: string, position: number, length: number, into?: Buffer, cached?: boolean): Promise<Buffer> {
    return this.pool.withFile(path, (f) => f.read(position, length, into, cached));
  }

  /** A file position at or before the batch containing `offset` (from the offset index). */
  private async positionFor(seg: Segment, offset: number): Promise<number> {
    const rel = offset - seg.baseOffset;
    const pending = seg.pendingOffset;
    const fileEntries = seg.indexEntries - pending.length / 2;
    if (pending.length > 0 && pending[0]! <= rel) {
      let found = 0;
      for (let i = 0; i < pending.length && pending[i]! <= rel; i += 2) found = i;
      return pending[found + 1]!;
    }
    if (fileEntries === 0) return 0;
    const index = await this.loadIndex(seg.indexPath, fileEntries, OFFSET_INDEX_ENTRY_SIZE);
    return lookupOffsetIndex(index, fileEntries, rel);
  }

  /** Relative offset of the last time index entry with timestamp < timestampMs (-1 if none). */
  private async timeIndexLookup(seg: Segment, timestampMs: number): Promise<number> {
    const pending = seg.pendingTime;
    const fileEntries = seg.timeIndexEntries - pending.length / 2;
    if (pending.length > 0 && pending[0]! < timestampMs) {
      let found = 0;
      for (let i = 0; i < pending.length && pending[i]! < timestampMs; i += 2) found = i;
      return pending[found + 1]!;
    }
    if (fileEntries === 0) return -1;
    const index = await this.loadIndex(seg.timeIndexPath, fileEntries, TIME_INDEX_ENTRY_SIZE);
    return lookupTimeIndex(index, fileEntries, timestampMs);
  }

  async offsetForTimestamp(timestampMs: number): Promise<TimestampAndOffset | undefined> {
    this.checkOpen();
    return this.lock.shared(async () => {
      for (const seg of this.segments) {
        await this.ensureMeta(seg);
        if (seg.maxTimestamp < timestampMs || seg.size === 0) continue;
        let from = 0;
        const rel = await this.timeIndexLookup(seg, timestampMs);
        if (rel >= 0) from = await this.positionFor(seg, seg.baseOffset + rel);
        const cursor = new Cursor(this, seg.logPath, seg.size, SCAN_CHUNK_BYTES);
        for (let pos = from; ; ) {
          const info = await cursor.info(pos);
          if (!info) break;
          if (info.maxTimestamp >= timestampMs && lastOffsetOfInfo(info) >= this.startOffset) {
            const bytes = await cursor.bytes(pos, info.sizeInBytes);
            const found = firstRecordAtOrAfter(bytes, 0, timestampMs, this.startOffset);
            if (found) return { ...found, leaderEpoch: info.partitionLeaderEpoch };
          }
          pos += info.sizeInBytes;
        }
      }
      return undefined;
    });
  }

  async maxTimestamp(): Promise<TimestampAndOffset | undefined> {
    this.checkOpen();
    return this.lock.shared(async () => {
      let best: Segment | undefined;
      for (const seg of this.segments) {
        await this.ensureMeta(seg);
        if (seg.size > 0 && seg.maxTimestamp >= 0 && (!best || seg.maxTimestamp > best.maxTimestamp)) best = seg;
      }
      if (!best) return undefined;
      const position = await this.positionFor(best, best.offsetOfMaxTimestamp);
      const cursor = new Cursor(this, best.logPath, best.size, SCAN_CHUNK_BYTES);
      for (let pos = position; ; ) {
        const info = await cursor.info(pos);
        if (!info) break;
        if (info.baseOffset >= best.offsetOfMaxTimestamp) {
          const bytes = await cursor.bytes(pos, info.sizeInBytes);
          const record = firstRecordAtOrAfter(bytes, 0, best.maxTimestamp, 0);
          return {
            timestamp: best.maxTimestamp,
            offset: record?.offset ?? info.baseOffset,
            leaderEpoch: info.partitionLeaderEpoch,
          };
        }
        pos += info.sizeInBytes;
      }
      return { timestamp: best.maxTimestamp, offset: best.offsetOfMaxTimestamp, leaderEpoch: -1 };
    });
  }

  // ---- truncation ---------------------------------------------------------------------

  truncateTo(offset: number): Promise<void> {
    return this.enqueue(() =>
      this.lock.exclusive(async () => {
        if (offset >= this.endOffset) return;
        if (offset < this.startOffset) {
          await this.resetTo(offset);
          return;
        }
        await this.repair();
        this.truncations++;
        const i = this.floorIndex(this.segments, offset);
        const seg = this.segments[i]!;
        for (const later of this.segments.slice(i + 1)) await this.deleteSegmentFiles(later);
        this.segments = this.segments.slice(0, i + 1);
        await this.truncateSegment(seg, offset);
        this.endOffset = seg.nextOffset;
        await this.txnIndex.truncateFrom(this.endOffset);
        this.hw = Math.min(this.hw, this.endOffset);
        this.cleanerCheckpoint = Math.min(this.cleanerCheckpoint, this.endOffset);
        if (this.epochs.truncateFromEnd(this.endOffset)) await this.persistEpochs();
        if (this.recoveryPoint > this.endOffset) {
          this.recoveryPoint = this.endOffset;
          await this.writeNumberCheckpoint(RECOVERY_POINT_CHECKPOINT, this.recoveryPoint);
        }
      }),
    );
  }

  /** Cuts a segment before the batch containing `offset` (or at its end). */
  private async truncateSegment(seg: Segment, offset: number): Promise<void> {
    await this.writePendingIndex(seg);
    const cursor = new Cursor(this, seg.logPath, seg.size, SCAN_CHUNK_BYTES);
    let pos = await this.positionFor(seg, offset);
    let newEnd = offset;
    for (;;) {
      const info = await cursor.info(pos);
      if (!info) break;
      if (lastOffsetOfInfo(info) >= offset) {
        newEnd = Math.min(offset, info.baseOffset);
        break;
      }
      pos += info.sizeInBytes;
    }
    const rel = newEnd - seg.baseOffset;
    const offsetEntries = countOffsetEntriesBelow(
      await this.loadIndex(seg.indexPath, seg.indexEntries, OFFSET_INDEX_ENTRY_SIZE),
      seg.indexEntries,
      rel,
    );
    const timeIndex = await this.loadIndex(seg.timeIndexPath, seg.timeIndexEntries, TIME_INDEX_ENTRY_SIZE);
    const timeEntries = countTimeEntriesBelow(timeIndex, seg.timeIndexEntries, rel);
    await this.pool.withFile(seg.logPath, (f) => f.truncate(pos));
    await this.pool.withFile(seg.indexPath, (f) => f.truncate(offsetEntries * OFFSET_INDEX_ENTRY_SIZE));
    await this.pool.withFile(seg.timeIndexPath, (f) => f.truncate(timeEntries * TIME_INDEX_ENTRY_SIZE));
    this.indexCache.invalidate(seg.indexPath);
    this.indexCache.invalidate(seg.timeIndexPath);
    // Recompute the tail state from the last remaining index entries.
    const state = emptySegmentState(seg.baseOffset);
    state.indexEntries = offsetEntries;
    state.timeIndexEntries = timeEntries;
    if (timeEntries > 0) {
      const at = (timeEntries - 1) * TIME_INDEX_ENTRY_SIZE;
      state.maxTimestamp = state.lastTimeIndexTimestamp = Number(timeIndex.readBigInt64BE(at));
      state.offsetOfMaxTimestamp = seg.baseOffset + timeIndex.readInt32BE(at + 8);
    }
    let from = 0;
    if (offsetEntries > 0) {
      const index = await this.loadIndex(seg.indexPath, offsetEntries, OFFSET_INDEX_ENTRY_SIZE);
      from = index.readInt32BE((offsetEntries - 1) * OFFSET_INDEX_ENTRY_SIZE + 4);
    }
    for await (const item of this.streamBatches(seg.logPath, from, pos, false)) {
      if ('bad' in item) throw new StorageError('corrupt', `bad batch while truncating: ${item.bad}`, seg.logPath);
      const info = readBatchInfo(item.buf, item.at, item.position);
      if (info.maxTimestamp > state.maxTimestamp) {
        state.maxTimestamp = info.maxTimestamp;
        state.offsetOfMaxTimestamp = info.baseOffset;
      }
    }
    state.size = pos;
    state.nextOffset = newEnd;
    state.bytesSinceLastIndexEntry = pos - from;
    await this.syncSegment(seg);
    seg.restore(state);
    seg.metaLoaded = true;
    seg.generation++;
  }

  truncateFullyAndStartAt(offset: number): Promise<void> {
    return this.enqueue(() => this.lock.exclusive(() => this.resetTo(offset)));
  }

  private async resetTo(offset: number): Promise<void> {
    this.pendingRepair = undefined;
    this.truncations++;
    for (const seg of this.segments) await this.deleteSegmentFiles(seg);
    await this.txnIndex.dropAll();
    this.segments = [await this.createSegment(offset)];
    await this.disk.syncDir(this.dir);
    this.startOffset = this.endOffset = this.hw = this.recoveryPoint = this.cleanerCheckpoint = offset;
    this.unflushedRecords = 0;
    this.epochs.clear();
    await this.persistEpochs();
    await this.writeNumberCheckpoint(LOG_START_CHECKPOINT, offset);
    await this.writeNumberCheckpoint(RECOVERY_POINT_CHECKPOINT, offset);
  }

  // ---- retention and DeleteRecords ----------------------------------------------------

  deleteRecordsBefore(offset: number): Promise<DeleteRecordsResult> {
    return this.enqueue(async () => {
      if (offset > this.hw) return { kind: 'offset-out-of-range', lowWatermark: this.startOffset };
      if (offset > this.startOffset) {
        await this.writeNumberCheckpoint(LOG_START_CHECKPOINT, offset);
        this.startOffset = offset;
        await this.deleteSegmentPrefix(this.countBelowStart());
        if (this.epochs.truncateFromStart(this.startOffset)) await this.persistEpochs();
      }
      return { kind: 'ok', lowWatermark: this.startOffset };
    });
  }

  private countBelowStart(): number {
    let n = 0;
    while (n < this.segments.length - 1 && this.segments[n + 1]!.baseOffset <= this.startOffset) n++;
    return n;
  }

  deleteOldSegments(nowMs: number): Promise<number> {
    return this.enqueue(async () => {
      const closed = this.segments.length - 1;
      let count = this.countBelowStart();
      const c = this.config;
      if (c.cleanupPolicy.delete) {
        if (c.retentionMs >= 0) {
          let n = 0;
          while (n < closed) {
            const seg = this.segments[n]!;
            await this.ensureMeta(seg);
            if (nowMs - seg.maxTimestamp <= c.retentionMs) break;
            n++;
          }
          count = Math.max(count, n);
        }
        if (c.retentionBytes >= 0) {
          let excess = this.sizeInBytes() - c.retentionBytes;
          let n = 0;
          while (n < closed && excess - this.segments[n]!.size >= 0) {
            excess -= this.segments[n]!.size;
            n++;
          }
          count = Math.max(count, n);
        }
      }
      if (count === 0) return 0;
      await this.deleteSegmentPrefix(count);
      return count;
    });
  }

  /** Deletes the first `count` segments (never the active one); moves the log start offset. */
  private async deleteSegmentPrefix(count: number): Promise<void> {
    const n = Math.min(count, this.segments.length - 1);
    if (n <= 0) return;
    const doomed = this.segments.slice(0, n);
    await this.lock.exclusive(async () => {
      this.segments = this.segments.slice(n);
      this.startOffset = Math.max(this.startOffset, this.segments[0]!.baseOffset);
      this.hw = Math.max(this.hw, this.startOffset);
      this.cleanerCheckpoint = Math.max(this.cleanerCheckpoint, this.startOffset);
    });
    if (this.epochs.truncateFromStart(this.startOffset)) await this.persistEpochs();
    for (const seg of doomed) await this.deleteSegmentFiles(seg);
  }

  // ---- compaction ---------------------------------------------------------------------

  async compact(nowMs: number, options: { force?: boolean } = {}): Promise<CompactionResult> {
    const result: CompactionResult = { segmentsCleaned: 0, bytesBefore: 0, bytesAfter: 0 };
    if (!this.config.cleanupPolicy.compact || this.compacting || this.closed) return result;
    this.compacting = true;
    const segments = this.segments;
    const generations = segments.map((seg) => [seg, seg.generation] as const);
    try {
      const activeIndex = segments.length - 1;
      let end = activeIndex;
      if (this.config.minCompactionLagMs > 0) {
        for (let j = 0; j < activeIndex; j++) {
          await this.ensureMeta(segments[j]!);
          if (segments[j]!.maxTimestamp > nowMs - this.config.minCompactionLagMs) {
            end = j;
            break;
          }
        }
      }
      if (end <= 0) return result;
      const firstDirty = Math.max(this.cleanerCheckpoint, this.startOffset);
      let dirtyStart = end;
      for (let j = 0; j < end; j++) {
        const next = segments[j + 1]!.baseOffset;
        if (next > firstDirty) {
          dirtyStart = j;
          break;
        }
      }
      let cleanBytes = 0;
      let dirtyBytes = 0;
      for (let j = 0; j < end; j++) {
        if (j < dirtyStart) cleanBytes += segments[j]!.size;
        else dirtyBytes += segments[j]!.size;
      }
      if (!options.force && dirtyRatio(cleanBytes, dirtyBytes) < this.config.minCleanableDirtyRatio) return result;

      // Pass 1: the latest offset of each key in the dirty range, the last batch of each producer.
      const keys = new Map<string, number>();
      const producerLastBatch = new Map<bigint, number>();
      const txns = new TxnCleaning(this.txnIndex.all());
      for (let j = 0; j < end; j++) {
        if (j >= dirtyStart && keys.size >= this.maxCompactionKeys) {
          end = j;
          break;
        }
        const seg = segments[j]!;
        for await (const item of this.streamBatches(seg.logPath, 0, seg.size, false)) {
          if ('bad' in item) throw new StorageError('corrupt', item.bad, seg.logPath);
          noteProducerBatch(item.buf, item.at, producerLastBatch);
          txns.note(item.buf, item.at, j >= dirtyStart ? keys : undefined);
          if (j >= dirtyStart) collectKeys(item.buf, item.at, keys);
        }
      }
      txns.resolveKeys(keys);
      const ctx = { keys, producerLastBatch, nowMs, deleteRetentionMs: this.config.deleteRetentionMs, txns };
      // Pass 2: rewrite groups of consecutive segments (merged while they fit in one
      // segment), oldest first, so a crash never resurrects a value whose tombstone was
      // already dropped from a later segment.
      for (const group of this.cleaningGroups(segments, end)) {
        const before = group.reduce((n, seg) => n + seg.size, 0);
        if (await this.cleanGroup(group, ctx)) {
          result.segmentsCleaned += group.length;
          result.bytesBefore += before;
          result.bytesAfter += group[0]!.size;
        }
      }
      await this.enqueue(async () => {
        // Aborted transactions whose data was already gone: their index entries go (compaction.ts).
        await this.txnIndex.remove(txns.abortsWithoutData());
        this.cleanerCheckpoint = Math.min(Math.max(this.cleanerCheckpoint, segments[end]!.baseOffset), this.endOffset);
        await this.writeNumberCheckpoint(CLEANER_CHECKPOINT, this.cleanerCheckpoint);
      });
      return result;
    } catch (err) {
      // Segments are read without excluding truncation or retention (so readers never
      // queue behind a long cleaning); if one changed under us, give up this pass quietly.
      const changed = generations.some(([seg, gen]) => !this.segments.includes(seg) || seg.generation !== gen);
      if (changed && !this.closed) return result;
      throw err;
    } finally {
      this.compacting = false;
    }
  }

  /** Consecutive segments of [0, end) whose combined size and offset range fit one segment. */
  private cleaningGroups(segments: readonly Segment[], end: number): Segment[][] {
    const c = this.config;
    const maxIndexEntries = Math.floor(c.segmentIndexBytes / TIME_INDEX_ENTRY_SIZE) - 2;
    const groups: Segment[][] = [];
    let j = 0;
    while (j < end) {
      const group = [segments[j]!];
      let bytes = segments[j]!.size;
      while (j + group.length < end) {
        const next = segments[j + group.length]!;
        const after = segments[j + group.length + 1]!; // exists: end <= the active segment's index
        if (bytes + next.size > c.segmentBytes) break;
        if (after.baseOffset - 1 - group[0]!.baseOffset > MAX_RELATIVE_OFFSET) break;
        if ((bytes + next.size) / c.indexIntervalBytes >= maxIndexEntries) break;
        group.push(next);
        bytes += next.size;
      }
      groups.push(group);
      j += group.length;
    }
    return groups;
  }

  /**
   * Writes the cleaned copy of a group of consecutive segments as one segment (named
   * after the first) and swaps it in atomically. True when swapped.
   *
   * Swap order (crash-safe): `<first>.log.cleaned` (+ indexes) fsynced; renamed to
   * `<first>.log.swap` (the commit point); the other segments' logs renamed to `.deleted`;
   * the cleaned indexes renamed over the first's; `.swap` renamed over the first's log;
   * `.deleted` files removed. load() deletes `.cleaned` and `.deleted` files and completes
   * a `.swap`, deleting the segments whose base offsets it covers.
   */
  private async cleanGroup(group: readonly Segment[], ctx: Parameters<typeof cleanBatch>[2]): Promise<boolean> {
    const first = group[0]!;
    const generations = group.map((seg) => seg.generation);
    const cleanedLog = `${first.logPath}.cleaned`;
    const cleanedIndex = `${first.indexPath}.cleaned`;
    const cleanedTimeIndex = `${first.timeIndexPath}.cleaned`;
    const state = emptySegmentState(first.baseOffset);
    const entries = new IndexEntries();
    let changed = group.length > 1;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let written = 0;
    const flushOut = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const data = Buffer.concat(pending, pendingBytes);
      await this.pool.withFile(cleanedLog, (f) => f.write(written, data), true);
      written += data.length;
      pending = [];
      pendingBytes = 0;
    };
    await this.pool.withFile(cleanedLog, (f) => f.truncate(0), true);
    for (const seg of group) {
      for await (const item of this.streamBatches(seg.logPath, 0, seg.size, false)) {
        if ('bad' in item) throw new StorageError('corrupt', item.bad, seg.logPath);
        const cleaned = cleanBatch(item.buf, item.at, ctx);
        if (cleaned !== 'keep') changed = true;
        if (cleaned === null) continue;
        const bytes = cleaned === 'keep' ? item.buf.subarray(item.at, item.at + item.size) : cleaned;
        const info: BatchInfo = readBatchInfo(bytes, 0, state.size);
        trackBatch(state, first.baseOffset, info, state.size, this.config.indexIntervalBytes, entries);
        pending.push(bytes);
        pendingBytes += bytes.length;
        if (pendingBytes >= BULK_CHUNK_BYTES) await flushOut();
      }
    }
    await flushOut();
    if (!changed) {
      await this.unlinkQuietly(cleanedLog);
      return false;
    }
    finalTimeEntry(state, first.baseOffset, entries);
    await this.pool.withFile(cleanedIndex, (f) => f.write(0, entries.offsetBuffer()), true);
    await this.pool.withFile(cleanedTimeIndex, (f) => f.write(0, entries.timeBuffer()), true);
    for (const path of [cleanedLog, cleanedIndex, cleanedTimeIndex]) {
      await this.pool.withFile(path, (f) => f.sync());
      this.pool.invalidate(path);
    }
    return this.enqueue(() =>
      this.lock.exclusive(async () => {
        const stale = group.some(
          (seg, i) => !this.segments.includes(seg) || seg === this.active() || seg.generation !== generations[i],
        );
        if (stale) {
          for (const path of [cleanedLog, cleanedIndex, cleanedTimeIndex]) await this.unlinkQuietly(path);
          return false;
        }
        const swap = `${first.logPath}.swap`;
        await this.disk.rename(cleanedLog, swap); // the commit point
        try {
          for (const seg of group.slice(1)) {
            await this.disk.rename(seg.logPath, `${seg.logPath}.deleted`);
            await this.unlinkQuietly(seg.indexPath);
            await this.unlinkQuietly(seg.timeIndexPath);
          }
          await this.disk.rename(cleanedIndex, first.indexPath);
          await this.disk.rename(cleanedTimeIndex, first.timeIndexPath);
          await this.disk.rename(swap, first.logPath);
          await this.disk.syncDir(this.dir);
        } catch (err) {
          // Past the commit point the files no longer match this log's state: stop serving
          // it; the next open completes the swap.
          this.failed = toStorageError(err, swap);
          throw this.failed;
        }
        for (const seg of group) {
          for (const path of [seg.logPath, seg.indexPath, seg.timeIndexPath]) {
            this.pool.invalidate(path);
            this.indexCache.invalidate(path);
          }
        }
        for (const seg of group.slice(1)) await this.unlinkQuietly(`${seg.logPath}.deleted`).catch(() => {});
        await this.txnIndex.merge(
          first.baseOffset,
          group.map((seg) => seg.baseOffset),
        );
        first.restore(state);
        first.pendingOffset = [];
        first.pendingTime = [];
        first.metaLoaded = true;
        first.generation++;
        const merged = new Set(group.slice(1));
        this.segments = this.segments.filter((seg) => !merged.has(seg));
        return true;
      }),
    );
  }

  // ---- aborted transactions -------------------------------------------------------------

  addAbortedTxn(entry: AbortedTxn): Promise<void> {
    return this.enqueue(() =>
      this.lock.exclusive(async () => {
        this.checkOpen();
        if (entry.lastOffset < this.startOffset || entry.lastOffset >= this.endOffset) return;
        const seg = this.segments[this.floorIndex(this.segments, entry.lastOffset)]!;
        await this.txnIndex.add(seg.baseOffset, entry);
      }),
    );
  }

  abortedTxns(fetchOffset: number, upperBoundOffset: number): AbortedTxn[] {
    return this.txnIndex.collect(fetchOffset, upperBoundOffset);
  }

  // ---- close --------------------------------------------------------------------------

  /** Flushes, writes the final time index entry of the active segment, and closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushChain;
    return this.enqueue(async () => {
      await this.repair();
      const seg = this.active();
      await this.finishTimeIndex(seg);
      await this.flushSegmentsBelow(this.endOffset);
      await this.syncSegment(seg);
      this.closed = true;
      this.releaseFiles();
    });
  }

  /** Abandons the log without flushing (a simulated crash, or deleting the partition). */
  abandon(): void {
    this.closed = true;
    this.releaseFiles();
  }

  /** Closes this log's pooled handles and drops its cached indexes (O(segments)). */
  private releaseFiles(): void {
    for (const seg of this.segments) {
      for (const path of [seg.logPath, seg.indexPath, seg.timeIndexPath]) {
        this.pool.invalidate(path);
        this.indexCache.invalidate(path);
      }
    }
  }

  /** Waits for queued operations (tests). */
  drain(): Promise<void> {
    return this.queue.drain();
  }
}

/** Reads batch headers of one file sequentially through a chunk buffer. */
class Cursor {
  private chunk: Buffer = Buffer.alloc(0);
  private chunkPos = 0;

  constructor(
    private readonly log: FileLog,
    private readonly path: string,
    private readonly end: number,
    private readonly chunkSize: number,
    /** Buffers to read into (ReadOptions.allocate); a new one per read when absent. */
    private readonly allocate?: (bytes: number) => Buffer,
    /** Reads from this position on are of bytes just appended (RECENT_TAIL_BYTES). */
    private readonly cachedFrom = Number.POSITIVE_INFINITY,
  ) {}

  private read(pos: number, length: number): Promise<Buffer> {
    return this.log.readBytes(this.path, pos, length, this.allocate?.(length), pos >= this.cachedFrom);
  }

  async info(pos: number): Promise<BatchInfo | undefined> {
    if (pos + BATCH_HEADER_SIZE > this.end) return undefined;
    if (pos < this.chunkPos || pos + BATCH_HEADER_SIZE > this.chunkPos + this.chunk.length) {
      this.chunk = await this.read(pos, Math.min(this.chunkSize, this.end - pos));
      this.chunkPos = pos;
      if (this.chunk.length < BATCH_HEADER_SIZE) {
        throw new StorageError('corrupt', `segment shorter than expected at ${pos}`, this.path);
      }
    }
    const info = readBatchInfo(this.chunk, pos - this.chunkPos, pos);
    if (info.sizeInBytes < BATCH_HEADER_SIZE || pos + info.sizeInBytes > this.end) {
      throw new StorageError('corrupt', `bad batch length at ${pos}`, this.path);
    }
    return info;
  }

  async bytes(pos: number, length: number): Promise<Buffer> {
    if (pos >= this.chunkPos && pos + length <= this.chunkPos + this.chunk.length) {
      return this.chunk.subarray(pos - this.chunkPos, pos - this.chunkPos + length);
    }
    const buf = await this.read(pos, length);
    if (buf.length < length) throw new StorageError('corrupt', `segment shorter than expected at ${pos}`, this.path);
    return buf.subarray(0, length);
  }
}
