/**
 * The consumer's side of fetch sessions (KIP-227), one per broker. The first request of a
 * session is full (sessionId 0, epoch 0, every partition); when the broker answers with a
 * session id, later requests are incremental (that id, epoch 1, 2, ...) and carry only the
 * partitions whose fetch offset, byte limit or leader epoch changed since the broker last saw
 * them, plus the partitions to forget; the answers carry only partitions with news.
 *
 *   full request answered with sessionId 0      the broker keeps no session: stay full
 *   FETCH_SESSION_ID_NOT_FOUND                  the broker dropped it: start over (0, 0)
 *   INVALID_FETCH_SESSION_EPOCH, other failures close it and open a new one (S, 0)
 *   close()                                     (S, -1): the broker drops the session
 *
 * Brokers older than Fetch v7 get sessionless requests (0, -1).
 */
import { ErrorCode } from '../protocol/generated/errors.ts';

/** No session: a full request and a full answer. */
export const SESSIONLESS_EPOCH = -1;
/** Opens a session (or, with a session id, closes it and opens a new one). */
export const INITIAL_EPOCH = 0;
/** The first Fetch version with sessions. */
export const MIN_SESSION_FETCH_VERSION = 7;

/** One partition as the consumer wants to fetch it now. */
export interface SessionPartitionState {
  topic: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
}

/** What one request carries, and what the session looks like once the broker has it. */
export interface FetchSessionRequest {
  sessionId: number;
  sessionEpoch: number;
  /** Full request (every wanted partition) or incremental (only changes). */
  full: boolean;
  toSend: SessionPartitionState[];
  forgotten: { topic: string; partitions: number[] }[];
  /** The session's partitions after this request (applied when its answer is good). */
  readonly next: Map<string, SessionPartitionState>;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class FetchSessionHandler {
  private sessionId = 0;
  private epoch = INITIAL_EPOCH;
  /** The partitions the broker's session holds, as last sent. */
  private partitions = new Map<string, SessionPartitionState>();

  constructor(readonly nodeId: number) {}

  /** The session id and next epoch (0/0 before a session exists). */
  get state(): { sessionId: number; epoch: number } {
    return { sessionId: this.sessionId, epoch: this.epoch };
  }

  /** The request for `wanted` (in the consumer's order). `sessions` false: a sessionless full request. */
  build(wanted: readonly SessionPartitionState[], sessions: boolean): FetchSessionRequest {
    const next = new Map<string, SessionPartitionState>();
    for (const p of wanted) next.set(key(p.topic, p.partition), p);
    if (!sessions) {
      return { sessionId: 0, sessionEpoch: SESSIONLESS_EPOCH, full: true, toSend: [...wanted], forgotten: [], next };
    }
    if (this.sessionId === 0 || this.epoch === INITIAL_EPOCH) {
      return {
        sessionId: this.sessionId,
        sessionEpoch: INITIAL_EPOCH,
        full: true,
        toSend: [...wanted],
        forgotten: [],
        next,
      };
    }
    const toSend: SessionPartitionState[] = [];
    for (const p of wanted) {
      const had = this.partitions.get(key(p.topic, p.partition));
      if (
        had === undefined ||
        had.fetchOffset !== p.fetchOffset ||
        had.partitionMaxBytes !== p.partitionMaxBytes ||
        had.currentLeaderEpoch !== p.currentLeaderEpoch
      ) {
        toSend.push(p);
      }
    }
    const forgottenByTopic = new Map<string, number[]>();
    for (const [k, p] of this.partitions) {
      if (next.has(k)) continue;
      let l = forgottenByTopic.get(p.topic);
      if (l === undefined) {
        l = [];
        forgottenByTopic.set(p.topic, l);
      }
      l.push(p.partition);
    }
    const forgotten = [...forgottenByTopic].map(([topic, partitions]) => ({ topic, partitions }));
    return { sessionId: this.sessionId, sessionEpoch: this.epoch, full: false, toSend, forgotten, next };
  }

  /**
   * The broker answered `req` with top-level `errorCode` and `sessionId`. Returns true when the
   * answer's partitions can be used (false: a session error, the request should be sent again).
   */
  onResponse(req: FetchSessionRequest, errorCode: number, sessionId: number): boolean {
    if (req.sessionEpoch === SESSIONLESS_EPOCH) return errorCode === 0;
    if (errorCode === ErrorCode.FETCH_SESSION_ID_NOT_FOUND) {
      this.reset(0);
      return false;
    }
    if (errorCode !== 0) {
      // INVALID_FETCH_SESSION_EPOCH or anything else: the session's state is in doubt.
      this.reset(this.sessionId);
      return false;
    }
    if (req.full) {
      this.sessionId = sessionId;
      this.epoch = sessionId === 0 ? INITIAL_EPOCH : 1;
    } else {
      this.epoch = this.epoch >= 2147483647 ? 1 : this.epoch + 1;
    }
    this.partitions = sessionId === 0 ? new Map() : req.next;
    return true;
  }

  /** The request failed without an answer (connection lost, timeout): open a new session next time. */
  onFailure(): void {
    this.reset(this.sessionId);
  }

  /** Arguments of the request that closes the session, or null when there is none. */
  closeRequest(): { sessionId: number; sessionEpoch: number } | null {
    if (this.sessionId === 0) return null;
    const out = { sessionId: this.sessionId, sessionEpoch: SESSIONLESS_EPOCH };
    this.reset(0);
    return out;
  }

  private reset(sessionId: number): void {
    this.sessionId = sessionId;
    this.epoch = INITIAL_EPOCH;
    this.partitions = new Map();
  }
}
