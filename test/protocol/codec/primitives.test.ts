import { deepStrictEqual, equal, ok, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DecodeError, type DecodeErrorReason } from '../../../src/protocol/codec/errors.ts';
import { Reader } from '../../../src/protocol/codec/reader.ts';
import {
  sizeOfCompactNullableString,
  sizeOfCompactString,
  sizeOfString,
  sizeOfUnsignedVarint,
  sizeOfVarint,
  sizeOfVarlong,
  sizeOfVarlongNumber,
} from '../../../src/protocol/codec/sizes.ts';
import { isUuid, uuidFromBigints, uuidToBytes, uuidToHex, ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import { Writer } from '../../../src/protocol/codec/writer.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function written(size: number, fn: (w: Writer) => void): string {
  const w = Writer.alloc(size);
  fn(w);
  equal(w.offset, size, 'wrote exactly the sized bytes');
  return w.buf.toString('hex');
}

function decodeFails(reason: DecodeErrorReason, fn: () => unknown): void {
  throws(fn, (e: unknown) => e instanceof DecodeError && e.reason === reason);
}

void describe('varints', () => {
  const unsigned: [number, string][] = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [16383, 'ff7f'],
    [16384, '808001'],
    [2 ** 31 - 1, 'ffffffff07'],
    [2 ** 32 - 1, 'ffffffff0f'],
  ];
  void test('unsigned varint known bytes', () => {
    for (const [v, bytes] of unsigned) {
      equal(
        written(sizeOfUnsignedVarint(v), (w) => w.writeUnsignedVarint(v)),
        bytes,
        `${v}`,
      );
      equal(new Reader(hex(bytes)).readUnsignedVarint(), v);
    }
  });

  const zigzag: [number, string][] = [
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [-2, '03'],
    [63, '7e'],
    [-64, '7f'],
    [64, '8001'],
    [-65, '8101'],
    [2147483647, 'feffffff0f'],
    [-2147483648, 'ffffffff0f'],
  ];
  void test('zigzag varint known bytes', () => {
    for (const [v, bytes] of zigzag) {
      equal(
        written(sizeOfVarint(v), (w) => w.writeVarint(v)),
        bytes,
        `${v}`,
      );
      equal(new Reader(hex(bytes)).readVarint(), v);
    }
  });

  const zigzag64: [bigint, string][] = [
    [0n, '00'],
    [-1n, '01'],
    [1n, '02'],
    [1700000000000n, '80a0abfef962'],
    [9223372036854775807n, 'feffffffffffffffff01'],
    [-9223372036854775808n, 'ffffffffffffffffff01'],
  ];
  void test('zigzag varlong known bytes', () => {
    for (const [v, bytes] of zigzag64) {
      equal(
        written(sizeOfVarlong(v), (w) => w.writeVarlong(v)),
        bytes,
        `${v}`,
      );
      equal(new Reader(hex(bytes)).readVarlong(), v);
    }
  });

  void test('varint round trips (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (v) => {
        const w = Writer.alloc(sizeOfVarint(v));
        w.writeVarint(v);
        equal(w.offset, w.buf.length);
        equal(new Reader(w.buf).readVarint(), v);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        const w = Writer.alloc(sizeOfVarlong(v));
        w.writeVarlong(v);
        equal(w.offset, w.buf.length);
        equal(new Reader(w.buf).readVarlong(), v);
      }),
    );
    fc.assert(
      fc.property(fc.maxSafeInteger(), (v) => {
        const w = Writer.alloc(sizeOfVarlongNumber(v));
        w.writeVarlongNumber(v);
        equal(w.offset, w.buf.length);
        equal(new Reader(w.buf).readVarlongNumber(), v);
        equal(sizeOfVarlongNumber(v), sizeOfVarlong(BigInt(v)));
      }),
    );
  });

  void test('over-long and truncated varints are DecodeErrors', () => {
    decodeFails('varint-too-long', () => new Reader(hex('ffffffffff01')).readUnsignedVarint());
    decodeFails('varint-too-long', () => new Reader(hex('ffffffff10')).readUnsignedVarint());
    decodeFails('varint-too-long', () => new Reader(hex('ffffffffffffffffffff01')).readVarlong());
    decodeFails('varint-too-long', () => new Reader(hex('ffffffffffffffffff02')).readVarlong());
    decodeFails('truncated', () => new Reader(hex('80')).readUnsignedVarint());
    decodeFails('truncated', () => new Reader(hex('8080')).readVarlong());
    decodeFails('invalid-value', () => new Reader(hex('feffffffffffffffff01')).readVarlongNumber());
  });
});

