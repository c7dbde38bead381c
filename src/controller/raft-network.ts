/**
 * The Raft quorum's network: RaftMessages as Kafka requests on the controller listener.
 *
 * Outgoing requests (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch, FetchSnapshot) go to
 * the voter's controller endpoint over one client connection per peer (src/client's
 * BrokerConnection: framing, correlation, ApiVersions negotiation); the response comes back
 * into the Raft driver as the matching RaftMessage. Incoming requests (the controller
 * handlers call `handleRequest`) go into the driver, and the response it emits for them is
 * what the handler answers.
 *
 * Raft tolerates loss, so nothing here retries: a message that cannot be sent (no
 * connection yet, too many in flight) is dropped and the Raft node asks again after its
 * request timeout. A broken connection is dropped and made again on the next send, at most
 * once per reconnect backoff.
 *
 * PreVote (KIP-996) is a Vote v2 field our spec snapshot does not have: a pre-vote goes on
 * a second connection whose client id is PREVOTE_CLIENT_ID, and the handler reads it there.
 */

import { BrokerConnection } from '../client/connection.ts';
import { KafkaConnectionError } from '../client/errors.ts';
import type { Clock } from '../env/clock.ts';
import { API_INFO, ApiKey } from '../protocol/generated/api-keys.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { VoterEndpoint } from '../raft/config.ts';
import type { LogBatch, RaftMessage } from '../raft/types.ts';
import { decodeRaftBatches, encodeRaftBatches } from '../raft/wire-batches.ts';

export const RAFT_CLIENT_ID = 'raft';
export const PREVOTE_CLIENT_ID = 'raft-prevote';

/** Requests in flight to one peer; more are dropped (Raft retries). */
export const MAX_IN_FLIGHT_PER_PEER = 32;
/** Incoming requests waiting for the driver's answer; more are answered with REQUEST_TIMED_OUT. */
export const MAX_PENDING_INCOMING = 1024;

type RequestType = Extract<RaftMessage['type'], `${string}-request`>;
type RequestMessage = Extract<RaftMessage, { type: RequestType }>;
type ResponseMessage = Exclude<RaftMessage, { type: RequestType }>;

const API_OF: Record<RequestType, number> = {
  'vote-request': ApiKey.Vote,
  'begin-quorum-epoch-request': ApiKey.BeginQuorumEpoch,
  'end-quorum-epoch-request': ApiKey.EndQuorumEpoch,
  'fetch-request': ApiKey.Fetch,
  'fetch-snapshot-request': ApiKey.FetchSnapshot,
};

export interface RaftNetworkOptions {
  nodeId: number;
  /** Controller endpoints of the voters (this node's own entry is ignored). */
  voters: readonly VoterEndpoint[];
  clock: Clock;
  /** controller.quorum.request.timeout.ms (a Fetch adds its max wait). */
  requestTimeoutMs: number;
  /** Pause after a failed connect before the next attempt to that peer. */
  reconnectBackoffMs?: number;
  /** Where responses (and nothing else) go: the Raft driver's receive. */
  deliver: (message: RaftMessage) => void;
  /** Rewrites a peer's address (tests put a fault-injecting proxy in between). */
  route?: (peer: VoterEndpoint) => { host: string; port: number };
}

interface Peer {
  endpoint: VoterEndpoint;
  conns: Map<string, BrokerConnection>;
  inFlight: number;
  retryAtMs: number;
}

interface Incoming {
  resolve: (m: ResponseMessage | undefined) => void;
  cancel: () => void;
}

export class RaftNetwork {
  private readonly peers = new Map<number, Peer>();
  private readonly incoming = new Map<number, Incoming>();
  private nextIncomingId = 1;
  private closed = false;
  /** Messages dropped (no connection, too many in flight, send failures). */
  dropped = 0;

  constructor(private readonly options: RaftNetworkOptions) {
    for (const v of options.voters) {
      if (v.id === options.nodeId) continue;
      this.peers.set(v.id, { endpoint: v, conns: new Map(), inFlight: 0, retryAtMs: 0 });
    }
  }

  /** The driver's transport: requests go out on the wire, responses answer a waiting handler. */
  send(message: RaftMessage): void {
    if (this.closed) return;
    if (message.type.endsWith('-response')) {
      const waiting = this.incoming.get(message.correlationId);
      if (waiting === undefined) return;
      this.incoming.delete(message.correlationId);
      waiting.cancel();
      waiting.resolve(message as ResponseMessage);
      return;
    }
    void this.sendRequest(message as RequestMessage);
  }

