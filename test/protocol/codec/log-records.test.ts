import { deepStrictEqual, equal, throws } from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../../src/protocol/codec/errors.ts';
import { ZERO_UUID } from '../../../src/protocol/codec/uuid.ts';
import {
  decodeCoordinatorRecord,
  encodeVersioned,
  GROUP_COORDINATOR_RECORDS,
  TRANSACTION_COORDINATOR_RECORDS,
} from '../../../src/protocol/generated/coordinator-records.ts';
import {
  decodeMetadataRecord,
  encodeMetadataRecord,
  MetadataRecordType,
} from '../../../src/protocol/generated/metadata-records.ts';
import { OffsetCommitKeyCodec } from '../../../src/protocol/generated/offset-commit-key.ts';
import { OffsetCommitValueCodec } from '../../../src/protocol/generated/offset-commit-value.ts';

void test('metadata records are framed as frame version, type id, version (unsigned varints), record', () => {
  equal(MetadataRecordType.TopicRecord, 2);
  const bytes = encodeMetadataRecord(MetadataRecordType.TopicRecord, 0, { name: 't', topicId: ZERO_UUID });
  deepStrictEqual(bytes, Buffer.from(`010200 0274 ${'00'.repeat(16)} 00`.replace(/\s/g, ''), 'hex'));
  deepStrictEqual(decodeMetadataRecord(bytes), { typeId: 2, version: 0, record: { name: 't', topicId: ZERO_UUID } });
  throws(() => decodeMetadataRecord(Buffer.from('02020000', 'hex')), DecodeError);
  throws(() => decodeMetadataRecord(Buffer.from('017f00', 'hex')), DecodeError);
  throws(() => encodeMetadataRecord(999, 0, {}), RangeError);
});

void test('coordinator records: int16 key version selects the type; int16 value version', () => {
  const key = encodeVersioned(OffsetCommitKeyCodec, 1, { group: 'g', topic: 't', partition: 3 });
  deepStrictEqual(key, Buffer.from('0001 000167 000174 00000003'.replace(/\s/g, ''), 'hex'));
  const value = encodeVersioned(OffsetCommitValueCodec, 3, {
    offset: 42n,
    leaderEpoch: 5,
    metadata: '',
    commitTimestamp: 1000n,
    expireTimestamp: -1n,
  });
  const rec = decodeCoordinatorRecord(GROUP_COORDINATOR_RECORDS, key, value);
  equal(rec.type.name, 'OffsetCommit');
  equal(rec.keyVersion, 1);
  equal(rec.valueVersion, 3);
  deepStrictEqual(rec.key, { group: 'g', topic: 't', partition: 3 });
  deepStrictEqual(rec.value, {
    offset: 42n,
    leaderEpoch: 5,
    metadata: '',
    commitTimestamp: 1000n,
    expireTimestamp: -1n,
  });
  const tombstone = decodeCoordinatorRecord(GROUP_COORDINATOR_RECORDS, key, null);
  equal(tombstone.value, null);
  throws(() => decodeCoordinatorRecord(GROUP_COORDINATOR_RECORDS, Buffer.from('0063', 'hex'), null), DecodeError);
  equal(TRANSACTION_COORDINATOR_RECORDS.length, 1);
  deepStrictEqual(GROUP_COORDINATOR_RECORDS.map((t) => t.name).slice(0, 2), ['OffsetCommit', 'GroupMetadata']);
});
