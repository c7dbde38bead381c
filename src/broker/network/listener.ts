/**
 * A TCP listener that speaks Kafka framing and nothing else: it turns bytes into request
 * frames, hands each to onFrame, and writes the answers back, size-prefixed, in request
 * order. It knows nothing of API keys; the dispatcher behind onFrame does.
 *
 * Per connection:
 * - Pipelining: up to maxInFlightPerConnection requests are being handled at once; their
 *   answers are written strictly in the order the requests arrived. A null answer (acks=0
 *   produce) writes nothing and does not hold back later answers.
 * - Backpressure: at the in-flight bound, or while the socket's write buffer is full, the
 *   connection stops reading (Kafka mutes the channel the same way). Frames already received
 *   stay in the decoder until there is room.
 * - A bad size prefix (negative, or above maxRequestBytes) closes that connection only.
 *   onFrame throwing or rejecting also closes that connection only (the order of answers
 *   cannot be kept once one is missing).
 * - Memory: with maxQueuedRequestBytes, requests being handled across all connections hold
 *   at most that many bytes (first fit, like Kafka's request memory pool); a connection
 *   whose next request does not fit stops reading until memory is given back.
 * - Half-close: after the client's FIN, requests already received are still answered,
 *   then the connection is closed.
 * - Idle connections (nothing read or written for idleTimeoutMs, nothing in flight) are
 *   closed; time comes from the injected Clock.
 *
 * Ordering contract for the dispatcher: onFrame is called synchronously, once per frame,
 * in the order the frames arrived. Work a handler starts before its first await therefore
 * starts in request order (e.g. enqueueing an append on a partition's queue); work after an
 * await may interleave with later requests of the same connection. Kafka processes one
 * request per connection at a time; maxInFlightPerConnection = 1 gives exactly that.
 *
 * close() stops accepting, stops reading requests, lets the requests in flight be answered
 * (for at most closeTimeoutMs), then closes every socket.
 */
import net from 'node:net';
import type { Clock } from '../../env/clock.ts';
import { type BadFrame, FrameDecoder } from './frame-decoder.ts';

/** An answer: one buffer, several (written back to back without concatenating), or none. */
export type FrameResponse = Buffer | GatheredResponse | null;

/**
 * Parts written back to back. `onWritten` runs once the socket is done with all of them
 * (handed to the kernel or copied; or the write failed with the connection): buffers the
 * parts refer to (e.g. Fetch reads from a pool) may be reused from then on. It may not run
 * at all when the connection closes before the answer is written.
 */
export type GatheredResponse = readonly Buffer[] & { readonly onWritten?: () => void };

export interface NetworkLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: NetworkLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

export interface Connection {
  /** Kafka-style connection id: "localHost:localPort-remoteHost:remotePort-seq". */
  readonly id: string;
  /** Listener name this connection came in on (e.g. PLAINTEXT). */
  readonly listenerName: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Requests read and not yet answered (or dropped, for null answers). */
  readonly inFlight: number;
  readonly closed: boolean;
  /** Closes the socket now; unanswered requests are dropped. */
  close(reason?: string): void;
}

export interface ListenerOptions {
  /** Listener name given to connections (default PLAINTEXT). */
  name?: string;
  /** Interface to bind; '' or '0.0.0.0' for all IPv4 interfaces, '::' for all. */
  host: string;
  /** 0 picks a free port (tests); the bound port is on the returned Listener. */
  port: number;
  /** socket.request.max.bytes: largest request body accepted. */
  maxRequestBytes: number;
  /** Requests handled at once per connection before reading pauses (>= 1). */
  maxInFlightPerConnection: number;
  /** connections.max.idle.ms; <= 0 disables idle closing. */
  idleTimeoutMs: number;
  clock: Clock;
  /** Handles one request frame (the bytes after the size prefix); returns the answer without a size prefix. */
  onFrame(conn: Connection, frame: Buffer): FrameResponse | Promise<FrameResponse>;
  /** Called before a connection is closed for a bad size prefix. */
  onBadFrame?(conn: Connection, bad: BadFrame): void;
  onConnectionOpen?(conn: Connection): void;
  onConnectionClose?(conn: Connection): void;
  logger?: NetworkLogger;
  /** How long close() waits for requests in flight to be answered (default 5000 ms). */
  closeTimeoutMs?: number;
  /** Connections beyond this are refused (max.connections; default unlimited). */
  maxConnections?: number;
  /** Connections from one address beyond this are closed at once (max.connections.per.ip; default unlimited). */
  maxConnectionsPerIp?: number;
  /**
   * queued.max.request.bytes: bytes of requests being handled, across all connections; a
   * connection whose next request does not fit waits (stops reading) until others finish.
   * A request is always admitted when nothing else is in progress. <= 0: no bound (default).
   */
  maxQueuedRequestBytes?: number;
  backlog?: number;
}

