/**
 * Broker lifecycle decisions of the active controller (KIP-631): registration, heartbeats,
 * fencing on session expiry and controlled shutdown. Pure functions over the image; the one
 * piece of state is BrokerHeartbeats, the controller's in-memory record of when each broker
 * last spoke (never in the log: a new active controller starts a fresh one and calls
 * activate(image, nowMs), giving every registered broker a full session).
 *
 *   registerBroker(image, request, ctx) -> { records, response }
 *     ctx = { nextOffset, nowMs, heartbeats, sessionTimeoutMs, settings }
 *     nextOffset is the offset the first record will be committed at: it becomes the broker
 *     epoch (Kafka's rule), so the caller must append `records` as one batch starting there
 *     (with Raft: the leader's next log offset at the moment the op runs).
 *     Another incarnation is refused while the registered one is unfenced with a live session
 *     (a fenced one, e.g. after a clean shutdown, has no session: a restart registers at once).
 *     On success the broker is registered fenced; a re-registration also takes the old
 *     incarnation out of every ISR and leadership. The heartbeat is touched here already.
 *   brokerHeartbeat(image, request, heartbeats, nowMs, settings, nextOffset?) -> { records, response }
 *     Unfences, fences on request, or runs a controlled shutdown (Kafka's state machine, see
 *     the function). nextOffset as for registration (defaults to image.offset + 1, right when
 *     nothing else is in flight). Append the records, then send the response (it already
 *     describes the state after them).
 *   fenceExpiredBrokers(image, heartbeats, nowMs, sessionTimeoutMs, settings) -> records
 *     Call it from a controller timer well below the session timeout (e.g. every second);
 *     append the records as one operation.
 *   unregisterBroker(image, brokerId, heartbeats, settings) -> { records, response: errorCode }
 *     UnregisterBroker (removing a broker for good): its leaderships move, it leaves the ISRs
 *     where others remain, then an UnregisterBrokerRecord; BROKER_ID_NOT_REGISTERED if unknown.
 *
 * Errors are Kafka codes in the response, never exceptions.
 */

import type { BrokerHeartbeatRequest } from '../../protocol/generated/broker-heartbeat-request.ts';
import type { BrokerHeartbeatResponse } from '../../protocol/generated/broker-heartbeat-response.ts';
import type { BrokerRegistrationRequest } from '../../protocol/generated/broker-registration-request.ts';
import type { BrokerRegistrationResponse } from '../../protocol/generated/broker-registration-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { MetadataRecordType } from '../../protocol/generated/metadata-records.ts';
import type { PartitionChangeRecord } from '../../protocol/generated/partition-change-record.ts';
import type { MetadataImage, PartitionImage, TopicImage } from '../image.ts';
import type { MetadataMessage } from '../metadata-log.ts';
import {
  acceptableLeaders,
  type ElectionSettings,
  electLeaderlessPartitions,
  partitionAfter,
  removeBrokerFromPartitions,
} from './election.ts';

/** Kafka's broker.session.timeout.ms default. */
export const DEFAULT_BROKER_SESSION_TIMEOUT_MS = 9_000;

/** BrokerRegistrationChangeRecord.fenced values. */
const FENCE = 1;
const UNFENCE = -1;
const NO_CHANGE = 0;
/** BrokerRegistrationChangeRecord.inControlledShutdown: entering it. */
const IN_CONTROLLED_SHUTDOWN = 1;

/** When each broker last heartbeated (or registered), and the metadata offset it reported. */
export class BrokerHeartbeats {
  private readonly lastContactMs = new Map<number, number>();
  private readonly metadataOffset = new Map<number, number>();
  private readonly shutdownOffset = new Map<number, number>();

  /** A new active controller: every registered broker starts a full session now. */
  activate(image: MetadataImage, nowMs: number): void {
    this.lastContactMs.clear();
    this.metadataOffset.clear();
    this.shutdownOffset.clear();
    for (const id of image.brokers.keys()) this.lastContactMs.set(id, nowMs);
  }

  touch(brokerId: number, nowMs: number, metadataOffset?: number): void {
    this.lastContactMs.set(brokerId, nowMs);
    if (metadataOffset !== undefined) this.metadataOffset.set(brokerId, metadataOffset);
  }

