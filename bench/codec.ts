/**
 * Codec benchmark: decode + re-encode of a 1 MiB Produce request of 1 KB records
 * (generated ProduceRequest codec + record batch decode/build), the broker's
 * validate-without-decoding fast path, and CRC32C throughput.
 *
 *   node --import tsx bench/codec.ts [--quick]
 */
import { performance } from 'node:perf_hooks';
import { crc32c } from '@node-rs/crc32';
import { decodeRequest, encodeRequest } from '../src/protocol/frame.ts';
import { ApiKey } from '../src/protocol/generated/api-keys.ts';
import type { ProduceRequest } from '../src/protocol/generated/produce-request.ts';
import {
  buildRecordBatch,
  type CompressionName,
  decodeRecordBatch,
  iterateBatches,
  validateBatch,
} from '../src/protocol/records/index.ts';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
}

const PRODUCE_VERSION = 9;
const PARTITIONS = 4;
const RECORD_VALUE_BYTES = 1000;
const REQUEST_BYTES = 1 << 20;
const MAX_UNCOMPRESSED_BYTES = 16 << 20;

const WORDS = 'order user item price quantity status shipped pending region north south east west id'.split(' ');

/** A deterministic 1 KB value of JSON-ish text: compressible the way real payloads are. */
function value(i: number): Buffer {
  let x = (i * 2654435761) >>> 0;
  let s = '';
  while (s.length < RECORD_VALUE_BYTES) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += `"${WORDS[(x >>> 16) % WORDS.length]}":${(x >>> 8) % 100000},`;
  }
  return Buffer.from(s.slice(0, RECORD_VALUE_BYTES));
}

/** A Produce request frame (no size prefix) of about 1 MiB: PARTITIONS batches of 1 KB records. */
function produceFrame(compression: CompressionName): Buffer {
  const perPartition = Math.floor(REQUEST_BYTES / PARTITIONS / (RECORD_VALUE_BYTES + 30));
  const partitionData = Array.from({ length: PARTITIONS }, (_, p) => ({
    index: p,
    records: buildRecordBatch({
      records: Array.from({ length: perPartition }, (_, i) => ({
        key: `key-${p}-${i}`,
        value: value(p * perPartition + i),
        headers: [{ key: 'trace', value: 'abc' }],
        timestamp: 1_700_000_000_000 + i,
      })),
      compression,
      producerId: 1000n,
      producerEpoch: 0,
      baseSequence: 0,
    }),
  }));
  const body: ProduceRequest = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30_000,
    topicData: [{ name: 'bench', partitionData }],
  };
  return encodeRequest(
    { requestApiKey: ApiKey.Produce, requestApiVersion: PRODUCE_VERSION, correlationId: 1, clientId: 'bench' },
    body,
  ).subarray(4);
}

/** Decodes the request and every batch in it, rebuilds every batch and re-encodes the request. */
function roundTrip(frame: Buffer): number {
  const req = decodeRequest(frame);
  if (req.unsupported || req.apiKey !== ApiKey.Produce) throw new Error('not a produce request');
  const body = req.body as ProduceRequest;
  let records = 0;
  const topicData = body.topicData.map((t) => ({
    name: t.name,
    partitionData: t.partitionData.map((p) => {
      const parts: Buffer[] = [];
      for (const { position } of iterateBatches(p.records!)) {
        const b = decodeRecordBatch(p.records!, position, { maxUncompressedBytes: MAX_UNCOMPRESSED_BYTES });
        records += b.records.length;
        parts.push(
          buildRecordBatch({
            records: b.records,
            compression: b.compression,
            baseOffset: b.baseOffset,
            partitionLeaderEpoch: b.partitionLeaderEpoch,
            producerId: b.producerId,
            producerEpoch: b.producerEpoch,
            baseSequence: b.baseSequence,
          }),
        );
      }
      return { index: p.index, records: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
    }),
  }));
  const out = encodeRequest(
    { requestApiKey: ApiKey.Produce, requestApiVersion: req.apiVersion, correlationId: 2, clientId: 'bench' },
    { ...body, topicData },
  );
  return out.length + records;
}

/** Validation only, as the broker's produce path does it (no record objects). */
function validateOnly(frame: Buffer): number {
  const req = decodeRequest(frame);
  if (req.unsupported || req.apiKey !== ApiKey.Produce) throw new Error('not a produce request');
  let n = 0;
  for (const t of (req.body as ProduceRequest).topicData) {
    for (const p of t.partitionData) {
      for (const { position } of iterateBatches(p.records!)) {
        if (validateBatch(p.records!, position) !== null) throw new Error('invalid batch');
        n++;
      }
    }
  }
  return n;
}

/** Runs `fn` repeatedly for about `durationMs` after a short warm-up; returns MB/s over `bytes` per call. */
function measure(bytes: number, durationMs: number, fn: () => unknown): number {
  const warmUntil = performance.now() + Math.min(200, durationMs / 4);
  while (performance.now() < warmUntil) fn();
  let iterations = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    iterations++;
    elapsed = performance.now() - start;
  } while (elapsed < durationMs);
  return (bytes * iterations) / 1e6 / (elapsed / 1000);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

export async function runCodecBench(opts: { quick: boolean }): Promise<BenchFigure[]> {
  const durationMs = opts.quick ? 300 : 2000;
  const codecs: CompressionName[] = opts.quick ? ['none'] : ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
  const figures: BenchFigure[] = [];
  for (const c of codecs) {
    const frame = produceFrame(c);
    // Throughput is counted over the request's uncompressed size so codecs compare.
    const logical = c === 'none' ? frame.length : produceFrame('none').length;
    figures.push({
      name: `produce request 1 MiB / 1 KB records, decode + re-encode (${c})`,
      value: round(measure(logical, durationMs, () => roundTrip(frame))),
      unit: 'MB/s',
    });
  }
  const plain = produceFrame('none');
  figures.push({
    name: 'produce request 1 MiB, decode + validateBatch (none)',
    value: round(measure(plain.length, durationMs, () => validateOnly(plain))),
    unit: 'MB/s',
  });
  const block = Buffer.alloc(1 << 20, 0xa5);
  figures.push({
    name: 'crc32c 1 MiB',
    value: round(measure(block.length, durationMs, () => crc32c(block))),
    unit: 'MB/s',
  });
  await Promise.resolve();
  return figures;
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const figures = await runCodecBench({ quick: process.argv.includes('--quick') });
  for (const f of figures) console.log(`${f.name.padEnd(72)} ${String(f.value).padStart(10)} ${f.unit}`);
}
