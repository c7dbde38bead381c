/**
 * An in-memory CoordinatorLog for unit tests and the simulator: records per partition,
 * offsets from 0, and a switch that makes the next appends fail (to check that a failed
 * append leaves the state unchanged).
 */
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { CoordinatorLog, LogAppendOutcome, SerializedRecord, TxnMarker, TxnProducer } from './runtime.ts';

/** A stored entry: a record (with its producer when transactional) or a transaction marker. */
export type MemoryLogEntry = SerializedRecord & { producerId?: bigint; marker?: TxnMarker };

export class MemoryCoordinatorLog implements CoordinatorLog {
  readonly partitions = new Map<number, MemoryLogEntry[]>();
  /** When set, appends fail with this error code. */
  failAppendsWith: number | undefined;
  appendCount = 0;

  private logOf(partition: number): MemoryLogEntry[] {
    let log = this.partitions.get(partition);
    if (log === undefined) {
      log = [];
      this.partitions.set(partition, log);
    }
    return log;
  }

  append(
    partition: number,
    records: readonly SerializedRecord[],
    _nowMs?: number,
    producer?: TxnProducer,
  ): Promise<LogAppendOutcome> {
    if (this.failAppendsWith !== undefined) return Promise.resolve({ errorCode: this.failAppendsWith });
    const log = this.logOf(partition);
    for (const r of records) {
      const entry: MemoryLogEntry = { key: Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value) };
      if (producer !== undefined) entry.producerId = producer.producerId;
      log.push(entry);
    }
    this.appendCount++;
    return Promise.resolve({ errorCode: ErrorCode.NONE, lastOffset: log.length - 1 });
  }

  appendMarker(partition: number, marker: TxnMarker): Promise<LogAppendOutcome> {
    if (this.failAppendsWith !== undefined) return Promise.resolve({ errorCode: this.failAppendsWith });
    const log = this.logOf(partition);
    log.push({ key: Buffer.alloc(0), value: null, marker: { ...marker } });
    this.appendCount++;
    return Promise.resolve({ errorCode: ErrorCode.NONE, lastOffset: log.length - 1 });
  }

  readAll(
    partition: number,
    onRecord: (record: SerializedRecord, offset: number, producerId?: bigint) => void,
    onMarker?: (producerId: bigint, committed: boolean, offset: number) => void,
  ): Promise<void> {
    (this.partitions.get(partition) ?? []).forEach((r, i) => {
      if (r.marker !== undefined) onMarker?.(r.marker.producerId, r.marker.committed, i);
      else onRecord({ key: r.key, value: r.value }, i, r.producerId);
    });
    return Promise.resolve();
  }

  /** Keeps only the last record of each key, dropping tombstoned keys (what compaction converges to). */
  compact(partition: number): void {
    const log = this.partitions.get(partition) ?? [];
    // Markers and transactional records stay (a simplification: Kafka removes them once the
    // transaction is long complete).
    const last = new Map<string, MemoryLogEntry>();
    let kept = 0;
    for (const r of log) {
      if (r.marker !== undefined || r.producerId !== undefined) {
        last.set(`txn:${kept++}`, r);
        continue;
      }
      const k = r.key.toString('hex');
      last.delete(k);
      last.set(k, r);
    }
    this.partitions.set(
      partition,
      [...last.values()].filter((r) => r.value !== null),
    );
  }

  recordCount(partition: number): number {
    return this.partitions.get(partition)?.length ?? 0;
  }
}
