/**
 * Fetch reads go into pooled buffers that are reused once a response is on the socket
 * (read-buffers.ts). Reusing one too early would send another fetch's bytes: these tests
 * read a backlog through many pipelined fetches on several connections, and with kcat
 * (librdkafka), and check every record's CRC-covered content against what was produced.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fetchReadBuffers, type ReadBufferStats } from '../../../src/broker/fetch/read-buffers.ts';
import { ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import { ApiKey } from '../../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import type { FetchRequest } from '../../../src/protocol/generated/fetch-request.ts';
import { buildRecordBatch, decodeRecordBatches } from '../../../src/protocol/records/index.ts';
import { startTestBroker, type TestBroker } from '../../e2e/fixture.ts';
import { KCAT, kcat } from '../../e2e/helpers/kcat.ts';
import { RawClient } from '../../e2e/helpers/raw-client.ts';
import { produceRequest } from '../../e2e/helpers/requests.ts';

const TOPIC = 'pooled';
const PARTITIONS = 4;
const BATCHES = 30;
const RECORDS_PER_BATCH = 40;
const RECORDS = BATCHES * RECORDS_PER_BATCH; // per partition
const VALUE_BYTES = 1000;

/** The value of the record at (partition, offset): its coordinates, then filler derived from them. */
function expectedValue(partition: number, offset: number): string {
  const head = `${partition}:${offset}:`;
  const fill = String.fromCharCode(97 + ((partition * 7 + offset) % 26));
  return head + fill.repeat(VALUE_BYTES - head.length);
}

function fetchAll(offsets: readonly number[], partitionMaxBytes: number, maxBytes: number): FetchRequest {
  return {
    clusterId: null,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1n },
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic: TOPIC,
        topicId: 'AAAAAAAAAAAAAAAAAAAAAA',
        partitions: offsets.map((offset, partition) => ({
          partition,
          currentLeaderEpoch: -1,
          fetchOffset: BigInt(offset),
          lastFetchedEpoch: -1,
          logStartOffset: -1n,
          partitionMaxBytes,
          replicaDirectoryId: ZERO_UUID,
        })),
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}

void describe('fetch: pooled read buffers', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': String(PARTITIONS) } });
    const producer = await RawClient.connect(broker.bootstrap);
    try {
      await producer.send(ApiKey.Metadata, 12, {
        topics: [{ name: TOPIC, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
        allowAutoTopicCreation: true,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      });
      // Pipelined on one connection: each partition's batches are appended in request order.
      const sent = [];
      for (let p = 0; p < PARTITIONS; p++) {
        for (let b = 0; b < BATCHES; b++) {
          const records = Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({
            value: expectedValue(p, b * RECORDS_PER_BATCH + i),
            timestamp: 1_700_000_000_000,
          }));
          sent.push(producer.send(ApiKey.Produce, 9, produceRequest(TOPIC, p, buildRecordBatch({ records }))));
        }
      }
      for (const r of await Promise.all(sent)) {
        assert.equal(r.responses[0]!.partitionResponses[0]!.errorCode, ErrorCode.NONE);
      }
    } finally {
      producer.close();
    }
  });
  after(() => broker.stop());

  void it('pipelined fetches on several connections get exactly the bytes produced', async () => {
    const stats0 = fetchReadBuffers.stats();
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(broker.bootstrap)));
    // The clients stop reading until every fetch has read its partitions: answers pile up
    // in the broker's sockets while later fetches take buffers from the pool.
    const sockets = clients.map((c) => (c as unknown as { socket: Socket }).socket);
    for (const s of sockets) s.pause();
    try {
      let checked = 0;
      const responses = clients.flatMap((c, ci) =>
        Array.from({ length: 8 }, (_, k) => {
          // Different offsets per partition and request, so responses differ byte for byte; answers
          // of up to 3 MiB, eight in flight per connection, back up in the sockets.
          const offsets = Array.from({ length: PARTITIONS }, (_, p) => (k * 131 + p * 37 + ci * 11) % RECORDS);
          const partitionMaxBytes = [64 * 1024, 256 * 1024, 1 << 20][k % 3]!;
          const request = fetchAll(offsets, partitionMaxBytes, 3 << 20);
          return c.send(ApiKey.Fetch, 12, request).then((res) => ({ res, offsets }));
        }),
      );
      const taken = (st: ReadBufferStats): number => st.allocated + st.reused;
      const deadline = Date.now() + 30_000;
      while (taken(fetchReadBuffers.stats()) - taken(stats0) < 3 * 8 * 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      for (const s of sockets) s.resume();
      for (const { res, offsets } of await Promise.all(responses)) {
        for (const part of res.responses[0]!.partitions) {
          assert.equal(part.errorCode, ErrorCode.NONE);
          const batches = decodeRecordBatches(part.records!); // checks every CRC
          for (const batch of batches) {
            for (const rec of batch.records) {
              const offset = Number(batch.baseOffset) + rec.offsetDelta;
              assert.equal(rec.value?.toString(), expectedValue(part.partitionIndex, offset));
              checked++;
            }
          }
          if (batches.length > 0) assert.ok(Number(batches[0]!.baseOffset) <= offsets[part.partitionIndex]!);
        }
      }
      assert.ok(checked >= 3 * 8 * RECORDS_PER_BATCH, `${checked} records checked`);
      const stats = fetchReadBuffers.stats();
      assert.ok(stats.reused > stats0.reused, 'later fetches read into buffers given back by earlier ones');
    } finally {
      for (const c of clients) c.close();
    }
  });

  void it('kcat (librdkafka) consumes the backlog with every value intact', async () => {
    const out = await kcat(
      [
        '-C',
        '-b',
        broker.bootstrap,
        '-t',
        TOPIC,
        '-o',
        'beginning',
        '-e',
        '-q',
        '-f',
        '%p %o %s\\n',
        '-X',
        'fetch.message.max.bytes=262144',
      ],
      undefined,
      60_000,
    );
    const lines = out.split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, PARTITIONS * RECORDS, `${KCAT} read every record once`);
    const seen = new Set<string>();
    for (const line of lines) {
      const [p, o, value] = line.split(' ');
      assert.equal(value, expectedValue(Number(p), Number(o)));
      seen.add(`${p}:${o}`);
    }
    assert.equal(seen.size, PARTITIONS * RECORDS);
  });
});
