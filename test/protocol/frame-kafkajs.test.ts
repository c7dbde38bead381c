/**
 * Cross-checks of classic (non-flexible) versions against kafkajs 2.2.4, an independent
 * implementation used here only as a test oracle: request bodies its encoders build decode
 * with our readers, and response bodies we encode decode with its decoders.
 */
import { deepStrictEqual, equal } from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { encode } from '../../src/protocol/codec/message.ts';
import { Reader } from '../../src/protocol/codec/reader.ts';
import { readFetchRequest } from '../../src/protocol/generated/fetch-request.ts';
import { defaultsFetchResponse, FetchResponseCodec } from '../../src/protocol/generated/fetch-response.ts';
import { FindCoordinatorResponseCodec } from '../../src/protocol/generated/find-coordinator-response.ts';
import { readHeartbeatRequest } from '../../src/protocol/generated/heartbeat-request.ts';
import { HeartbeatResponseCodec } from '../../src/protocol/generated/heartbeat-response.ts';
import { readJoinGroupRequest } from '../../src/protocol/generated/join-group-request.ts';
import { defaultsJoinGroupResponse, JoinGroupResponseCodec } from '../../src/protocol/generated/join-group-response.ts';
import { ListOffsetsResponseCodec } from '../../src/protocol/generated/list-offsets-response.ts';
import { readOffsetCommitRequest } from '../../src/protocol/generated/offset-commit-request.ts';
import { OffsetCommitResponseCodec } from '../../src/protocol/generated/offset-commit-response.ts';
import {
  defaultsOffsetFetchResponse,
  OffsetFetchResponseCodec,
} from '../../src/protocol/generated/offset-fetch-response.ts';
import { readSyncGroupRequest } from '../../src/protocol/generated/sync-group-request.ts';
import { SyncGroupResponseCodec } from '../../src/protocol/generated/sync-group-response.ts';

const require = createRequire(import.meta.url);
type RequestFactory = (args: Record<string, unknown>) => { encode(): Promise<{ buffer: Buffer }> };
type Decode = (raw: Buffer) => Promise<Record<string, unknown>>;
const req = (path: string): RequestFactory =>
  require(`kafkajs/src/protocol/requests/${path}/request.js`) as RequestFactory;
const res = (path: string): Decode =>
  (require(`kafkajs/src/protocol/requests/${path}/response.js`) as { decode: Decode }).decode;

async function bodyOf(factory: RequestFactory, args: Record<string, unknown>): Promise<Buffer> {
  return (await factory(args).encode()).buffer;
}

void test('kafkajs requests decode with our readers', async () => {
  const fetch = readFetchRequest(
    new Reader(
      await bodyOf(req('fetch/v11'), {
        replicaId: -1,
        maxWaitTime: 500,
        minBytes: 1,
        maxBytes: 1048576,
        isolationLevel: 1,
        topics: [{ topic: 't', partitions: [{ partition: 2, fetchOffset: '5', maxBytes: 1000 }] }],
        rackId: 'rack-a',
      }),
    ),
    11,
  );
  equal(fetch.maxWaitMs, 500);
  equal(fetch.isolationLevel, 1);
  equal(fetch.sessionEpoch, -1);
  equal(fetch.rackId, 'rack-a');
  deepStrictEqual(fetch.topics[0]!.topic, 't');
  const p = fetch.topics[0]!.partitions[0]!;
  deepStrictEqual([p.partition, p.currentLeaderEpoch, p.fetchOffset, p.partitionMaxBytes], [2, -1, 5n, 1000]);

  const join = readJoinGroupRequest(
    new Reader(
      await bodyOf(req('joinGroup/v5'), {
        groupId: 'g',
        sessionTimeout: 30000,
        rebalanceTimeout: 60000,
        memberId: '',
        protocolType: 'consumer',
        groupProtocols: [{ name: 'RoundRobinAssigner', metadata: Buffer.from([0, 1]) }],
      }),
    ),
    5,
  );
  deepStrictEqual(
    [join.groupId, join.sessionTimeoutMs, join.rebalanceTimeoutMs, join.memberId, join.groupInstanceId],
    ['g', 30000, 60000, '', null],
  );
  deepStrictEqual(join.protocols[0]!.name, 'RoundRobinAssigner');
  deepStrictEqual([...join.protocols[0]!.metadata], [0, 1]);

  const sync = readSyncGroupRequest(
    new Reader(
      await bodyOf(req('syncGroup/v3'), {
        groupId: 'g',
        generationId: 3,
        memberId: 'm',
        groupAssignment: [{ memberId: 'm', memberAssignment: Buffer.from([7]) }],
      }),
    ),
    3,
  );
  equal(sync.generationId, 3);
  deepStrictEqual([...sync.assignments[0]!.assignment], [7]);

  const commit = readOffsetCommitRequest(
    new Reader(
      await bodyOf(req('offsetCommit/v5'), {
        groupId: 'g',
        groupGenerationId: 3,
        memberId: 'm',
        topics: [{ topic: 't', partitions: [{ partition: 0, offset: '42' }] }],
      }),
    ),
    5,
  );
  const cp = commit.topics[0]!.partitions[0]!;
  deepStrictEqual([cp.partitionIndex, cp.committedOffset, cp.committedMetadata], [0, 42n, null]);

  const hb = readHeartbeatRequest(
    new Reader(
      await bodyOf(req('heartbeat/v3'), { groupId: 'g', groupGenerationId: 3, memberId: 'm', groupInstanceId: null }),
    ),
    3,
  );
  deepStrictEqual([hb.groupId, hb.generationId, hb.memberId, hb.groupInstanceId], ['g', 3, 'm', null]);
});