export interface ListenerStats {
  connections: number;
  connectionsAccepted: number;
  connectionsClosed: number;
  requests: number;
  responses: number;
  badFrames: number;
  idleClosed: number;
  /** Connections closed at accept by maxConnectionsPerIp. */
  refusedPerIp: number;
  requestsInFlight: number;
  /** Bytes of requests being handled (what maxQueuedRequestBytes bounds). */
  queuedRequestBytes: number;
}

export interface Listener {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Open connections. */
  readonly connectionCount: number;
  stats(): ListenerStats;
  close(): Promise<void>;
}

/** Answers up to this size are copied behind their size prefix and written once. */
const SMALL_RESPONSE_BYTES = 4096;

interface Slot {
  done: boolean;
  response: FrameResponse;
  /** Request size, held against RequestMemory until the handler finishes. */
  bytes: number;
}

/** The listener-wide bound on bytes of requests being handled (queued.max.request.bytes). */
class RequestMemory {
  usedBytes = 0;
  private readonly waiting = new Set<ConnectionImpl>();

  constructor(private readonly maxBytes: number) {}

  tryTake(bytes: number): boolean {
    if (this.maxBytes > 0 && this.usedBytes > 0 && this.usedBytes + bytes > this.maxBytes) return false;
    this.usedBytes += bytes;
    return true;
  }

  wait(conn: ConnectionImpl): void {
    this.waiting.add(conn);
  }

  forget(conn: ConnectionImpl): void {
    this.waiting.delete(conn);
  }

  release(bytes: number): void {
    this.usedBytes -= bytes;
    if (this.waiting.size === 0) return;
    const woken = [...this.waiting];
    this.waiting.clear();
    for (const conn of woken) conn.memoryAvailable();
  }
}

interface Counters {
  refusedPerIp: number;
  accepted: number;
  closed: number;
  requests: number;
  responses: number;
  badFrames: number;
  idleClosed: number;
}

class ConnectionImpl implements Connection {
  readonly id: string;
  readonly listenerName: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  closed = false;

  private readonly decoder: FrameDecoder;
  private readonly slots: Slot[] = [];
  private readPaused = false;
  private writeBlocked = false;
  private readEnded = false;
  private draining = false;
  private pumping = false;
  /** Writes held until the end of this tick (corkUntilTickEnd). */
  private corked = false;
  /** A decoded request waiting for RequestMemory. */
  private heldFrame: Buffer | null = null;
  private lastActivityMs: number;
  private cancelIdle: (() => void) | null = null;

