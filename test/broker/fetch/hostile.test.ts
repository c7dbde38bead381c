/**
 * Odd fetch requests (negative or huge offsets and byte limits, unknown partitions,
 * repeated partitions, random session ids and epochs) never make Fetch throw: every
 * answer is an error code or data, and nothing waits past max.wait.ms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { handleFetch } from '../../../src/broker/fetch/fetch.ts';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import { ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import type { FetchRequest } from '../../../src/protocol/generated/fetch-request.ts';
import { batch, harness } from '../replica/helpers.ts';

void describe('fetch: odd requests', () => {
  void it('answers every request without throwing', async () => {
    const h = await harness([{ name: 't', partitions: 2 }]);
    await handleProduce(
      {
        transactionalId: null,
        acks: 1,
        timeoutMs: 1000,
        topicData: [{ name: 't', partitionData: [{ index: 0, records: batch(5) }] }],
      },
      9,
      { replicas: h.replicas, nowMs: () => h.clock.nowMs() },
    );
    const partition = fc.record({
      partition: fc.integer({ min: -2, max: 3 }),
      fetchOffset: fc.bigInt({ min: -5n, max: 1n << 40n }),
      partitionMaxBytes: fc.integer({ min: -10, max: 1 << 22 }),
      currentLeaderEpoch: fc.integer({ min: -1, max: 2 }),
    });
    const request = fc.record({
      version: fc.integer({ min: 4, max: 17 }),
      topic: fc.constantFrom('t', 'nope', ''),
      partitions: fc.array(partition, { maxLength: 4 }),
      maxBytes: fc.integer({ min: -10, max: 1 << 22 }),
      minBytes: fc.integer({ min: -1, max: 1000 }),
      sessionId: fc.integer({ min: 0, max: 3 }),
      sessionEpoch: fc.integer({ min: -1, max: 3 }),
      isolationLevel: fc.integer({ min: 0, max: 1 }),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const id = h.replicas.topicId(r.topic) ?? ZERO_UUID;
        const req: FetchRequest = {
          clusterId: null,
          replicaId: -1,
          replicaState: { replicaId: -1, replicaEpoch: -1n },
          maxWaitMs: 0,
          minBytes: r.minBytes,
          maxBytes: r.maxBytes,
          isolationLevel: r.isolationLevel,
          sessionId: r.sessionId,
          sessionEpoch: r.sessionEpoch,
          topics: [
            {
              topic: r.topic,
              topicId: id,
              partitions: r.partitions.map((p) => ({
                ...p,
                lastFetchedEpoch: -1,
                logStartOffset: -1n,
                replicaDirectoryId: ZERO_UUID,
              })),
            },
          ],
          forgottenTopicsData: [],
          rackId: '',
        };
        const res = await handleFetch(req, r.version, { replicas: h.replicas, sessions: h.sessions, clock: h.clock });
        assert.equal(typeof res.errorCode, 'number');
        for (const t of res.responses) for (const p of t.partitions) assert.ok(p.records !== null);
      }),
      { numRuns: 400 },
    );
    await h.replicas.close();
  });
});