  remove(brokerId: number): void {
    this.lastContactMs.delete(brokerId);
    this.metadataOffset.delete(brokerId);
    this.shutdownOffset.delete(brokerId);
  }

  /** The offset of the last record that started a broker's controlled shutdown (-1 when unknown). */
  controlledShutdownOffset(brokerId: number): number {
    return this.shutdownOffset.get(brokerId) ?? -1;
  }

  setControlledShutdownOffset(brokerId: number, offset: number | undefined): void {
    if (offset === undefined) this.shutdownOffset.delete(brokerId);
    else this.shutdownOffset.set(brokerId, offset);
  }

  /**
   * The lowest metadata offset reported by the active brokers (unfenced, not shutting down):
   * what every one of them has replayed. MAX_SAFE_INTEGER when there is none.
   */
  lowestActiveOffset(image: MetadataImage): number {
    let lowest = Number.MAX_SAFE_INTEGER;
    for (const b of image.brokers.values()) {
      if (b.fenced || b.inControlledShutdown) continue;
      lowest = Math.min(lowest, this.reportedOffset(b.nodeId));
    }
    return lowest;
  }

  lastContact(brokerId: number): number | undefined {
    return this.lastContactMs.get(brokerId);
  }

  /** The last currentMetadataOffset the broker reported, -1 when none. */
  reportedOffset(brokerId: number): number {
    return this.metadataOffset.get(brokerId) ?? -1;
  }

  hasValidSession(brokerId: number, nowMs: number, sessionTimeoutMs: number): boolean {
    const last = this.lastContactMs.get(brokerId);
    return last !== undefined && nowMs - last < sessionTimeoutMs;
  }

  /** Tracked broker ids (for tests and metrics). */
  brokers(): number[] {
    return [...this.lastContactMs.keys()].sort((a, b) => a - b);
  }
}

export interface RegisterBrokerContext {
  /** Offset the first returned record will be committed at (becomes the broker epoch). */
  nextOffset: number;
  nowMs: number;
  heartbeats: BrokerHeartbeats;
  /** broker.session.timeout.ms. */
  sessionTimeoutMs: number;
  settings: ElectionSettings;
}

export interface ControllerResult<T> {
  records: MetadataMessage[];
  response: T;
}

export function registerBroker(
  image: MetadataImage,
  request: BrokerRegistrationRequest,
  ctx: RegisterBrokerContext,
): ControllerResult<BrokerRegistrationResponse> {
  const fail = (errorCode: number): ControllerResult<BrokerRegistrationResponse> => ({
    records: [],
    response: { throttleTimeMs: 0, errorCode, brokerEpoch: -1n },
  });
  if (request.clusterId !== image.clusterId) return fail(ErrorCode.INCONSISTENT_CLUSTER_ID);
  const id = request.brokerId;
  const existing = image.brokers.get(id);
  if (
    existing !== undefined &&
    !existing.fenced &&
    existing.incarnationId !== request.incarnationId &&
    ctx.heartbeats.hasValidSession(id, ctx.nowMs, ctx.sessionTimeoutMs)
  ) {
    return fail(ErrorCode.DUPLICATE_BROKER_REGISTRATION);
  }
  // Every finalized feature must be within the broker's range; one it does not name counts as 0..0.
  for (const [name, level] of image.features) {
    const f = request.features.find((x) => x.name === name);
    const min = f?.minSupportedVersion ?? 0;
    const max = f?.maxSupportedVersion ?? 0;
    if (level < min || level > max) return fail(ErrorCode.UNSUPPORTED_VERSION);
  }

  const brokerEpoch = ctx.nextOffset;
  const records: MetadataMessage[] = [
    {
      typeId: MetadataRecordType.RegisterBrokerRecord,
      version: 3,
      record: {
        brokerId: id,
        isMigratingZkBroker: request.isMigratingZkBroker,
        incarnationId: request.incarnationId,
        brokerEpoch: BigInt(brokerEpoch),
        endPoints: request.listeners.map((l) => ({
          name: l.name,
          host: l.host,
          port: l.port,
          securityProtocol: l.securityProtocol,
        })),
        features: request.features.map((f) => ({
          name: f.name,
          minSupportedVersion: f.minSupportedVersion,
          maxSupportedVersion: f.maxSupportedVersion,
        })),
        rack: request.rack,
        fenced: true,
        inControlledShutdown: false,
        logDirs: [...request.logDirs],
      },
    },
  ];
  // The old incarnation is gone: it leads nothing and leaves the ISRs (as on fencing).
  if (existing !== undefined) {
    records.push(...removeBrokerFromPartitions(image, id, acceptableLeaders(image, { remove: id }), ctx.settings));
  }
  ctx.heartbeats.touch(id, ctx.nowMs);
  return { records, response: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, brokerEpoch: BigInt(brokerEpoch) } };
}

