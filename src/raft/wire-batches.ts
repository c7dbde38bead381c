/**
 * Raft log batches as Kafka record batches (v2), for the `records` field of a Fetch
 * response and, later, the on-disk `__cluster_metadata` segments: one LogBatch is one
 * record batch, its epoch in partitionLeaderEpoch, each record's value a metadata record
 * (key null). The LeaderChange batch is a control batch whose record key is the control
 * type LeaderChange (2) and whose value is the LeaderChangeMessage.
 */
import { buildRecordBatch, decodeRecordBatches } from '../protocol/records/batch.ts';
import { ControlRecordType, encodeControlKey } from '../protocol/records/control.ts';
import type { LogBatch } from './types.ts';

export function encodeRaftBatches(batches: readonly LogBatch[], timestampMs: number): Buffer {
  const out: Buffer[] = [];
  for (const b of batches) {
    out.push(
      buildRecordBatch({
        records: b.records.map((value) =>
          b.control
            ? { key: encodeControlKey(ControlRecordType.LeaderChange), value, timestamp: timestampMs }
            : { key: null, value, timestamp: timestampMs },
        ),
        baseOffset: b.baseOffset,
        partitionLeaderEpoch: b.epoch,
        isControl: b.control,
      }),
    );
  }
  return Buffer.concat(out);
}

/** Decodes (and CRC-checks) record batches back into LogBatches; throws CorruptRecordError. */
export function decodeRaftBatches(buf: Buffer): LogBatch[] {
  return decodeRecordBatches(buf).map((rb) => ({
    baseOffset: rb.baseOffset,
    epoch: rb.partitionLeaderEpoch,
    records: rb.records.map((r) => Buffer.from(r.value ?? Buffer.alloc(0))),
    control: rb.isControl,
  }));
}
