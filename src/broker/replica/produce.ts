/**
 * The produce path: validate each partition's batches, append them on the leader, wait
 * for the ISR when acks=-1, and say per partition what happened.
 *
 * Validation works on batch headers and bytes (records are decoded only on the rare paths
 * that need them: compacted topics' key check, the error path of a timestamp check, a
 * finite message.timestamp.before.max.ms). Per batch, in Kafka's terms:
 *
 *   magic < 2            Produce v0-2: up-converted to one v2 batch first (up-convert.ts;
 *                        a bad message set is CORRUPT_MESSAGE / INVALID_RECORD);
 *                        v3+: INVALID_RECORD (v3+ must carry magic 2)
 *   more than one batch (v3+)          INVALID_RECORD (Kafka allows exactly one per partition)
 *   zstd before Produce v7             UNSUPPORTED_COMPRESSION_TYPE
 *   size > max.message.bytes           MESSAGE_TOO_LARGE
 *   framing, CRC, compression codec    CORRUPT_MESSAGE
 *   record count / offset deltas       INVALID_RECORD (uncompressed batches are walked)
 *   control batch from a client        INVALID_RECORD
 *   transactional batch                verified with the coordinator first when deps.txnVerification
 *                                      is set (KIP-890 part 1, broker/txn-verification.ts)
 *   CreateTime outside message.timestamp.{before,after}.max.ms   INVALID_TIMESTAMP (+ record errors)
 *   compacted topic, record without key                          INVALID_RECORD (+ record errors)
 *   internal topic (__consumer_offsets, ...)                      INVALID_TOPIC_EXCEPTION
 *
 * Errors are per partition; one bad partition never fails the others.
 */

import { isInternalTopic } from '../../metadata/controller.ts';
import { Reader } from '../../protocol/codec/reader.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { ProduceRequest } from '../../protocol/generated/produce-request.ts';
import type {
  ProduceResponse,
  ProduceResponseBatchIndexAndErrorMessage,
  ProduceResponsePartitionProduceResponse,
  ProduceResponseTopicProduceResponse,
} from '../../protocol/generated/produce-response.ts';
import {
  ATTR_CONTROL,
  BATCH_HEADER_SIZE,
  BATCH_LOG_OVERHEAD,
  type BatchHeader,
  BatchOffset,
  CompressionType,
  CURRENT_MAGIC,
  isBatchCrcValid,
  readBatchHeader,
} from '../../protocol/records/batch-header.ts';
import {
  ATTR_COMPRESSION_MASK,
  CorruptRecordError,
  type CorruptRecordKind,
  checkBatchFraming,
  decodeRecordBatch,
  validateBatch,
} from '../../protocol/records/index.ts';
import { isLegacyMessageSet } from '../../protocol/records/legacy.ts';
import { MIN_RECORD_SIZE, skipRecord } from '../../protocol/records/record.ts';
import type { VerificationGuard } from '../producer-state/producer-state.ts';
import type { Partition, PartitionConfig } from './partition.ts';
import type { ReplicaManager } from './replica-manager.ts';
import { upConvert } from './up-convert.ts';

export interface ProduceDeps {
  replicas: ReplicaManager;
  nowMs: () => number;
  /**
   * Transaction verification before a leader append (KIP-890 part 1): NONE and the guard
   * the append carries, or the partition's error. Answered at once (no await, so appends
   * keep their order) unless the coordinator must be asked. Absent: no verification.
   */
  txnVerification?: (
    partition: Partition,
    headers: readonly BatchHeader[],
    transactionalId: string | null,
  ) => TxnVerdict | Promise<TxnVerdict>;
}

export interface TxnVerdict {
  errorCode: number;
  message: string | null;
  guard: VerificationGuard | undefined;
}

export type BatchValidation =
  | { ok: true; headers: BatchHeader[] }
  | {
      ok: false;
      errorCode: number;
      message: string;
      recordErrors?: ProduceResponseBatchIndexAndErrorMessage[];
    };