void test('responses we encode decode with kafkajs', async () => {
  const join = await res('joinGroup/v5')(
    encode(
      JoinGroupResponseCodec,
      {
        ...defaultsJoinGroupResponse(),
        generationId: 4,
        protocolName: 'RoundRobinAssigner',
        leader: 'm-1',
        memberId: 'm-1',
        members: [{ memberId: 'm-1', groupInstanceId: null, metadata: Buffer.from([1, 2]) }],
      },
      5,
    ),
  );
  deepStrictEqual(
    [join.generationId, join.groupProtocol, join.leaderId, join.memberId],
    [4, 'RoundRobinAssigner', 'm-1', 'm-1'],
  );

  const sync = await res('syncGroup/v3')(
    encode(
      SyncGroupResponseCodec,
      { throttleTimeMs: 0, errorCode: 0, protocolType: null, protocolName: null, assignment: Buffer.from([9]) },
      3,
    ),
  );
  deepStrictEqual([...(sync.memberAssignment as Buffer)], [9]);

  const hb = await res('heartbeat/v3')(encode(HeartbeatResponseCodec, { throttleTimeMs: 5, errorCode: 0 }, 3));
  equal(hb.errorCode, 0);

  const commit = await res('offsetCommit/v5')(
    encode(
      OffsetCommitResponseCodec,
      { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] },
      5,
    ),
  );
  deepStrictEqual(commit.responses, [{ topic: 't', partitions: [{ partition: 0, errorCode: 0 }] }]);

  const fetchOffsets = await res('offsetFetch/v4')(
    encode(
      OffsetFetchResponseCodec,
      {
        ...defaultsOffsetFetchResponse(),
        topics: [
          {
            name: 't',
            partitions: [
              { partitionIndex: 1, committedOffset: 42n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
            ],
          },
        ],
      },
      4,
    ),
  );
  deepStrictEqual(fetchOffsets.responses, [
    { topic: 't', partitions: [{ partition: 1, offset: '42', metadata: '', errorCode: 0 }] },
  ]);

  const listed = await res('listOffsets/v3')(
    encode(
      ListOffsetsResponseCodec,
      {
        throttleTimeMs: 0,
        topics: [
          {
            name: 't',
            partitions: [
              { partitionIndex: 0, errorCode: 0, oldStyleOffsets: [], timestamp: -1n, offset: 100n, leaderEpoch: -1 },
            ],
          },
        ],
      },
      3,
    ),
  );
  deepStrictEqual(listed.responses, [
    { topic: 't', partitions: [{ partition: 0, errorCode: 0, timestamp: '-1', offset: '100' }] },
  ]);

  const coordinator = await res('findCoordinator/v2')(
    encode(
      FindCoordinatorResponseCodec,
      { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: 2, host: 'h', port: 9092, coordinators: [] },
      2,
    ),
  );
  deepStrictEqual(coordinator.coordinator, { nodeId: 2, host: 'h', port: 9092 });

  const fetched = await res('fetch/v11')(
    encode(
      FetchResponseCodec,
      {
        ...defaultsFetchResponse(),
        responses: [
          {
            topic: 't',
            topicId: 'AAAAAAAAAAAAAAAAAAAAAA',
            partitions: [
              {
                partitionIndex: 0,
                errorCode: 0,
                highWatermark: 10n,
                lastStableOffset: 10n,
                logStartOffset: 0n,
                divergingEpoch: { epoch: -1, endOffset: -1n },
                currentLeader: { leaderId: -1, leaderEpoch: -1 },
                snapshotId: { endOffset: -1n, epoch: -1 },
                abortedTransactions: [],
                preferredReadReplica: -1,
                records: Buffer.alloc(0),
              },
            ],
          },
        ],
      },
      11,
    ),
  );
  const fr = (
    fetched.responses as { topicName: string; partitions: { highWatermark: string; messages: unknown[] }[] }[]
  )[0]!;
  equal(fr.topicName, 't');
  equal(fr.partitions[0]!.highWatermark, '10');
  deepStrictEqual(fr.partitions[0]!.messages, []);
});
