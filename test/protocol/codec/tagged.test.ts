import { deepStrictEqual, throws } from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../../src/protocol/codec/errors.ts';
import { decode, encode } from '../../../src/protocol/codec/message.ts';
import { Reader } from '../../../src/protocol/codec/reader.ts';
import { Writer } from '../../../src/protocol/codec/writer.ts';
import {
  ConsumerGroupMemberMetadataValueCodec,
  defaultsConsumerGroupMemberMetadataValue,
} from '../../../src/protocol/generated/consumer-group-member-metadata-value.ts';

void test('a tagged nullable struct uses an unsigned varint presence marker (0 null, 1 present)', () => {
  const base = defaultsConsumerGroupMemberMetadataValue();
  const absent = encode(ConsumerGroupMemberMetadataValueCodec, base, 0);
  deepStrictEqual(absent.subarray(-1), Buffer.from([0]), 'null is the default: no tagged field');
  const withStruct = { ...base, classicMemberMetadata: { sessionTimeoutMs: 1, supportedProtocols: [] } };
  const bytes = encode(ConsumerGroupMemberMetadataValueCodec, withStruct, 0);
  // 1 tagged field, tag 0, size 7: marker 1, int32 1, empty compact array, empty tag section.
  deepStrictEqual(bytes.subarray(-10), Buffer.from('0100070100000001' + '0100', 'hex'));
  deepStrictEqual(decode(ConsumerGroupMemberMetadataValueCodec, bytes, 0), withStruct);
  // A present tag whose marker says null decodes to null.
  const nullTagged = Buffer.concat([absent.subarray(0, -1), Buffer.from('01000100', 'hex')]);
  deepStrictEqual(decode(ConsumerGroupMemberMetadataValueCodec, nullTagged, 0), base);
});

void test('compact strings are limited to 32767 bytes like classic ones', () => {
  const long = 'x'.repeat(0x8000);
  throws(() => Writer.alloc(0x8003).writeCompactString(long), RangeError);
  const w = Writer.alloc(3 + 0x8000);
  w.writeUnsignedVarint(0x8001);
  w.writeRawBytes(Buffer.from(long));
  throws(
    () => new Reader(w.buf).readCompactString(),
    (e: unknown) => e instanceof DecodeError && e.reason === 'invalid-value',
  );
});
