import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { javaStringHashCode, kafkaAbs, partitionFor } from '../../src/coordinator/runtime/hash.ts';

void describe('group placement (Kafka partitionFor)', () => {
  void it("matches Java's String.hashCode on known values", () => {
    assert.equal(javaStringHashCode(''), 0);
    assert.equal(javaStringHashCode('a'), 97);
    assert.equal(javaStringHashCode('hello'), 99162322);
    assert.equal(javaStringHashCode('Aa'), javaStringHashCode('BB'));
    // Its hash is Integer.MIN_VALUE, which Utils.abs maps to 0.
    assert.equal(javaStringHashCode('polygenelubricants'), -2147483648);
    assert.equal(partitionFor('polygenelubricants', 50), 0);
    // UTF-16 code units: a non-BMP character counts as its two surrogates.
    assert.equal(javaStringHashCode('\u{1F600}'), 0xd83d * 31 + 0xde00);
  });

  void it('is always within [0, n)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.integer({ min: 1, max: 1000 }), (s, n) => {
        const p = partitionFor(s, n);
        return Number.isInteger(p) && p >= 0 && p < n;
      }),
    );
    assert.equal(kafkaAbs(-5), 5);
  });
});
