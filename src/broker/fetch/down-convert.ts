/**
 * Fetch v0-3 down-conversion: the log holds v2 batches, which clients that fetch with
 * v0-1 (message format v0) or v2-3 (v1) cannot read. Each v2 batch becomes, record by
 * record, v0/v1 messages with the same offsets, keys and values (and timestamps in v1):
 *
 * - control batches are skipped; record headers are dropped (v0/v1 have none);
 * - a compressed batch becomes one wrapper with the same codec (gzip, snappy, lz4; a zstd
 *   batch never gets here: Fetch before v10 answers UNSUPPORTED_COMPRESSION_TYPE);
 * - in uncompressed batches, records before the fetch offset are left out (compressed
 *   wrappers keep them: the client skips them, as with v2);
 * - LogAppendTime batches keep their type (v1) with the batch's max timestamp.
 *
 * Byte limit: whole messages (entries) up to maxBytes. When not even the first fits,
 * Fetch v3 returns it whole (KIP-74, like v4+); v0-2 had a hard limit and get its first
 * maxBytes bytes, a partial message, which tells the client to fetch with a larger size.
 */
import {
  type CompressionType,
  decodeRecordBatch,
  type KafkaRecord,
  type RecordBatch,
} from '../../protocol/records/index.ts';
import { encodeMessageSet, type LegacyMagic } from '../../protocol/records/legacy.ts';

export interface DownConvertOptions {
  /** Fetch v0-1: 0; v2-3: 1. */
  magic: LegacyMagic;
  /** The partition's fetch offset. */
  fetchOffset: number;
  /** Limit on the converted bytes. */
  maxBytes: number;
  /** Fetch v3, first partition of the answer: the first message goes out whole even over maxBytes. */
  minOneMessage: boolean;
  /** Fetch v0-2: when the first message does not fit, send its first maxBytes bytes. */
  partialMessage: boolean;
  /** Bound on each batch's decompressed records. */
  maxUncompressedBytes?: number | undefined;
}

/** The fetch version's message format. */
export function messageFormatForFetch(apiVersion: number): LegacyMagic {
  return apiVersion >= 2 ? 1 : 0;
}

/** Converts the v2 batches in `records` (whole batches, as the log returns them). */
export function downConvert(records: Buffer, o: DownConvertOptions): Buffer {
  return convertRecords(records, o).records;
}

/**
 * How many times a fetch reads on past batches that convert to nothing (transaction
 * markers, records before the fetch offset) before it answers with no records.
 */
const MAX_READS_PAST_NOTHING = 8;

/**
 * Converts `first` (what the log returned at o.fetchOffset). When it holds nothing an old
 * client can see (only control batches, say), the client could never move past it, so
 * this reads on after it through `readFrom` (a bounded number of times); the client
 * then continues from the offset after the last message it gets.
 */
export async function downConvertRead(
  first: Buffer,
  o: DownConvertOptions,
  readFrom: (offset: number) => Promise<Buffer>,
): Promise<Buffer> {
  let records = first;
  let opts = o;
  for (let reads = 0; ; reads++) {
    const converted = convertRecords(records, opts);
    if (!converted.nothing || reads === MAX_READS_PAST_NOTHING || converted.nextOffset < 0) return converted.records;
    opts = { ...opts, fetchOffset: converted.nextOffset };
    records = await readFrom(converted.nextOffset);
    if (records.length === 0) return converted.records;
  }
}

interface Converted {
  records: Buffer;
  /** True when no batch held anything to convert (limits aside). */
  nothing: boolean;
  /** The offset after the last batch read (-1 when there was none). */
  nextOffset: number;
}

function convertRecords(records: Buffer, o: DownConvertOptions): Converted {
  const parts: Buffer[] = [];
  let total = 0;
  let pos = 0;
  let nothing = true;
  let nextOffset = -1;
  while (pos < records.length) {
    // Batches read from our own log; the CRC was checked when they were appended.
    const batch = decodeRecordBatch(records, pos, { verifyCrc: false, maxUncompressedBytes: o.maxUncompressedBytes });
    pos += batch.sizeInBytes;
    nextOffset = batch.baseOffset + batch.lastOffsetDelta + 1;
    if (batch.isControl) continue;
    for (const entry of convertBatch(batch, o)) {
      nothing = false;
      if (total + entry.length > o.maxBytes) {
        let records: Buffer = Buffer.concat(parts, total);
        if (total === 0) {
          if (o.minOneMessage) records = entry;
          else if (o.partialMessage) records = entry.subarray(0, Math.max(0, o.maxBytes));
        }
        return { records, nothing, nextOffset };
      }
      parts.push(entry);
      total += entry.length;
    }
  }
  return { records: Buffer.concat(parts, total), nothing, nextOffset };
}

/** One entry per record (uncompressed), or one wrapper (compressed). */
function convertBatch(batch: RecordBatch, o: DownConvertOptions): Buffer[] {
  const logAppendTimeMs = batch.timestampType === 'log-append' ? batch.maxTimestamp : undefined;
  const compression: CompressionType = batch.compression;
  const toInput = (r: KafkaRecord) => ({ offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value });
  if (compression === 0) {
    return batch.records
      .filter((r) => r.offset >= o.fetchOffset)
      .map((r) => encodeMessageSet({ magic: o.magic, messages: [toInput(r)], logAppendTimeMs }));
  }
  if (batch.records.length === 0) return [];
  return [encodeMessageSet({ magic: o.magic, messages: batch.records.map(toInput), compression, logAppendTimeMs })];
}