void describe('fixed-width primitives', () => {
  void test('big-endian known bytes and truncation', () => {
    equal(
      written(1 + 2 + 4 + 8 + 2 + 4 + 8 + 1, (w) => {
        w.writeInt8(-1);
        w.writeInt16(0x1234);
        w.writeInt32(-2);
        w.writeInt64(0x0102030405060708n);
        w.writeUint16(0xfffe);
        w.writeUint32(0xfffffffe);
        w.writeFloat64(1.5);
        w.writeBool(true);
      }),
      'ff1234fffffffe0102030405060708fffefffffffe3ff800000000000001',
    );
    const r = new Reader(hex('ff1234fffffffe0102030405060708fffefffffffe3ff800000000000001'));
    equal(r.readInt8(), -1);
    equal(r.readInt16(), 0x1234);
    equal(r.readInt32(), -2);
    equal(r.readInt64(), 0x0102030405060708n);
    equal(r.readUint16(), 0xfffe);
    equal(r.readUint32(), 0xfffffffe);
    equal(r.readFloat64(), 1.5);
    equal(r.readBool(), true);
    equal(r.remaining(), 0);
    decodeFails('truncated', () => r.readInt8());
    decodeFails('truncated', () => new Reader(hex('000000')).readInt32());
    decodeFails('truncated', () => new Reader(hex('00000000000000')).readInt64());
  });

  void test('out-of-range values and writes past the end are RangeErrors (bugs), not silent wraps', () => {
    throws(() => Writer.alloc(1).writeInt8(128), RangeError);
    throws(() => Writer.alloc(2).writeInt16(-32769), RangeError);
    throws(() => Writer.alloc(4).writeInt32(2 ** 31), RangeError);
    throws(() => Writer.alloc(4).writeInt32(1.5), RangeError);
    throws(() => Writer.alloc(2).writeUint16(-1), RangeError);
    throws(() => Writer.alloc(4).writeUint32(2 ** 32), RangeError);
    throws(() => Writer.alloc(3).writeInt32(1), RangeError);
    throws(() => Writer.alloc(1).writeString('ab'), RangeError);
    throws(() => Writer.alloc(6).writeUnsignedVarint(2 ** 32), RangeError);
    throws(() => Writer.alloc(6).writeUnsignedVarint(-1), RangeError);
    throws(() => Writer.alloc(6).writeVarint(2 ** 31), RangeError);
    throws(() => Writer.alloc(10).writeVarlongNumber(2 ** 53), RangeError);
  });

  void test('reader honours its end bound inside a larger buffer', () => {
    const buf = hex('0000000100000002');
    const r = new Reader(buf, 0, 4);
    equal(r.readInt32(), 1);
    decodeFails('truncated', () => r.readInt32());
  });
});

