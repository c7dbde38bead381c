/**
 * Durable Raft state on a Disk (src/env/disk.ts), in one directory:
 *
 *   quorum-state                     JSON of QuorumStateData (epoch, leader, vote), replaced atomically
 *   log                              Kafka record batches (v2, CRC32C), one per Raft batch: the
 *                                    bytes of a Kafka `.log` segment of __cluster_metadata-0
 *   snapshot-<endOffset>-<epoch>     u32 crc32c + the state machine's snapshot, written atomically
 *
 * Persisting is two steps so a simulated slow disk can crash between them: `write`
 * puts new log frames in the file (page cache: lost on power loss), `sync` makes them
 * durable and replaces quorum-state and snapshot files atomically (tmp + fsync + rename).
 * Recovery keeps the longest prefix of valid frames (a torn tail is cut off) and the
 * newest valid snapshot, and drops log batches the snapshot covers. A log whose start
 * moved (a snapshot) is rewritten whole: the metadata log stays small between snapshots.
 */
import { crc32c } from '@node-rs/crc32';
import type { Disk, DiskFile } from '../env/disk.ts';
import { readWholeFile, writeFileAtomic } from '../env/disk.ts';
import { checkBatchFraming, decodeRecordBatch } from '../protocol/records/batch.ts';
import { CorruptRecordError } from '../protocol/records/errors.ts';
import { RaftLog } from './log.ts';
import type { PersistWork } from './raft.ts';
import type { LogBatch, QuorumState, SnapshotId } from './types.ts';
import { batchEnd, NO_ID } from './types.ts';
import { encodeRaftBatches } from './wire-batches.ts';

export interface Recovered {
  quorum: QuorumState;
  log: RaftLog;
  snapshotData?: Buffer;
}

function encodeBatch(b: LogBatch): Buffer {
  return encodeRaftBatches([b], 0);
}

/**
 * Reads record batches from `data`; returns them and the byte length of the valid prefix
 * (a torn or corrupt tail, or a batch that does not follow the previous one, ends it).
 */
export function decodeFrames(data: Buffer): { batches: LogBatch[]; validBytes: number; positions: number[] } {
  const batches: LogBatch[] = [];
  const positions: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    let size: number;
    let batch: LogBatch;
    try {
      size = checkBatchFraming(data, pos, true);
      const rb = decodeRecordBatch(data, pos);
      batch = {
        baseOffset: rb.baseOffset,
        epoch: rb.partitionLeaderEpoch,
        records: rb.records.map((r) => Buffer.from(r.value ?? Buffer.alloc(0))),
        control: rb.isControl,
      };
    } catch (err) {
      if (err instanceof CorruptRecordError) break;
      throw err;
    }
    const prev = batches[batches.length - 1];
    if (batch.records.length === 0 || (prev && batchEnd(prev) !== batch.baseOffset)) break;
    positions.push(pos);
    batches.push(batch);
    pos += size;
  }
  return { batches, validBytes: pos, positions };
}

function quorumJson(q: QuorumState, clusterId: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      clusterId,
      leaderId: q.leaderId,
      leaderEpoch: q.epoch,
      votedId: q.votedId,
      appliedOffset: 0,
      currentVoters: null,
      data_version: 0,
    }),
  );
}

export class RaftStore {
  private logFile: DiskFile | undefined;
  /** Base offsets of the batches in the log file and their byte positions. */
  private bases: number[] = [];
  private positions: number[] = [];
  private fileSize = 0;
  private needsSync = false;
  private deferred: PersistWork | undefined;

