/**
 * Control records: the only record in a control batch (attributes bit 5).
 *
 *   key:   version int16 (0) | type int16 (0 = ABORT, 1 = COMMIT, ...)
 *   value for ABORT/COMMIT (an end-transaction marker): version int16 (0) | coordinatorEpoch int32
 */
import { CorruptRecordError } from './errors.ts';

export enum ControlRecordType {
  Abort = 0,
  Commit = 1,
  /** KRaft: a new leader for the metadata quorum. */
  LeaderChange = 2,
  SnapshotHeader = 3,
  SnapshotFooter = 4,
  KRaftVersion = 5,
  KRaftVoters = 6,
}

export const CONTROL_KEY_SIZE = 4;
export const END_TXN_MARKER_SIZE = 6;
const CURRENT_CONTROL_KEY_VERSION = 0;
const CURRENT_END_TXN_MARKER_VERSION = 0;

export interface ControlRecordKey {
  version: number;
  type: number;
}

export interface EndTxnMarker {
  version: number;
  coordinatorEpoch: number;
}

export function encodeControlKey(type: ControlRecordType): Buffer {
  const b = Buffer.allocUnsafe(CONTROL_KEY_SIZE);
  b.writeInt16BE(CURRENT_CONTROL_KEY_VERSION, 0);
  b.writeInt16BE(type, 2);
  return b;
}

/** Reads a control record key. Later versions keep the same first 4 bytes, so only the prefix is read. */
export function decodeControlKey(key: Buffer | null): ControlRecordKey {
  if (key === null || key.length < CONTROL_KEY_SIZE) {
    throw new CorruptRecordError('invalid-control-record', `control key of ${key?.length ?? 'null'} bytes`);
  }
  const version = key.readInt16BE(0);
  if (version < 0) throw new CorruptRecordError('invalid-control-record', `control key version ${version}`);
  return { version, type: key.readInt16BE(2) };
}

export function encodeEndTxnMarker(coordinatorEpoch: number): Buffer {
  const b = Buffer.allocUnsafe(END_TXN_MARKER_SIZE);
  b.writeInt16BE(CURRENT_END_TXN_MARKER_VERSION, 0);
  b.writeInt32BE(coordinatorEpoch, 2);
  return b;
}

export function decodeEndTxnMarker(value: Buffer | null): EndTxnMarker {
  if (value === null || value.length < END_TXN_MARKER_SIZE) {
    throw new CorruptRecordError('invalid-control-record', `end txn marker of ${value?.length ?? 'null'} bytes`);
  }
  const version = value.readInt16BE(0);
  if (version < 0) throw new CorruptRecordError('invalid-control-record', `end txn marker version ${version}`);
  return { version, coordinatorEpoch: value.readInt32BE(2) };
}
