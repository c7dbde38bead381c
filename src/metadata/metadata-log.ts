/**
 * The metadata log: `<log.dirs>/__cluster_metadata-0/`, an ordinary partition log whose
 * record batches hold metadata records (key null, value = Kafka's frame: unsigned varint
 * frame version, type id, record version, then the record). One controller operation's
 * records go into one batch, so they commit (and replay) together or not at all.
 *
 * With a single node the quorum is this node: a record is committed once it is fsynced
 * here, and the high watermark moves to the end. A later Raft quorum keeps this shape
 * (append, commit at the high watermark, replay) with replication in between.
 */

import { decodeMetadataRecord, encodeMetadataRecord } from '../protocol/generated/metadata-records.ts';
import { buildRecordBatch, decodeRecordBatches } from '../protocol/records/batch.ts';
import type { LogConfig } from '../storage/config.ts';
import { defaultLogConfig } from '../storage/config.ts';
import type { PartitionLog } from '../storage/partition-log.ts';
import type { CommittedRecord } from './replay.ts';

/** The metadata log's topic name (Kafka's __cluster_metadata); its one partition is 0. */
export const METADATA_TOPIC = '__cluster_metadata';
export const METADATA_PARTITION = 0;

/** Metadata is never deleted by retention (a snapshot mechanism would replace that). */
export const metadataLogConfig: LogConfig = {
  ...defaultLogConfig,
  retentionMs: -1,
  retentionBytes: -1,
  cleanupPolicy: { delete: true, compact: false },
};

export interface MetadataMessage {
  typeId: number;
  version: number;
  record: unknown;
}

const READ_CHUNK_BYTES = 1024 * 1024;

export class MetadataLog {
  constructor(
    private readonly log: PartitionLog,
    private readonly clock: { nowMs(): number },
    /** Leader epoch written into batches (the Raft epoch later; 0 with one node). */
    private readonly epoch = 0,
  ) {}

  endOffset(): number {
    return this.log.logEndOffset();
  }

  /** Every committed record from the start of the log (offsets >= fromOffset), in order. */
  async readFrom(fromOffset = 0): Promise<CommittedRecord[]> {
    const out: CommittedRecord[] = [];
    let next = Math.max(fromOffset, this.log.logStartOffset());
    const end = this.log.logEndOffset();
    while (next < end) {
      const result = await this.log.read(next, READ_CHUNK_BYTES, { minOneBatch: true });
      if (result.kind !== 'records' || result.records.length === 0) break;
      const before = next;
      for (const batch of decodeRecordBatches(result.records)) {
        for (const r of batch.records) {
          if (r.offset < next) continue;
          if (r.value === null) continue;
          out.push({ offset: r.offset, message: decodeMetadataRecord(Buffer.from(r.value)) });
        }
        next = Math.max(next, batch.baseOffset + batch.lastOffsetDelta + 1);
      }
      if (next === before) break;
    }
    return out;
  }

  /** Appends the messages as one batch, fsyncs, commits them; returns them with their offsets. */
  async append(messages: readonly MetadataMessage[]): Promise<CommittedRecord[]> {
    if (messages.length === 0) return [];
    const timestamp = this.clock.nowMs();
    const batch = buildBatch(messages, timestamp);
    const result = await this.log.append(batch, { leaderEpoch: this.epoch });
    await this.log.flush();
    this.log.updateHighWatermark(result.lastOffset + 1);
    return messages.map((message, i) => ({ offset: result.baseOffset + i, message }));
  }

  async close(): Promise<void> {
    await this.log.flush();
  }
}

function buildBatch(messages: readonly MetadataMessage[], timestamp: number): Buffer {
  return buildRecordBatch({
    records: messages.map((m) => ({
      key: null,
      value: encodeMetadataRecord(m.typeId, m.version, m.record),
      timestamp,
    })),
  });
}
