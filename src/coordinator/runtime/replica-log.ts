/**
 * The CoordinatorLog of a broker: records go into the coordinator topic's partitions
 * through the ReplicaManager (leader append, then wait for the high watermark: committed),
 * and loading reads a partition from its log start to its log end (this node leads it).
 */
import type { Partition } from '../../broker/replica/partition.ts';
import type { ReplicaManager } from '../../broker/replica/replica-manager.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import {
  buildRecordBatch,
  ControlRecordType,
  decodeControlKey,
  decodeRecordBatch,
  encodeControlKey,
  encodeEndTxnMarker,
  iterateBatches,
  readBatchHeader,
} from '../../protocol/records/index.ts';
import type {
  CoordinatorLog,
  LogAppendOutcome,
  PipelinedAppendOutcome,
  SerializedRecord,
  TxnMarker,
  TxnProducer,
} from './runtime.ts';

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

  /** The local replica leads at leaderEpoch or later: the replica manager has applied the change (no follower append left). */
  isLeader(partition: number, leaderEpoch: number): boolean {
    const p = this.options.replicas.getPartition(this.options.topic, partition);
    return p?.isLeader() === true && p.leaderEpoch >= leaderEpoch;
  }

  append(
    partition: number,
    records: readonly SerializedRecord[],
    nowMs: number,
    producer?: TxnProducer,
  ): Promise<LogAppendOutcome> {
    const batch = buildRecordBatch({
      records: records.map((r) => ({ key: r.key, value: r.value, timestamp: nowMs })),
      ...(producer !== undefined
        ? { producerId: producer.producerId, producerEpoch: producer.producerEpoch, transactional: true }
        : {}),
    });
    return this.appendBatch(partition, batch);
  }

  /** Leader append now; `committed` once the high watermark passes the batch. */
  async appendPipelined(
    partition: number,
    records: readonly SerializedRecord[],
    nowMs: number,
    producer?: TxnProducer,
  ): Promise<PipelinedAppendOutcome> {
    const p = this.leaderPartition(partition);
    if (typeof p === 'number') return { errorCode: p };
    const batch = this.buildBatch(records, nowMs, producer);
    const outcome = await p.appendAsLeader(batch, [readBatchHeader(batch, 0)]);
    if (outcome.kind === 'error') return { errorCode: outcome.errorCode };
    const committed = p
      .waitForCommit(outcome.lastOffset, this.options.commitTimeoutMs)
      .then((ok) => (ok ? ErrorCode.NONE : ErrorCode.REQUEST_TIMED_OUT));
    return { errorCode: ErrorCode.NONE, lastOffset: outcome.lastOffset, committed };
  }

  private buildBatch(records: readonly SerializedRecord[], nowMs: number, producer?: TxnProducer): Buffer {
    return buildRecordBatch({
      records: records.map((r) => ({ key: r.key, value: r.value, timestamp: nowMs })),
      ...(producer !== undefined
        ? { producerId: producer.producerId, producerEpoch: producer.producerEpoch, transactional: true }
        : {}),
    });
  }

  appendMarker(partition: number, marker: TxnMarker, nowMs: number): Promise<LogAppendOutcome> {
    return this.appendBatch(partition, buildMarkerBatch(marker, nowMs));
  }

  private async appendBatch(partition: number, batch: Buffer): Promise<LogAppendOutcome> {
    const p = this.leaderPartition(partition);
    if (typeof p === 'number') return { errorCode: p };
    const outcome = await p.appendAsLeader(batch, [readBatchHeader(batch, 0)]);
    if (outcome.kind === 'error') return { errorCode: outcome.errorCode };
    const committed = await p.waitForCommit(outcome.lastOffset, this.options.commitTimeoutMs);
    if (!committed) return { errorCode: ErrorCode.REQUEST_TIMED_OUT };
    return { errorCode: ErrorCode.NONE, lastOffset: outcome.lastOffset };
  }

  async readAll(
    partition: number,
    onRecord: (record: SerializedRecord, offset: number, producerId?: bigint) => void,
    onMarker?: (producerId: bigint, committed: boolean, offset: number) => void,
  ): Promise<void> {
    const p = this.options.replicas.getPartition(this.options.topic, partition);
    if (p === undefined) return;
    // To the log end, not the high watermark: a new leader learns the high watermark one
    // fetch round late, and its log is the partition's truth from now on (Kafka's loader
    // reads to the log end offset too).
    const end = p.log.logEndOffset();
    let offset = p.log.logStartOffset();
    while (offset < end) {
      const read = await p.log.read(offset, 4 << 20, { maxOffset: end, minOneBatch: true });
      if (read.kind !== 'records' || read.records.length === 0) break;
      let next = offset;
      for (const { position, header } of iterateBatches(read.records)) {
        next = header.baseOffset + header.lastOffsetDelta + 1;
        if (next <= offset) continue;
        const batch = decodeRecordBatch(read.records, position, { verifyCrc: false });
        if (batch.isControl) {
          const r = batch.records[0];
          if (onMarker === undefined || r === undefined || r.offset < offset) continue;
          const type = decodeControlKey(r.key).type;
          if (type === ControlRecordType.Commit || type === ControlRecordType.Abort) {
            onMarker(batch.producerId, type === ControlRecordType.Commit, r.offset);
          }
          continue;
        }
        const producerId = batch.isTransactional ? batch.producerId : undefined;
        for (const r of batch.records) {
          if (r.offset < offset || r.key === null) continue;
          onRecord({ key: r.key, value: r.value }, r.offset, producerId);
        }
      }
      if (next <= offset) break;
      offset = next;
    }
  }
}

/** A control batch holding one COMMIT or ABORT marker of `marker.producerId`. */
export function buildMarkerBatch(marker: TxnMarker, nowMs: number): Buffer {
  return buildRecordBatch({
    records: [
      {
        key: encodeControlKey(marker.committed ? ControlRecordType.Commit : ControlRecordType.Abort),
        value: encodeEndTxnMarker(marker.coordinatorEpoch),
        timestamp: nowMs,
      },
    ],
    producerId: marker.producerId,
    producerEpoch: marker.producerEpoch,
    transactional: true,
    isControl: true,
  });
}