void describe('strings and bytes', () => {
  void test('classic and compact string encodings', () => {
    equal(
      written(sizeOfString('abc'), (w) => w.writeString('abc')),
      '0003616263',
    );
    equal(
      written(2, (w) => w.writeString('')),
      '0000',
    );
    equal(
      written(2, (w) => w.writeNullableString(null)),
      'ffff',
    );
    equal(
      written(sizeOfCompactString('abc'), (w) => w.writeCompactString('abc')),
      '04616263',
    );
    equal(
      written(1, (w) => w.writeCompactString('')),
      '01',
    );
    equal(
      written(sizeOfCompactNullableString(null), (w) => w.writeCompactNullableString(null)),
      '00',
    );
    // é is two bytes in UTF-8: the length counts bytes, not characters.
    equal(
      written(sizeOfCompactString('é'), (w) => w.writeCompactString('é')),
      '03c3a9',
    );
    equal(new Reader(hex('0003616263')).readString(), 'abc');
    equal(new Reader(hex('ffff')).readNullableString(), null);
    equal(new Reader(hex('04616263')).readCompactString(), 'abc');
    equal(new Reader(hex('00')).readCompactNullableString(), null);
    equal(new Reader(hex('03c3a9')).readCompactString(), 'é');
  });

  void test('bad string lengths are DecodeErrors', () => {
    decodeFails('unexpected-null', () => new Reader(hex('ffff')).readString());
    decodeFails('unexpected-null', () => new Reader(hex('00')).readCompactString());
    decodeFails('negative-length', () => new Reader(hex('fffe')).readNullableString());
    decodeFails('length-exceeds-frame', () => new Reader(hex('00056162')).readString());
    decodeFails('length-exceeds-frame', () => new Reader(hex('7fff')).readString());
    // A compact length of 2^31: must fail on the length, never allocate.
    decodeFails('length-exceeds-frame', () => new Reader(hex('8180808008')).readCompactString());
  });

  void test('bytes are zero-copy subarrays and lengths are checked', () => {
    const input = hex('00000003010203ff');
    const r = new Reader(input);
    const b = r.readBytes();
    deepStrictEqual([...b], [1, 2, 3]);
    equal(b.buffer, input.buffer, 'shares memory with the input');
    equal(b.byteOffset, input.byteOffset + 4);
    equal(new Reader(hex('ffffffff')).readNullableBytes(), null);
    decodeFails('unexpected-null', () => new Reader(hex('ffffffff')).readBytes());
    decodeFails('negative-length', () => new Reader(hex('fffffffe')).readNullableBytes());
    decodeFails('length-exceeds-frame', () => new Reader(hex('7fffffff00')).readBytes());
    equal(
      written(3, (w) => w.writeCompactBytes(Buffer.from([1, 2]))),
      '030102',
    );
    equal(
      written(1, (w) => w.writeCompactNullableBytes(null)),
      '00',
    );
    equal(
      written(4, (w) => w.writeNullableBytes(null)),
      'ffffffff',
    );
  });

  void test('array counts larger than the remaining bytes fail before allocating', () => {
    decodeFails('length-exceeds-frame', () => new Reader(hex('7fffffff')).readArrayLength());
    decodeFails('length-exceeds-frame', () => new Reader(hex('ffffffff07')).readCompactArrayLength());
    decodeFails('unexpected-null', () => new Reader(hex('ffffffff')).readArrayLength());
    decodeFails('negative-length', () => new Reader(hex('80000000')).readNullableArrayLength());
    equal(new Reader(hex('ffffffff')).readNullableArrayLength(), -1);
    equal(new Reader(hex('00')).readCompactNullableArrayLength(), -1);
    equal(new Reader(hex('030000')).readCompactArrayLength(), 2);
  });
});

void describe('uuid', () => {
  void test('display form is base64url without padding', () => {
    const bytes = hex('000102030405060708090a0b0c0d0e0f');
    const w = Writer.alloc(16);
    const r = new Reader(bytes);
    const id = r.readUuid();
    equal(id, 'AAECAwQFBgcICQoLDA0ODw');
    w.writeUuid(id);
    deepStrictEqual(w.buf, bytes);
    equal(ZERO_UUID, new Reader(Buffer.alloc(16)).readUuid());
    ok(isUuid(ZERO_UUID));
    ok(!isUuid('AAECAwQFBgcICQoLDA0ODx'), 'last char must carry only two bits');
    ok(!isUuid('short'));
    throws(() => Writer.alloc(16).writeUuid('not-a-uuid'), TypeError);
    deepStrictEqual(uuidToBytes(id), bytes);
    equal(uuidToHex(id), '00010203-0405-0607-0809-0a0b0c0d0e0f');
    equal(uuidFromBigints(0x0001020304050607n, 0x08090a0b0c0d0e0fn), id);
  });
});
