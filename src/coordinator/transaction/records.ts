/**
 * The records of __transaction_state, as Kafka writes them: key = TransactionLogKey
 * (version 0, the transactional id), value = TransactionLogValue (version 0 here: the
 * transaction-version-1 fields), a null value is a tombstone (the id expired).
 */
import {
  decodeCoordinatorRecord,
  encodeVersioned,
  TRANSACTION_COORDINATOR_RECORDS,
} from '../../protocol/generated/coordinator-records.ts';
import { TransactionLogKeyCodec } from '../../protocol/generated/transaction-log-key.ts';
import { type TransactionLogValue, TransactionLogValueCodec } from '../../protocol/generated/transaction-log-value.ts';
import type { RecordSerde, SerializedRecord } from '../runtime/runtime.ts';

export const TRANSACTION_LOG_KEY_VERSION = 0;
export const TRANSACTION_LOG_VALUE_VERSION = 0;

export interface TxnRecord {
  transactionalId: string;
  value: TransactionLogValue | null;
}

export function serializeTxnRecord(r: TxnRecord): SerializedRecord {
  return {
    key: encodeVersioned(TransactionLogKeyCodec, TRANSACTION_LOG_KEY_VERSION, { transactionalId: r.transactionalId }),
    value: r.value === null ? null : encodeVersioned(TransactionLogValueCodec, TRANSACTION_LOG_VALUE_VERSION, r.value),
  };
}

export function deserializeTxnRecord(rec: SerializedRecord): TxnRecord | undefined {
  const d = decodeCoordinatorRecord(TRANSACTION_COORDINATOR_RECORDS, rec.key, rec.value);
  if (d.keyVersion !== TRANSACTION_LOG_KEY_VERSION) return undefined;
  return {
    transactionalId: (d.key as { transactionalId: string }).transactionalId,
    value: d.value as TransactionLogValue | null,
  };
}

export const txnRecordSerde: RecordSerde<TxnRecord> = {
  serialize: serializeTxnRecord,
  deserialize: deserializeTxnRecord,
};
