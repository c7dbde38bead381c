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
 *     On success the broker is registered fenced; a re-registration also takes the old
 *     incarnation out of every ISR and leadership. The heartbeat is touched here already.
 *   brokerHeartbeat(image, request, heartbeats, nowMs, settings) -> { records, response }
 *     Unfences, fences on request, or runs a controlled shutdown. Append the records, then
 *     send the response (it already describes the state after them).
 *   fenceExpiredBrokers(image, heartbeats, nowMs, sessionTimeoutMs, settings) -> records
 *     Call it from a controller timer (Kafka checks about every session timeout / 2 or more
 *     often); append the records as one operation.
 *   unregisterBroker(image, brokerId, heartbeats, settings) -> { records, response: errorCode }
 *     UnregisterBroker (KIP-853 removal of a broker): its leaderships move, it leaves the ISRs
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
  sortedTopics,
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

  /** A new active controller: every registered broker starts a full session now. */
  activate(image: MetadataImage, nowMs: number): void {
    this.lastContactMs.clear();
    this.metadataOffset.clear();
    for (const id of image.brokers.keys()) this.lastContactMs.set(id, nowMs);
  }

  touch(brokerId: number, nowMs: number, metadataOffset?: number): void {
    this.lastContactMs.set(brokerId, nowMs);
    if (metadataOffset !== undefined) this.metadataOffset.set(brokerId, metadataOffset);
  }

  remove(brokerId: number): void {
    this.lastContactMs.delete(brokerId);
    this.metadataOffset.delete(brokerId);
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

export function brokerHeartbeat(
  image: MetadataImage,
  request: BrokerHeartbeatRequest,
  heartbeats: BrokerHeartbeats,
  nowMs: number,
  settings: ElectionSettings,
): ControllerResult<BrokerHeartbeatResponse> {
  const id = request.brokerId;
  const broker = image.brokers.get(id);
  if (broker === undefined || BigInt(broker.brokerEpoch) !== request.brokerEpoch) {
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

  if (broker.fenced) {
    // A fenced broker leads nothing: it may stop at once.
    if (request.wantShutDown) return respond(true, true);
    if (!request.wantFence && isCaughtUp) {
      records.push(change(UNFENCE, NO_CHANGE));
      records.push(...electLeaderlessPartitions(image, acceptableLeaders(image, { add: id }), settings));
      return respond(false, false);
    }
    return respond(true, false);
  }
  if (request.wantFence) {
    records.push(...removeBrokerFromPartitions(image, id, acceptableLeaders(image, { remove: id }), settings));
    records.push(change(FENCE, NO_CHANGE));
    return respond(true, false);
  }
  if (request.wantShutDown || broker.inControlledShutdown) {
    if (!broker.inControlledShutdown) records.push(change(NO_CHANGE, IN_CONTROLLED_SHUTDOWN));
    const moves = removeBrokerFromPartitions(image, id, acceptableLeaders(image, { remove: id }), settings);
    records.push(...moves);
    return respond(false, !leadsAnythingAfter(image, id, moves));
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

/** True when brokerId still leads a partition once `moves` (PartitionChangeRecords) apply. */
function leadsAnythingAfter(image: MetadataImage, brokerId: number, moves: readonly MetadataMessage[]): boolean {
  const after = withChanges(image, moves);
  for (const topic of sortedTopics(after)) {
    for (const p of topic.partitions.values()) if (p.leader === brokerId) return true;
  }
  return false;
}

/** The image's topics with PartitionChangeRecords applied (a preview; the real change is replay's). */
export function withChanges(image: MetadataImage, moves: readonly MetadataMessage[]): MetadataImage {
  if (moves.length === 0) return image;
  const topicsById = new Map(image.topicsById);
  const topicsByName = new Map(image.topicsByName);
  for (const m of moves) {
    const r = m.record as PartitionChangeRecord;
    const topic = topicsById.get(r.topicId)!;
    const partitions = new Map<number, PartitionImage>(topic.partitions);
    partitions.set(r.partitionId, partitionAfter(partitions.get(r.partitionId)!, r));
    const copy: TopicImage = { ...topic, partitions };
    topicsById.set(r.topicId, copy);
    topicsByName.set(topic.name, copy);
  }
  return { ...image, topicsById, topicsByName };
}
