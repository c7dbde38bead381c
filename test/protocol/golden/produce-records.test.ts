/**
 * Golden tests: record batches exactly as real clients sent them (captured by
 * tools/capture), decoded field by field and checked against what each client was
 * asked to produce.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRequest } from '../../../src/protocol/frame.ts';
import { ApiKey } from '../../../src/protocol/generated/api-keys.ts';
import {
  BATCH_HEADER_SIZE,
  BatchOffset,
  buildRecordBatch,
  CompressionType,
  compressionTypeOf,
  decodeRecordBatch,
  decompress,
  isBatchCrcValid,
  iterateBatches,
  lz4DecompressFrame,
  type RecordBatch,
  validateBatch,
} from '../../../src/protocol/records/index.ts';
import { generateRecords } from '../../../tools/capture/inputs.ts';
import { type Capture, type ExpectedRecord, frameBytes, loadCaptures, parseProduceRequest } from './fixtures.ts';

const MAX_UNCOMPRESSED_BYTES = 16 << 20;

/** Producer fields each client writes in a non-idempotent batch, as observed on the wire. */
const NON_IDEMPOTENT_PRODUCER: Record<string, { producerId: bigint; producerEpoch: number; baseSequence: number }> = {
  kcat: { producerId: -1n, producerEpoch: -1, baseSequence: -1 },
  'kafka-python': { producerId: -1n, producerEpoch: -1, baseSequence: -1 },
  // kafkajs and @platformatic/kafka write epoch 0 / sequence 0 even without idempotence.
  kafkajs: { producerId: -1n, producerEpoch: 0, baseSequence: 0 },
  '@platformatic/kafka': { producerId: -1n, producerEpoch: 0, baseSequence: 0 },
};
/** The producer id the capture responder hands out in InitProducerId. */
const CAPTURE_PRODUCER_ID = 4242n;

function expectedRecords(c: Capture): ExpectedRecord[] {
  return c.records ?? generateRecords(c.generatedRecords!);
}

function str(b: Buffer | null): string | null {
  return b === null ? null : b.toString('utf8');
}

function producedBatches(c: Capture): { records: Buffer; batches: RecordBatch[]; positions: number[] } {
  const produce = c.frames.filter((f) => f.apiName === 'Produce');
  assert.equal(produce.length, 1, 'one Produce request per scenario');
  const req = parseProduceRequest(frameBytes(c, produce[0]!));
  assert.equal(req.transactionalId, c.transactionalId ?? null);
  assert.equal(req.partitions.length, 1);
  const p = req.partitions[0]!;
  assert.equal(p.topic, c.topic);
  assert.equal(p.partition, 0);
  assert.ok(p.records);
  const positions = [...iterateBatches(p.records)].map((b) => b.position);
  const batches = positions.map((pos) =>
    decodeRecordBatch(p.records!, pos, { maxUncompressedBytes: MAX_UNCOMPRESSED_BYTES }),
  );
  return { records: p.records, batches, positions };
}

const captures = loadCaptures();