const CORRUPT_KINDS: ReadonlySet<CorruptRecordKind> = new Set([
  'truncated',
  'invalid-length',
  'unsupported-magic',
  'crc-mismatch',
  'unsupported-compression',
  'decompression-failed',
  'decompressed-too-large',
]);

function fail(
  errorCode: number,
  message: string,
  recordErrors?: ProduceResponseBatchIndexAndErrorMessage[],
): BatchValidation {
  return recordErrors === undefined
    ? { ok: false, errorCode, message }
    : { ok: false, errorCode, message, recordErrors };
}

/**
 * Validates the batches of one partition's records (one batch from Produce v3 on). What
 * is decompressed (compacted topics, timestamp bounds) is bounded by 64 x max.message.bytes.
 */
export function validateProducedBatches(
  buf: Buffer | null,
  apiVersion: number,
  config: PartitionConfig,
  nowMs: number,
): BatchValidation {
  if (buf === null || buf.length === 0) return fail(ErrorCode.CORRUPT_MESSAGE, 'no records');
  const headers: BatchHeader[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < BatchOffset.Magic + 1) return fail(ErrorCode.CORRUPT_MESSAGE, 'truncated batch');
    const magic = buf.readInt8(pos + BatchOffset.Magic);
    if (magic !== CURRENT_MAGIC) {
      return magic < CURRENT_MAGIC && apiVersion < 3
        ? fail(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `message format v${magic} is not supported`)
        : fail(
            apiVersion >= 3 ? ErrorCode.INVALID_RECORD : ErrorCode.CORRUPT_MESSAGE,
            `Produce v${apiVersion} needs record batches with magic 2, got ${magic}`,
          );
    }
    if (buf.length - pos < BATCH_HEADER_SIZE) return fail(ErrorCode.CORRUPT_MESSAGE, 'truncated batch header');
    const size = buf.readInt32BE(pos + BatchOffset.BatchLength) + BATCH_LOG_OVERHEAD;
    if (size > config.maxMessageBytes) {
      return fail(
        ErrorCode.MESSAGE_TOO_LARGE,
        `batch of ${size} bytes is larger than max.message.bytes ${config.maxMessageBytes}`,
      );
    }
    const compact = config.log.cleanupPolicy.compact;
    // The CRC is checked once, by the log's append (a mismatch fails it as CORRUPT_MESSAGE);
    // the paths here that decode records first (compacted topics) check it themselves.
    const problem = compact
      ? validateBatch(buf, pos, { maxUncompressedBytes: 64 * config.maxMessageBytes })
      : checkStructure(buf, pos);
    if (problem !== null) {
      // A damaged batch is CORRUPT_MESSAGE whatever the walk tripped on.
      if (!CORRUPT_KINDS.has(problem) && !isBatchCrcValid(buf, pos)) {
        return fail(ErrorCode.CORRUPT_MESSAGE, 'invalid record batch: crc-mismatch');
      }
      return fail(
        CORRUPT_KINDS.has(problem) ? ErrorCode.CORRUPT_MESSAGE : ErrorCode.INVALID_RECORD,
        `invalid record batch: ${problem}`,
      );
    }
    const header = readBatchHeader(buf, pos);
    if ((header.attributes & ATTR_CONTROL) !== 0) {
      return fail(ErrorCode.INVALID_RECORD, 'clients may not write control records');
    }
    let timestamps: BatchValidation | undefined;
    try {
      timestamps = checkTimestamps(buf, pos, header, config, nowMs);
    } catch (err) {
      if (err instanceof CorruptRecordError) return fail(ErrorCode.CORRUPT_MESSAGE, err.message);
      throw err;
    }
    if (timestamps !== undefined) return timestamps;
    if (compact) {
      const errors: ProduceResponseBatchIndexAndErrorMessage[] = [];
      const batch = decodeRecordBatch(buf, pos, {
        verifyCrc: false,
        maxUncompressedBytes: 64 * config.maxMessageBytes,
      });
      batch.records.forEach((r, i) => {
        if (r.key === null) {
          errors.push({
            batchIndex: headers.reduce((n, h) => n + h.recordsCount, 0) + i,
            batchIndexErrorMessage: 'Compacted topic cannot accept message without key',
          });
        }
      });
      if (errors.length > 0) return fail(ErrorCode.INVALID_RECORD, 'compacted topic needs record keys', errors);
    }
    if (apiVersion < 7 && (header.attributes & ATTR_COMPRESSION_MASK) === CompressionType.Zstd) {
      return fail(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `Produce v${apiVersion} may not use zstd compression`);
    }
    headers.push(header);
    pos += size;
    if (apiVersion >= 3 && pos < buf.length) {
      return fail(
        ErrorCode.INVALID_RECORD,
        `Produce requests with version ${apiVersion} are only allowed to contain exactly one record batch per partition`,
      );
    }
  }
  return { ok: true, headers };
}

