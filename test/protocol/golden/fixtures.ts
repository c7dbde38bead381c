/**
 * Loading the captured fixtures (test/fixtures/capture/<scenario>/capture.json + .bin files)
 * and reading Produce requests out of them. The Produce parsing here is a small
 * hand-written reader for v3..v8 (non-flexible) over the shared codec Reader; it only
 * exists so the records layer can be tested on real bytes independently of the
 * generated codecs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Reader } from '../../../src/protocol/codec/reader.ts';
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

/** Parses a Produce v3..v8 request frame (header v1 + body). */
export function parseProduceRequest(frame: Buffer): ProduceRequest {
  const r = new Reader(frame);
  const apiKey = r.readInt16();
  const apiVersion = r.readInt16();
  if (apiKey !== 0 || apiVersion < 3 || apiVersion > 8)
    throw new Error(`not a Produce v3..v8 frame: ${apiKey} v${apiVersion}`);
  const correlationId = r.readInt32();
  const clientId = r.readNullableString();
  const transactionalId = r.readNullableString();
  const acks = r.readInt16();
  const timeoutMs = r.readInt32();
  const partitions: ProducePartition[] = [];
  const topicCount = r.readArrayLength();
  for (let t = 0; t < topicCount; t++) {
    const topic = r.readString();
    const count = r.readArrayLength();
    for (let p = 0; p < count; p++) {
      const partition = r.readInt32();
      partitions.push({ topic, partition, records: r.readNullableBytes() });
    }
  }
  r.expectOffset(frame.length);
  return { apiVersion, correlationId, clientId, transactionalId, acks, timeoutMs, partitions };
}
