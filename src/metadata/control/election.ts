/**
 * Partition change building: given a partition's current state and what an operation wants
 * (a new ISR, new replicas, an election), decide the new leader and write the one
 * PartitionChangeRecord that gets there, holding only the fields that change. Pure: no I/O,
 * no clock; the caller says which brokers may lead.
 *
 *   buildPartitionChange(topicId, partition, acceptable, target) -> PartitionChangeRecord | null
 *     null: nothing changes (write nothing). Otherwise the caller appends
 *     partitionChangeMessage(record) to its operation's records; replay applies it.
 *   partitionAfter(partition, record) -> PartitionImage
 *     the state replay will produce (for responses that report the new epochs).
 *   acceptableLeaders(image, { remove?, add? }) -> LeaderAcceptor
 *     live brokers: registered, unfenced and not in controlled shutdown; `remove` never
 *     counts (a broker being fenced), `add` always does (a broker being unfenced), because
 *     those changes are in the same batch and not yet in the image.
 *   uncleanElectionEnabled(image, topicName, brokerDefault, nodeId?) -> boolean
 *     the topic's unclean.leader.election.enable, else this node's dynamic broker config,
 *     else the cluster-wide dynamic default, else the static broker config the caller passes
 *     (Kafka's order of config sources).
 *   removeBrokerFromPartitions / electLeaderlessPartitions: the sweeps fencing, controlled
 *     shutdown and unfencing run (records to append, in partition order).
 *
 * Rules (Kafka's, KIP-631/KIP-704): a leader comes from the ISR among acceptable replicas,
 * the current leader staying when it still qualifies, else the first qualifying one in replica
 * order; a preferred election picks replicas[0] when it qualifies. With no candidate in the
 * ISR an unclean election takes the first acceptable replica, makes it the whole ISR and
 * marks the partition RECOVERING. The ISR never becomes empty (without ELR, the last member
 * stays while the partition has no leader) and a leader is always inside it. A pending
 * reassignment completes once every adding replica is in the ISR and some non-removing replica
 * remains in it. Removing replicas from the assignment rewrites the same leader to bump its
 * epoch, which fences the removed replicas.
 */
import { MetadataRecordType } from '../../protocol/generated/metadata-records.ts';
import type { PartitionChangeRecord } from '../../protocol/generated/partition-change-record.ts';
import {
  ConfigResourceType,
  LeaderRecoveryState,
  type MetadataImage,
  NO_LEADER,
  NO_LEADER_CHANGE,
  type PartitionImage,
  resourceConfigs,
  sortedPartitions,
  topicConfigs,
} from '../image.ts';
import type { MetadataMessage } from '../metadata-log.ts';

/** Which brokers may lead (and be chosen in an election). */
export type LeaderAcceptor = (brokerId: number) => boolean;

/** clean: from the ISR only; preferred: replicas[0] if it qualifies; unclean: any live replica as a last resort. */
export type Election = 'clean' | 'preferred' | 'unclean';

export interface PartitionChangeTarget {
  isr?: readonly number[];
  replicas?: readonly number[];
  addingReplicas?: readonly number[];
  removingReplicas?: readonly number[];
  /** Set by AlterPartition (a recovered leader reports RECOVERED). */
  leaderRecoveryState?: number;
  election?: Election;
}

export const UNCLEAN_LEADER_ELECTION_ENABLE = 'unclean.leader.election.enable';

/** True when the broker is registered, unfenced and not shutting down (Kafka's "active"). */
export function isActiveBroker(image: MetadataImage, brokerId: number): boolean {
  const b = image.brokers.get(brokerId);
  return b !== undefined && !b.fenced && !b.inControlledShutdown;
}

export function acceptableLeaders(
  image: MetadataImage,
  change: { remove?: number; add?: number } = {},
): LeaderAcceptor {
  return (id) => id !== change.remove && (id === change.add || isActiveBroker(image, id));
}

export function uncleanElectionEnabled(
  image: MetadataImage,
  topicName: string,
  brokerDefault: boolean,
  nodeId?: number,
): boolean {
  const value =
    topicConfigs(image, topicName).get(UNCLEAN_LEADER_ELECTION_ENABLE) ??
    (nodeId === undefined
      ? undefined
      : resourceConfigs(image, ConfigResourceType.BROKER, String(nodeId)).get(UNCLEAN_LEADER_ELECTION_ENABLE)) ??
    resourceConfigs(image, ConfigResourceType.BROKER, '').get(UNCLEAN_LEADER_ELECTION_ENABLE);
  return value === undefined ? brokerDefault : value.toLowerCase() === 'true';
}

