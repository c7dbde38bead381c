/**
 * Property test of the idempotent produce path on one partition: several producers send
 * batches, retry some of their last five (possibly several times), and sometimes skip a
 * sequence (a bug or lost batch). Invariants: every accepted (producer, sequence) is in
 * the log exactly once; a retry is answered with the original offset; a gap is refused
 * with OUT_OF_ORDER_SEQUENCE_NUMBER and leaves the log unchanged; offsets are dense.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import { decodeRecordBatches } from '../../../src/protocol/records/index.ts';
import { batch, harness } from '../replica/helpers.ts';

type Op =
  | { kind: 'send'; producer: number; count: number }
  | { kind: 'retry'; producer: number; back: number }
  | { kind: 'gap'; producer: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      producer: fc.nat(2),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('retry' as const), producer: fc.nat(2), back: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gap' as const), producer: fc.nat(2) }) },
);

void describe('idempotent produce (property)', () => {
  void it('no duplicates, retries answered with the original offsets, gaps refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        const h = await harness([{ name: 't', partitions: 1 }]);
        const partition = h.replicas.getPartition('t', 0)!;
        const sent: { seq: number; count: number; offset: number }[][] = [[], [], []];
        const nextSeq = [0, 0, 0];
        const send = async (producer: number, seq: number, count: number) => {
          const records = batch(
            Array.from({ length: count }, (_, i) => ({ key: `p${producer}`, value: `${seq + i}` })),
            { producerId: BigInt(100 + producer), producerEpoch: 0, baseSequence: seq },
          );
          const { response } = await handleProduce(
            {
              transactionalId: null,
              acks: -1,
              timeoutMs: 1000,
              topicData: [{ name: 't', partitionData: [{ index: 0, records }] }],
            },
            9,
            { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
          );
          return response.responses[0]!.partitionResponses[0]!;
        };
        let expectedEnd = 0;
        for (const o of ops) {
          const mine = sent[o.producer]!;
          if (o.kind === 'send') {
            const r = await send(o.producer, nextSeq[o.producer]!, o.count);
            assert.equal(r.errorCode, ErrorCode.NONE);
            assert.equal(r.baseOffset, BigInt(expectedEnd));
            mine.push({ seq: nextSeq[o.producer]!, count: o.count, offset: expectedEnd });
            nextSeq[o.producer]! += o.count;
            expectedEnd += o.count;
          } else if (o.kind === 'retry') {
            const recent = mine.slice(-5);
            if (recent.length === 0) continue;
            const target = recent[Math.max(0, recent.length - 1 - o.back)]!;
            const r = await send(o.producer, target.seq, target.count);
            assert.equal(r.errorCode, ErrorCode.NONE);
            assert.equal(r.baseOffset, BigInt(target.offset));
          } else {
            if (mine.length === 0) continue; // an unknown producer may start anywhere
            const r = await send(o.producer, nextSeq[o.producer]! + 1, 1);
            assert.equal(r.errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
          }
          assert.equal(partition.log.logEndOffset(), expectedEnd);
        }
        // Each producer's values appear once each, in sequence order.
        if (expectedEnd > 0) {
          const read = await partition.read(0, 1 << 24, { isolationLevel: 0, minOneBatch: true });
          assert.equal(read.kind, 'records');
          const seen = new Map<string, number[]>();
          for (const b of decodeRecordBatches(read.kind === 'records' ? read.records : Buffer.alloc(0))) {
            for (const r of b.records) {
              const k = r.key!.toString();
              const list = seen.get(k) ?? [];
              list.push(Number(r.value!.toString()));
              seen.set(k, list);
            }
          }
          for (let p = 0; p < 3; p++) {
            const values = seen.get(`p${p}`) ?? [];
            assert.deepEqual(
              values,
              Array.from({ length: nextSeq[p]! }, (_, i) => i),
            );
          }
        }
        await h.replicas.close();
      }),
      { numRuns: 150 },
    );
  });
});
