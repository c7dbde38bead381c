/**
 * Idempotent producer state of one partition: for each producer id, its epoch and the
 * sequence numbers and offsets of its last five batches (Kafka keeps five because a
 * producer has at most five requests in flight per partition).
 *
 * The partition checks every batch carrying a producer id before appending it:
 *
 * - same epoch, a sequence range among the last five: a retry. The original offsets are
 *   returned and nothing is appended.
 * - an epoch below the producer's: INVALID_PRODUCER_EPOCH (a zombie).
 * - a new epoch: the sequence must start at 0 (OUT_OF_ORDER_SEQUENCE_NUMBER otherwise).
 * - the same epoch: the first sequence must follow the last one (wrapping at 2^31-1),
 *   else OUT_OF_ORDER_SEQUENCE_NUMBER.
 * - a producer id with no state (new, or its batches removed by retention or
 *   DeleteRecords): any sequence is accepted. This is Kafka 2.5+ behaviour (KIP-360):
 *   produce never answers UNKNOWN_PRODUCER_ID.
 *
 * Transactions (KIP-98): a producer's first transactional batch opens its ongoing
 * transaction at that batch's offset; the COMMIT or ABORT marker the coordinator writes
 * (a control batch) completes it (`completeTxn`). The smallest first offset of the
 * ongoing transactions bounds the last stable offset (`firstUnstableOffset`). A marker
 * is checked against the producer's epoch (INVALID_PRODUCER_EPOCH when older) and the
 * coordinator epoch of the last marker (TRANSACTION_COORDINATOR_FENCED when older).
 * Producers with an ongoing transaction are never expired nor dropped by retention.
 *
 * Transaction verification (KIP-890 part 1, `transaction.partition.verification.enable`):
 * before a transactional batch of a producer without an ongoing transaction is appended,
 * the produce path asks the coordinator whether the partition is in the transaction
 * (broker/txn-verification.ts). It first takes a `VerificationGuard` here (one per
 * producer, reused while it lasts); the append carries that guard, and `check` refuses a
 * transactional batch with INVALID_TXN_STATE unless the producer has an ongoing
 * transaction or the guard is still the producer's current one. Any transactional batch
 * or marker appended for the producer drops its guard, so a write verified before a
 * marker (a hanging transaction's late write) cannot land after it.
 *
 * The state changes only in `apply`/`completeTxn`, after the log accepted the batch, so a failed
 * append leaves it untouched. It is persisted as snapshot files (snapshot.ts) and rebuilt
 * from the log tail after an unclean stop by applying the batches' headers again.
 */
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { ATTR_CONTROL, ATTR_TRANSACTIONAL } from '../../protocol/records/batch-header.ts';

/**
 * The proof that a produce was verified with the transaction coordinator (Kafka's
 * VerificationGuard): compared by identity. `SENTINEL_GUARD` stands for "verification is
 * on but nothing was verified" and never matches.
 */
export class VerificationGuard {
  constructor(readonly producerEpoch: number) {}
}
export const SENTINEL_GUARD = new VerificationGuard(-1);

/** At most this many producers of one partition wait on a verification at a time. */
export const MAX_VERIFICATIONS = 10_000;

interface VerificationEntry {
  guard: VerificationGuard;
  createdMs: number;
  /** The coordinator said the partition is in the transaction (for this guard). */
  verified: boolean;
}

/** How many recent batches are remembered per producer. */
export const BATCHES_PER_PRODUCER = 5;
const INT32_MAX = 0x7fffffff;

export interface BatchMetadata {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
  timestampMs: number;
}

export interface ProducerEntry {
  producerId: bigint;
  producerEpoch: number;
  /** Oldest first, at most BATCHES_PER_PRODUCER. */
  batches: BatchMetadata[];
  /** Timestamp of the last batch appended (expiry uses it). */
  lastTimestampMs: number;
  /** Coordinator epoch of the last transaction marker (-1: none yet). */
  coordinatorEpoch: number;
  /** First offset of the producer's ongoing transaction (-1: none). */
  currentTxnFirstOffset: number;
}

/** A transaction completed by a marker: [firstOffset, lastOffset], lastOffset the marker's. */
export interface CompletedTxn {
  producerId: bigint;
  firstOffset: number;
  lastOffset: number;
  isAborted: boolean;
}

/** The header fields of a batch that producer state looks at. */
export interface ProducerBatch {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
  /** The batch attributes; a control batch (a transaction marker) carries no sequence. */
  attributes?: number;
}

export type SequenceCheck =
  | { kind: 'new' }
  | { kind: 'duplicate'; firstOffset: number; lastOffset: number; timestampMs: number }
  | { kind: 'error'; errorCode: number; message: string };