export function buildPartitionChange(
  topicId: string,
  partition: PartitionImage,
  acceptable: LeaderAcceptor,
  target: PartitionChangeTarget,
): PartitionChangeRecord | null {
  const p = partition;
  let replicas = target.replicas ?? p.replicas;
  let isr = target.isr ?? p.isr;
  let adding = target.addingReplicas ?? p.addingReplicas;
  let removing = target.removingReplicas ?? p.removingReplicas;

  // A reassignment completes once all adding replicas are in sync and a kept replica is too.
  if (adding.length > 0 || removing.length > 0) {
    const kept = isr.filter((r) => !removing.includes(r));
    if (kept.length > 0 && adding.every((r) => isr.includes(r))) {
      replicas = replicas.filter((r) => !removing.includes(r));
      isr = kept;
      adding = [];
      removing = [];
    }
  }

  const election = target.election ?? 'clean';
  const inSync = (r: number): boolean => isr.includes(r) && acceptable(r);
  let leader: number = NO_LEADER;
  let unclean = false;
  const preferred = replicas[0];
  if (election === 'preferred' && preferred !== undefined && inSync(preferred)) {
    leader = preferred;
  } else if (p.leader !== NO_LEADER && replicas.includes(p.leader) && inSync(p.leader)) {
    leader = p.leader;
  } else {
    leader = replicas.find(inSync) ?? NO_LEADER;
    if (leader === NO_LEADER && election === 'unclean') {
      leader = replicas.find(acceptable) ?? NO_LEADER;
      unclean = leader !== NO_LEADER;
    }
  }

  let leaderRecoveryState = target.leaderRecoveryState ?? p.leaderRecoveryState;
  if (unclean) {
    isr = [leader];
    leaderRecoveryState = LeaderRecoveryState.RECOVERING;
  } else if (isr.length === 0) {
    // Without ELR the ISR never empties: its last member stays, so it can lead cleanly when back
    // (and should the replicas have changed under it, the first replica stands in).
    const kept = p.isr.filter((r) => replicas.includes(r));
    isr = kept.length > 0 ? kept : replicas.slice(0, 1);
  }

  const record: PartitionChangeRecord = {
    partitionId: p.partitionId,
    topicId,
    isr: sameList(isr, p.isr) ? null : [...isr],
    leader: NO_LEADER_CHANGE,
    replicas: sameList(replicas, p.replicas) ? null : [...replicas],
    removingReplicas: sameList(removing, p.removingReplicas) ? null : [...removing],
    addingReplicas: sameList(adding, p.addingReplicas) ? null : [...adding],
    leaderRecoveryState:
      leaderRecoveryState === p.leaderRecoveryState ? LeaderRecoveryState.NO_CHANGE : leaderRecoveryState,
    directories: null,
    eligibleLeaderReplicas: null,
    lastKnownElr: null,
  };
  if (leader !== p.leader) {
    record.leader = leader;
  } else if (leader !== NO_LEADER && p.replicas.some((r) => !replicas.includes(r))) {
    // Replicas left the assignment: a new leader epoch fences them (Kafka does the same).
    record.leader = leader;
  }
  const changed =
    record.isr !== null ||
    record.leader !== NO_LEADER_CHANGE ||
    record.replicas !== null ||
    record.removingReplicas !== null ||
    record.addingReplicas !== null ||
    record.leaderRecoveryState !== LeaderRecoveryState.NO_CHANGE;
  return changed ? record : null;
}

/** The partition as replay will leave it after `record` (mirrors replay.ts). */
export function partitionAfter(p: PartitionImage, record: PartitionChangeRecord): PartitionImage {
  const leaderWritten = record.leader !== NO_LEADER_CHANGE;
  return {
    ...p,
    replicas: record.replicas ?? p.replicas,
    isr: record.isr ?? p.isr,
    removingReplicas: record.removingReplicas ?? p.removingReplicas,
    addingReplicas: record.addingReplicas ?? p.addingReplicas,
    leader: leaderWritten ? record.leader : p.leader,
    leaderEpoch: leaderWritten ? p.leaderEpoch + 1 : p.leaderEpoch,
    partitionEpoch: p.partitionEpoch + 1,
    leaderRecoveryState:
      record.leaderRecoveryState === LeaderRecoveryState.NO_CHANGE ? p.leaderRecoveryState : record.leaderRecoveryState,
  };
}

export function partitionChangeMessage(record: PartitionChangeRecord): MetadataMessage {
  return { typeId: MetadataRecordType.PartitionChangeRecord, version: 0, record };
}

/** Settings the sweeps need: the static unclean.leader.election.enable and this node's id. */
export interface ElectionSettings {
  uncleanLeaderElectionEnable: boolean;
  nodeId?: number;
}

/**
 * Takes brokerId out of every ISR (unless it is the last member) and away from every
 * leadership, electing replacements: what fencing and controlled shutdown write.
 */
export function removeBrokerFromPartitions(
  image: MetadataImage,
  brokerId: number,
  acceptable: LeaderAcceptor,
  settings: ElectionSettings,
): MetadataMessage[] {
  const out: MetadataMessage[] = [];
  for (const topic of sortedTopics(image)) {
    const unclean = uncleanElectionEnabled(image, topic.name, settings.uncleanLeaderElectionEnable, settings.nodeId);
    for (const p of sortedPartitions(topic)) {
      if (!p.isr.includes(brokerId) && p.leader !== brokerId) continue;
      const record = buildPartitionChange(topic.topicId, p, acceptable, {
        isr: p.isr.filter((r) => r !== brokerId),
        election: unclean ? 'unclean' : 'clean',
      });
      if (record !== null) out.push(partitionChangeMessage(record));
    }
  }
  return out;
}

/** Elects a leader for every leaderless partition that now has a candidate (after unfencing). */
export function electLeaderlessPartitions(
  image: MetadataImage,
  acceptable: LeaderAcceptor,
  settings: ElectionSettings,
): MetadataMessage[] {
  const out: MetadataMessage[] = [];
  for (const topic of sortedTopics(image)) {
    const unclean = uncleanElectionEnabled(image, topic.name, settings.uncleanLeaderElectionEnable, settings.nodeId);
    for (const p of sortedPartitions(topic)) {
      if (p.leader !== NO_LEADER) continue;
      const record = buildPartitionChange(topic.topicId, p, acceptable, { election: unclean ? 'unclean' : 'clean' });
      if (record !== null) out.push(partitionChangeMessage(record));
    }
  }
  return out;
}

/** Topics in name order, so that the records an operation writes are deterministic. */
export function sortedTopics(image: MetadataImage) {
  return [...image.topicsByName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
