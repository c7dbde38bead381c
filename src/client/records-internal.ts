/** The parts of src/protocol/records the consumer's lazy decoder reads, in one place. */

export { checkBatchFraming } from '../protocol/records/batch.ts';
export {
  ATTR_COMPRESSION_MASK,
  ATTR_CONTROL,
  ATTR_TIMESTAMP_TYPE_LOG_APPEND,
  ATTR_TRANSACTIONAL,
  BATCH_HEADER_SIZE,
  BATCH_LOG_OVERHEAD,
  BatchOffset,
  type CompressionType,
} from '../protocol/records/batch-header.ts';
export { decompress } from '../protocol/records/compression.ts';
export { ControlRecordType, decodeControlKey } from '../protocol/records/control.ts';
export type { RecordHeader } from '../protocol/records/record.ts';

import { decodeControlKey } from '../protocol/records/control.ts';

/** The type of a control record from its key bytes. */
export function readControlKeyType(key: Buffer): number {
  return decodeControlKey(key).type;
}