/**
 * validateBatch without the CRC: framing, compression code, count >= 1,
 * lastOffsetDelta == count - 1 and, for uncompressed batches, a walk over the records
 * (fields fit their lengths, offset deltas 0, 1, 2, ..., the count matches).
 */
function checkStructure(buf: Buffer, pos: number): CorruptRecordKind | null {
  try {
    const size = checkBatchFraming(buf, pos, false);
    const count = buf.readInt32BE(pos + BatchOffset.RecordsCount);
    if (count === 0) return 'invalid-record-count';
    if (buf.readInt32BE(pos + BatchOffset.LastOffsetDelta) !== count - 1) return 'invalid-offset-delta';
    if ((buf.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK) !== 0) return null;
    const end = pos + size;
    if (count > (size - BATCH_HEADER_SIZE) / MIN_RECORD_SIZE) return 'invalid-record-count';
    const r = new Reader(buf, pos + BATCH_HEADER_SIZE, end);
    for (let i = 0; i < count; i++) {
      if (r.offset >= end) return 'invalid-record-count';
      if (skipRecord(r) !== i) return 'invalid-offset-delta';
    }
    return r.offset === end ? null : 'invalid-record-count';
  } catch (e) {
    if (e instanceof CorruptRecordError) return e.kind;
    throw e;
  }
}

function checkTimestamps(
  buf: Buffer,
  pos: number,
  header: BatchHeader,
  config: PartitionConfig,
  nowMs: number,
): BatchValidation | undefined {
  if (config.log.messageTimestampType === 'LogAppendTime') return undefined;
  const after = config.timestampAfterMaxMs;
  const before = config.timestampBeforeMaxMs;
  const tooNew = Number.isFinite(after) && header.maxTimestamp - nowMs > after;
  if (!tooNew && !Number.isFinite(before)) return undefined;
  // The exact records (and the before bound) need the records themselves.
  const batch = decodeRecordBatch(buf, pos, { verifyCrc: true, maxUncompressedBytes: 64 * config.maxMessageBytes });
  const errors: ProduceResponseBatchIndexAndErrorMessage[] = [];
  batch.records.forEach((r, i) => {
    if (r.timestamp < 0) return;
    if (r.timestamp - nowMs > after || nowMs - r.timestamp > before) {
      errors.push({
        batchIndex: i,
        batchIndexErrorMessage: `timestamp ${r.timestamp} is out of the accepted range around ${nowMs}`,
      });
    }
  });
  if (errors.length === 0) return undefined;
  return fail(ErrorCode.INVALID_TIMESTAMP, 'record timestamp out of range', errors);
}

function partitionResponse(
  index: number,
  errorCode: number,
  message: string | null = null,
): ProduceResponsePartitionProduceResponse {
  return {
    index,
    errorCode,
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: -1n,
    recordErrors: [],
    errorMessage: message,
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
  };
}

