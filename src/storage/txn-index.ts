/**
 * The aborted-transaction index of a partition log (Kafka's `.txnindex`): one entry per
 * aborted transaction, kept with the segment that holds its ABORT marker.
 *
 *   <dir>/<20-digit segment base>.txnindex
 *
 * Entry (34 bytes, big-endian; the field layout of Kafka's file, our own code):
 *   version int16 (0) | producerId int64 | firstOffset int64 | lastOffset int64 | lastStableOffset int64
 *
 * firstOffset is the transaction's first batch, lastOffset its ABORT marker, and
 * lastStableOffset the partition's last stable offset once the marker was applied.
 * read_committed Fetch answers list the entries overlapping the fetched range so the
 * consumer drops those records.
 *
 * Aborts are rare, so every entry is also held in memory (per segment). A write is
 * appended and fsynced at once. The index is derived data: the owner of producer state
 * adds entries as it replays the log after a restart, and `add` ignores an entry it
 * already has, so an entry lost in a crash is written again. Entries go away with their
 * segment (retention, DeleteRecords, compaction merges them into the cleaned segment),
 * with truncation, and when compaction finds the transaction's data gone (`remove`).
 */
import { posix } from 'node:path';
import { type Disk, readWholeFile, StorageError, writeFileAtomic } from '../env/disk.ts';
import { parseSegmentFileName, segmentFileName } from './segment.ts';

export const TXN_INDEX_SUFFIX = '.txnindex';
export const TXN_INDEX_ENTRY_SIZE = 34;

export interface AbortedTxn {
  producerId: bigint;
  firstOffset: number;
  lastOffset: number;
  lastStableOffset: number;
}

export function encodeTxnEntries(entries: readonly AbortedTxn[]): Buffer {
  const buf = Buffer.alloc(entries.length * TXN_INDEX_ENTRY_SIZE);
  let p = 0;
  for (const e of entries) {
    buf.writeInt16BE(0, p);
    buf.writeBigInt64BE(e.producerId, p + 2);
    buf.writeBigInt64BE(BigInt(e.firstOffset), p + 10);
    buf.writeBigInt64BE(BigInt(e.lastOffset), p + 18);
    buf.writeBigInt64BE(BigInt(e.lastStableOffset), p + 26);
    p += TXN_INDEX_ENTRY_SIZE;
  }
  return buf;
}

/** Parses whole entries; a torn tail (crash mid-write) or an unknown version ends it. */
export function decodeTxnEntries(buf: Buffer): AbortedTxn[] {
  const out: AbortedTxn[] = [];
  for (let p = 0; p + TXN_INDEX_ENTRY_SIZE <= buf.length; p += TXN_INDEX_ENTRY_SIZE) {
    if (buf.readInt16BE(p) !== 0) break;
    out.push({
      producerId: buf.readBigInt64BE(p + 2),
      firstOffset: Number(buf.readBigInt64BE(p + 10)),
      lastOffset: Number(buf.readBigInt64BE(p + 18)),
      lastStableOffset: Number(buf.readBigInt64BE(p + 26)),
    });
  }
  return out;
}

/**
 * The in-memory side shared by both log implementations: entries per segment base
 * offset, in lastOffset order.
 */
export class AbortedTxnList {
  protected readonly bySegment = new Map<number, AbortedTxn[]>();

  /** Whether an entry for this marker is already known. */
  has(entry: AbortedTxn): boolean {
    for (const list of this.bySegment.values()) {
      if (list.some((e) => e.lastOffset === entry.lastOffset && e.producerId === entry.producerId)) return true;
    }
    return false;
  }

  /** Adds to the segment's list; false when it is already there. */
  protected put(segmentBase: number, entry: AbortedTxn): boolean {
    if (this.has(entry)) return false;
    let list = this.bySegment.get(segmentBase);
    if (list === undefined) {
      list = [];
      this.bySegment.set(segmentBase, list);
    }
    list.push({ ...entry });
    list.sort((a, b) => a.lastOffset - b.lastOffset);
    return true;
  }

  /**
   * Aborted transactions overlapping [fetchOffset, upperBoundOffset): those whose ABORT
   * marker is at or after fetchOffset and that started before upperBoundOffset.
   */
  collect(fetchOffset: number, upperBoundOffset: number): AbortedTxn[] {
    const out: AbortedTxn[] = [];
    for (const list of this.bySegment.values()) {
      for (const e of list) {
        if (e.lastOffset >= fetchOffset && e.firstOffset < upperBoundOffset) out.push({ ...e });
      }
    }
    return out.sort((a, b) => a.firstOffset - b.firstOffset || a.lastOffset - b.lastOffset);
  }

  /** Every entry (tests, tools). */
  all(): AbortedTxn[] {
    return this.collect(-1, Number.MAX_SAFE_INTEGER);
  }

  /** Drops entries whose marker is at or after `offset`; returns the segments changed. */
  protected dropFrom(offset: number): number[] {
    const changed: number[] = [];
    for (const [base, list] of this.bySegment) {
      const kept = list.filter((e) => e.lastOffset < offset);
      if (kept.length === list.length) continue;
      changed.push(base);
      if (kept.length === 0) this.bySegment.delete(base);
      else this.bySegment.set(base, kept);
    }
    return changed;
  }