  private constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private readonly clusterId: string,
  ) {}

  private path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /** Opens (creating when missing) the directory and recovers what survived. */
  static async open(disk: Disk, dir: string, clusterId: string): Promise<{ store: RaftStore; recovered: Recovered }> {
    const store = new RaftStore(disk, dir, clusterId);
    await disk.mkdirp(dir);
    const names = await disk.readdir(dir);
    // Quorum state.
    let quorum: QuorumState = { epoch: 0, leaderId: NO_ID, votedId: NO_ID };
    const qbuf = await readWholeFile(disk, store.path('quorum-state'));
    if (qbuf && qbuf.length > 0) {
      const j = JSON.parse(qbuf.toString('utf8')) as { leaderEpoch: number; leaderId: number; votedId: number };
      quorum = { epoch: j.leaderEpoch, leaderId: j.leaderId, votedId: j.votedId };
    }
    // Newest valid snapshot.
    let snapshot: SnapshotId | undefined;
    let snapshotData: Buffer | undefined;
    const snaps = names
      .map((n) => /^snapshot-(\d+)-(\d+)$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[0], endOffset: Number(m[1]), epoch: Number(m[2]) }))
      .sort((a, b) => b.endOffset - a.endOffset);
    for (const s of snaps) {
      const buf = await readWholeFile(disk, store.path(s.name));
      if (buf && buf.length >= 4 && crc32c(buf.subarray(4)) >>> 0 === buf.readUInt32BE(0)) {
        snapshot = { endOffset: s.endOffset, epoch: s.epoch };
        snapshotData = Buffer.from(buf.subarray(4));
        break;
      }
    }
    for (const s of snaps) {
      if (!snapshot || s.endOffset !== snapshot.endOffset) await disk.unlink(store.path(s.name));
    }
    // Log: the valid prefix.
    const file = await disk.open(store.path('log'), { create: true });
    const data = await file.read(0, await file.size());
    const { batches, validBytes, positions } = decodeFrames(data);
    let kept = batches;
    let rewrite = validBytes !== data.length;
    if (snapshot) {
      const snap = snapshot;
      const at = batches.findIndex((b) => b.baseOffset === snap.endOffset);
      const before = batches.find((b) => b.baseOffset + b.records.length === snap.endOffset);
      const first = batches[0];
      if (first && first.baseOffset === snap.endOffset) kept = batches;
      else if (at >= 0 && (!before || before.epoch === snap.epoch)) kept = batches.slice(at);
      else kept = [];
      if (kept !== batches) rewrite = true;
    } else if (batches.length > 0 && batches[0]!.baseOffset !== 0) {
      kept = [];
      rewrite = true;
    }
    store.logFile = file;
    if (rewrite) {
      await file.close();
      await store.rewriteLog(kept);
    } else {
      store.bases = batches.map((b) => b.baseOffset);
      store.positions = positions;
      store.fileSize = validBytes;
    }
    const log = RaftLog.from(snapshot, kept);
    const recovered: Recovered = { quorum, log };
    if (snapshotData) recovered.snapshotData = snapshotData;
    return { store, recovered };
  }

  private async rewriteLog(batches: readonly LogBatch[]): Promise<void> {
    const frames = batches.map(encodeBatch);
    this.bases = [];
    this.positions = [];
    let pos = 0;
    for (let i = 0; i < batches.length; i++) {
      this.bases.push(batches[i]!.baseOffset);
      this.positions.push(pos);
      pos += frames[i]!.length;
    }
    await this.logFile?.close().catch(() => undefined);
    await writeFileAtomic(this.disk, this.path('log'), Buffer.concat(frames));
    this.logFile = await this.disk.open(this.path('log'));
    this.fileSize = pos;
  }

  /**
   * Step one: new log frames into the file (not yet durable). Work that replaces files
   * (a moved log start, snapshot, quorum state) waits for `sync`.
   */
  async write(work: PersistWork, log: RaftLog): Promise<void> {
    this.deferred = mergeWork(this.deferred, work);
    if (work.logStartChanged || this.deferred.logStartChanged) return;
    if (work.logDirtyFrom === undefined || work.logDirtyFrom === Number.POSITIVE_INFINITY) return;
    const file = this.logFile!;
    const from = work.logDirtyFrom;
    // Cut the file back to `from` when the log was truncated below what we wrote.
    let i = this.bases.length;
    while (i > 0 && this.bases[i - 1]! >= from) i--;
    if (i < this.bases.length) {
      this.fileSize = this.positions[i]!;
      this.bases.length = i;
      this.positions.length = i;
      await file.truncate(this.fileSize);
    }
    const batches = log.batchesFrom(Math.max(from, log.startOffset()), Number.MAX_SAFE_INTEGER);
    if (batches.length === 0) {
      this.needsSync = true;
      return;
    }
    const frames: Buffer[] = [];
    let pos = this.fileSize;
    for (const b of batches) {
      const f = encodeBatch(b);
      this.bases.push(b.baseOffset);
      this.positions.push(pos);
      pos += f.length;
      frames.push(f);
    }
    await file.write(this.fileSize, Buffer.concat(frames));
    this.fileSize = pos;
    this.needsSync = true;
  }

  /** Step two: everything written so far becomes durable; then files are replaced. */
  async sync(log: RaftLog): Promise<void> {
    const work = this.deferred;
    this.deferred = undefined;
    if (work?.snapshot) {
      const { id, data } = work.snapshot;
      const buf = Buffer.allocUnsafe(4 + data.length);
      buf.writeUInt32BE(crc32c(data) >>> 0, 0);
      data.copy(buf, 4);
      await writeFileAtomic(this.disk, this.path(`snapshot-${id.endOffset}-${id.epoch}`), buf);
    }
    if (work?.logStartChanged) {
      await this.rewriteLog(log.allBatches());
      this.needsSync = false;
    } else if (this.needsSync) {
      await this.logFile!.datasync();
      this.needsSync = false;
    }
    if (work?.snapshot) {
      // Older snapshots are no longer needed once the new one and the log agree on disk.
      for (const name of await this.disk.readdir(this.dir)) {
        const m = /^snapshot-(\d+)-(\d+)$/.exec(name);
        if (m && Number(m[1]) !== work.snapshot.id.endOffset) await this.disk.unlink(this.path(name));
      }
    }
    if (work?.quorumState) {
      await writeFileAtomic(this.disk, this.path('quorum-state'), quorumJson(work.quorumState, this.clusterId));
    }
  }

  async close(): Promise<void> {
    await this.logFile?.close();
    this.logFile = undefined;
  }
}

function mergeWork(a: PersistWork | undefined, b: PersistWork): PersistWork {
  if (!a) return { ...b };
  const out: PersistWork = { ...a };
  if (b.quorumState) out.quorumState = b.quorumState;
  if (b.snapshot) out.snapshot = b.snapshot;
  if (b.logStartChanged) out.logStartChanged = true;
  if (b.logDirtyFrom !== undefined)
    out.logDirtyFrom = Math.min(out.logDirtyFrom ?? Number.POSITIVE_INFINITY, b.logDirtyFrom);
  return out;
}
