/**
 * Cross-checks against an independent implementation: bodies we encode are parsed by
 * @platformatic/kafka's response parsers, and bodies it builds are decoded by ours.
 * (Its request builders and response parsers are used as a test oracle only.)
 */
import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  apiVersionsV4,
  fetchV17,
  findCoordinatorV6,
  joinGroupV9,
  metadataV12,
  Reader as PltReader,
  produceV11,
} from '@platformatic/kafka';
import { encode } from '../../src/protocol/codec/message.ts';
import { Reader } from '../../src/protocol/codec/reader.ts';
import { uuidToHex } from '../../src/protocol/codec/uuid.ts';
import { decodeRequest, decodeResponse, encodeResponse } from '../../src/protocol/frame.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import {
  type ApiVersionsResponse,
  defaultsApiVersionsResponse,
} from '../../src/protocol/generated/api-versions-response.ts';
import { defaultsFetchResponse, type FetchResponse } from '../../src/protocol/generated/fetch-response.ts';
import { readFindCoordinatorRequest } from '../../src/protocol/generated/find-coordinator-request.ts';
import {
  defaultsFindCoordinatorResponse,
  type FindCoordinatorResponse,
} from '../../src/protocol/generated/find-coordinator-response.ts';
import { readJoinGroupRequest } from '../../src/protocol/generated/join-group-request.ts';
import { defaultsJoinGroupResponse, JoinGroupResponseCodec } from '../../src/protocol/generated/join-group-response.ts';
import { readMetadataRequest } from '../../src/protocol/generated/metadata-request.ts';
import {
  defaultsMetadataResponse,
  type MetadataResponse,
  MetadataResponseCodec,
} from '../../src/protocol/generated/metadata-response.ts';
import { readProduceRequest } from '../../src/protocol/generated/produce-request.ts';

interface PltWriter {
  buffer: Buffer;
}
type Parse = (correlationId: number, apiKey: number, apiVersion: number, reader: unknown) => unknown;

/** Body bytes of one of our responses, without size prefix and header. */
function responseBody(apiKey: number, version: number, body: unknown, headerBytes: number): Buffer {
  const frame = encodeResponse(apiKey, version, 1, body as never);
  return frame.subarray(4 + headerBytes);
}

void test('MetadataResponse v12 we encode parses in @platformatic/kafka', () => {
  const topicId = 'AAECAwQFBgcICQoLDA0ODw';
  const body: MetadataResponse = {
    ...defaultsMetadataResponse(),
    throttleTimeMs: 3,
    brokers: [{ nodeId: 1, host: 'localhost', port: 9092, rack: null }],
    clusterId: 'cluster-1',
    controllerId: 1,
    topics: [
      {
        errorCode: 0,
        name: 'orders',
        topicId,
        isInternal: false,
        partitions: [
          {
            errorCode: 0,
            partitionIndex: 0,
            leaderId: 1,
            leaderEpoch: 7,
            replicaNodes: [1, 2],
            isrNodes: [1],
            offlineReplicas: [],
          },
        ],
        topicAuthorizedOperations: -2147483648,
      },
    ],
  };
  // Response header v1: correlation id + empty tag section.
  const bytes = responseBody(ApiKey.Metadata, 12, body, 5);
  const parsed = (metadataV12.parseResponse as Parse)(1, 3, 12, PltReader.from(bytes)) as {
    brokers: unknown[];
    clusterId: string;
    topics: { name: string; topicId: string; partitions: { leaderEpoch: number; replicaNodes: number[] }[] }[];
  };
  deepStrictEqual(parsed.brokers, [{ nodeId: 1, host: 'localhost', port: 9092, rack: null }]);
  equal(parsed.clusterId, 'cluster-1');
  equal(parsed.topics[0]!.name, 'orders');
  equal(parsed.topics[0]!.topicId, uuidToHex(topicId));
  equal(parsed.topics[0]!.partitions[0]!.leaderEpoch, 7);
  deepStrictEqual(parsed.topics[0]!.partitions[0]!.replicaNodes, [1, 2]);
  equal(encode(MetadataResponseCodec, body, 12).length, bytes.length);
});

void test('ApiVersionsResponse v4 (response header v0) parses in @platformatic/kafka', () => {
  const body: ApiVersionsResponse = {
    ...defaultsApiVersionsResponse(),
    apiKeys: [
      { apiKey: 0, minVersion: 3, maxVersion: 11 },
      { apiKey: 18, minVersion: 0, maxVersion: 4 },
    ],
    throttleTimeMs: 0,
  };
  const bytes = responseBody(ApiKey.ApiVersions, 4, body, 4);
  const parsed = (apiVersionsV4.parseResponse as Parse)(1, 18, 4, PltReader.from(bytes)) as {
    apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[];
  };
  deepStrictEqual(
    parsed.apiKeys.map(({ apiKey, minVersion, maxVersion }) => ({ apiKey, minVersion, maxVersion })),
    body.apiKeys,
  );
});

void test('FindCoordinatorResponse v6 parses in @platformatic/kafka', () => {
  const body: FindCoordinatorResponse = {
    ...defaultsFindCoordinatorResponse(),
    coordinators: [{ key: 'group-a', nodeId: 2, host: 'b2', port: 9093, errorCode: 0, errorMessage: null }],
  };
  const bytes = responseBody(ApiKey.FindCoordinator, 6, body, 5);
  const parsed = (findCoordinatorV6.parseResponse as Parse)(1, 10, 6, PltReader.from(bytes)) as {
    coordinators: unknown[];
  };
  deepStrictEqual(parsed.coordinators, body.coordinators);
});

