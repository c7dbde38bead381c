/**
 * A capture responder: answers just enough of the Kafka protocol (ApiVersions, Metadata,
 * Produce, InitProducerId) for kcat, kafkajs, @platformatic/kafka and kafka-python to
 * produce to it, and keeps every request frame it receives. One broker (node 1), every
 * topic asked for exists with `partitions` partitions led by it; produce always succeeds.
 */
import net from 'node:net';
import { decodeRequest, encodeResponse } from '../../src/protocol/frame.ts';
import type { AddPartitionsToTxnRequest } from '../../src/protocol/generated/add-partitions-to-txn-request.ts';
import { defaultsAddPartitionsToTxnResponse } from '../../src/protocol/generated/add-partitions-to-txn-response.ts';
import { defaultsEndTxnResponse } from '../../src/protocol/generated/end-txn-response.ts';
import type { FetchRequest } from '../../src/protocol/generated/fetch-request.ts';
import {
  defaultsFetchResponse,
  defaultsFetchResponseFetchableTopicResponse,
  defaultsFetchResponsePartitionData,
} from '../../src/protocol/generated/fetch-response.ts';
import { defaultsFindCoordinatorResponse } from '../../src/protocol/generated/find-coordinator-response.ts';
import type { ListOffsetsRequest } from '../../src/protocol/generated/list-offsets-request.ts';
import {
  defaultsListOffsetsResponse,
  defaultsListOffsetsResponseListOffsetsPartitionResponse,
} from '../../src/protocol/generated/list-offsets-response.ts';
import { iterateBatches } from '../../src/protocol/records/batch.ts';
import { In, Out } from './wire.ts';

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  FindCoordinator: 10,
  ApiVersions: 18,
  InitProducerId: 22,
  AddPartitionsToTxn: 24,
  EndTxn: 26,
} as const;
export const API_NAMES: Record<number, string> = {
  0: 'Produce',
  1: 'Fetch',
  2: 'ListOffsets',
  3: 'Metadata',
  10: 'FindCoordinator',
  18: 'ApiVersions',
  22: 'InitProducerId',
  24: 'AddPartitionsToTxn',
  26: 'EndTxn',
};

/**
 * What we advertise. Produce stays below v9 and Metadata at v9 so few hand encodings
 * are needed. librdkafka only enables message format v2 when the broker lists
 * Produce v3 and Fetch v4 (and older versions for its other feature checks). Fetch and
 * ListOffsets are answered (with the generated codecs) only when the responder is
 * given `logs` to serve.
 */
const SUPPORTED: [apiKey: number, min: number, max: number][] = [
  [ApiKey.Produce, 0, 8],
  [ApiKey.Fetch, 0, 11],
  [ApiKey.ListOffsets, 1, 5],
  // librdkafka also takes FindCoordinator as the sign of a broker recent enough for LZ4
  // (and otherwise silently sends lz4 batches uncompressed).
  [ApiKey.FindCoordinator, 0, 3],
  [ApiKey.AddPartitionsToTxn, 0, 1],
  [ApiKey.EndTxn, 0, 1],
  [ApiKey.Metadata, 0, 9],
  [ApiKey.ApiVersions, 0, 3],
  [ApiKey.InitProducerId, 0, 1],
];
/** APIs answered with the generated codecs (the rest are hand-encoded in this file). */
const GENERATED_ANSWERS: ReadonlySet<number> = new Set([
  ApiKey.Fetch,
  ApiKey.ListOffsets,
  ApiKey.FindCoordinator,
  ApiKey.AddPartitionsToTxn,
  ApiKey.EndTxn,
]);
/** First flexible version of each API. */
const FLEXIBLE_FROM: Record<number, number> = { 0: 9, 3: 9, 18: 3, 22: 2 };
const UNSUPPORTED_VERSION = 35;
const NODE_ID = 1;
const MAX_FRAME_BYTES = 64 << 20;

export interface CapturedFrame {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** The request as received, without its 4-byte size prefix. */
  bytes: Buffer;
}

export interface ResponderOptions {
  partitions?: number;
  /** Producer id handed out by InitProducerId. */
  producerId?: bigint;
  /** Default topics for a Metadata request that asks for all topics. */
  topics?: string[];
  /** Partition 0 of each topic, as a records blob (batches with their final offsets), for Fetch. */
  logs?: Map<string, Buffer>;
}