/**
 * Kafka's broker state machine, one step per heartbeat:
 *   fenced:   wantShutDown, or a finished controlled shutdown -> stop now; else caught up and not wantFence -> unfenced
 *             (leaderless partitions elect again); else stays fenced.
 *   unfenced: wantFence -> fenced (and stop now if wantShutDown too); wantShutDown -> if it
 *             leads nothing, fenced and stop now; else controlled shutdown: marked, its
 *             leaderships move and it leaves the ISRs where others remain.
 *   controlled shutdown: moves again what can move now; once it leads nothing and every
 *             active broker has reported a metadata offset at or past the moves, fenced and
 *             shouldShutDown.
 */
export function brokerHeartbeat(
  image: MetadataImage,
  request: BrokerHeartbeatRequest,
  heartbeats: BrokerHeartbeats,
  nowMs: number,
  settings: ElectionSettings,
  /** Offset the first returned record will be committed at; defaults to right after the image. */
  nextOffset = image.offset + 1,
): ControllerResult<BrokerHeartbeatResponse> {
  const id = request.brokerId;
  const broker = image.brokers.get(id);
  if (broker === undefined || BigInt(broker.brokerEpoch) !== request.brokerEpoch) {
    // Kafka answers an unregistered id the same way.
    return {
      records: [],
      response: {
        throttleTimeMs: 0,
        errorCode: ErrorCode.STALE_BROKER_EPOCH,
        isCaughtUp: false,
        isFenced: true,
        shouldShutDown: false,
      },
    };
  }
  const offset = Number(request.currentMetadataOffset);
  heartbeats.touch(id, nowMs, offset);
  // Caught up once the broker has replayed its own registration record.
  const isCaughtUp = offset >= broker.brokerEpoch;
  const records: MetadataMessage[] = [];
  const change = (fenced: number, inControlledShutdown: number): MetadataMessage => ({
    typeId: MetadataRecordType.BrokerRegistrationChangeRecord,
    version: 1,
    record: { brokerId: id, brokerEpoch: BigInt(broker.brokerEpoch), fenced, inControlledShutdown, logDirs: [] },
  });
  const respond = (isFenced: boolean, shouldShutDown: boolean): ControllerResult<BrokerHeartbeatResponse> => ({
    records,
    response: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, isCaughtUp, isFenced, shouldShutDown },
  });
  const moves = () => removeBrokerFromPartitions(image, id, acceptableLeaders(image, { remove: id }), settings);
  const fence = (shouldShutDown: boolean) => {
    records.push(...moves(), change(FENCE, NO_CHANGE));
    heartbeats.setControlledShutdownOffset(id, undefined);
    return respond(true, shouldShutDown);
  };

  if (broker.fenced) {
    // Shut down (or asking to): it stays fenced until it registers again.
    if (request.wantShutDown || broker.inControlledShutdown) return respond(true, true);
    if (!request.wantFence && isCaughtUp) {
      records.push(change(UNFENCE, NO_CHANGE));
      records.push(...electLeaderlessPartitions(image, acceptableLeaders(image, { add: id }), settings));
      return respond(false, false);
    }
    return respond(true, false);
  }
  if (broker.inControlledShutdown) {
    if (request.wantFence) return fence(request.wantShutDown);
    records.push(...moves());
    const caughtUp = heartbeats.lowestActiveOffset(image) >= heartbeats.controlledShutdownOffset(id);
    if (records.length === 0 && !leads(image, id) && caughtUp) return fence(true);
    return respond(false, false);
  }
  if (request.wantFence) return fence(request.wantShutDown);
  if (request.wantShutDown) {
    if (!leads(image, id)) return fence(true);
    records.push(change(NO_CHANGE, IN_CONTROLLED_SHUTDOWN), ...moves());
    heartbeats.setControlledShutdownOffset(id, nextOffset + records.length - 1);
    return respond(false, false);
  }
  return respond(false, false);
}

