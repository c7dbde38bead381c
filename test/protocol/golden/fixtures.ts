/**
 * Loading the captured fixtures (test/fixtures/capture/<scenario>/capture.json + .bin files)
 * and reading Produce requests out of them with the generated codecs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeRequest } from '../../../src/protocol/frame.ts';
import { ApiKey } from '../../../src/protocol/generated/api-keys.ts';
import type { ProduceRequest as GeneratedProduceRequest } from '../../../src/protocol/generated/produce-request.ts';
import type { GeneratedRecords } from '../../../tools/capture/inputs.ts';

export const CAPTURE_DIR = path.resolve(import.meta.dirname, '../../fixtures/capture');

export interface ExpectedRecord {
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestamp?: number;
}

export interface CaptureFrame {
  file: string;
  apiKey: number;
  apiName: string | null;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  sizeInBytes: number;
}

export interface Capture {
  name: string;
  client: string;
  clientVersion: string;
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  topic: string;
  /** Listed records (small scenarios), or generatedRecords (large ones). */
  records?: ExpectedRecord[];
  generatedRecords?: GeneratedRecords;
  idempotent?: boolean;
  /** Set when the client produced inside a transaction. */
  transactionalId?: string;
  /** A consumer scenario: the responder served `records` and the client fetched them. */
  consume?: boolean;
  description: string;
  command: string;
  capturedFromMs: number;
  capturedToMs: number;
  frames: CaptureFrame[];
}

export function loadCaptures(): Capture[] {
  return readdirSync(CAPTURE_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => JSON.parse(readFileSync(path.join(CAPTURE_DIR, d.name, 'capture.json'), 'utf8')) as Capture)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function frameBytes(capture: Capture, frame: CaptureFrame): Buffer {
  return readFileSync(path.join(CAPTURE_DIR, capture.name, frame.file));
}

export interface ProducePartition {
  topic: string;
  partition: number;
  records: Buffer | null;
}

export interface ProduceRequest {
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  transactionalId: string | null;
  acks: number;
  timeoutMs: number;
  partitions: ProducePartition[];
}

/** Decodes a captured Produce frame with the generated codecs (src/protocol/frame.ts). */
export function parseProduceRequest(frame: Buffer): ProduceRequest {
  const req = decodeRequest(frame);
  if (req.unsupported || req.apiKey !== ApiKey.Produce)
    throw new Error(`not a Produce frame: ${req.apiKey} v${req.apiVersion}`);
  const body = req.body as GeneratedProduceRequest;
  return {
    apiVersion: req.apiVersion,
    correlationId: req.header.correlationId,
    clientId: req.header.clientId ?? null,
    transactionalId: body.transactionalId,
    acks: body.acks,
    timeoutMs: body.timeoutMs,
    partitions: body.topicData.flatMap((t) =>
      t.partitionData.map((p) => ({ topic: t.name, partition: p.index, records: p.records })),
    ),
  };
}
