/**
 * Fetch, versions 0-17: sessions (sessions.ts), reading each partition below its high
 * watermark (read_committed: below the last stable offset), the response and partition
 * byte limits, and the long poll through the purgatory.
 *
 * Versions 0-3 predate message format v2: what is read is down-converted to message
 * format v0 (Fetch v0-1) or v1 (v2-3) by down-convert.ts, which also applies the
 * partition byte limit to the converted messages.
 *
 * Byte limits (Kafka's rules): each partition reads at most min(partitionMaxBytes, what
 * is left of maxBytes); until the answer holds some records, a partition returns its
 * first batch whole even when it is bigger, so a consumer always progresses. Consumer
 * fetches (v10+) read the partitions at the head of the request at once and cut each
 * read to that rule afterwards (see readAll). Reads go into pooled buffers when the
 * caller passes a lease (read-buffers.ts; docs/performance.md).
 *
 * Long poll: when the first read finds fewer than minBytes and no partition has an
 * error, the fetch parks in the purgatory until appends have added about minBytes to
 * its partitions (Partition.appendedBytes) or maxWaitMs passes; then it reads again and
 * answers. Session bookkeeping happens once, before the first read; what the answer
 * says is recorded in the session when the answer is built.
 *
 * Replication: a fetch with a replica id >= 0 (ReplicaState on v15+) comes from a
 * follower broker. The leader serves it through the replication core
 * (serveFollowerFetch: epoch fencing, the KIP-320 divergence check, reads to the log end
 * offset, the follower's position -> ISR and high watermark); a follower whose broker
 * epoch (v15+) is not the registered one gets NOT_LEADER_OR_FOLLOWER. Consumers on v11+
 * may read from followers (KIP-392), below the follower's high watermark; a leader with
 * RackAwareReplicaSelector answers a consumer in another rack with PreferredReadReplica
 * (an in-sync replica in the consumer's rack) and no records.
 */
import type { Clock } from '../../env/clock.ts';
import { ZERO_UUID } from '../../protocol/codec/uuid.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { FetchRequest, FetchRequestFetchPartition } from '../../protocol/generated/fetch-request.ts';
import type {
  FetchResponse,
  FetchResponseFetchableTopicResponse,
  FetchResponsePartitionData,
} from '../../protocol/generated/fetch-response.ts';
import {
  ATTR_COMPRESSION_MASK,
  BATCH_HEADER_SIZE,
  BATCH_LOG_OVERHEAD,
  BatchOffset,
  CompressionType,
} from '../../protocol/records/batch-header.ts';
import { serveFollowerFetch } from '../../replication/leader.ts';
import type { Partition } from '../replica/partition.ts';
import type { ReplicaManager } from '../replica/replica-manager.ts';
import { downConvertRead, messageFormatForFetch } from './down-convert.ts';
import type { ReadBufferLease } from './read-buffers.ts';
import {
  type FetchSession,
  type FetchSessionCache,
  FINAL_EPOCH,
  INITIAL_EPOCH,
  type SessionPartition,
} from './sessions.ts';

export const FETCH_MIN_VERSION = 0;
export const FETCH_MAX_VERSION = 17;

const EMPTY = Buffer.alloc(0);

export interface FetchDeps {
  replicas: ReplicaManager;
  sessions: FetchSessionCache;
  clock: Clock;
  /**
   * Consumer reads go into these buffers (read-buffers.ts); the caller gives them back once
   * the response is written. Without it every read gets new buffers.
   */
  readBuffers?: ReadBufferLease;
}

/** One partition to read in this request. */
interface FetchTarget {
  sp: SessionPartition;
  /** Set when the partition cannot be read (unknown topic id, ...). */
  errorCode: number;
}

interface PartitionRead {
  target: FetchTarget;
  data: FetchResponsePartitionData;
  bytes: number;
  partition: Partition | undefined;
}

function sessionPartition(topic: string, topicId: string, p: FetchRequestFetchPartition): SessionPartition {
  return {
    topic,
    topicId,
    partition: p.partition,
    fetchOffset: Number(p.fetchOffset),
    partitionMaxBytes: p.partitionMaxBytes,
    currentLeaderEpoch: p.currentLeaderEpoch,
    lastFetchedEpoch: p.lastFetchedEpoch,
    logStartOffset: Number(p.logStartOffset),
    sentHighWatermark: -1,
    sentLastStableOffset: -1,
    sentLogStartOffset: -1,
  };
}