void describe('golden: produced record batches from real clients', () => {
  void it('has the expected scenarios', () => {
    const names = captures.map((c) => c.name);
    for (const n of [
      'kcat-none',
      'kcat-gzip',
      'kcat-snappy',
      'kcat-lz4',
      'kcat-zstd',
      'kafkajs-none',
      'kafkajs-gzip',
    ]) {
      assert.ok(names.includes(n), n);
    }
  });

  for (const c of captures.filter((x) => !x.consume)) {
    void describe(c.name, () => {
      const { records: blob, batches, positions } = producedBatches(c);
      const expected = expectedRecords(c);

      void it('batches are well framed, CRC-valid and pass produce validation', () => {
        let end = 0;
        for (let i = 0; i < batches.length; i++) {
          assert.equal(positions[i], end);
          assert.ok(isBatchCrcValid(blob, positions[i]));
          assert.equal(validateBatch(blob, positions[i], { maxUncompressedBytes: MAX_UNCOMPRESSED_BYTES }), null);
          end += batches[i]!.sizeInBytes;
        }
        assert.equal(end, blob.length, 'no trailing bytes');
      });

      void it('header fields', () => {
        const producer = c.idempotent
          ? { producerId: CAPTURE_PRODUCER_ID, producerEpoch: 0, baseSequence: 0 }
          : NON_IDEMPOTENT_PRODUCER[c.client]!;
        let sequence = producer.baseSequence;
        for (const b of batches) {
          assert.equal(b.magic, 2);
          assert.equal(b.baseOffset, 0, 'clients send base offset 0');
          assert.equal(b.partitionLeaderEpoch, 0);
          assert.equal(b.compression, compressionTypeOf(c.compression));
          assert.equal(b.timestampType, 'create');
          assert.equal(b.isTransactional, c.transactionalId !== undefined);
          assert.equal(b.isControl, false);
          assert.equal(b.deleteHorizonMs, -1);
          assert.equal(b.recordsCount, b.records.length);
          assert.equal(b.lastOffsetDelta, b.recordsCount - 1);
          assert.equal(b.producerId, producer.producerId);
          assert.equal(b.producerEpoch, producer.producerEpoch);
          assert.equal(b.baseSequence, sequence);
          if (sequence >= 0 && c.idempotent) sequence += b.recordsCount;
          const timestamps = b.records.map((r) => r.timestamp);
          assert.equal(b.maxTimestamp, Math.max(...timestamps));
          for (const r of b.records) assert.equal(r.timestamp, b.baseTimestamp + r.timestampDelta);
        }
      });

      void it('every record as the client was asked to send it', () => {
        const got = batches.flatMap((b) => b.records);
        assert.equal(got.length, expected.length);
        got.forEach((r, i) => {
          const want = expected[i]!;
          assert.equal(str(r.key), want.key, `key of record ${i}`);
          assert.equal(str(r.value), want.value, `value of record ${i}`);
          assert.deepEqual(
            r.headers.map((h) => [h.key, str(h.value)]),
            want.headers,
            `headers of record ${i}`,
          );
          assert.equal(r.attributes, 0);
          if (want.timestamp !== undefined) {
            assert.equal(r.timestamp, want.timestamp, `timestamp of record ${i}`);
          } else {
            assert.ok(r.timestamp >= c.capturedFromMs && r.timestamp <= c.capturedToMs, `timestamp of record ${i}`);
          }
        });
        for (const b of batches) {
          b.records.forEach((r, i) => {
            assert.equal(r.offsetDelta, i);
          });
        }
      });

      void it('re-encodes to an equivalent batch (and byte for byte when uncompressed)', () => {
        batches.forEach((b, i) => {
          const firstIsBase = b.records[0]!.timestampDelta === 0;
          const again = buildRecordBatch({
            records: b.records,
            compression: b.compression,
            baseOffset: b.baseOffset,
            partitionLeaderEpoch: b.partitionLeaderEpoch,
            producerId: b.producerId,
            producerEpoch: b.producerEpoch,
            baseSequence: b.baseSequence,
          });
          const decoded = decodeRecordBatch(again);
          assert.deepEqual(
            decoded.records.map((r) => [r.offset, r.timestamp, r.key, r.value, r.headers]),
            b.records.map((r) => [r.offset, r.timestamp, r.key, r.value, r.headers]),
          );
          if (b.compression === CompressionType.None && firstIsBase) {
            const original = blob.subarray(positions[i]!, positions[i]! + b.sizeInBytes);
            assert.deepEqual(again, original);
          }
          if (firstIsBase) {
            // our record encoding equals the client's, byte for byte, under any compression
            const theirs = decompress(
              b.compression,
              blob.subarray(positions[i]! + BATCH_HEADER_SIZE, positions[i]! + b.sizeInBytes),
              MAX_UNCOMPRESSED_BYTES,
            );
            const ours = buildRecordBatch({ records: b.records }).subarray(BATCH_HEADER_SIZE);
            assert.deepEqual(ours, theirs);
          }
        });
      });
    });
  }

  void it('lz4: librdkafka frames of 64 KiB blocks and @platformatic/kafka 4 MiB-block frames decode', () => {
    for (const name of ['kcat-lz4-large', 'platformatic-lz4-large']) {
      const c = captures.find((x) => x.name === name)!;
      const { records: blob } = producedBatches(c);
      const payload = blob.subarray(61);
      assert.equal(payload.readUInt32LE(0), 0x184d2204);
      const flg = payload[4]!;
      assert.equal(flg >> 6, 1, 'version 01');
      assert.ok(flg & 0x20, 'independent blocks');
      const out = lz4DecompressFrame(payload, MAX_UNCOMPRESSED_BYTES);
      assert.ok(out.length > 300 * 1000);
    }
    assert.equal(producedBatches(captures.find((x) => x.name === 'kcat-lz4-large')!).records[61 + 5]! >> 4, 4);
  });

  void it('kafkajs writes baseTimestamp = the smallest timestamp, so a delta can be relative to a later first record', () => {
    const { batches } = producedBatches(captures.find((x) => x.name === 'kafkajs-none')!);
    const b = batches[0]!;
    assert.equal(b.baseTimestamp, 1_700_000_000_000 - 3);
    assert.equal(b.records[0]!.timestampDelta, 3);
  });

  void it('an uncompressed batch header read straight from the fixture', () => {
    const { records: blob } = producedBatches(captures.find((x) => x.name === 'kcat-none')!);
    assert.equal(blob.readInt8(BatchOffset.Magic), 2);
    assert.equal(blob.readInt32BE(BatchOffset.RecordsCount), 5);
    assert.equal(blob.readInt16BE(BatchOffset.Attributes), 0);
  });
});