  /**
   * A request from a peer (the controller handlers call this): into the driver, then the
   * driver's answer. `from` is the sender's id as the request body names it.
   */
  handleRequest(
    request: Omit<RequestMessage, 'to' | 'correlationId'>,
    receive: (m: RaftMessage) => void,
    timeoutMs: number,
  ): Promise<ResponseMessage | undefined> {
    if (this.closed || this.incoming.size >= MAX_PENDING_INCOMING) return Promise.resolve(undefined);
    const correlationId = this.nextIncomingId++;
    return new Promise((resolve) => {
      const cancel = this.options.clock.schedule(timeoutMs, () => {
        this.incoming.delete(correlationId);
        resolve(undefined);
      });
      this.incoming.set(correlationId, { resolve, cancel });
      receive({ ...request, to: this.options.nodeId, correlationId } as RaftMessage);
    });
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) for (const c of p.conns.values()) c.close();
    this.peers.clear();
    // Handlers still waiting answer with an error now (the node is going away).
    for (const w of this.incoming.values()) {
      w.cancel();
      w.resolve(undefined);
    }
    this.incoming.clear();
  }

  /** Drops every connection to peers (tests: a partition heals with fresh connections). */
  resetConnections(): void {
    for (const p of this.peers.values()) {
      for (const c of p.conns.values()) c.close();
      p.conns.clear();
    }
  }

  private async sendRequest(m: RequestMessage): Promise<void> {
    const peer = this.peers.get(m.to);
    if (peer === undefined || peer.inFlight >= MAX_IN_FLIGHT_PER_PEER) {
      this.dropped++;
      return;
    }
    const preVote = m.type === 'vote-request' && m.preVote;
    peer.inFlight++;
    try {
      const conn = await this.connection(peer, preVote ? PREVOTE_CLIENT_ID : RAFT_CLIENT_ID);
      if (conn === undefined) {
        this.dropped++;
        return;
      }
      const apiKey = API_OF[m.type];
      const extraMs = m.type === 'fetch-request' ? m.body.maxWaitMs : 0;
      const body = (await conn.request(apiKey as never, m.body as never, {
        timeoutMs: this.options.requestTimeoutMs + extraMs,
      })) as unknown;
      if (this.closed) return;
      this.options.deliver(toResponse(m, body));
    } catch (err) {
      // A broken connection or a timeout: Raft asks again after its own request timeout.
      this.dropped++;
      if (!(err instanceof Error)) throw err;
    } finally {
      peer.inFlight--;
    }
  }

  private async connection(peer: Peer, clientId: string): Promise<BrokerConnection | undefined> {
    const existing = peer.conns.get(clientId);
    if (existing !== undefined && !existing.isClosed) {
      await existing.connect();
      return existing;
    }
    const now = this.options.clock.monotonicMs();
    if (now < peer.retryAtMs) return undefined;
    const at = this.options.route?.(peer.endpoint) ?? peer.endpoint;
    const conn = new BrokerConnection({
      host: at.host,
      port: at.port,
      clientId,
      requestTimeoutMs: this.options.requestTimeoutMs,
      maxInFlight: MAX_IN_FLIGHT_PER_PEER,
      connectTimeoutMs: this.options.requestTimeoutMs,
      clock: this.options.clock,
      nodeId: peer.endpoint.id,
    });
    peer.conns.set(clientId, conn);
    conn.onClose = () => {
      if (peer.conns.get(clientId) === conn) peer.conns.delete(clientId);
    };
    try {
      await conn.connect();
      return conn;
    } catch (err) {
      if (!(err instanceof KafkaConnectionError) && !(err instanceof Error)) throw err;
      conn.close();
      if (peer.conns.get(clientId) === conn) peer.conns.delete(clientId);
      peer.retryAtMs = this.options.clock.monotonicMs() + (this.options.reconnectBackoffMs ?? 50);
      return undefined;
    }
  }
}

/** The RaftMessage for a response body received for request m. */
function toResponse(m: RequestMessage, body: unknown): RaftMessage {
  const base = { from: m.to, to: m.from, correlationId: m.correlationId };
  switch (m.type) {
    case 'vote-request':
      return { ...base, type: 'vote-response', preVote: m.preVote, body: body as never };
    case 'begin-quorum-epoch-request':
      return { ...base, type: 'begin-quorum-epoch-response', body: body as never };
    case 'end-quorum-epoch-request':
      return { ...base, type: 'end-quorum-epoch-response', body: body as never };
    case 'fetch-snapshot-request':
      return { ...base, type: 'fetch-snapshot-response', body: body as never };
    case 'fetch-request': {
      const fetched = body as import('../protocol/generated/fetch-response.ts').FetchResponse;
      const records = fetched.responses[0]?.partitions[0]?.records;
      const batches: LogBatch[] = records && records.length > 0 ? decodeRaftBatches(records) : [];
      return { ...base, type: 'fetch-response', body: fetched, batches };
    }
  }
}

/** The wire body of a response message from the driver (Fetch batches become record bytes). */
export function responseBody(m: ResponseMessage, timestampMs: number): unknown {
  if (m.type !== 'fetch-response' || m.batches.length === 0) return m.body;
  const body = structuredClone(m.body);
  const partition = body.responses[0]?.partitions[0];
  if (partition !== undefined) partition.records = encodeRaftBatches(m.batches, timestampMs);
  return body;
}

/** A response body of `apiKey` carrying only an error code (an unanswered Raft request). */
export function errorResponse(apiKey: number, errorCode: number = ErrorCode.REQUEST_TIMED_OUT): unknown {
  const body = API_INFO.get(apiKey)!.response.defaults() as Record<string, unknown>;
  if ('errorCode' in body) body.errorCode = errorCode;
  return body;
}
