/**
 * Fetch sessions (KIP-227, incremental fetch). A client that opens a session (Fetch v7+,
 * sessionId 0, epoch 0) sends its partitions once; later requests (same session id,
 * epoch 1, 2, ...) carry only partitions whose fetch position changed, plus the
 * partitions to forget, and the answer carries only partitions with something new
 * (records, a moved high watermark, last stable offset or log start offset, an error).
 *
 *   sessionId 0,  epoch -1   no session: full request and answer (also Fetch v4-6)
 *   sessionId 0,  epoch 0    new session (full); when the cache has no slot, answered
 *                            as sessionless (sessionId 0 in the answer)
 *   sessionId S,  epoch 0    closes S and opens a new session
 *   sessionId S,  epoch -1   closes S; answered as a full sessionless fetch
 *   sessionId S,  epoch E>0  incremental; FETCH_SESSION_ID_NOT_FOUND when S is unknown,
 *                            INVALID_FETCH_SESSION_EPOCH when E is not the expected one
 *
 * Bounded by max.incremental.fetch.session.cache.slots (Kafka default 1000). When full,
 * a new session may evict, in this order: a session idle longer than the eviction time
 * (Kafka: 2 minutes), else the least recently used unprivileged session with fewer
 * partitions than the new one (a follower's session is privileged and evicts, but is not
 * evicted by, consumers). Otherwise the new fetch goes without a session.
 */
import type { Clock } from '../../env/clock.ts';
import type { Random } from '../../env/random.ts';

export const DEFAULT_SESSION_CACHE_SLOTS = 1000;
export const SESSION_EVICTION_MS = 120_000;
export const INITIAL_EPOCH = 0;
export const FINAL_EPOCH = -1;

/** What a session remembers about one partition. */
export interface SessionPartition {
  topic: string;
  topicId: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  /** Follower fetches (v12+): the epoch of the follower's last batch, -1 when absent. */
  lastFetchedEpoch: number;
  /** Follower fetches: the follower's log start offset, -1 when absent. */
  logStartOffset: number;
  /** What the last answer that included the partition said (-1: never sent). */
  sentHighWatermark: number;
  sentLastStableOffset: number;
  sentLogStartOffset: number;
}

export class FetchSession {
  /** The epoch the next request must carry. */
  epoch = 1;
  lastUsedMs: number;
  /** Insertion order is answer order. */
  readonly partitions = new Map<string, SessionPartition>();

  constructor(
    readonly id: number,
    readonly privileged: boolean,
    nowMs: number,
  ) {
    this.lastUsedMs = nowMs;
  }

  /** Moves the expected epoch on (wrapping past 2^31-1 to 1). */
  nextEpoch(): void {
    this.epoch = this.epoch >= 0x7fffffff ? 1 : this.epoch + 1;
  }
}

export class FetchSessionCache {
  private readonly sessions = new Map<number, FetchSession>();

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    readonly maxSlots = DEFAULT_SESSION_CACHE_SLOTS,
    readonly evictionMs = SESSION_EVICTION_MS,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  get(id: number): FetchSession | undefined {
    const s = this.sessions.get(id);
    if (s !== undefined) {
      // Map order doubles as LRU order.
      this.sessions.delete(id);
      this.sessions.set(id, s);
      s.lastUsedMs = this.clock.monotonicMs();
    }
    return s;
  }

  remove(id: number): boolean {
    return this.sessions.delete(id);
  }

  /** A new session with a fresh id, or undefined when there is no slot for it. */
  create(privileged: boolean, partitionCount: number): FetchSession | undefined {
    const now = this.clock.monotonicMs();
    if (this.sessions.size >= this.maxSlots && !this.evictOne(now, privileged, partitionCount)) return undefined;
    let id = 0;
    while (id === 0 || this.sessions.has(id)) id = 1 + this.random.int(0x7fffffff - 1);
    const session = new FetchSession(id, privileged, now);
    this.sessions.set(id, session);
    return session;
  }

  private evictOne(now: number, privileged: boolean, partitionCount: number): boolean {
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsedMs >= this.evictionMs) {
        this.sessions.delete(id);
        return true;
      }
      break; // LRU first: if the oldest is not stale, none is.
    }
    for (const [id, s] of this.sessions) {
      if (s.privileged) continue;
      if (privileged || s.partitions.size < partitionCount) {
        this.sessions.delete(id);
        return true;
      }
    }
    return false;
  }
}
