/**
 * Replica placement for new topics and partitions: which brokers hold each partition,
 * the first one being the preferred leader. Pure; the caller passes the randomness.
 *
 *   usableBrokers(image) -> PlacementBroker[]
 *     unfenced brokers not in controlled shutdown, by id (what placement may use).
 *   placeReplicas(brokers, { numPartitions, replicationFactor }, random) -> number[][] | PlacementError
 *     one replica list per new partition. createTopics calls it with usableBrokers(image);
 *     createPartitions the same, for the added partitions only. INVALID_REPLICATION_FACTOR
 *     when rf exceeds the usable brokers (or is < 1), INVALID_PARTITIONS when count < 1.
 *   newPartitionRecord(image, topicId, partitionId, replicas) -> MetadataMessage | PlacementError
 *     the PartitionRecord of a new partition: ISR = its live replicas (unfenced, not shutting
 *     down), leader = the first of them, epochs 0. INVALID_REPLICATION_FACTOR when none of the
 *     replicas is live (Kafka refuses to create a partition nobody can lead).
 *   validateAssignment(image, brokerIds, expectedSize?) -> PlacementError | undefined
 *     an explicit assignment: INVALID_REPLICA_ASSIGNMENT for an empty list, a broker named
 *     twice, an unregistered broker, or a size other than expectedSize.
 *
 * The rule (rack-aware, KIP-36's idea; the code is ours): brokers are interleaved across
 * racks (r1b1, r2b1, r3b1, r1b2, ...; brokers without a rack each count as a rack of their
 * own), leaders walk that list from a random start so every broker leads about as many new
 * partitions and topics do not all lead on the same broker; each follower is the next broker
 * on a rack the partition does not use yet, starting at an offset that shifts every full
 * round, and only when every rack is used does a rack take a second replica. Two replicas
 * never share a broker.
 */
import type { Random } from '../../env/random.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { MetadataRecordType } from '../../protocol/generated/metadata-records.ts';
import { LeaderRecoveryState, type MetadataImage } from '../image.ts';
import type { MetadataMessage } from '../metadata-log.ts';
import { isActiveBroker } from './election.ts';

export interface PlacementBroker {
  readonly id: number;
  readonly rack: string | null;
}

export interface PlacementError {
  errorCode: number;
  errorMessage: string;
}

export function usableBrokers(image: MetadataImage): PlacementBroker[] {
  return [...image.brokers.values()]
    .filter((b) => !b.fenced && !b.inControlledShutdown)
    .sort((a, b) => a.nodeId - b.nodeId)
    .map((b) => ({ id: b.nodeId, rack: b.rack }));
}

export function isPlacementError(x: unknown): x is PlacementError {
  return typeof x === 'object' && x !== null && 'errorCode' in x;
}

export function placeReplicas(
  brokers: readonly PlacementBroker[],
  spec: { numPartitions: number; replicationFactor: number },
  random: Random,
): number[][] | PlacementError {
  const { numPartitions, replicationFactor: rf } = spec;
  if (numPartitions < 1) {
    return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'Number of partitions must be larger than 0.' };
  }
  if (rf < 1) {
    return {
      errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
      errorMessage: 'Replication factor must be larger than 0.',
    };
  }
  if (rf > brokers.length) {
    return {
      errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
      errorMessage: `Unable to replicate the partition ${rf} time(s): The target replication factor of ${rf} cannot be reached because only ${brokers.length} broker(s) are registered.`,
    };
  }
  const ring = interleaveByRack(brokers);
  const n = ring.length;
  const rackOf = new Map(ring.map((b) => [b.id, rackKey(b)]));
  const rackCount = new Set(rackOf.values()).size;
  const start = random.int(n);
  const shiftStart = random.int(n);
  const out: number[][] = [];
  for (let p = 0; p < numPartitions; p++) {
    const leaderIndex = (start + p) % n;
    const chosen = [ring[leaderIndex]!.id];
    const racks = new Set([rackOf.get(chosen[0]!)!]);
    // Followers start after a shift that changes every full round, so follower sets vary.
    const shift = 1 + ((shiftStart + Math.floor((start + p) / n)) % Math.max(1, n - 1));
    for (let k = 0; chosen.length < rf && k < n; k++) {
      const b = ring[(leaderIndex + shift + k) % n]!;
      if (chosen.includes(b.id)) continue;
      if (racks.size < rackCount && racks.has(rackOf.get(b.id)!)) continue;
      chosen.push(b.id);
      racks.add(rackOf.get(b.id)!);
    }
    // Every rack used and still short: fill with any broker not yet chosen.
    for (let k = 0; chosen.length < rf && k < n; k++) {
      const b = ring[(leaderIndex + shift + k) % n]!;
      if (!chosen.includes(b.id)) chosen.push(b.id);
    }
    out.push(chosen);
  }
  return out;
}

