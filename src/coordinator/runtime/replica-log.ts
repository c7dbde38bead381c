/**
 * The CoordinatorLog of a broker: records go into the coordinator topic's partitions
 * through the ReplicaManager (leader append, then wait for the high watermark: committed),
 * and loading reads a partition from its log start to its high watermark.
 */
import type { Partition } from '../../broker/replica/partition.ts';
import type { ReplicaManager } from '../../broker/replica/replica-manager.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { buildRecordBatch, decodeRecordBatch, iterateBatches, readBatchHeader } from '../../protocol/records/index.ts';
import type { CoordinatorLog, LogAppendOutcome, SerializedRecord } from './runtime.ts';

export interface ReplicaCoordinatorLogOptions {
  topic: string;
  replicas: ReplicaManager;
  /** How long an append waits for the high watermark (offsets.commit.timeout.ms). */
  commitTimeoutMs: number;
}

export class ReplicaCoordinatorLog implements CoordinatorLog {
  constructor(private readonly options: ReplicaCoordinatorLogOptions) {}

  private leaderPartition(partition: number): Partition | number {
    const found = this.options.replicas.lookupLeader(this.options.topic, partition);
    return found.partition ?? found.errorCode;
  }

  async append(partition: number, records: readonly SerializedRecord[], nowMs: number): Promise<LogAppendOutcome> {
    const p = this.leaderPartition(partition);
    if (typeof p === 'number') return { errorCode: p };
    const batch = buildRecordBatch({
      records: records.map((r) => ({ key: r.key, value: r.value, timestamp: nowMs })),
    });
    const outcome = await p.appendAsLeader(batch, [readBatchHeader(batch, 0)]);
    if (outcome.kind === 'error') return { errorCode: outcome.errorCode };
    const committed = await p.waitForCommit(outcome.lastOffset, this.options.commitTimeoutMs);
    if (!committed) return { errorCode: ErrorCode.REQUEST_TIMED_OUT };
    return { errorCode: ErrorCode.NONE, lastOffset: outcome.lastOffset };
  }

  async readAll(partition: number, onRecord: (record: SerializedRecord, offset: number) => void): Promise<void> {
    const p = this.options.replicas.getPartition(this.options.topic, partition);
    if (p === undefined) return;
    const end = p.log.highWatermark();
    let offset = p.log.logStartOffset();
    while (offset < end) {
      const read = await p.log.read(offset, 4 << 20, { maxOffset: end, minOneBatch: true });
      if (read.kind !== 'records' || read.records.length === 0) break;
      let next = offset;
      for (const { position, header } of iterateBatches(read.records)) {
        next = header.baseOffset + header.lastOffsetDelta + 1;
        if (next <= offset) continue;
        const batch = decodeRecordBatch(read.records, position, { verifyCrc: false });
        if (batch.isControl) continue;
        for (const r of batch.records) {
          if (r.offset < offset || r.key === null) continue;
          onRecord({ key: r.key, value: r.value }, r.offset);
        }
      }
      if (next <= offset) break;
      offset = next;
    }
  }
}
