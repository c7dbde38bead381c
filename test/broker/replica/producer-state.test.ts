import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  lastSequenceOf,
  type ProducerBatch,
  ProducerStateManager,
} from '../../../src/broker/producer-state/producer-state.ts';
import { decodeSnapshot, encodeSnapshot } from '../../../src/broker/producer-state/snapshot.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';

function b(producerId: bigint, producerEpoch: number, baseSequence: number, count = 1): ProducerBatch {
  return { producerId, producerEpoch, baseSequence, lastOffsetDelta: count - 1 };
}

void describe('producer state', () => {
  void it('accepts any sequence from an unknown producer (KIP-360), then requires the next one', () => {
    const s = new ProducerStateManager();
    assert.deepEqual(s.check(b(1n, 0, 42)), { kind: 'new' });
    s.apply(b(1n, 0, 42, 3), 100, 5);
    assert.deepEqual(s.check(b(1n, 0, 45)), { kind: 'new' });
    const gap = s.check(b(1n, 0, 47));
    assert.equal(gap.kind, 'error');
    assert.equal(gap.kind === 'error' && gap.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  });

  void it('returns the original offsets of a retried batch among the last five', () => {
    const s = new ProducerStateManager();
    for (let i = 0; i < 7; i++) s.apply(b(9n, 2, i * 2, 2), 1000 + i * 2, 10 + i);
    // batches 2..6 remembered (seq 4..13)
    for (let i = 2; i < 7; i++) {
      assert.deepEqual(s.check(b(9n, 2, i * 2, 2)), {
        kind: 'duplicate',
        firstOffset: 1000 + i * 2,
        lastOffset: 1001 + i * 2,
        timestampMs: 10 + i,
      });
    }
    // Too old to be remembered: an out of order sequence.
    const old = s.check(b(9n, 2, 0, 2));
    assert.equal(old.kind === 'error' && old.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  });

  void it('fences older epochs and requires sequence 0 for a new epoch', () => {
    const s = new ProducerStateManager();
    s.apply(b(5n, 3, 0, 1), 0, 1);
    const zombie = s.check(b(5n, 2, 1));
    assert.equal(zombie.kind === 'error' && zombie.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
    const bad = s.check(b(5n, 4, 7));
    assert.equal(bad.kind === 'error' && bad.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert.deepEqual(s.check(b(5n, 4, 0)), { kind: 'new' });
    s.apply(b(5n, 4, 0), 1, 2);
    assert.equal(s.entry(5n)?.producerEpoch, 4);
    assert.equal(s.entry(5n)?.batches.length, 1);
  });

  void it('wraps sequences past 2^31-1', () => {
    assert.equal(lastSequenceOf(0x7ffffffe, 3), 1);
    const s = new ProducerStateManager();
    s.apply(b(1n, 0, 0x7ffffffe, 2), 0, 0); // 0x7ffffffe..0x7fffffff
    assert.deepEqual(s.check(b(1n, 0, 0)), { kind: 'new' });
  });

  void it('checks several batches of one request against each other', () => {
    const s = new ProducerStateManager();
    s.apply(b(1n, 0, 0, 2), 0, 0);
    const first = b(1n, 0, 2, 2);
    assert.deepEqual(s.check(first), { kind: 'new' });
    assert.deepEqual(s.check(b(1n, 0, 4), [first]), { kind: 'new' });
    const gap = s.check(b(1n, 0, 5), [first]);
    assert.equal(gap.kind, 'error');
  });

  void it('forgets producers below the log start offset and expired ones', () => {
    const s = new ProducerStateManager();
    s.apply(b(1n, 0, 0), 10, 1000);
    s.apply(b(2n, 0, 0), 20, 5000);
    s.removeBelow(15);
    assert.equal(s.entry(1n), undefined);
    assert.ok(s.entry(2n));
    assert.equal(s.removeExpired(5000 + 86_400_000, 86_400_000), 1);
    assert.equal(s.size, 0);
  });

  void it('snapshots round trip; damage is detected', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }),
            epoch: fc.integer({ min: 0, max: 32767 }),
            batches: fc.integer({ min: 1, max: 8 }),
          }),
          { maxLength: 20 },
        ),
        fc.nat({ max: 1_000_000 }),
        (producers, offset) => {
          const s = new ProducerStateManager();
          let next = 0;
          for (const p of producers) {
            for (let i = 0; i < p.batches; i++) {
              s.apply(b(p.id, p.epoch, i * 3, 3), next, 1_700_000_000_000 + next);
              next += 3;
            }
          }
          const bytes = encodeSnapshot(offset, s.entries());
          const decoded = decodeSnapshot(bytes);
          assert.ok(decoded);
          assert.equal(decoded.offset, offset);
          assert.deepEqual(decoded.entries, [...s.entries()]);
          if (bytes.length > 20) {
            const bad = Buffer.from(bytes);
            bad[bad.length >> 1]! ^= 0x40;
            assert.equal(decodeSnapshot(bad), undefined);
          }
          assert.equal(decodeSnapshot(bytes.subarray(0, bytes.length - 1)), undefined);
        },
      ),
      { numRuns: 200 },
    );
  });

  void it('property: a retry of any of the last five batches finds its original offsets', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 30 }),
        fc.nat(),
        (sizes, pick) => {
          const s = new ProducerStateManager();
          let seq = 0;
          let offset = 0;
          const sent: { seq: number; count: number; offset: number }[] = [];
          for (const count of sizes) {
            const batchDesc = b(77n, 1, seq, count);
            assert.deepEqual(s.check(batchDesc), { kind: 'new' });
            s.apply(batchDesc, offset, 0);
            sent.push({ seq, count, offset });
            seq += count;
            offset += count + 1; // offsets interleaved with other producers' records
          }
          const recent = sent.slice(-5);
          const r = recent[pick % recent.length]!;
          const check = s.check(b(77n, 1, r.seq, r.count));
          assert.equal(check.kind, 'duplicate');
          assert.equal(check.kind === 'duplicate' && check.firstOffset, r.offset);
        },
      ),
    );
  });
});
