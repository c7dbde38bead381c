/**
 * PRODUCER_FENCED (KIP-588) reaches only clients whose request version knows it:
 * InitProducerId v4+, AddPartitionsToTxn v2+, AddOffsetsToTxn v2+, EndTxn v2+,
 * TxnOffsetCommit v3+. Older versions get INVALID_PRODUCER_EPOCH, which they treat the same.
 */
import { ErrorCode } from '../../protocol/generated/errors.ts';

export function fencedForVersion(errorCode: number, apiVersion: number, firstVersionWithFenced: number): number {
  if (errorCode === ErrorCode.PRODUCER_FENCED && apiVersion < firstVersionWithFenced) {
    return ErrorCode.INVALID_PRODUCER_EPOCH;
  }
  return errorCode;
}
