export { DecodeError, type DecodeErrorReason } from './errors.ts';
export {
  decode,
  deepEqualValue,
  EMPTY_BYTES,
  encode,
  isSupportedVersion,
  type MessageCodec,
  type MessageType,
  nonNull,
  sizeOfUnknownTaggedFields,
  sortedTaggedFields,
  type TaggedField,
  writeUnknownTaggedFields,
} from './message.ts';
export { Reader } from './reader.ts';
export * from './sizes.ts';
export { isUuid, uuidFromBigints, uuidFromBytes, uuidToBytes, uuidToHex, ZERO_UUID } from './uuid.ts';
export { zigzagDecode32, zigzagDecode64, zigzagEncode32, zigzagEncode64 } from './varint.ts';
export { Writer } from './writer.ts';
