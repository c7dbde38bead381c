/**
 * murmur2 and key -> partition: Kafka's own vectors (UtilsTest.testMurmur2) plus a property test
 * against kafkajs's DefaultPartitioner, which is documented as Java-compatible.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { murmur2, partitionForKey, toPositive } from '../../../src/client/partitioner/murmur2.ts';

// Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
const KAFKA_VECTORS: Array<[Uint8Array, number]> = [
  [Buffer.from('21'), -973932308],
  [Buffer.from('foobar'), -790332482],
  [Buffer.from('a-little-bit-long-string'), -985981536],
  [Buffer.from('a-little-bit-longer-string'), -1486304829],
  [Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'), -58897971],
  [Uint8Array.from([0x61, 0x62, 0x63]), 479470107],
];

type KafkajsPartition = (args: {
  topic: string;
  partitionMetadata: Array<{ partitionId: number; leader: number }>;
  message: { key?: Buffer | string | null; partition?: number | null };
}) => number;

const require = createRequire(import.meta.url);
const kafkajs = require('kafkajs') as { Partitioners: { DefaultPartitioner: () => KafkajsPartition } };

function partitionMetadata(n: number): Array<{ partitionId: number; leader: number }> {
  return Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0 }));
}

void describe('murmur2', () => {
  void it("matches Kafka's UtilsTest.testMurmur2 vectors", () => {
    for (const [input, expected] of KAFKA_VECTORS) {
      assert.equal(murmur2(input), expected, Buffer.from(input).toString('latin1'));
    }
  });

  void it('empty and binary keys (vectors from Java-compatible clients, equal to kafkajs)', () => {
    assert.equal(murmur2(new Uint8Array(0)), 275646681);
    assert.equal(murmur2(Uint8Array.from([12, 42, 56, 24, 109, 111])), 274204207);
  });

  void it('covers every tail length (0..3 trailing bytes) and returns a signed int32', () => {
    for (let len = 0; len < 16; len++) {
      const h = murmur2(Buffer.alloc(len, 0xff));
      assert.ok(Number.isInteger(h) && h >= -(2 ** 31) && h < 2 ** 31);
    }
  });

  void it('toPositive clears the sign bit like Utils.toPositive', () => {
    assert.equal(toPositive(-973932308), 1173551340);
    assert.equal(toPositive(-790332482), 1357151166);
    assert.equal(toPositive(-2147483648), 0);
    assert.equal(toPositive(479470107), 479470107);
  });

  void it('partitionForKey = toPositive(murmur2(key)) % numPartitions', () => {
    // toPositive(murmur2("foobar")) = 1357151166
    assert.equal(partitionForKey(Buffer.from('foobar'), 10), 6);
    assert.equal(partitionForKey(Buffer.from('21'), 12), 1173551340 % 12);
    assert.equal(partitionForKey(Buffer.from('abc'), 7), 479470107 % 7);
    assert.equal(partitionForKey(Buffer.from('anything'), 1), 0);
    assert.throws(() => partitionForKey(Buffer.from('k'), 0), RangeError);
  });

  void it('agrees with kafkajs DefaultPartitioner (Java-compatible) on random keys', () => {
    const kafkajsPartition = kafkajs.Partitioners.DefaultPartitioner();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 1000 }), (key, n) => {
        const buf = Buffer.from(key);
        const expected = kafkajsPartition({
          topic: 't',
          partitionMetadata: partitionMetadata(n),
          message: { key: buf },
        });
        assert.equal(partitionForKey(buf, n), expected);
      }),
      { numRuns: 2000 },
    );
  });

  void it('agrees with kafkajs on UTF-8 string keys', () => {
    const kafkajsPartition = kafkajs.Partitioners.DefaultPartitioner();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (key, n) => {
        const expected = kafkajsPartition({ topic: 't', partitionMetadata: partitionMetadata(n), message: { key } });
        assert.equal(partitionForKey(Buffer.from(key, 'utf8'), n), expected);
      }),
      { numRuns: 500 },
    );
  });
});