export class CaptureResponder {
  readonly frames: CapturedFrame[] = [];
  /** Requests the responder could not answer (the connection is closed on each). */
  readonly errors: Error[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly nextOffset = new Map<string, bigint>();
  private port = 0;

  constructor(private readonly opts: ResponderOptions = {}) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const size = pending.readInt32BE(0);
        if (size < 8 || size > MAX_FRAME_BYTES) {
          socket.destroy();
          return;
        }
        if (pending.length < 4 + size) break;
        const frame = Buffer.from(pending.subarray(4, 4 + size));
        pending = pending.subarray(4 + size);
        try {
          const response = this.handle(frame);
          if (response) socket.write(response);
        } catch (e) {
          this.errors.push(e as Error);
          socket.destroy();
          return;
        }
      }
    });
  }

  /** Records the frame and returns the response frame (size-prefixed), or null for acks=0. */
  handle(frame: Buffer): Buffer | null {
    const r = new In(frame);
    const apiKey = r.int16();
    const apiVersion = r.int16();
    const correlationId = r.int32();
    const clientId = r.string(false);
    this.frames.push({ apiKey, apiVersion, correlationId, clientId, bytes: frame });
    if (GENERATED_ANSWERS.has(apiKey)) return this.serve(frame);
    const flexible = apiVersion >= (FLEXIBLE_FROM[apiKey] ?? 99);
    if (apiKey !== ApiKey.ApiVersions) r.skipTags(flexible);
    let body: Out | null;
    let headerTags = flexible;
    switch (apiKey) {
      case ApiKey.ApiVersions:
        body = this.apiVersions(apiVersion);
        headerTags = false; // ApiVersions responses always use header v0
        break;
      case ApiKey.Metadata:
        body = this.metadata(r, apiVersion, flexible);
        break;
      case ApiKey.Produce:
        body = this.produce(r, apiVersion);
        break;
      case ApiKey.InitProducerId:
        body = new Out()
          .int32(0)
          .int16(0)
          .int64(this.opts.producerId ?? 4242n)
          .int16(0);
        break;
      default:
        throw new Error(`capture responder: unexpected api ${apiKey} v${apiVersion}`);
    }
    if (body === null) return null;
    const payload = new Out().int32(correlationId).tags(headerTags).raw(body.toBuffer()).toBuffer();
    return new Out().int32(payload.length).raw(payload).toBuffer();
  }

  private apiVersions(version: number): Out {
    const tooNew = version > 3;
    const v = tooNew ? 0 : version;
    const flexible = v >= 3;
    const out = new Out().int16(tooNew ? UNSUPPORTED_VERSION : 0).arrayLength(SUPPORTED.length, flexible);
    for (const [key, min, max] of SUPPORTED) out.int16(key).int16(min).int16(max).tags(flexible);
    if (v >= 1) out.int32(0);
    return out.tags(flexible);
  }

  private metadata(r: In, version: number, flexible: boolean): Out {
    const count = r.arrayLength(flexible);
    let topics: string[] = [];
    if (count < 0 || (count === 0 && version === 0)) {
      topics = this.opts.topics ?? [];
    } else {
      for (let i = 0; i < count; i++) {
        if (version >= 10) r.bytes(16);
        topics.push(r.string(flexible) ?? '');
        r.skipTags(flexible);
      }
    }
    const partitions = this.opts.partitions ?? 1;
    const out = new Out();
    if (version >= 3) out.int32(0);
    out.arrayLength(1, flexible).int32(NODE_ID).string('127.0.0.1', flexible).int32(this.port);
    if (version >= 1) out.string(null, flexible);
    out.tags(flexible);
    if (version >= 2) out.string('runnel-capture', flexible);
    if (version >= 1) out.int32(NODE_ID);
    out.arrayLength(topics.length, flexible);
    for (const name of topics) {
      out.int16(0).string(name, flexible);
      if (version >= 1) out.bool(false);
      out.arrayLength(partitions, flexible);
      for (let p = 0; p < partitions; p++) {
        out.int16(0).int32(p).int32(NODE_ID);
        if (version >= 7) out.int32(0);
        out.arrayLength(1, flexible).int32(NODE_ID);
        out.arrayLength(1, flexible).int32(NODE_ID);
        if (version >= 5) out.arrayLength(0, flexible);
        out.tags(flexible);
      }
      if (version >= 8) out.int32(-2147483648);
      out.tags(flexible);
    }
    if (version >= 8) out.int32(-2147483648);
    return out.tags(flexible);
  }

  private produce(r: In, version: number): Out | null {
    r.string(false); // transactional id
    const acks = r.int16();
    r.int32(); // timeout
    const topicCount = r.int32();
    const out = new Out().arrayLength(topicCount, false);
    for (let t = 0; t < topicCount; t++) {
      const name = r.string(false) ?? '';
      const partitionCount = r.int32();
      out.string(name, false).arrayLength(partitionCount, false);
      for (let p = 0; p < partitionCount; p++) {
        const index = r.int32();
        const size = r.int32();
        const records = size < 0 ? Buffer.alloc(0) : r.bytes(size);
        const key = `${name}/${index}`;
        const base = this.nextOffset.get(key) ?? 0n;
        let count = 0n;
        for (const b of iterateBatches(records)) count += BigInt(b.header.lastOffsetDelta + 1);
        this.nextOffset.set(key, base + count);
        out.int32(index).int16(0).int64(base).int64(-1n);
        if (version >= 5) out.int64(0n);
        if (version >= 8) out.arrayLength(0, false).string(null, false);
      }
    }
    out.int32(0);
    return acks === 0 ? null : out;
  }

  /** End offset (high watermark) of a served log. */
  private logEndOffset(topic: string): bigint {
    const log = this.opts.logs?.get(topic);
    let end = 0n;
    if (log) for (const b of iterateBatches(log)) end = BigInt(b.header.baseOffset + b.header.lastOffsetDelta + 1);
    return end;
  }

  /** Fetch and ListOffsets over `logs`, and the transaction APIs, encoded by the generated codecs. */
  private serve(frame: Buffer): Buffer {
    const req = decodeRequest(frame);
    if (req.unsupported) throw new Error(`capture responder: unsupported ${req.apiKey} v${req.apiVersion}`);
    const correlationId = req.header.correlationId;
    if (req.apiKey === ApiKey.FindCoordinator) {
      const res = { ...defaultsFindCoordinatorResponse(), nodeId: NODE_ID, host: '127.0.0.1', port: this.port };
      return encodeResponse(ApiKey.FindCoordinator, req.apiVersion, correlationId, res);
    }
    if (req.apiKey === ApiKey.AddPartitionsToTxn) {
      const res = defaultsAddPartitionsToTxnResponse();
      res.resultsByTopicV3AndBelow = (req.body as AddPartitionsToTxnRequest).v3AndBelowTopics.map((t) => ({
        name: t.name,
        resultsByPartition: t.partitions.map((partitionIndex) => ({ partitionIndex, partitionErrorCode: 0 })),
      }));
      return encodeResponse(ApiKey.AddPartitionsToTxn, req.apiVersion, correlationId, res);
    }
    if (req.apiKey === ApiKey.EndTxn) {
      return encodeResponse(ApiKey.EndTxn, req.apiVersion, correlationId, defaultsEndTxnResponse());
    }
    if (req.apiKey === ApiKey.ListOffsets) {
      const body = req.body as ListOffsetsRequest;
      const res = defaultsListOffsetsResponse();
      res.topics = body.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          ...defaultsListOffsetsResponseListOffsetsPartitionResponse(),
          partitionIndex: p.partitionIndex,
          // -2 = earliest, anything else answered as latest
          offset: p.timestamp === -2n ? 0n : this.logEndOffset(t.name),
          timestamp: -1n,
          leaderEpoch: 0,
        })),
      }));
      return encodeResponse(ApiKey.ListOffsets, req.apiVersion, correlationId, res);
    }
    const body = req.body as FetchRequest;
    const res = defaultsFetchResponse();
    res.responses = body.topics.map((t) => ({
      ...defaultsFetchResponseFetchableTopicResponse(),
      topic: t.topic,
      partitions: t.partitions.map((p) => {
        const log = this.opts.logs?.get(t.topic) ?? Buffer.alloc(0);
        const end = this.logEndOffset(t.topic);
        let from = log.length;
        for (const b of iterateBatches(log)) {
          if (BigInt(b.header.baseOffset + b.header.lastOffsetDelta) >= p.fetchOffset) {
            from = b.position;
            break;
          }
        }
        return {
          ...defaultsFetchResponsePartitionData(),
          partitionIndex: p.partition,
          highWatermark: end,
          lastStableOffset: end,
          logStartOffset: 0n,
          abortedTransactions: [],
          records: log.subarray(from),
        };
      }),
    }));
    return encodeResponse(ApiKey.Fetch, req.apiVersion, correlationId, res);
  }
}
