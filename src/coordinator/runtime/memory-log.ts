/**
 * An in-memory CoordinatorLog for unit tests and the simulator: records per partition,
 * offsets from 0, and a switch that makes the next appends fail (to check that a failed
 * append leaves the state unchanged).
 */
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { CoordinatorLog, LogAppendOutcome, SerializedRecord } from './runtime.ts';

export class MemoryCoordinatorLog implements CoordinatorLog {
  readonly partitions = new Map<number, SerializedRecord[]>();
  /** When set, appends fail with this error code. */
  failAppendsWith: number | undefined;
  appendCount = 0;

  append(partition: number, records: readonly SerializedRecord[]): Promise<LogAppendOutcome> {
    if (this.failAppendsWith !== undefined) return Promise.resolve({ errorCode: this.failAppendsWith });
    let log = this.partitions.get(partition);
    if (log === undefined) {
      log = [];
      this.partitions.set(partition, log);
    }
    for (const r of records)
      log.push({ key: Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value) });
    this.appendCount++;
    return Promise.resolve({ errorCode: ErrorCode.NONE, lastOffset: log.length - 1 });
  }

  readAll(partition: number, onRecord: (record: SerializedRecord, offset: number) => void): Promise<void> {
    (this.partitions.get(partition) ?? []).forEach((r, i) => {
      onRecord(r, i);
    });
    return Promise.resolve();
  }

  /** Keeps only the last record of each key, dropping tombstoned keys (what compaction converges to). */
  compact(partition: number): void {
    const log = this.partitions.get(partition) ?? [];
    const last = new Map<string, SerializedRecord>();
    for (const r of log) {
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
