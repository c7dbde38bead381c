/**
 * One TCP connection to one broker: size-prefixed frames, pipelined requests matched to
 * responses by correlation id, at most `max.in.flight.requests.per.connection` requests on the
 * wire (more wait in a FIFO), a `request.timeout.ms` deadline per request (a timed-out request
 * closes the connection, as the Java client does: the connection's state is unknown), and
 * ApiVersions negotiation on connect (per API, the highest version both sides support).
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Clock } from '../env/clock.ts';
import {
  decodeResponse,
  encodeRequest,
  encodeRequestParts,
  type RequestBody,
  type ResponseBody,
} from '../protocol/frame.ts';
import { API_INFO, ApiKey } from '../protocol/generated/api-keys.ts';
import type { ApiVersionsResponse } from '../protocol/generated/api-versions-response.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import { KafkaConnectionError, KafkaProtocolError, KafkaRequestTimeoutError } from './errors.ts';

/**
 * Highest versions this client writes, where the generated codecs go further than the client
 * code does (Fetch 13+ names topics by id only).
 */
export const CLIENT_MAX_VERSIONS: ReadonlyMap<number, number> = new Map([
  [ApiKey.Fetch, 12],
  [ApiKey.ApiVersions, 3],
]);

/** Size of the read buffer used between frames (Node's own socket reads are 64 KiB). */
const READ_BYTES = 64 * 1024;
/** Largest response frame accepted (a larger size means a broken stream). */
const MAX_RESPONSE_BYTES = 1 << 30;

export interface ConnectionOptions {
  host: string;
  port: number;
  /** `client.id` (default "runnel"). */
  clientId: string;
  /** `request.timeout.ms` (default 30000). */
  requestTimeoutMs: number;
  /** `max.in.flight.requests.per.connection` (default 5). */
  maxInFlight: number;
  /** `socket.connection.setup.timeout.ms` (default 10000). */
  connectTimeoutMs: number;
  clock: Clock;
  /** Node id of the broker (-1 for a bootstrap address). */
  nodeId: number;
}

interface Pending {
  apiKey: number;
  apiVersion: number;
  /** One buffer, or parts written back to back (byte strings kept by reference). */
  frame: Buffer | readonly Buffer[];
  expectResponse: boolean;
  timeoutMs: number;
  resolve(body: unknown): void;
  reject(e: unknown): void;
  cancelTimer: (() => void) | null;
}

export interface RequestOptions {
  /** Overrides `request.timeout.ms` for this request (e.g. a Fetch adds its max wait). */
  timeoutMs?: number;
  /** Forces a version (must be one the broker supports). */
  version?: number;
  /** False for acks=0 produce: resolves once written, with undefined. */
  expectResponse?: boolean;
  /**
   * Byte strings of the body of at least `minBytes` (`bytes` in all) go to the socket by
   * reference rather than copied into the frame: the caller must leave them untouched until
   * the request is answered or failed (so never with expectResponse false).
   */
  gather?: { minBytes: number; bytes: number };
}

export class BrokerConnection {
  readonly host: string;
  readonly port: number;
  readonly nodeId: number;
  private readonly opts: ConnectionOptions;
  private socket: Socket | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private nextCorrelationId = 0;
  private readonly inFlight = new Map<number, Pending>();
  private readonly waiting: Pending[] = [];
  /** The 4-byte size of the next frame, when it came split over chunks. */
  private readonly sizeBuf = Buffer.alloc(4);
  private sizeFilled = 0;
  /** The frame being filled from several chunks, and how much of it has arrived. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  /** The buffer reads go into between frames (replaced once frames in it are handed out). */
  private readBuf: Buffer | null = null;
  /** The read under way goes into `partial` (true) or `readBuf` (false). */
  private readingFrame = false;
  /** Usable max version per API key after negotiation. */
  private versions = new Map<number, { min: number; max: number }>();
  /** Called once when the connection closes (error, timeout or close()). */
  onClose: ((e: Error | null) => void) | null = null;

  constructor(opts: ConnectionOptions) {
    this.opts = opts;
    this.host = opts.host;
    this.port = opts.port;
    this.nodeId = opts.nodeId;
  }