/** Handles a whole Produce request; null for acks=0 (no answer is sent). */
export async function handleProduce(
  request: ProduceRequest,
  apiVersion: number,
  deps: ProduceDeps,
): Promise<{ response: ProduceResponse; anyError: boolean }> {
  const { replicas } = deps;
  const acks = request.acks;
  const validAcks = acks === 0 || acks === 1 || acks === -1;
  let anyError = false;
  const topics: ProduceResponseTopicProduceResponse[] = [];
  const work: Promise<void>[] = [];
  const now = deps.nowMs();
  for (const t of request.topicData) {
    const topic: ProduceResponseTopicProduceResponse = { name: t.name, partitionResponses: [] };
    topics.push(topic);
    for (const pd of t.partitionData) {
      const out = partitionResponse(pd.index, ErrorCode.NONE);
      topic.partitionResponses.push(out);
      const setError = (code: number, message: string | null): void => {
        out.errorCode = code;
        out.errorMessage = message;
        anyError = true;
      };
      if (!validAcks) {
        setError(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be -1, 0 or 1, got ${acks}`);
        continue;
      }
      if (isInternalTopic(t.name)) {
        // Coordinators write their own topics; clients may not (Kafka's rule).
        setError(ErrorCode.INVALID_TOPIC_EXCEPTION, `Cannot append to internal topic ${t.name}`);
        continue;
      }
      const lookup = replicas.lookupLeader(t.name, pd.index);
      if (lookup.partition === undefined) {
        setError(lookup.errorCode, null);
        if (lookup.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER)
          out.currentLeader = replicas.currentLeader(t.name, pd.index);
        continue;
      }
      const partition = lookup.partition;
      let records = pd.records;
      if (apiVersion < 3 && isLegacyMessageSet(records)) {
        const up = upConvert(records!, 64 * partition.config.maxMessageBytes);
        if (!up.ok) {
          setError(up.errorCode, up.message);
          continue;
        }
        records = up.batch;
      }
      const valid = validateProducedBatches(records, apiVersion, partition.config, now);
      if (!valid.ok) {
        setError(valid.errorCode, valid.message);
        if (valid.recordErrors !== undefined) out.recordErrors = valid.recordErrors;
        continue;
      }
      if (acks === -1 && !partition.hasEnoughReplicasForAcksAll()) {
        setError(ErrorCode.NOT_ENOUGH_REPLICAS, `ISR ${partition.isr.length} below min.insync.replicas`);
        continue;
      }
      work.push(
        (async () => {
          let guard: VerificationGuard | undefined;
          if (deps.txnVerification !== undefined) {
            let verdict = deps.txnVerification(partition, valid.headers, request.transactionalId);
            if (verdict instanceof Promise) verdict = await verdict;
            if (verdict.errorCode !== ErrorCode.NONE) {
              setError(verdict.errorCode, verdict.message);
              return;
            }
            guard = verdict.guard;
          }
          const outcome = await partition.appendAsLeader(records!, valid.headers, guard);
          if (outcome.kind === 'error') {
            setError(outcome.errorCode, outcome.message);
            if (outcome.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER) {
              out.currentLeader = replicas.currentLeader(t.name, pd.index);
            }
            return;
          }
          out.baseOffset = BigInt(outcome.baseOffset);
          out.logAppendTimeMs = BigInt(outcome.logAppendTimeMs);
          out.logStartOffset = BigInt(outcome.logStartOffset);
          if (acks === -1) {
            // RF=1 (or a fast ISR): committed by the append itself, nothing to wait for.
            const committed =
              partition.highWatermark() > outcome.lastOffset ||
              (await partition.waitForCommit(outcome.lastOffset, request.timeoutMs));
            if (!committed) {
              setError(
                partition.isLeader() ? ErrorCode.REQUEST_TIMED_OUT : ErrorCode.NOT_LEADER_OR_FOLLOWER,
                'not replicated to the ISR in time',
              );
            } else {
              const committed = partition.commitErrorCode(outcome.lastOffset);
              if (committed !== ErrorCode.NONE) {
                setError(committed, 'the ISR shrank below min.insync.replicas while waiting');
              }
            }
          }
        })(),
      );
    }
  }
  await Promise.all(work);
  return { response: { responses: topics, throttleTimeMs: 0, nodeEndpoints: [] }, anyError };
}
