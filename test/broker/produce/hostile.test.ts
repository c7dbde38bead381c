/**
 * Hostile produce input: random bytes and mutated valid batches as a partition's records
 * never make the produce path throw; each gets a per-partition answer (an error code or
 * an append of a batch that is still valid), and the partition keeps serving.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import { ErrorCode, errorInfo } from '../../../src/protocol/generated/errors.ts';
import { batch, harness } from '../replica/helpers.ts';

void describe('produce: hostile records', () => {
  void it('random and mutated bytes get error codes, never exceptions', async () => {
    const h = await harness([
      { name: 't', partitions: 1 },
      { name: 'c', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ]);
    const valid = [
      batch(3),
      batch(2, { compression: 'gzip' }),
      batch(1, { producerId: 9n, producerEpoch: 0, baseSequence: 0 }),
    ];
    const records = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 200 }).map((a) => Buffer.from(a)),
      fc
        .record({
          which: fc.nat(valid.length - 1),
          flips: fc.array(fc.record({ at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }), {
            minLength: 1,
            maxLength: 4,
          }),
          cut: fc.option(fc.nat(), { nil: undefined }),
        })
        .map(({ which, flips, cut }) => {
          const b = Buffer.from(valid[which]!);
          for (const f of flips) b[f.at % b.length]! ^= f.bits;
          return cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
        }),
    );
    await fc.assert(
      fc.asyncProperty(
        records,
        fc.constantFrom('t', 'c'),
        fc.integer({ min: 0, max: 11 }),
        async (bytes, topic, version) => {
          const { response } = await handleProduce(
            {
              transactionalId: null,
              acks: -1,
              timeoutMs: 1000,
              topicData: [{ name: topic, partitionData: [{ index: 0, records: bytes }] }],
            },
            version,
            { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
          );
          const code = response.responses[0]!.partitionResponses[0]!.errorCode;
          assert.ok(code === ErrorCode.NONE || !errorInfo(code).name.startsWith('UNKNOWN_ERROR_'), `code ${code}`);
        },
      ),
      { numRuns: 400 },
    );
    // Still serving.
    const { response } = await handleProduce(
      {
        transactionalId: null,
        acks: -1,
        timeoutMs: 1000,
        topicData: [{ name: 't', partitionData: [{ index: 0, records: batch(1) }] }],
      },
      9,
      { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
    );
    assert.equal(response.responses[0]!.partitionResponses[0]!.errorCode, ErrorCode.NONE);
    await h.replicas.close();
  });
});
