/**
 * Fetch v10+ reads the partitions at the head of a request at once and cuts each to the
 * one-by-one byte rule afterwards; v9 still reads one by one. The same request must get
 * the same records, errors and offsets either way (seeded property test over random logs,
 * byte limits, oversized first batches and out-of-range offsets).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { handleFetch } from '../../../src/broker/fetch/fetch.ts';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import { ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import type { FetchRequest } from '../../../src/protocol/generated/fetch-request.ts';
import type { FetchResponsePartitionData } from '../../../src/protocol/generated/fetch-response.ts';
import { batch, harness } from '../replica/helpers.ts';

const PARTITIONS = 5;

interface Case {
  /** Per partition: batches, each a list of value lengths. */
  logs: number[][][];
  parts: { partition: number; offset: number; maxBytes: number }[];
  maxBytes: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  logs: fc.array(
    fc.array(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(2000, 9000)), { minLength: 1, maxLength: 4 }),
      {
        maxLength: 8,
      },
    ),
    { minLength: PARTITIONS, maxLength: PARTITIONS },
  ),
  parts: fc.uniqueArray(
    fc.record({
      partition: fc.integer({ min: 0, max: PARTITIONS - 1 }),
      offset: fc.integer({ min: 0, max: 35 }),
      maxBytes: fc.constantFrom(0, 1, 200, 1000, 4000, 20_000),
    }),
    { minLength: 1, maxLength: PARTITIONS, selector: (p) => p.partition },
  ),
  maxBytes: fc.constantFrom(0, 1, 500, 3000, 8000, 30_000, 1 << 20),
});

function request(c: Case): FetchRequest {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1n },
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: c.maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic: 't',
        topicId: ZERO_UUID,
        partitions: c.parts.map((p) => ({
          partition: p.partition,
          currentLeaderEpoch: -1,
          fetchOffset: BigInt(p.offset),
          lastFetchedEpoch: -1,
          logStartOffset: -1n,
          partitionMaxBytes: p.maxBytes,
          replicaDirectoryId: ZERO_UUID,
        })),
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}

function summary(p: FetchResponsePartitionData) {
  return {
    partition: p.partitionIndex,
    errorCode: p.errorCode,
    highWatermark: p.highWatermark,
    logStartOffset: p.logStartOffset,
    records: (p.records ?? Buffer.alloc(0)).toString('hex'),
  };
}

void describe('fetch: concurrent reads (v10+) answer as one-by-one reads (v9) do', () => {
  void it('same records, errors and offsets for random logs and byte limits', async () => {
    let oversized = 0;
    let cut = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const h = await harness([{ name: 't', partitions: PARTITIONS }]);
        for (const [p, batches] of c.logs.entries()) {
          for (const lengths of batches) {
            const records = lengths.map((n, i) => ({ key: `k${i}`, value: 'x'.repeat(n) }));
            const { response } = await handleProduce(
              {
                transactionalId: null,
                acks: 1,
                timeoutMs: 1000,
                topicData: [{ name: 't', partitionData: [{ index: p, records: batch(records) }] }],
              },
              11,
              { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
            );
            assert.equal(response.responses[0]!.partitionResponses[0]!.errorCode, ErrorCode.NONE);
          }
        }
        const deps = { replicas: h.replicas, sessions: h.sessions, clock: h.clock };
        const oneByOne = await handleFetch(request(c), 9, deps);
        const concurrent = await handleFetch(request(c), 12, deps);
        const a = oneByOne.responses[0]!.partitions.map(summary);
        const b = concurrent.responses[0]!.partitions.map(summary);
        assert.deepEqual(b, a);
        const sizes = b.map((p) => p.records.length / 2);
        if (sizes.some((n, i) => n > c.parts[i]!.maxBytes)) oversized++;
        if (sizes.reduce((x, y) => x + y, 0) >= c.maxBytes && c.maxBytes > 0) cut++;
      }),
      { seed: 20261122, numRuns: 100 },
    );
    // The interesting cases did occur: first batches over a partition's limit, and answers
    // that hit the request's limit.
    assert.ok(oversized > 10, `oversized first batches: ${oversized}`);
    assert.ok(cut > 10, `answers at maxBytes: ${cut}`);
  });
});
