import { deepStrictEqual, equal, throws } from 'node:assert/strict';
import { test } from 'node:test';
import { encodeResponse, encodeResponseParts } from '../../src/protocol/frame.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import type { FetchResponse } from '../../src/protocol/generated/fetch-response.ts';
import { fetchPartition as partition } from '../helpers/fetch-partition.ts';

const big = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

void test('encodeResponseParts: the parts are the frame encodeResponse writes, large byte strings by reference', () => {
  const a = big(5000, 1);
  const b = big(300, 2);
  const c = big(7000, 3);
  const body: FetchResponse = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 7,
    responses: [
      { topic: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: [partition(0, a), partition(1, b)] },
      { topic: 'u', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: [partition(0, null), partition(2, c)] },
    ],
    nodeEndpoints: [],
  };
  for (const version of [4, 11, 12, 16]) {
    const whole = encodeResponse(ApiKey.Fetch, version, 42, body).subarray(4);
    const parts = encodeResponseParts(ApiKey.Fetch, version, 42, body, 1024, a.length + c.length);
    deepStrictEqual(Buffer.concat(parts), whole);
    equal(parts.filter((p) => p === a || p === c).length, 2, `v${version}: records kept by reference`);
  }
});

void test('encodeResponseParts: a wrong gathered byte count is an error', () => {
  const body: FetchResponse = {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [{ topic: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: [partition(0, big(4000, 1))] }],
    nodeEndpoints: [],
  };
  throws(() => encodeResponseParts(ApiKey.Fetch, 12, 1, body, 1024, 3000));
  throws(() => encodeResponseParts(ApiKey.Fetch, 12, 1, body, 1024, 5000));
});