  constructor(
    private readonly socket: net.Socket,
    seq: number,
    private readonly options: ListenerOptions,
    private readonly logger: NetworkLogger,
    private readonly counters: Counters,
    private readonly memory: RequestMemory,
  ) {
    this.listenerName = options.name ?? 'PLAINTEXT';
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.id = `${this.localAddress}:${this.localPort}-${this.remoteAddress}:${this.remotePort}-${seq}`;
    this.decoder = new FrameDecoder(options.maxRequestBytes);
    this.lastActivityMs = options.clock.monotonicMs();

    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.onDrain());
    socket.on('close', () => {
      this.closed = true;
      this.dropRequests();
    });
    socket.on('error', (err) => {
      this.logger.debug('connection error', { connection: this.id, error: err.message });
      this.close('socket error');
    });
    this.armIdleTimer(options.idleTimeoutMs);
  }

  get inFlight(): number {
    return this.slots.length;
  }

  /** Stops reading requests; ends the socket once every request in flight is answered. */
  drain(): void {
    if (this.closed || this.draining) return;
    this.draining = true;
    this.cancelIdleTimer();
    this.heldFrame = null;
    this.memory.forget(this);
    // Keep reading (and dropping) whatever the client sends: unread bytes at close make the
    // kernel reset the connection, which can discard answers still on their way out.
    this.updateReadState();
    this.endIfDone();
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.dropRequests();
    this.logger.debug('closing connection', { connection: this.id, reason });
    // Answers held for this tick go out first, as they would have without corkUntilTickEnd.
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
    this.socket.destroy();
  }

  /** Forgets unanswered requests, giving their bytes back. */
  private dropRequests(): void {
    this.cancelIdleTimer();
    let bytes = 0;
    for (const slot of this.slots) if (!slot.done) bytes += slot.bytes;
    this.slots.length = 0;
    this.heldFrame = null;
    this.memory.forget(this);
    if (bytes > 0) this.memory.release(bytes);
  }

  /** Called by RequestMemory when bytes were given back. */
  memoryAvailable(): void {
    this.pump();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastActivityMs = this.options.clock.monotonicMs();
    if (this.draining) return;
    this.decoder.push(chunk);
    this.pump();
  }

  private onEnd(): void {
    this.readEnded = true;
    this.endIfDone();
  }

  private onDrain(): void {
    if (this.closed) return;
    this.writeBlocked = false;
    this.pump();
  }

  /** Takes frames from the decoder and dispatches them while there is room. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && !this.draining && !this.writeBlocked) {
        if (this.slots.length >= this.options.maxInFlightPerConnection) break;
        let frame = this.heldFrame;
        if (frame === null) {
          const next = this.decoder.next();
          if (next === null) break;
          if ('bad' in next) {
            this.onBad(next.bad);
            return;
          }
          frame = next.frame;
        }
        if (!this.memory.tryTake(frame.length)) {
          this.heldFrame = frame;
          this.memory.wait(this);
          break;
        }
        this.heldFrame = null;
        this.dispatch(frame);
      }
    } finally {
      this.pumping = false;
    }
    this.updateReadState();
    this.endIfDone();
  }

  private onBad(bad: BadFrame): void {
    this.counters.badFrames++;
    this.logger.warn('closing connection: bad request size', { connection: this.id, ...bad });
    try {
      this.options.onBadFrame?.(this, bad);
    } catch (err) {
      this.logger.error('onBadFrame threw', { connection: this.id, error: String(err) });
    }
    this.close(`bad frame (${bad.kind})`);
  }

  private dispatch(frame: Buffer): void {
    const slot: Slot = { done: false, response: null, bytes: frame.length };
    this.slots.push(slot);
    this.counters.requests++;
    let result: FrameResponse | Promise<FrameResponse>;
    try {
      result = this.options.onFrame(this, frame);
    } catch (err) {
      this.handlerFailed(err);
      return;
    }
    if (isPromiseLike(result)) {
      result.then(
        (response) => this.complete(slot, response),
        (err: unknown) => this.handlerFailed(err),
      );
    } else {
      this.complete(slot, result);
    }
  }

  private handlerFailed(err: unknown): void {
    if (this.closed) return;
    // The dispatcher throws on undecodable or unsupported requests too, so this is a warning;
    // the stack goes to debug.
    this.logger.warn('request handler failed; closing connection', {
      connection: this.id,
      error: err instanceof Error ? err.message : String(err),
    });
    if (err instanceof Error && err.stack !== undefined) {
      this.logger.debug('request handler failure', { connection: this.id, stack: err.stack });
    }
    this.close('handler failed');
  }

  private complete(slot: Slot, response: FrameResponse): void {
    if (this.closed) return;
    slot.done = true;
    slot.response = response;
    this.memory.release(slot.bytes);
    this.flush();
    this.pump();
  }

  /** Writes the answers at the head of the queue that are ready, in order. */
  private flush(): void {
    while (this.slots.length > 0 && this.slots[0]!.done) {
      const slot = this.slots.shift()!;
      if (slot.response !== null) {
        this.corkUntilTickEnd();
        this.write(slot.response);
      }
      slot.response = null;
    }
  }

  /**
   * Holds the socket's writes until the current tick's callbacks ran (process.nextTick runs
   * after the promise reactions in flight): answers finished together, such as the produce
   * requests of one group commit, leave in one writev rather than one write(2) each.
   */
  private corkUntilTickEnd(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  private write(response: Buffer | GatheredResponse): void {
    const parts: readonly Buffer[] = Buffer.isBuffer(response) ? [response] : response;
    const onWritten = Buffer.isBuffer(response) ? undefined : response.onWritten;
    let size = 0;
    for (const part of parts) size += part.length;
    if (size > 0x7fffffff) {
      this.handlerFailed(new RangeError(`response of ${size} bytes does not fit a frame`));
      return;
    }
    let ok: boolean;
    if (size <= SMALL_RESPONSE_BYTES) {
      // One small buffer and one write beat two writes for small answers.
      const out = Buffer.allocUnsafe(4 + size);
      out.writeInt32BE(size, 0);
      let at = 4;
      for (const part of parts) at += part.copy(out, at);
      ok = this.socket.write(out);
      onWritten?.();
    } else {
      const prefix = Buffer.allocUnsafe(4);
      prefix.writeInt32BE(size, 0);
      // Write callbacks run in order, after libuv finished the write (or gave it up).
      const done = onWritten && (() => onWritten());
      this.socket.cork();
      ok = this.socket.write(prefix);
      let last = parts.length - 1;
      while (last >= 0 && parts[last]!.length === 0) last--;
      for (let i = 0; i <= last; i++) ok = this.socket.write(parts[i]!, i === last ? done : undefined);
      this.socket.uncork();
      if (last < 0) onWritten?.();
    }
    this.counters.responses++;
    this.lastActivityMs = this.options.clock.monotonicMs();
    if (!ok) this.writeBlocked = true;
  }

  private updateReadState(): void {
    if (this.closed) return;
    const wantRead =
      this.draining ||
      (!this.writeBlocked &&
        !this.readEnded &&
        this.heldFrame === null &&
        this.slots.length < this.options.maxInFlightPerConnection);
    if (wantRead && this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    } else if (!wantRead && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /** Once nothing is left to answer: end our side if the client ended its side or we are draining. */
  private endIfDone(): void {
    if (this.closed || this.slots.length > 0 || (this.heldFrame !== null && !this.draining)) return;
    // After the client's FIN, pump() has dispatched every whole frame unless writing is blocked;
    // a partial frame left in the decoder can never complete and is dropped.
    if (this.draining || (this.readEnded && !this.writeBlocked)) {
      if (!this.socket.writableEnded) this.socket.end();
    }
  }

  private armIdleTimer(delayMs: number): void {
    if (this.options.idleTimeoutMs <= 0 || this.closed) return;
    this.cancelIdle = this.options.clock.schedule(delayMs, () => this.checkIdle());
  }

  private cancelIdleTimer(): void {
    this.cancelIdle?.();
    this.cancelIdle = null;
  }

  private checkIdle(): void {
    this.cancelIdle = null;
    if (this.closed || this.draining) return;
    const idleMs = this.options.clock.monotonicMs() - this.lastActivityMs;
    if (this.slots.length === 0 && idleMs >= this.options.idleTimeoutMs) {
      this.counters.idleClosed++;
      this.close('idle');
      return;
    }
    const remainingMs = this.slots.length > 0 ? this.options.idleTimeoutMs : this.options.idleTimeoutMs - idleMs;
    this.armIdleTimer(remainingMs);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<FrameResponse> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Buffer.isBuffer(value) &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Binds host:port and starts accepting connections. */
export async function startListener(options: ListenerOptions): Promise<Listener> {
  if (!(options.maxInFlightPerConnection >= 1)) {
    throw new RangeError(`maxInFlightPerConnection must be >= 1, got ${options.maxInFlightPerConnection}`);
  }
  if (!(options.maxRequestBytes >= 0)) {
    throw new RangeError(`maxRequestBytes must be >= 0, got ${options.maxRequestBytes}`);
  }
  const logger = options.logger ?? silentLogger;
  const name = options.name ?? 'PLAINTEXT';
  const counters: Counters = {
    refusedPerIp: 0,
    accepted: 0,
    closed: 0,
    requests: 0,
    responses: 0,
    badFrames: 0,
    idleClosed: 0,
  };
  const connections = new Set<ConnectionImpl>();
  const perIp = new Map<string, number>();
  const memory = new RequestMemory(options.maxQueuedRequestBytes ?? -1);
  const closeWaiters = new Set<() => void>();
  let seq = 0;
  let closing: Promise<void> | null = null;

  const server = net.createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true }, (socket) => {
    if (closing !== null) {
      socket.destroy();
      return;
    }
    const ip = socket.remoteAddress ?? '';
    const fromIp = perIp.get(ip) ?? 0;
    if (options.maxConnectionsPerIp !== undefined && fromIp >= options.maxConnectionsPerIp) {
      counters.refusedPerIp++;
      logger.warn('too many connections from one address', { listener: name, address: ip, connections: fromIp });
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    perIp.set(ip, fromIp + 1);
    const conn = new ConnectionImpl(socket, seq++, options, logger, counters, memory);
    connections.add(conn);
    counters.accepted++;
    socket.on('close', () => {
      connections.delete(conn);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
      counters.closed++;
      try {
        options.onConnectionClose?.(conn);
      } catch (err) {
        logger.error('onConnectionClose threw', { connection: conn.id, error: String(err) });
      }
      if (connections.size === 0) for (const wake of closeWaiters) wake();
    });
    try {
      options.onConnectionOpen?.(conn);
    } catch (err) {
      logger.error('onConnectionOpen threw', { connection: conn.id, error: String(err) });
      conn.close('onConnectionOpen failed');
    }
  });
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  server.on('error', (err) => logger.error('listener error', { listener: name, error: err.message }));

  const bindHost = options.host === '' ? undefined : options.host;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: bindHost, port: options.port, backlog: options.backlog ?? 511 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  logger.info('listening', { listener: name, host: address.address, port: address.port });

  const allClosed = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (connections.size === 0) return resolve();
      const wake = (): void => {
        closeWaiters.delete(wake);
        resolve();
      };
      closeWaiters.add(wake);
    });

  async function shutdown(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const conn of connections) conn.drain();
    let timedOut = false;
    await new Promise<void>((resolve) => {
      const cancel = options.clock.schedule(options.closeTimeoutMs ?? 5000, () => {
        timedOut = true;
        resolve();
      });
      void allClosed().then(() => {
        cancel();
        resolve();
      });
    });
    if (timedOut && connections.size > 0) {
      logger.warn('close timed out; dropping connections', { listener: name, connections: connections.size });
      for (const conn of connections) conn.close('listener closed');
    }
    await serverClosed;
    logger.info('listener closed', { listener: name });
  }

  return {
    name,
    host: address.address,
    port: address.port,
    get connectionCount() {
      return connections.size;
    },
    stats() {
      let requestsInFlight = 0;
      for (const conn of connections) requestsInFlight += conn.inFlight;
      return {
        connections: connections.size,
        connectionsAccepted: counters.accepted,
        connectionsClosed: counters.closed,
        requests: counters.requests,
        responses: counters.responses,
        badFrames: counters.badFrames,
        idleClosed: counters.idleClosed,
        refusedPerIp: counters.refusedPerIp,
        requestsInFlight,
        queuedRequestBytes: memory.usedBytes,
      };
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