/**
 * Fences every unfenced broker whose session expired: its leaderships move and it leaves
 * the ISRs. Brokers this controller has not heard from yet start their session now.
 */
export function fenceExpiredBrokers(
  image: MetadataImage,
  heartbeats: BrokerHeartbeats,
  nowMs: number,
  sessionTimeoutMs: number,
  settings: ElectionSettings,
): MetadataMessage[] {
  const records: MetadataMessage[] = [];
  const expired: number[] = [];
  for (const broker of [...image.brokers.values()].sort((a, b) => a.nodeId - b.nodeId)) {
    if (broker.fenced) continue;
    if (heartbeats.lastContact(broker.nodeId) === undefined) {
      heartbeats.touch(broker.nodeId, nowMs);
      continue;
    }
    if (!heartbeats.hasValidSession(broker.nodeId, nowMs, sessionTimeoutMs)) expired.push(broker.nodeId);
  }
  if (expired.length === 0) return records;
  // Fence them all at once: none of them may take over another's leadership.
  const gone = new Set(expired);
  const acceptable = (r: number): boolean => !gone.has(r) && acceptableLeaders(image)(r);
  let current = image;
  for (const id of expired) {
    const moves = removeBrokerFromPartitions(current, id, acceptable, settings);
    records.push(...moves);
    current = withChanges(current, moves);
    const broker = image.brokers.get(id)!;
    records.push({
      typeId: MetadataRecordType.BrokerRegistrationChangeRecord,
      version: 1,
      record: {
        brokerId: id,
        brokerEpoch: BigInt(broker.brokerEpoch),
        fenced: FENCE,
        inControlledShutdown: NO_CHANGE,
        logDirs: [],
      },
    });
  }
  return records;
}

export function unregisterBroker(
  image: MetadataImage,
  brokerId: number,
  heartbeats: BrokerHeartbeats,
  settings: ElectionSettings,
): ControllerResult<number> {
  const broker = image.brokers.get(brokerId);
  if (broker === undefined) return { records: [], response: ErrorCode.BROKER_ID_NOT_REGISTERED };
  const records = removeBrokerFromPartitions(image, brokerId, acceptableLeaders(image, { remove: brokerId }), settings);
  records.push({
    typeId: MetadataRecordType.UnregisterBrokerRecord,
    version: 0,
    record: { brokerId, brokerEpoch: BigInt(broker.brokerEpoch) },
  });
  heartbeats.remove(brokerId);
  return { records, response: ErrorCode.NONE };
}

/** True when brokerId leads a partition in the image. */
function leads(image: MetadataImage, brokerId: number): boolean {
  for (const topic of image.topicsById.values()) {
    for (const p of topic.partitions.values()) if (p.leader === brokerId) return true;
  }
  return false;
}

/** The image's topics with PartitionChangeRecords applied (a preview; the real change is replay's). */
export function withChanges(image: MetadataImage, moves: readonly MetadataMessage[]): MetadataImage {
  if (moves.length === 0) return image;
  const topicsById = new Map(image.topicsById);
  const topicsByName = new Map(image.topicsByName);
  // Each changed topic's partition map is copied once, however many of its partitions change.
  const copied = new Map<string, Map<number, PartitionImage>>();
  for (const m of moves) {
    const r = m.record as PartitionChangeRecord;
    let partitions = copied.get(r.topicId);
    if (partitions === undefined) {
      const topic = topicsById.get(r.topicId)!;
      partitions = new Map(topic.partitions);
      copied.set(r.topicId, partitions);
      const copy: TopicImage = { ...topic, partitions };
      topicsById.set(r.topicId, copy);
      topicsByName.set(topic.name, copy);
    }
    partitions.set(r.partitionId, partitionAfter(partitions.get(r.partitionId)!, r));
  }
  return { ...image, topicsById, topicsByName };
}
