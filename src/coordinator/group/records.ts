/**
 * The records of __consumer_offsets, as Kafka writes them: the key's int16 version is
 * the record type (OffsetCommit 1, GroupMetadata 2, ConsumerGroup* 3-8), the value's
 * version its format; a null value is a tombstone.
 */
import type { MessageCodec } from '../../protocol/codec/message.ts';
import type { ConsumerGroupCurrentMemberAssignmentValue } from '../../protocol/generated/consumer-group-current-member-assignment-value.ts';
import type { ConsumerGroupMemberMetadataValue } from '../../protocol/generated/consumer-group-member-metadata-value.ts';
import type { ConsumerGroupMetadataValue } from '../../protocol/generated/consumer-group-metadata-value.ts';
import type { ConsumerGroupPartitionMetadataValue } from '../../protocol/generated/consumer-group-partition-metadata-value.ts';
import type { ConsumerGroupTargetAssignmentMemberValue } from '../../protocol/generated/consumer-group-target-assignment-member-value.ts';
import type { ConsumerGroupTargetAssignmentMetadataValue } from '../../protocol/generated/consumer-group-target-assignment-metadata-value.ts';
import {
  coordinatorRecordType,
  decodeCoordinatorRecord,
  encodeVersioned,
  GROUP_COORDINATOR_RECORDS,
} from '../../protocol/generated/coordinator-records.ts';
import type { GroupMetadataValue } from '../../protocol/generated/group-metadata-value.ts';
import type { OffsetCommitValue } from '../../protocol/generated/offset-commit-value.ts';
import type { RecordSerde, SerializedRecord } from '../runtime/runtime.ts';

/** Key versions (record types) of __consumer_offsets. */
export const RecordKey = {
  OffsetCommit: 1,
  GroupMetadata: 2,
  ConsumerGroupMetadata: 3,
  ConsumerGroupPartitionMetadata: 4,
  ConsumerGroupMemberMetadata: 5,
  ConsumerGroupTargetAssignmentMetadata: 6,
  ConsumerGroupTargetAssignmentMember: 7,
  ConsumerGroupCurrentMemberAssignment: 8,
} as const;

export type GroupRecord =
  | {
      kind: 'offset';
      group: string;
      topic: string;
      partition: number;
      value: OffsetCommitValue | null;
      valueVersion: number;
    }
  | { kind: 'group'; group: string; value: GroupMetadataValue | null }
  | { kind: 'consumer-group'; group: string; value: ConsumerGroupMetadataValue | null }
  | { kind: 'consumer-partition-metadata'; group: string; value: ConsumerGroupPartitionMetadataValue | null }
  | { kind: 'consumer-member'; group: string; memberId: string; value: ConsumerGroupMemberMetadataValue | null }
  | {
      kind: 'consumer-target-metadata';
      group: string;
      value: ConsumerGroupTargetAssignmentMetadataValue | null;
    }
  | {
      kind: 'consumer-target-member';
      group: string;
      memberId: string;
      value: ConsumerGroupTargetAssignmentMemberValue | null;
    }
  | {
      kind: 'consumer-current-member';
      group: string;
      memberId: string;
      value: ConsumerGroupCurrentMemberAssignmentValue | null;
    };

/** GroupMetadataValue version written (v3: static members, KIP-345). */
export const GROUP_METADATA_VALUE_VERSION = 3;

/** OffsetCommitValue version: 1 when an explicit expire timestamp is kept, else 3 (leader epoch). */
export function offsetValueVersion(value: OffsetCommitValue): number {
  return value.expireTimestamp >= 0n ? 1 : 3;
}

function codecs(keyVersion: number): { key: MessageCodec<unknown>; value: MessageCodec<unknown> } {
  const t = coordinatorRecordType(GROUP_COORDINATOR_RECORDS, keyVersion);
  if (t === undefined) throw new RangeError(`no record type for key version ${keyVersion}`);
  return { key: t.key, value: t.value };
}