void test('JoinGroupResponse v9 parses in @platformatic/kafka and round-trips here', () => {
  const body = {
    ...defaultsJoinGroupResponse(),
    generationId: 4,
    protocolType: 'consumer',
    protocolName: 'range',
    leader: 'm-1',
    memberId: 'm-1',
    members: [{ memberId: 'm-1', groupInstanceId: null, metadata: Buffer.from([0, 1, 2]) }],
  };
  const bytes = responseBody(ApiKey.JoinGroup, 9, body, 5);
  const parsed = (joinGroupV9.parseResponse as Parse)(1, 11, 9, PltReader.from(bytes)) as {
    generationId: number;
    members: { memberId: string; metadata: Buffer }[];
  };
  equal(parsed.generationId, 4);
  deepStrictEqual([...parsed.members[0]!.metadata], [0, 1, 2]);
  const frame = encodeResponse(ApiKey.JoinGroup, 9, 77, body);
  deepStrictEqual(decodeResponse(ApiKey.JoinGroup, 9, frame.subarray(4)).body, body);
  equal(JoinGroupResponseCodec.size(body, 9), bytes.length);
});

void test('request bodies built by @platformatic/kafka decode here', () => {
  const md = (metadataV12.createRequest as (...a: unknown[]) => PltWriter)(['a', 'b'], true, false).buffer;
  const mdReq = readMetadataRequest(new Reader(md), 12);
  deepStrictEqual(
    mdReq.topics?.map((t) => t.name),
    ['a', 'b'],
  );
  equal(mdReq.allowAutoTopicCreation, true);

  const fc = (findCoordinatorV6.createRequest as (...a: unknown[]) => PltWriter)(0, ['g1']).buffer;
  const fcReq = readFindCoordinatorRequest(new Reader(fc), 6);
  deepStrictEqual(fcReq.coordinatorKeys, ['g1']);
  equal(fcReq.keyType, 0);

  const jg = (joinGroupV9.createRequest as (...a: unknown[]) => PltWriter)(
    'g1',
    45000,
    60000,
    '',
    null,
    'consumer',
    [{ name: 'range', metadata: Buffer.from([9]) }],
    'joining',
  ).buffer;
  const jgReq = readJoinGroupRequest(new Reader(jg), 9);
  equal(jgReq.groupId, 'g1');
  equal(jgReq.sessionTimeoutMs, 45000);
  equal(jgReq.groupInstanceId, null);
  equal(jgReq.reason, 'joining');
  deepStrictEqual([...jgReq.protocols[0]!.metadata], [9]);
});

void test('FetchResponse v17 with a real record batch and a tagged field parses in @platformatic/kafka', () => {
  // A record batch produced by @platformatic/kafka itself, taken from a captured Produce request.
  const captured = readFileSync(new URL('../fixtures/capture/platformatic-none/02-Produce-v8.bin', import.meta.url));
  const produce = decodeRequest(captured);
  if (produce.unsupported || produce.apiKey !== ApiKey.Produce) throw new Error('fixture is not a Produce request');
  const batch = produce.body.topicData[0]!.partitionData[0]!.records!;
  const topicId = 'AAECAwQFBgcICQoLDA0ODw';
  const body: FetchResponse = {
    ...defaultsFetchResponse(),
    sessionId: 9,
    responses: [
      {
        topic: '',
        topicId,
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark: 3n,
            lastStableOffset: 3n,
            logStartOffset: 0n,
            divergingEpoch: { epoch: -1, endOffset: -1n },
            currentLeader: { leaderId: 1, leaderEpoch: 5 }, // not default: written as tagged field 1
            snapshotId: { endOffset: -1n, epoch: -1 },
            abortedTransactions: null,
            preferredReadReplica: -1,
            records: batch,
          },
        ],
      },
    ],
  };
  const bytes = responseBody(ApiKey.Fetch, 17, body, 5);
  const parsed = (fetchV17.parseResponse as Parse)(1, 1, 17, PltReader.from(bytes)) as {
    sessionId: number;
    responses: { topicId: string; partitions: { highWatermark: bigint; records?: unknown[] }[] }[];
  };
  equal(parsed.sessionId, 9);
  equal(parsed.responses[0]!.topicId, uuidToHex(topicId));
  equal(parsed.responses[0]!.partitions[0]!.highWatermark, 3n);
  equal(parsed.responses[0]!.partitions[0]!.records?.length, 1, 'one record batch');
  deepStrictEqual(decodeResponse(ApiKey.Fetch, 17, encodeResponse(ApiKey.Fetch, 17, 1, body).subarray(4)).body, body);
});

void test('ProduceRequest v11 built by @platformatic/kafka decodes here', () => {
  const writer = (produceV11.createRequest as (...a: unknown[]) => PltWriter)(1, 1500, [
    { topic: 'orders', key: Buffer.from('k'), value: Buffer.from('v'), partition: 2, timestamp: 1000n },
  ]);
  const produce = readProduceRequest(new Reader(writer.buffer), 11);
  equal(produce.transactionalId, null);
  equal(produce.acks, 1);
  equal(produce.timeoutMs, 1500);
  equal(produce.topicData[0]!.name, 'orders');
  const partition = produce.topicData[0]!.partitionData[0]!;
  equal(partition.index, 2);
  ok(partition.records !== null && partition.records.length > 61);
  equal(partition.records.readInt8(16), 2, 'record batch magic 2');
});