  /** Drops the given entries (by producer id and marker offset); returns the segments changed. */
  protected dropEntries(entries: readonly AbortedTxn[]): number[] {
    if (entries.length === 0) return [];
    const gone = new Set(entries.map((e) => `${e.producerId}:${e.lastOffset}`));
    const changed: number[] = [];
    for (const [base, list] of this.bySegment) {
      const kept = list.filter((e) => !gone.has(`${e.producerId}:${e.lastOffset}`));
      if (kept.length === list.length) continue;
      changed.push(base);
      if (kept.length === 0) this.bySegment.delete(base);
      else this.bySegment.set(base, kept);
    }
    return changed;
  }

  protected dropSegmentEntries(segmentBase: number): boolean {
    return this.bySegment.delete(segmentBase);
  }

  /** Moves the entries of `from` segments into `into` (compaction merged them). */
  protected mergeEntries(into: number, from: readonly number[]): void {
    for (const base of from) {
      if (base === into) continue;
      const list = this.bySegment.get(base);
      if (list === undefined) continue;
      this.bySegment.delete(base);
      for (const e of list) this.put(into, e);
    }
  }

  clearAll(): void {
    this.bySegment.clear();
  }
}

/**
 * The MemoryLog's index: memory only, one list (segment base 0); entries whose marker
 * falls below the first remaining segment go with the segments deleted.
 */
export class MemoryTxnIndex extends AbortedTxnList {
  add(entry: AbortedTxn): boolean {
    return this.put(0, entry);
  }
  truncateFrom(offset: number): void {
    this.dropFrom(offset);
  }
  /** Compaction: aborted transactions whose data is gone (compaction.ts). */
  remove(entries: readonly AbortedTxn[]): void {
    this.dropEntries(entries);
  }
  dropBelow(offset: number): void {
    const list = this.bySegment.get(0);
    if (list !== undefined)
      this.bySegment.set(
        0,
        list.filter((e) => e.lastOffset >= offset),
      );
  }
}

/** The FileLog's index: memory plus one `.txnindex` file per segment that has entries. */
export class FileTxnIndex extends AbortedTxnList {
  constructor(
    private readonly disk: Disk,
    private readonly dir: string,
  ) {
    super();
  }

  private pathOf(segmentBase: number): string {
    return posix.join(this.dir, segmentFileName(segmentBase, TXN_INDEX_SUFFIX));
  }

  /** Reads the index files of the given segments; files of other bases are deleted. */
  async load(names: readonly string[], segmentBases: readonly number[]): Promise<void> {
    this.bySegment.clear();
    const bases = new Set(segmentBases);
    for (const name of names) {
      const base = parseSegmentFileName(name, TXN_INDEX_SUFFIX);
      if (base === undefined) continue;
      const path = this.pathOf(base);
      if (!bases.has(base)) {
        await this.unlink(path);
        continue;
      }
      const bytes = await readWholeFile(this.disk, path);
      const entries = bytes === undefined ? [] : decodeTxnEntries(bytes);
      if (entries.length > 0) this.bySegment.set(base, entries);
      if (bytes !== undefined && bytes.length !== entries.length * TXN_INDEX_ENTRY_SIZE) {
        await this.rewrite(base); // drop a torn tail
      }
    }
  }

  /** Appends an entry to the segment's file (fsynced); false when already present. */
  async add(segmentBase: number, entry: AbortedTxn): Promise<boolean> {
    if (!this.put(segmentBase, entry)) return false;
    const path = this.pathOf(segmentBase);
    const file = await this.disk.open(path, { create: true });
    try {
      const size = await file.size();
      const whole = size - (size % TXN_INDEX_ENTRY_SIZE);
      if (whole !== size) await file.truncate(whole);
      await file.write(whole, encodeTxnEntries([entry]));
      await file.sync();
    } finally {
      await file.close();
    }
    return true;
  }

  private async rewrite(segmentBase: number): Promise<void> {
    const list = this.bySegment.get(segmentBase);
    if (list === undefined || list.length === 0) await this.unlink(this.pathOf(segmentBase));
    else await writeFileAtomic(this.disk, this.pathOf(segmentBase), encodeTxnEntries(list));
  }

  async truncateFrom(offset: number): Promise<void> {
    for (const base of this.dropFrom(offset)) await this.rewrite(base);
  }

  /** Compaction: aborted transactions whose data is gone (compaction.ts); files rewritten. */
  async remove(entries: readonly AbortedTxn[]): Promise<void> {
    for (const base of this.dropEntries(entries)) await this.rewrite(base);
  }

  async dropSegment(segmentBase: number): Promise<void> {
    this.dropSegmentEntries(segmentBase);
    await this.unlink(this.pathOf(segmentBase));
  }

  async merge(into: number, from: readonly number[]): Promise<void> {
    const touched = from.some((b) => b !== into && this.bySegment.has(b));
    if (!touched) return;
    this.mergeEntries(into, from);
    await this.rewrite(into);
    for (const base of from) if (base !== into) await this.unlink(this.pathOf(base));
  }

  async dropAll(): Promise<void> {
    const bases = [...this.bySegment.keys()];
    this.bySegment.clear();
    for (const base of bases) await this.unlink(this.pathOf(base));
  }

  private async unlink(path: string): Promise<void> {
    try {
      await this.disk.unlink(path);
    } catch (err) {
      if (!(err instanceof StorageError && err.kind === 'not-found')) throw err;
    }
  }
}