  get isConnected(): boolean {
    return this.socket !== null && !this.closed && this.connecting === null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Requests written and not yet answered. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Opens the socket and negotiates versions. Idempotent while connecting. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new KafkaConnectionError(`connection to ${this.address} is closed`));
    if (this.socket !== null && this.connecting === null) return Promise.resolve();
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  private async doConnect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const socket = netConnect({
        host: this.host,
        port: this.port,
        noDelay: true,
        onread: {
          buffer: () => this.readTarget(),
          callback: (n: number, buf: Uint8Array) => {
            this.onRead(n, buf);
            return true;
          },
        },
      });
      const cancel = this.opts.clock.schedule(this.opts.connectTimeoutMs, () => {
        socket.destroy();
        reject(new KafkaConnectionError(`connecting to ${this.address} timed out`));
      });
      socket.once('connect', () => {
        cancel();
        socket.removeAllListeners('error');
        this.socket = socket;
        socket.on('error', (e) => this.fail(new KafkaConnectionError(`${this.address}: ${e.message}`, { cause: e })));
        socket.on('close', () => this.fail(new KafkaConnectionError(`${this.address}: connection closed`)));
        resolve();
      });
      socket.once('error', (e) => {
        cancel();
        socket.destroy();
        reject(new KafkaConnectionError(`connecting to ${this.address}: ${e.message}`, { cause: e }));
      });
    });
    await this.negotiateVersions();
  }

  private async negotiateVersions(): Promise<void> {
    const ours = API_INFO.get(ApiKey.ApiVersions)!.validVersions;
    let version = Math.min(ours.max, CLIENT_MAX_VERSIONS.get(ApiKey.ApiVersions) ?? ours.max);
    for (let attempt = 0; attempt < 2; attempt++) {
      let res: ApiVersionsResponse;
      try {
        res = (await this.send(ApiKey.ApiVersions, version, {
          clientSoftwareName: 'runnel',
          clientSoftwareVersion: '0.1.0',
        })) as ApiVersionsResponse;
      } catch (e) {
        // A broker that cannot read our version answers in v0 with UNSUPPORTED_VERSION.
        if (e instanceof UnsupportedApiVersionsReply && attempt === 0) {
          version = e.brokerMax;
          continue;
        }
        throw e;
      }
      if (res.errorCode === ErrorCode.UNSUPPORTED_VERSION && attempt === 0) {
        const theirs = res.apiKeys.find((k) => k.apiKey === ApiKey.ApiVersions);
        version = Math.min(version, theirs?.maxVersion ?? 0);
        continue;
      }
      if (res.errorCode !== 0) throw new KafkaProtocolError(res.errorCode, 'ApiVersions');
      const versions = new Map<number, { min: number; max: number }>();
      for (const k of res.apiKeys) {
        const info = API_INFO.get(k.apiKey);
        if (info === undefined) continue;
        const cap = CLIENT_MAX_VERSIONS.get(k.apiKey) ?? info.validVersions.max;
        const max = Math.min(cap, info.validVersions.max, k.maxVersion);
        const min = Math.max(info.validVersions.min, k.minVersion);
        if (max >= min) versions.set(k.apiKey, { min, max });
      }
      this.versions = versions;
      return;
    }
  }

  /** The version to use for `apiKey`, or -1 when the broker and the client share none. */
  versionFor(apiKey: number): number {
    return this.versions.get(apiKey)?.max ?? -1;
  }

  /** Sends a request at the negotiated version and resolves with the decoded response body. */
  request<K extends number>(apiKey: K, body: RequestBody<K>, opts: RequestOptions = {}): Promise<ResponseBody<K>> {
    const version = opts.version ?? this.versionFor(apiKey);
    if (version < 0) {
      return Promise.reject(
        new KafkaProtocolError(ErrorCode.UNSUPPORTED_VERSION, `broker ${this.address} does not support API ${apiKey}`),
      );
    }
    return this.send(apiKey, version, body, opts) as Promise<ResponseBody<K>>;
  }

  private send(apiKey: number, apiVersion: number, body: unknown, opts: RequestOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new KafkaConnectionError(`connection to ${this.address} is closed`));
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) | 0;
    const header = {
      requestApiKey: apiKey,
      requestApiVersion: apiVersion,
      correlationId,
      clientId: this.opts.clientId,
    };
    const gather = opts.gather;
    const frame =
      gather !== undefined && gather.bytes > 0 && opts.expectResponse !== false
        ? encodeRequestParts(header, body as never, gather.minBytes, gather.bytes)
        : encodeRequest(header, body as never);
    return new Promise((resolve, reject) => {
      const p: Pending = {
        apiKey,
        apiVersion,
        frame,
        expectResponse: opts.expectResponse ?? true,
        timeoutMs: opts.timeoutMs ?? this.opts.requestTimeoutMs,
        resolve,
        reject,
        cancelTimer: null,
      };
      if (this.inFlight.size >= this.opts.maxInFlight) this.waiting.push(p);
      else this.write(correlationId, p);
    });
  }

  private write(correlationId: number, p: Pending): void {
    const socket = this.socket;
    if (socket === null) {
      p.reject(new KafkaConnectionError(`not connected to ${this.address}`));
      return;
    }
    if (Buffer.isBuffer(p.frame)) socket.write(p.frame);
    else {
      // Corked, the parts leave in one writev.
      socket.cork();
      for (const part of p.frame) socket.write(part);
      socket.uncork();
    }
    if (!p.expectResponse) {
      p.resolve(undefined);
      return;
    }
    p.frame = EMPTY;
    this.inFlight.set(correlationId, p);
    p.cancelTimer = this.opts.clock.schedule(p.timeoutMs, () => {
      p.cancelTimer = null;
      this.fail(
        new KafkaRequestTimeoutError(
          `request (api ${p.apiKey} v${p.apiVersion}) to ${this.address} timed out after ${p.timeoutMs} ms`,
        ),
      );
    });
  }

  /**
   * Where the socket's next read goes (Node calls this before every read): the rest of the frame
   * being received when its size is known, so a large response is read straight into its own
   * buffer with no intermediate chunk and no copy; otherwise a read buffer of READ_BYTES.
   */
  private readTarget(): Buffer {
    if (this.partial !== null) {
      this.readingFrame = true;
      return this.partial.subarray(this.partialFilled);
    }
    this.readingFrame = false;
    this.readBuf ??= Buffer.allocUnsafe(READ_BYTES);
    return this.readBuf;
  }

  private onRead(nread: number, buf: Uint8Array): void {
    if (this.closed) return;
    if (this.readingFrame && this.partial !== null) {
      this.partialFilled += nread;
      if (this.partialFilled < this.partial.length) return;
      const frame = this.partial;
      this.partial = null;
      this.onFrame(frame);
      return;
    }
    const chunk = buf as Buffer;
    // Frames handed out are views of the read buffer: it is then left to them, and the next
    // read gets a new one; otherwise it is read into again.
    if (this.onData(nread === chunk.length ? chunk : chunk.subarray(0, nread))) this.readBuf = null;
  }

  /**
   * Frames bytes read into the read buffer. A frame inside them is a view (no copy); the start
   * of a longer frame is copied into a buffer of its announced size, whose rest is then read
   * into directly (readTarget). True when a view of `chunk` was handed out.
   */
  private onData(chunk: Buffer): boolean {
    let lent = false;
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.partial === null) {
        let size: number;
        if (this.sizeFilled === 0 && end - pos >= 4) {
          size = chunk.readInt32BE(pos);
          pos += 4;
        } else {
          const n = Math.min(4 - this.sizeFilled, end - pos);
          chunk.copy(this.sizeBuf, this.sizeFilled, pos, pos + n);
          this.sizeFilled += n;
          pos += n;
          if (this.sizeFilled < 4) return lent;
          this.sizeFilled = 0;
          size = this.sizeBuf.readInt32BE(0);
        }
        if (size < 4 || size > MAX_RESPONSE_BYTES) {
          this.fail(new KafkaConnectionError(`${this.address}: invalid frame size ${size}`));
          return lent;
        }
        if (end - pos >= size) {
          const frame = chunk.subarray(pos, pos + size);
          pos += size;
          lent = true;
          this.onFrame(frame);
          if (this.closed) return lent;
          continue;
        }
        this.partial = Buffer.allocUnsafe(size);
        this.partialFilled = 0;
      }
      const n = Math.min(this.partial.length - this.partialFilled, end - pos);
      chunk.copy(this.partial, this.partialFilled, pos, pos + n);
      this.partialFilled += n;
      pos += n;
      if (this.partialFilled < this.partial.length) return lent;
      const frame = this.partial;
      this.partial = null;
      this.onFrame(frame);
      if (this.closed) return lent;
    }
    return lent;
  }

  private onFrame(frame: Buffer): void {
    const correlationId = frame.readInt32BE(0);
    const p = this.inFlight.get(correlationId);
    if (p === undefined) return; // a response to a request we gave up on
    this.inFlight.delete(correlationId);
    p.cancelTimer?.();
    try {
      p.resolve(this.decode(p, frame));
    } catch (e) {
      p.reject(e);
    }
    this.pump();
  }

  private decode(p: Pending, frame: Buffer): unknown {
    if (p.apiKey === ApiKey.ApiVersions && frame.length >= 6) {
      // Error code is the first field in every version; UNSUPPORTED_VERSION replies come in v0.
      const errorCode = frame.readInt16BE(4);
      if (errorCode === ErrorCode.UNSUPPORTED_VERSION && p.apiVersion > 0) {
        const v0 = decodeResponse(ApiKey.ApiVersions, 0, frame).body;
        const theirs = v0.apiKeys.find((k) => k.apiKey === ApiKey.ApiVersions);
        throw new UnsupportedApiVersionsReply(theirs?.maxVersion ?? 0);
      }
    }
    return decodeResponse(p.apiKey, p.apiVersion, frame).body;
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.inFlight.size < this.opts.maxInFlight && !this.closed) {
      const p = this.waiting.shift()!;
      const correlationId = (Buffer.isBuffer(p.frame) ? p.frame : p.frame[0]!).readInt32BE(8);
      this.write(correlationId, p);
    }
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    for (const p of this.inFlight.values()) {
      p.cancelTimer?.();
      p.reject(e);
    }
    this.inFlight.clear();
    for (const p of this.waiting) p.reject(e);
    this.waiting.length = 0;
    this.partial = null;
    this.sizeFilled = 0;
    const cb = this.onClose;
    this.onClose = null;
    cb?.(e);
  }

  /** Closes the socket; requests in flight fail with KafkaConnectionError. */
  close(): void {
    this.fail(new KafkaConnectionError(`connection to ${this.address} closed by the client`));
  }
}

const EMPTY = Buffer.alloc(0);

class UnsupportedApiVersionsReply extends Error {
  constructor(readonly brokerMax: number) {
    super('broker does not support this ApiVersions version');
  }
}