/** The last sequence of a batch: baseSequence + lastOffsetDelta, wrapping past 2^31-1 to 0. */
export function lastSequenceOf(baseSequence: number, lastOffsetDelta: number): number {
  if (baseSequence > INT32_MAX - lastOffsetDelta) return lastOffsetDelta - (INT32_MAX - baseSequence) - 1;
  return baseSequence + lastOffsetDelta;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

export class ProducerStateManager {
  private readonly producers = new Map<bigint, ProducerEntry>();
  /** Producer id -> first offset of its ongoing transaction. */
  private readonly ongoing = new Map<bigint, number>();
  /** Producer id -> its pending transaction verification (KIP-890). */
  private readonly verifications = new Map<bigint, VerificationEntry>();

  /** Number of producers with state. */
  get size(): number {
    return this.producers.size;
  }

  entry(producerId: bigint): ProducerEntry | undefined {
    return this.producers.get(producerId);
  }

  entries(): IterableIterator<ProducerEntry> {
    return this.producers.values();
  }

  /** Whether the producer has an ongoing transaction in this partition. */
  hasOngoingTxn(producerId: bigint): boolean {
    return this.ongoing.has(producerId);
  }

  /**
   * Starts (or joins) a transaction verification for a producer: the guard its append
   * must carry. A newer epoch replaces an older entry. Undefined when MAX_VERIFICATIONS
   * producers are already waiting (the caller answers a retriable error).
   */
  startVerification(producerId: bigint, producerEpoch: number, nowMs: number): VerificationGuard | undefined {
    const existing = this.verifications.get(producerId);
    if (existing !== undefined && existing.guard.producerEpoch >= producerEpoch) return existing.guard;
    if (existing === undefined && this.verifications.size >= MAX_VERIFICATIONS) return undefined;
    const guard = new VerificationGuard(producerEpoch);
    this.verifications.set(producerId, { guard, createdMs: nowMs, verified: false });
    return guard;
  }

  /** Records that the coordinator verified `guard` (ignored when it is no longer current). */
  markVerified(producerId: bigint, guard: VerificationGuard): void {
    const entry = this.verifications.get(producerId);
    if (entry !== undefined && entry.guard === guard) entry.verified = true;
  }

  /**
   * The producer's current guard when the coordinator already verified it at this epoch
   * (no marker since, the transaction's first batch not appended yet): later batches of
   * the same transaction append with it without asking again.
   */
  verifiedGuard(producerId: bigint, producerEpoch: number): VerificationGuard | undefined {
    const entry = this.verifications.get(producerId);
    return entry?.verified === true && entry.guard.producerEpoch === producerEpoch ? entry.guard : undefined;
  }

  /** The producer's current verification guard (SENTINEL_GUARD when none). */
  verificationGuard(producerId: bigint): VerificationGuard {
    return this.verifications.get(producerId)?.guard ?? SENTINEL_GUARD;
  }

  /** Number of producers with a verification entry. */
  get verificationCount(): number {
    return this.verifications.size;
  }

  /**
   * Checks one batch against the state. `staged` holds the batches of the same append
   * already checked (several batches of one producer in one request), in order.
   * `verificationGuard` is set when transaction verification is on for this append (the
   * produce path): a transactional batch then needs an ongoing transaction or a guard
   * that is still the producer's (INVALID_TXN_STATE otherwise).
   */
  check(
    batch: ProducerBatch,
    staged: readonly ProducerBatch[] = [],
    verificationGuard?: VerificationGuard,
  ): SequenceCheck {
    const result = this.checkSequence(batch, staged);
    // A duplicate (a retry) is answered as before; only a new append needs the verification.
    if (
      result.kind === 'new' &&
      verificationGuard !== undefined &&
      this.missingVerification(batch, staged, verificationGuard)
    ) {
      return {
        kind: 'error',
        errorCode: ErrorCode.INVALID_TXN_STATE,
        message: `transactional batch of producer ${batch.producerId} is not part of an ongoing transaction (not verified)`,
      };
    }
    return result;
  }

  private checkSequence(batch: ProducerBatch, staged: readonly ProducerBatch[]): SequenceCheck {
    const entry = this.producers.get(batch.producerId);
    // Earlier batches of this same request count as the producer's latest.
    let epoch = entry?.producerEpoch ?? -1;
    let lastSeq = entry?.batches.at(-1)?.lastSeq ?? -1;
    let known = entry !== undefined && (entry.batches.length > 0 || entry.producerEpoch >= 0);
    for (const s of staged) {
      if (s.producerId !== batch.producerId) continue;
      epoch = s.producerEpoch;
      lastSeq = lastSequenceOf(s.baseSequence, s.lastOffsetDelta);
      known = true;
    }
    if (!known) return { kind: 'new' };
    const isMarker = ((batch.attributes ?? 0) & ATTR_CONTROL) !== 0;
    if (isMarker) {
      // A transaction marker from the coordinator: only its epoch is checked (it may be
      // one above the producer's when the coordinator fenced it); it has no sequence.
      return batch.producerEpoch < epoch
        ? {
            kind: 'error',
            errorCode: ErrorCode.INVALID_PRODUCER_EPOCH,
            message: `marker of producer ${batch.producerId} has epoch ${batch.producerEpoch}, older than ${epoch}`,
          }
        : { kind: 'new' };
    }
    if (batch.producerEpoch < epoch) {
      return {
        kind: 'error',
        errorCode: ErrorCode.INVALID_PRODUCER_EPOCH,
        message: `producer ${batch.producerId} epoch ${batch.producerEpoch} is older than the current epoch ${epoch}`,
      };
    }
    // A batch without a sequence (the group coordinator's transactional offset commits,
    // written for the producer): only its epoch is checked, as Kafka does for the
    // coordinator's appends.
    if (batch.baseSequence < 0) return { kind: 'new' };
    if (entry !== undefined && batch.producerEpoch === entry.producerEpoch) {
      const lastSeqOfBatch = lastSequenceOf(batch.baseSequence, batch.lastOffsetDelta);
      for (const b of entry.batches) {
        if (b.firstSeq === batch.baseSequence && b.lastSeq === lastSeqOfBatch) {
          return {
            kind: 'duplicate',
            firstOffset: b.firstOffset,
            lastOffset: b.lastOffset,
            timestampMs: b.timestampMs,
          };
        }
      }
    }
    if (batch.producerEpoch !== epoch) {
      if (batch.baseSequence !== 0) {
        return {
          kind: 'error',
          errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
          message: `producer ${batch.producerId}: new epoch ${batch.producerEpoch} must start at sequence 0, got ${batch.baseSequence}`,
        };
      }
      return { kind: 'new' };
    }
    if (lastSeq < 0 || inSequence(lastSeq, batch.baseSequence)) return { kind: 'new' };
    return {
      kind: 'error',
      errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
      message: `producer ${batch.producerId}: sequence ${batch.baseSequence} does not follow ${lastSeq}`,
    };
  }

  private missingVerification(
    batch: ProducerBatch,
    staged: readonly ProducerBatch[],
    guard: VerificationGuard,
  ): boolean {
    const attributes = batch.attributes ?? 0;
    if ((attributes & ATTR_TRANSACTIONAL) === 0 || (attributes & ATTR_CONTROL) !== 0) return false;
    if (this.ongoing.has(batch.producerId)) return false;
    // An earlier transactional batch of this same append opens the transaction.
    for (const s of staged) {
      if (s.producerId === batch.producerId && ((s.attributes ?? 0) & ATTR_TRANSACTIONAL) !== 0) return false;
    }
    return guard === SENTINEL_GUARD || guard !== this.verifications.get(batch.producerId)?.guard;
  }

  /**
   * Checks a COMMIT/ABORT marker before it is appended: its producer epoch may not be
   * older than the producer's, its coordinator epoch not older than the last marker's.
   */
  checkMarker(producerId: bigint, producerEpoch: number, coordinatorEpoch: number): SequenceCheck {
    const entry = this.producers.get(producerId);
    if (entry === undefined) return { kind: 'new' };
    if (producerEpoch < entry.producerEpoch) {
      return {
        kind: 'error',
        errorCode: ErrorCode.INVALID_PRODUCER_EPOCH,
        message: `marker of producer ${producerId} has epoch ${producerEpoch}, older than ${entry.producerEpoch}`,
      };
    }
    if (coordinatorEpoch < entry.coordinatorEpoch) {
      return {
        kind: 'error',
        errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED,
        message: `marker of producer ${producerId} from coordinator epoch ${coordinatorEpoch}, older than ${entry.coordinatorEpoch}`,
      };
    }
    return { kind: 'new' };
  }

  /** The smallest first offset of an ongoing transaction, or undefined when there is none. */
  firstUnstableOffset(): number | undefined {
    let first: number | undefined;
    for (const offset of this.ongoing.values()) if (first === undefined || offset < first) first = offset;
    return first;
  }

  /** Producer ids with an ongoing transaction and its first offset. */
  ongoingTransactions(): ReadonlyMap<bigint, number> {
    return this.ongoing;
  }

  private entryFor(producerId: bigint, producerEpoch: number): ProducerEntry {
    let entry = this.producers.get(producerId);
    if (entry === undefined) {
      entry = {
        producerId,
        producerEpoch,
        batches: [],
        lastTimestampMs: -1,
        coordinatorEpoch: -1,
        currentTxnFirstOffset: -1,
      };
      this.producers.set(producerId, entry);
    }
    return entry;
  }

  /**
   * Applies a COMMIT/ABORT marker the log accepted at `markerOffset`: ends the producer's
   * ongoing transaction and returns it (undefined when none was open: an empty one).
   */
  completeTxn(
    producerId: bigint,
    producerEpoch: number,
    marker: { committed: boolean; coordinatorEpoch: number },
    markerOffset: number,
    timestampMs: number,
  ): CompletedTxn | undefined {
    const entry = this.entryFor(producerId, producerEpoch);
    if (producerEpoch !== entry.producerEpoch) {
      entry.producerEpoch = producerEpoch;
      entry.batches = [];
    }
    entry.coordinatorEpoch = marker.coordinatorEpoch;
    entry.lastTimestampMs = Math.max(entry.lastTimestampMs, timestampMs);
    // A verification taken before this marker must not let a late write in after it.
    this.verifications.delete(producerId);
    const firstOffset = entry.currentTxnFirstOffset;
    entry.currentTxnFirstOffset = -1;
    this.ongoing.delete(producerId);
    if (firstOffset < 0) return undefined;
    return { producerId, firstOffset, lastOffset: markerOffset, isAborted: !marker.committed };
  }

  /** Records a batch the log accepted at [firstOffset, firstOffset + lastOffsetDelta]. */
  apply(batch: ProducerBatch, firstOffset: number, timestampMs: number): void {
    const entry = this.entryFor(batch.producerId, batch.producerEpoch);
    if (batch.producerEpoch !== entry.producerEpoch) {
      entry.producerEpoch = batch.producerEpoch;
      entry.batches = [];
    }
    if (batch.baseSequence >= 0) {
      entry.batches.push({
        firstSeq: batch.baseSequence,
        lastSeq: lastSequenceOf(batch.baseSequence, batch.lastOffsetDelta),
        firstOffset,
        lastOffset: firstOffset + batch.lastOffsetDelta,
        timestampMs,
      });
      if (entry.batches.length > BATCHES_PER_PRODUCER) entry.batches.shift();
    }
    entry.lastTimestampMs = timestampMs;
    const attributes = batch.attributes ?? 0;
    if ((attributes & ATTR_TRANSACTIONAL) !== 0 && (attributes & ATTR_CONTROL) === 0) {
      // The transaction is ongoing now: its verification has done its work.
      this.verifications.delete(batch.producerId);
      if (entry.currentTxnFirstOffset < 0) {
        entry.currentTxnFirstOffset = firstOffset;
        this.ongoing.set(batch.producerId, firstOffset);
      }
    }
  }

  /** Restores an entry (snapshot loading). */
  put(entry: ProducerEntry): void {
    this.producers.set(entry.producerId, {
      ...entry,
      batches: entry.batches.slice(-BATCHES_PER_PRODUCER),
    });
    if (entry.currentTxnFirstOffset >= 0) this.ongoing.set(entry.producerId, entry.currentTxnFirstOffset);
    else this.ongoing.delete(entry.producerId);
  }

  /**
   * Forgets producers whose every remembered batch lies below the log start offset
   * (retention, DeleteRecords): their sequences start afresh, as in Kafka.
   */
  removeBelow(logStartOffset: number): void {
    for (const [id, entry] of this.producers) {
      const last = entry.batches.at(-1);
      if (entry.currentTxnFirstOffset >= 0) continue;
      if (last !== undefined && last.lastOffset < logStartOffset) this.producers.delete(id);
    }
  }

  /**
   * Drops producers idle longer than producer.id.expiration.ms (Kafka default 1 day), and
   * verification entries as old (a verification whose append never came).
   */
  removeExpired(nowMs: number, expirationMs: number): number {
    for (const [id, v] of this.verifications) if (nowMs - v.createdMs >= expirationMs) this.verifications.delete(id);
    let removed = 0;
    for (const [id, entry] of this.producers) {
      if (entry.currentTxnFirstOffset >= 0) continue; // Kafka never expires an open transaction
      if (entry.lastTimestampMs >= 0 && nowMs - entry.lastTimestampMs >= expirationMs) {
        this.producers.delete(id);
        removed++;
      }
    }
    return removed;
  }

  clear(): void {
    this.producers.clear();
    this.ongoing.clear();
    this.verifications.clear();
  }
}