function spKey(topic: string, topicId: string, partition: number, byId: boolean): string {
  return `${byId ? topicId : topic}:${partition}`;
}

function errorResponse(errorCode: number, sessionId = 0): FetchResponse {
  return { throttleTimeMs: 0, errorCode, sessionId, responses: [], nodeEndpoints: [] };
}

export async function handleFetch(request: FetchRequest, apiVersion: number, deps: FetchDeps): Promise<FetchResponse> {
  const byId = apiVersion >= 13;
  const { replicas, sessions } = deps;
  const replicaId = apiVersion >= 15 ? request.replicaState.replicaId : request.replicaId;
  const replicaEpoch = apiVersion >= 15 ? Number(request.replicaState.replicaEpoch) : -1;
  const follower = replicaId >= 0;
  const clientRack = apiVersion >= 11 ? request.rackId : '';

  // ---- resolve the request's partitions (and topic names/ids) ----
  const requested: FetchTarget[] = [];
  for (const t of request.topics) {
    let name = t.topic;
    let topicId = t.topicId;
    let errorCode: number = ErrorCode.NONE;
    if (byId) {
      const resolved = topicId === ZERO_UUID ? undefined : replicas.topicName(topicId);
      if (resolved === undefined) errorCode = ErrorCode.UNKNOWN_TOPIC_ID;
      else name = resolved;
    } else {
      topicId = replicas.topicId(name) ?? ZERO_UUID;
    }
    for (const p of t.partitions) requested.push({ sp: sessionPartition(name, topicId, p), errorCode });
  }

  // ---- sessions ----
  let session: FetchSession | undefined;
  let incremental = false;
  let targets: FetchTarget[];
  const { sessionId, sessionEpoch } = apiVersion >= 7 ? request : { sessionId: 0, sessionEpoch: FINAL_EPOCH };
  if (sessionEpoch === FINAL_EPOCH || sessionEpoch === INITIAL_EPOCH) {
    if (sessionId !== 0) sessions.remove(sessionId);
    targets = requested;
    if (sessionEpoch === INITIAL_EPOCH) {
      session = sessions.create(follower, requested.length);
      if (session !== undefined) {
        for (const t of requested) {
          session.partitions.set(spKey(t.sp.topic, t.sp.topicId, t.sp.partition, byId), t.sp);
        }
      }
    }
  } else {
    session = sessions.get(sessionId);
    if (session === undefined) return errorResponse(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    if (session.epoch !== sessionEpoch) return errorResponse(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
    incremental = true;
    for (const f of request.forgottenTopicsData) {
      for (const p of f.partitions) session.partitions.delete(spKey(f.topic, f.topicId, p, byId));
    }
    const errors = new Map<string, number>();
    for (const t of requested) {
      const k = spKey(t.sp.topic, t.sp.topicId, t.sp.partition, byId);
      const cached = session.partitions.get(k);
      if (cached === undefined) session.partitions.set(k, t.sp);
      else {
        cached.fetchOffset = t.sp.fetchOffset;
        cached.partitionMaxBytes = t.sp.partitionMaxBytes;
        cached.currentLeaderEpoch = t.sp.currentLeaderEpoch;
        cached.lastFetchedEpoch = t.sp.lastFetchedEpoch;
        cached.logStartOffset = t.sp.logStartOffset;
      }
      if (t.errorCode !== ErrorCode.NONE) errors.set(k, t.errorCode);
    }
    session.nextEpoch();
    targets = [];
    for (const [k, sp] of session.partitions) {
      let errorCode = errors.get(k) ?? ErrorCode.NONE;
      if (byId && errorCode === ErrorCode.NONE && replicas.topicName(sp.topicId) === undefined) {
        errorCode = ErrorCode.UNKNOWN_TOPIC_ID;
      }
      targets.push({ sp, errorCode });
    }
  }
  const responseSessionId = session?.id ?? 0;
  const isolationLevel = request.isolationLevel;

  const readOptions = (maxBytes: number, minOneBatch: boolean): ReadOptions => ({
    isolationLevel,
    follower,
    replicaId,
    replicaEpoch,
    clientRack,
    nowMs: deps.clock.monotonicMs(),
    maxBytes,
    minOneBatch,
    allocate: deps.readBuffers?.allocate,
  });
  // The partitions at the head of a consumer's request whose byte limits all fit in
  // maxBytes together are read at once (their reads overlap on the disk's threads): each
  // reads up to its own limit and is then cut to what the one-by-one rule allows
  // (cutToLimit), which is only less when an earlier partition returned a first batch
  // larger than its limit. Before v10 a read may still be refused (zstd) or down-converted,
  // so those requests, and followers, read one by one.
  let concurrent = 0;
  if (!follower && apiVersion >= 10) {
    let sum = 0;
    while (concurrent < targets.length && sum + targets[concurrent]!.sp.partitionMaxBytes <= request.maxBytes) {
      sum += targets[concurrent]!.sp.partitionMaxBytes;
      concurrent++;
    }
  }
  const readAll = async (): Promise<PartitionRead[]> => {
    const out =
      concurrent > 1
        ? await Promise.all(
            targets
              .slice(0, concurrent)
              .map((t) => readPartition(t, apiVersion, replicas, readOptions(t.sp.partitionMaxBytes, true))),
          )
        : [];
    let responseBytes = 0;
    for (let i = 0; i < out.length; i++) {
      const target = out[i]!.target;
      const maxBytes = Math.min(target.sp.partitionMaxBytes, request.maxBytes - responseBytes);
      const minOneBatch = responseBytes === 0;
      // Nothing left for it: one by one it would not have been read at all (no read errors either).
      if (maxBytes <= 0 && !minOneBatch) {
        out[i] = await readPartition(target, apiVersion, replicas, readOptions(maxBytes, false));
      } else cutToLimit(out[i]!, maxBytes, minOneBatch);
      responseBytes += out[i]!.bytes;
    }
    for (const target of targets.slice(out.length)) {
      const maxBytes = Math.min(target.sp.partitionMaxBytes, request.maxBytes - responseBytes);
      const r = await readPartition(target, apiVersion, replicas, readOptions(maxBytes, responseBytes === 0));
      responseBytes += r.bytes;
      out.push(r);
    }
    return out;
  };

  let reads = await readAll();
  const total = (rs: PartitionRead[]): number => rs.reduce((n, r) => n + r.bytes, 0);
  const anyError = (rs: PartitionRead[]): boolean => rs.some((r) => r.data.errorCode !== ErrorCode.NONE);
  if (request.maxWaitMs > 0 && targets.length > 0 && total(reads) < request.minBytes && !anyError(reads)) {
    const watched = reads.filter((r) => r.partition !== undefined);
    const baseline = watched.map((r) => r.partition!.appendedBytes);
    const keys = watched.map((r) => `${r.partition!.topic}-${r.partition!.partition}`);
    const already = total(reads);
    const woken = await new Promise<boolean>((resolve) => {
      const parked = replicas.fetchPurgatory.park(
        {
          keys,
          tryComplete: () => {
            let bytes = already;
            for (let i = 0; i < watched.length; i++) {
              const p = watched[i]!.partition!;
              if (!p.isLeader() && (follower || !p.isFollower())) return true;
              if (isolationLevel === 1 && !follower) {
                // read_committed: only records below the last stable offset count.
                if (p.lastStableOffset() > watched[i]!.target.sp.fetchOffset) return true;
                continue;
              }
              bytes += p.appendedBytes - baseline[i]!;
            }
            return bytes >= request.minBytes;
          },
          onComplete: () => resolve(true),
        },
        request.maxWaitMs,
      );
      if (!parked) resolve(false);
    });
    if (woken) reads = await readAll();
  }
  return buildResponse(reads, responseSessionId, incremental, apiVersion);
}

interface ReadOptions {
  isolationLevel: number;
  follower: boolean;
  replicaId: number;
  replicaEpoch: number;
  clientRack: string;
  nowMs: number;
  maxBytes: number;
  minOneBatch: boolean;
  allocate: ((bytes: number) => Buffer) | undefined;
}

async function readPartition(
  target: FetchTarget,
  apiVersion: number,
  replicas: ReplicaManager,
  o: ReadOptions,
): Promise<PartitionRead> {
  const { sp } = target;
  const data: FetchResponsePartitionData = {
    partitionIndex: sp.partition,
    errorCode: target.errorCode,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    divergingEpoch: { epoch: -1, endOffset: -1n },
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1n, epoch: -1 },
    abortedTransactions: null,
    preferredReadReplica: -1,
    records: EMPTY,
  };
  if (target.errorCode !== ErrorCode.NONE) return { target, data, bytes: 0, partition: undefined };
  const epoch = apiVersion >= 9 ? sp.currentLeaderEpoch : -1;
  const lookup =
    !o.follower && apiVersion >= 11
      ? replicas.lookupReplica(sp.topic, sp.partition, epoch)
      : replicas.lookupLeader(sp.topic, sp.partition, epoch);
  if (lookup.partition === undefined) {
    data.errorCode = lookup.errorCode;
    if (apiVersion >= 12) data.currentLeader = replicas.currentLeader(sp.topic, sp.partition);
    return { target, data, bytes: 0, partition: undefined };
  }
  const partition = lookup.partition;
  if (o.follower) return readForFollower(target, data, partition, replicas, o);
  if (partition.isLeader() && o.clientRack !== '') {
    const preferred = replicas.preferredReadReplica(partition, o.clientRack);
    if (preferred >= 0) {
      data.preferredReadReplica = preferred;
      data.highWatermark = BigInt(partition.highWatermark());
      data.lastStableOffset = BigInt(partition.lastStableOffset());
      data.logStartOffset = BigInt(partition.log.logStartOffset());
      return { target, data, bytes: 0, partition };
    }
  }
  if (o.isolationLevel === 1) data.abortedTransactions = [];
  let bytes = 0;
  const readable = o.follower
    ? partition.log.logEndOffset()
    : o.isolationLevel === 1
      ? partition.lastStableOffset()
      : partition.highWatermark();
  // Caught up (the common case of a long poll): nothing to read, no I/O.
  const caughtUp = sp.fetchOffset === readable && sp.fetchOffset >= partition.log.logStartOffset();
  if (caughtUp) {
    if (o.follower) partition.updateFollowerFetchState(o.replicaId, sp.fetchOffset);
  } else if (o.maxBytes > 0 || o.minOneBatch) {
    try {
      const read = await partition.log.read(sp.fetchOffset, Math.max(0, o.maxBytes), {
        maxOffset: readable,
        // v0-2 may answer with part of a message: read a batch to cut it from.
        minOneBatch: o.minOneBatch || apiVersion < 3,
        allocate: o.allocate,
      });
      if (read.kind === 'offset-out-of-range') {
        data.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      } else if (apiVersion < 10 && hasZstd(read.records)) {
        // Fetch before v10 cannot carry zstd batches (the client could not read them).
        data.errorCode = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE;
      } else if (apiVersion < 4) {
        const options = { isolationLevel: o.isolationLevel, minOneBatch: true };
        const readFrom = async (offset: number): Promise<Buffer> => {
          const more = await partition.read(offset, Math.max(0, o.maxBytes), options);
          // A zstd batch stops here: the fetch at its offset answers UNSUPPORTED_COMPRESSION_TYPE.
          return more.kind === 'records' && !hasZstd(more.records) ? more.records : EMPTY;
        };
        const legacyOptions = {
          magic: messageFormatForFetch(apiVersion),
          fetchOffset: sp.fetchOffset,
          maxBytes: Math.max(0, o.maxBytes),
          minOneMessage: apiVersion === 3 && o.minOneBatch,
          partialMessage: apiVersion < 3,
        };
        data.records = await downConvertRead(read.records, legacyOptions, readFrom);
        bytes = data.records.length;
      } else {
        data.records = read.records;
        bytes = read.records.length;
      }
      if (o.isolationLevel === 1 && !o.follower && bytes > 0) {
        // The aborted transactions overlapping what was read: the consumer drops their records.
        data.abortedTransactions = partition.log
          .abortedTxns(sp.fetchOffset, readable)
          .map((t) => ({ producerId: t.producerId, firstOffset: BigInt(t.firstOffset) }));
      }
      if (o.follower) partition.updateFollowerFetchState(o.replicaId, sp.fetchOffset);
    } catch {
      data.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
    }
  }
  data.highWatermark = BigInt(partition.highWatermark());
  data.lastStableOffset = BigInt(partition.lastStableOffset());
  data.logStartOffset = BigInt(partition.log.logStartOffset());
  return { target, data, bytes, partition };
}

/**
 * Cuts a consumer read (v10+, records as stored) to what reading with `maxBytes` and
 * `minOneBatch` would have returned: the same rule as the log's read, whole batches while
 * they fit, the first one whole when minOneBatch.
 */
function cutToLimit(r: PartitionRead, maxBytes: number, minOneBatch: boolean): void {
  const records = r.data.records;
  if (records === null || r.bytes <= maxBytes) return;
  let total = 0;
  while (records.length - total >= BATCH_LOG_OVERHEAD) {
    const size = records.readInt32BE(total + BatchOffset.BatchLength) + BATCH_LOG_OVERHEAD;
    if (total + size > maxBytes && (total > 0 || !minOneBatch)) break;
    total += size;
  }
  r.data.records = total === 0 ? EMPTY : records.subarray(0, total);
  r.bytes = total;
  if (total === 0 && r.data.abortedTransactions !== null) r.data.abortedTransactions = [];
}

/** A follower broker's fetch, served by the replication core on the leader. */
async function readForFollower(
  target: FetchTarget,
  data: FetchResponsePartitionData,
  partition: Partition,
  replicas: ReplicaManager,
  o: ReadOptions,
): Promise<PartitionRead> {
  const leader = partition.leaderState;
  const registered = replicas.registeredBrokerEpoch(o.replicaId);
  if (leader === undefined || (o.replicaEpoch >= 0 && registered >= 0 && registered !== o.replicaEpoch)) {
    data.errorCode = ErrorCode.NOT_LEADER_OR_FOLLOWER;
    return { target, data, bytes: 0, partition: undefined };
  }
  const { sp } = target;
  try {
    const served = await serveFollowerFetch(
      leader,
      partition.log,
      {
        replicaId: o.replicaId,
        brokerEpoch: o.replicaEpoch,
        currentLeaderEpoch: sp.currentLeaderEpoch,
        fetchOffset: sp.fetchOffset,
        lastFetchedEpoch: sp.lastFetchedEpoch,
        logStartOffset: sp.logStartOffset,
        maxBytes: Math.max(0, o.maxBytes),
      },
      o.nowMs,
    );
    served.data.partitionIndex = sp.partition;
    if (served.highWatermarkMoved) partition.highWatermarkAdvanced();
    partition.checkIsrChange();
    const bytes = served.data.records?.length ?? 0;
    return { target, data: served.data, bytes, partition };
  } catch {
    data.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
    return { target, data, bytes: 0, partition: undefined };
  }
}

/** True when a batch in `records` is zstd-compressed (headers only). */
function hasZstd(records: Buffer): boolean {
  let pos = 0;
  while (records.length - pos >= BATCH_HEADER_SIZE) {
    if ((records.readInt16BE(pos + BatchOffset.Attributes) & ATTR_COMPRESSION_MASK) === CompressionType.Zstd)
      return true;
    pos += records.readInt32BE(pos + BatchOffset.BatchLength) + BATCH_LOG_OVERHEAD;
  }
  return false;
}

function buildResponse(
  reads: PartitionRead[],
  sessionId: number,
  incremental: boolean,
  apiVersion: number,
): FetchResponse {
  const byTopic = new Map<string, FetchResponseFetchableTopicResponse>();
  for (const r of reads) {
    const { sp } = r.target;
    const d = r.data;
    const hw = Number(d.highWatermark);
    const lso = Number(d.lastStableOffset);
    const lsoStart = Number(d.logStartOffset);
    if (incremental) {
      const changed =
        r.bytes > 0 ||
        d.errorCode !== ErrorCode.NONE ||
        hw !== sp.sentHighWatermark ||
        lso !== sp.sentLastStableOffset ||
        lsoStart !== sp.sentLogStartOffset;
      if (!changed) continue;
    }
    sp.sentHighWatermark = hw;
    sp.sentLastStableOffset = lso;
    sp.sentLogStartOffset = lsoStart;
    const k = apiVersion >= 13 ? sp.topicId : sp.topic;
    let topic = byTopic.get(k);
    if (topic === undefined) {
      topic = { topic: sp.topic, topicId: sp.topicId, partitions: [] };
      byTopic.set(k, topic);
    }
    topic.partitions.push(d);
  }
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    sessionId,
    responses: [...byTopic.values()],
    nodeEndpoints: [],
  };
}
