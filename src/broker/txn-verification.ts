/**
 * Transaction verification on the produce path (KIP-890 part 1,
 * `transaction.partition.verification.enable`, Kafka default true).
 *
 * Before a leader appends a transactional batch of a producer that has no ongoing
 * transaction in the partition, it asks the coordinator of the request's transactional
 * id whether the partition is in that producer's transaction (AddPartitionsToTxn
 * verifyOnly, coordinator/transaction/verification-channel.ts). The append goes ahead
 * only when the answer is NONE, and it carries the verification guard taken from the
 * partition's producer state before asking: a COMMIT/ABORT marker written meanwhile drops
 * the guard, so the late write of a hanging transaction is refused (INVALID_TXN_STATE)
 * rather than opening a transaction nobody will ever end.
 *
 * No question is asked (the verdict is immediate) when the request has no transactional
 * id (Kafka skips verification then too), the batch is not transactional, the producer
 * already has an ongoing transaction (the append then carries SENTINEL_GUARD: if a marker
 * ends that transaction first, the append is refused), or its current guard was already
 * verified (a pipelined batch of the same transaction whose first one is not appended
 * yet).
 *
 * Order: a producer's batches must reach the partition's append queue in the order they
 * arrived (their sequence numbers follow each other). While one of the producer's
 * verifications is out, the producer's later batches on that partition wait behind it
 * (one chain per partition and producer, dropped once settled), even those that would
 * need no question by then.
 *
 * Coordinator answers become produce errors as in Kafka (produce versions before
 * KIP-890 part 2's, which is all Runnel serves):
 *
 *   INVALID_TXN_STATE                               INVALID_TXN_STATE ("partition not added")
 *   NETWORK_EXCEPTION, COORDINATOR_NOT_AVAILABLE,
 *   COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR,
 *   CONCURRENT_TRANSACTIONS                         NOT_ENOUGH_REPLICAS (retriable, and no
 *                                                   metadata refresh in the client)
 *   INVALID_PRODUCER_EPOCH, others                  as they are
 */
import { ErrorCode } from '../protocol/generated/errors.ts';
import { ATTR_CONTROL, ATTR_TRANSACTIONAL, type BatchHeader } from '../protocol/records/batch-header.ts';
import { SENTINEL_GUARD } from './producer-state/producer-state.ts';
import type { Partition } from './replica/partition.ts';
import type { TxnVerdict } from './replica/produce.ts';

export interface TxnVerificationOptions {
  /** transaction.partition.verification.enable */
  enabled: () => boolean;
  /** Asks the coordinator (TransactionCoordinatorService.verifyOnCoordinator). */
  verifyOnCoordinator: (
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    partitions: readonly { topic: string; partition: number }[],
  ) => Promise<number[]>;
  nowMs: () => number;
}

const NO_VERIFICATION: TxnVerdict = { errorCode: ErrorCode.NONE, message: null, guard: undefined };
const ONGOING: TxnVerdict = { errorCode: ErrorCode.NONE, message: null, guard: SENTINEL_GUARD };

/** Coordinator errors a producer must retry, answered as NOT_ENOUGH_REPLICAS. */
const RETRY_AS_NOT_ENOUGH_REPLICAS: ReadonlyMap<number, string> = new Map([
  [ErrorCode.NETWORK_EXCEPTION, 'NETWORK_EXCEPTION'],
  [ErrorCode.COORDINATOR_NOT_AVAILABLE, 'COORDINATOR_NOT_AVAILABLE'],
  [ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 'COORDINATOR_LOAD_IN_PROGRESS'],
  [ErrorCode.NOT_COORDINATOR, 'NOT_COORDINATOR'],
  [ErrorCode.CONCURRENT_TRANSACTIONS, 'CONCURRENT_TRANSACTIONS'],
]);

/** The produce error for a coordinator's answer (see the file comment). */
export function produceErrorForVerification(code: number): { errorCode: number; message: string | null } {
  if (code === ErrorCode.NONE) return { errorCode: code, message: null };
  if (code === ErrorCode.INVALID_TXN_STATE) {
    return { errorCode: code, message: 'the partition was not added to the transaction' };
  }
  const underlying = RETRY_AS_NOT_ENOUGH_REPLICAS.get(code);
  if (underlying !== undefined) {
    return {
      errorCode: ErrorCode.NOT_ENOUGH_REPLICAS,
      message: `could not verify that the partition is in the transaction (coordinator answered ${underlying})`,
    };
  }
  return { errorCode: code, message: null };
}

function transactionalBatch(headers: readonly BatchHeader[]): BatchHeader | undefined {
  for (const h of headers) {
    if (h.producerId >= 0n && (h.attributes & ATTR_TRANSACTIONAL) !== 0 && (h.attributes & ATTR_CONTROL) === 0) {
      return h;
    }
  }
  return undefined;
}

/** The produce path's verification step (ProduceDeps.txnVerification). */
export function txnVerification(
  options: TxnVerificationOptions,
): (
  partition: Partition,
  headers: readonly BatchHeader[],
  transactionalId: string | null,
) => TxnVerdict | Promise<TxnVerdict> {
  /** Per partition and producer: the verdict still out, which the producer's next batches wait for. */
  const pending = new WeakMap<Partition, Map<bigint, Promise<TxnVerdict>>>();

  const decide = (
    partition: Partition,
    batch: BatchHeader,
    transactionalId: string,
  ): TxnVerdict | Promise<TxnVerdict> => {
    const producers = partition.producers;
    if (producers.hasOngoingTxn(batch.producerId)) return ONGOING;
    const verified = producers.verifiedGuard(batch.producerId, batch.producerEpoch);
    if (verified !== undefined) return { errorCode: ErrorCode.NONE, message: null, guard: verified };
    const guard = producers.startVerification(batch.producerId, batch.producerEpoch, options.nowMs());
    if (guard === undefined) {
      return {
        errorCode: ErrorCode.NOT_ENOUGH_REPLICAS,
        message: 'too many transaction verifications waiting on this partition',
        guard: undefined,
      };
    }
    return options
      .verifyOnCoordinator(transactionalId, batch.producerId, batch.producerEpoch, [
        { topic: partition.topic, partition: partition.partition },
      ])
      .then(
        ([code]): TxnVerdict => {
          const mapped = produceErrorForVerification(code ?? ErrorCode.INVALID_TXN_STATE);
          if (mapped.errorCode !== ErrorCode.NONE) return { ...mapped, guard: undefined };
          producers.markVerified(batch.producerId, guard);
          return { ...mapped, guard };
        },
        (): TxnVerdict => ({ ...produceErrorForVerification(ErrorCode.NETWORK_EXCEPTION), guard: undefined }),
      );
  };

  return (partition, headers, transactionalId) => {
    if (transactionalId === null || transactionalId === '') return NO_VERIFICATION;
    const batch = transactionalBatch(headers);
    if (batch === undefined || !options.enabled()) return NO_VERIFICATION;
    let chains = pending.get(partition);
    const before = chains?.get(batch.producerId);
    const verdict =
      before === undefined
        ? decide(partition, batch, transactionalId)
        : before.then(() => decide(partition, batch, transactionalId));
    if (!(verdict instanceof Promise)) return verdict;
    if (chains === undefined) {
      chains = new Map();
      pending.set(partition, chains);
    }
    chains.set(batch.producerId, verdict);
    const map = chains;
    void verdict.finally(() => {
      if (map.get(batch.producerId) === verdict) map.delete(batch.producerId);
    });
    return verdict;
  };
}