function encode(keyVersion: number, key: unknown, valueVersion: number, value: unknown | null): SerializedRecord {
  const c = codecs(keyVersion);
  return {
    key: encodeVersioned(c.key, keyVersion, key),
    value: value === null ? null : encodeVersioned(c.value, valueVersion, value),
  };
}

export function serializeGroupRecord(r: GroupRecord): SerializedRecord {
  switch (r.kind) {
    case 'offset':
      return encode(
        RecordKey.OffsetCommit,
        { group: r.group, topic: r.topic, partition: r.partition },
        r.value === null ? 0 : r.valueVersion,
        r.value,
      );
    case 'group':
      return encode(RecordKey.GroupMetadata, { group: r.group }, GROUP_METADATA_VALUE_VERSION, r.value);
    case 'consumer-group':
      return encode(RecordKey.ConsumerGroupMetadata, { groupId: r.group }, 0, r.value);
    case 'consumer-partition-metadata':
      return encode(RecordKey.ConsumerGroupPartitionMetadata, { groupId: r.group }, 0, r.value);
    case 'consumer-member':
      return encode(RecordKey.ConsumerGroupMemberMetadata, { groupId: r.group, memberId: r.memberId }, 0, r.value);
    case 'consumer-target-metadata':
      return encode(RecordKey.ConsumerGroupTargetAssignmentMetadata, { groupId: r.group }, 0, r.value);
    case 'consumer-target-member':
      return encode(
        RecordKey.ConsumerGroupTargetAssignmentMember,
        { groupId: r.group, memberId: r.memberId },
        0,
        r.value,
      );
    case 'consumer-current-member':
      return encode(
        RecordKey.ConsumerGroupCurrentMemberAssignment,
        { groupId: r.group, memberId: r.memberId },
        0,
        r.value,
      );
  }
}

export function deserializeGroupRecord(rec: SerializedRecord): GroupRecord | undefined {
  const d = decodeCoordinatorRecord(GROUP_COORDINATOR_RECORDS, rec.key, rec.value);
  const k = d.key as Record<string, unknown>;
  switch (d.keyVersion) {
    case 0:
    case RecordKey.OffsetCommit:
      return {
        kind: 'offset',
        group: k.group as string,
        topic: k.topic as string,
        partition: k.partition as number,
        value: d.value as OffsetCommitValue | null,
        valueVersion: d.valueVersion,
      };
    case RecordKey.GroupMetadata:
      return { kind: 'group', group: k.group as string, value: d.value as GroupMetadataValue | null };
    case RecordKey.ConsumerGroupMetadata:
      return {
        kind: 'consumer-group',
        group: k.groupId as string,
        value: d.value as ConsumerGroupMetadataValue | null,
      };
    case RecordKey.ConsumerGroupPartitionMetadata:
      return {
        kind: 'consumer-partition-metadata',
        group: k.groupId as string,
        value: d.value as ConsumerGroupPartitionMetadataValue | null,
      };
    case RecordKey.ConsumerGroupMemberMetadata:
      return {
        kind: 'consumer-member',
        group: k.groupId as string,
        memberId: k.memberId as string,
        value: d.value as ConsumerGroupMemberMetadataValue | null,
      };
    case RecordKey.ConsumerGroupTargetAssignmentMetadata:
      return {
        kind: 'consumer-target-metadata',
        group: k.groupId as string,
        value: d.value as ConsumerGroupTargetAssignmentMetadataValue | null,
      };
    case RecordKey.ConsumerGroupTargetAssignmentMember:
      return {
        kind: 'consumer-target-member',
        group: k.groupId as string,
        memberId: k.memberId as string,
        value: d.value as ConsumerGroupTargetAssignmentMemberValue | null,
      };
    case RecordKey.ConsumerGroupCurrentMemberAssignment:
      return {
        kind: 'consumer-current-member',
        group: k.groupId as string,
        memberId: k.memberId as string,
        value: d.value as ConsumerGroupCurrentMemberAssignmentValue | null,
      };
    default:
      return undefined;
  }
}

export const groupRecordSerde: RecordSerde<GroupRecord> = {
  serialize: serializeGroupRecord,
  deserialize: deserializeGroupRecord,
};