void describe('golden: a consumer (kcat -C) against the responder', () => {
  void it('ListOffsets asks for the earliest offset, Fetch runs from 0 to the end', () => {
    const c = captures.find((x) => x.name === 'kcat-consume-zstd')!;
    const requests = c.frames.map((f) => decodeRequest(frameBytes(c, f)));
    const listOffsets = requests.find((r) => r.apiKey === ApiKey.ListOffsets)!;
    assert.ok(listOffsets && !listOffsets.unsupported && listOffsets.apiKey === ApiKey.ListOffsets);
    assert.deepEqual(
      listOffsets.body.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.timestamp])]),
      [[c.topic, [[0, -2n]]]],
    );
    const fetchOffsets = requests.flatMap((r) =>
      !r.unsupported && r.apiKey === ApiKey.Fetch
        ? r.body.topics.flatMap((t) => t.partitions.map((p) => [t.topic, p.partition, p.fetchOffset]))
        : [],
    );
    assert.deepEqual(fetchOffsets[0], [c.topic, 0, 0n]);
    assert.deepEqual(fetchOffsets.at(-1), [c.topic, 0, BigInt(c.records!.length)]);
  });
});

void describe('golden: other captured frames', () => {
  for (const c of captures) {
    void it(`${c.name}: every frame decodes with the generated codecs, headers as logged`, () => {
      for (const f of c.frames) {
        const req = decodeRequest(frameBytes(c, f));
        assert.equal(req.unsupported, false, f.file);
        assert.equal(req.apiKey, f.apiKey);
        assert.equal(req.apiVersion, f.apiVersion);
        assert.equal(req.header.correlationId, f.correlationId);
        assert.equal(req.header.clientId ?? null, f.clientId);
      }
    });

    void it(`${c.name}: ApiVersions, Metadata and InitProducerId bodies`, () => {
      for (const f of c.frames) {
        const req = decodeRequest(frameBytes(c, f));
        if (req.unsupported) continue;
        if (req.apiKey === ApiKey.ApiVersions && c.client === 'kcat') {
          assert.equal(req.body.clientSoftwareName, 'librdkafka');
          assert.equal(req.body.clientSoftwareVersion, '2.0.2');
        } else if (req.apiKey === ApiKey.Metadata && req.body.topics !== null) {
          // librdkafka also sends brokers-only queries (an empty topic list)
          for (const t of req.body.topics) assert.equal(t.name, c.topic);
        } else if (req.apiKey === ApiKey.InitProducerId) {
          assert.ok(req.body.transactionalId === null || req.body.transactionalId === c.transactionalId);
        }
      }
    });

    void it(`${c.name}: request header bytes match the capture log`, () => {
      for (const f of c.frames) {
        const b = frameBytes(c, f);
        assert.equal(b.length, f.sizeInBytes);
        assert.equal(b.readInt16BE(0), f.apiKey);
        assert.equal(b.readInt16BE(2), f.apiVersion);
        assert.equal(b.readInt32BE(4), f.correlationId);
        const idLength = b.readInt16BE(8);
        assert.equal(idLength < 0 ? null : b.toString('utf8', 10, 10 + idLength), f.clientId);
      }
    });
  }
});