export function newPartitionRecord(
  image: MetadataImage,
  topicId: string,
  partitionId: number,
  replicas: readonly number[],
): MetadataMessage | PlacementError {
  const isr = replicas.filter((r) => isActiveBroker(image, r));
  if (isr.length === 0) {
    return {
      errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
      errorMessage: `Unable to replicate the partition ${replicas.length} time(s): All brokers specified in the partition assignment are currently fenced.`,
    };
  }
  return {
    typeId: MetadataRecordType.PartitionRecord,
    version: 0,
    record: {
      partitionId,
      topicId,
      replicas: [...replicas],
      isr,
      removingReplicas: [],
      addingReplicas: [],
      leader: isr[0]!,
      leaderRecoveryState: LeaderRecoveryState.RECOVERED,
      leaderEpoch: 0,
      partitionEpoch: 0,
      directories: [],
      eligibleLeaderReplicas: null,
      lastKnownElr: null,
    },
  };
}

export function validateAssignment(
  image: MetadataImage,
  brokerIds: readonly number[],
  expectedSize?: number,
): PlacementError | undefined {
  const invalid = (errorMessage: string): PlacementError => ({
    errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
    errorMessage,
  });
  if (brokerIds.length === 0) return invalid('The manual partition assignment includes an empty replica list.');
  const dup = brokerIds.find((b, i) => brokerIds.indexOf(b) !== i);
  if (dup !== undefined) return invalid(`The manual partition assignment includes the broker ${dup} more than once.`);
  if (expectedSize !== undefined && brokerIds.length !== expectedSize) {
    return invalid(
      `The manual partition assignment includes a partition with ${brokerIds.length} replica(s), but this is not consistent with previous partitions, which have ${expectedSize} replica(s).`,
    );
  }
  const unknown = brokerIds.find((id) => !image.brokers.has(id));
  if (unknown !== undefined) {
    return invalid(`The manual partition assignment includes broker ${unknown}, but no such broker is registered.`);
  }
  return undefined;
}

function rackKey(b: PlacementBroker): string {
  return b.rack === null ? `\u0000${b.id}` : `r:${b.rack}`;
}

/** r1b1, r2b1, r3b1, r1b2, ...: neighbours sit on different racks. */
function interleaveByRack(brokers: readonly PlacementBroker[]): PlacementBroker[] {
  const byRack = new Map<string, PlacementBroker[]>();
  for (const b of [...brokers].sort((x, y) => x.id - y.id)) {
    const key = rackKey(b);
    let list = byRack.get(key);
    if (list === undefined) byRack.set(key, (list = []));
    list.push(b);
  }
  // Racks with brokers without a rack sorted by id (their key), named racks by name.
  const racks = [...byRack.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, l]) => l);
  const out: PlacementBroker[] = [];
  for (let i = 0; out.length < brokers.length; i++) {
    for (const list of racks) if (i < list.length) out.push(list[i]!);
  }
  return out;
}
