import { deepStrictEqual, equal, ok, throws } from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DecodeError } from '../../src/protocol/codec/errors.ts';
import { encode } from '../../src/protocol/codec/message.ts';
import { Reader } from '../../src/protocol/codec/reader.ts';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  peekCorrelationId,
} from '../../src/protocol/frame.ts';
import { ApiKey, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/api-keys.ts';
import { ApiVersionsRequestCodec } from '../../src/protocol/generated/api-versions-request.ts';
import {
  type ApiVersionsResponse,
  defaultsApiVersionsResponse,
  readApiVersionsResponse,
} from '../../src/protocol/generated/api-versions-response.ts';
import { ErrorCode, errorInfo } from '../../src/protocol/generated/errors.ts';
import { defaultsMetadataRequest, type MetadataRequest } from '../../src/protocol/generated/metadata-request.ts';
import { DEFAULT_SPEC_DIR } from '../../tools/codegen/main.ts';
import { loadSpecs } from '../../tools/codegen/spec.ts';
import { structArb } from './codegen/arbitraries.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s).toString('hex');

void describe('known bytes', () => {
  // ApiVersions v3 request, header v2: apiKey 18, version 3, correlation 7, clientId "c"
  // (classic nullable string even in header v2), header tags, then the compact body.
  const apiVersionsV3 = hex(`0012 0003 00000007 0001${ascii('c')} 00` + `07${ascii('runnel')} 06${ascii('0.1.0')} 00`);

  void test('ApiVersionsRequest v3 decodes from hand-built bytes', () => {
    const req = decodeRequest(apiVersionsV3);
    ok(!req.unsupported);
    equal(req.apiKey, ApiKey.ApiVersions);
    equal(req.apiVersion, 3);
    equal(req.headerVersion, 2);
    deepStrictEqual(req.header, { requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: 'c' });
    if (req.apiKey === ApiKey.ApiVersions) {
      deepStrictEqual(req.body, { clientSoftwareName: 'runnel', clientSoftwareVersion: '0.1.0' });
    }
  });

  void test('ApiVersionsRequest v3 encodes to the same bytes (with size prefix)', () => {
    const frame = encodeRequest(
      { requestApiKey: ApiKey.ApiVersions, requestApiVersion: 3, correlationId: 7, clientId: 'c' },
      { clientSoftwareName: 'runnel', clientSoftwareVersion: '0.1.0' },
    );
    equal(frame.readInt32BE(0), apiVersionsV3.length);
    deepStrictEqual(frame.subarray(4), apiVersionsV3);
  });

  void test('MetadataRequest v1: header v1, nullable topic array', () => {
    const body: MetadataRequest = {
      ...defaultsMetadataRequest(),
      topics: [{ topicId: 'AAAAAAAAAAAAAAAAAAAAAA', name: 'foo' }],
    };
    const frame = encodeRequest(
      { requestApiKey: ApiKey.Metadata, requestApiVersion: 1, correlationId: 1, clientId: null },
      body,
    );
    deepStrictEqual(frame.subarray(4), hex(`0003 0001 00000001 ffff 00000001 0003${ascii('foo')}`));
    const all = encodeRequest(
      { requestApiKey: ApiKey.Metadata, requestApiVersion: 1, correlationId: 2, clientId: 'x' },
      { ...defaultsMetadataRequest(), topics: null },
    );
    deepStrictEqual(all.subarray(4), hex(`0003 0001 00000002 0001${ascii('x')} ffffffff`));
    const back = decodeRequest(all.subarray(4));
    ok(!back.unsupported && back.apiKey === ApiKey.Metadata);
    if (back.apiKey === ApiKey.Metadata) equal(back.body.topics, null);
  });

  void test('MetadataRequest v0 cannot carry null topics (non-nullable before v1)', () => {
    throws(() =>
      encodeRequest(
        { requestApiKey: ApiKey.Metadata, requestApiVersion: 0, correlationId: 1, clientId: null },
        { ...defaultsMetadataRequest(), topics: null },
      ),
    );
    const frame = hex('0003 0000 00000001 ffff ffffffff');
    throws(
      () => decodeRequest(frame),
      (e: unknown) => e instanceof DecodeError && e.reason === 'unexpected-null',
    );
  });

  void test('ApiVersionsResponse always uses response header v0; tagged fields only when not default', () => {
    const body: ApiVersionsResponse = {
      ...defaultsApiVersionsResponse(),
      apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 4 }],
      finalizedFeaturesEpoch: 5n,
    };
    const frame = encodeResponse(ApiKey.ApiVersions, 3, 9, body);
    // size | correlation id (no header tags) | error | compact array of 1 | key,min,max,tags | throttle
    // | tag section: 1 field, tag 1, 8 bytes, int64 5
    const expected = hex('00000009 0000 02 0012 0000 0004 00 00000000 01 01 08 0000000000000005');
    equal(frame.readInt32BE(0), expected.length);
    deepStrictEqual(frame.subarray(4), expected);
    const decoded = decodeResponse(ApiKey.ApiVersions, 3, frame.subarray(4));
    equal(decoded.correlationId, 9);
    deepStrictEqual(decoded.body, body);
    // At default, the tag is omitted.
    const plain = encodeResponse(ApiKey.ApiVersions, 3, 9, { ...body, finalizedFeaturesEpoch: -1n });
    deepStrictEqual(plain.subarray(-5), hex('00000000 00'));
  });

  void test('unknown tagged fields survive decode and are written back sorted', () => {
    const body = hex(`07${ascii('runnel')} 06${ascii('0.1.0')} 02 05 01 aa 02 02 bbcc`);
    const msg = ApiVersionsRequestCodec.read(new Reader(body), 3);
    deepStrictEqual(msg.unknownTaggedFields, [
      { tag: 5, data: hex('aa') },
      { tag: 2, data: hex('bbcc') },
    ]);
    deepStrictEqual(
      encode(ApiVersionsRequestCodec, msg, 3),
      hex(`07${ascii('runnel')} 06${ascii('0.1.0')} 02 02 02 bbcc 05 01 aa`),
    );
  });

  void test('a known tagged field whose declared size disagrees is a DecodeError', () => {
    const base = encodeResponse(ApiKey.ApiVersions, 3, 1, {
      ...defaultsApiVersionsResponse(),
      finalizedFeaturesEpoch: 5n,
    });
    const bad = Buffer.from(base.subarray(4));
    // Declared size 8 -> 7: the int64 would overrun its slot.
    bad[bad.length - 9] = 7;
    throws(
      () => readApiVersionsResponse(new Reader(bad.subarray(4)), 3),
      (e: unknown) => e instanceof DecodeError,
    );
  });
});

void describe('header versions', () => {
  void test('derived from flexible versions with Kafka special cases', () => {
    equal(requestHeaderVersion(ApiKey.Produce, 8), 1);
    equal(requestHeaderVersion(ApiKey.Produce, 9), 2);
    equal(requestHeaderVersion(ApiKey.ControlledShutdown, 0), 0);
    equal(requestHeaderVersion(ApiKey.ControlledShutdown, 1), 1);
    equal(responseHeaderVersion(ApiKey.Produce, 9), 1);
    equal(responseHeaderVersion(ApiKey.Produce, 8), 0);
    equal(responseHeaderVersion(ApiKey.ApiVersions, 3), 0);
    equal(requestHeaderVersion(ApiKey.ApiVersions, 3), 2);
  });

  void test('ControlledShutdown v0 request has no client id', () => {
    const frame = encodeRequest(
      { requestApiKey: ApiKey.ControlledShutdown, requestApiVersion: 0, correlationId: 3, clientId: 'ignored' },
      { brokerId: 1, brokerEpoch: -1n },
    );
    deepStrictEqual(frame.subarray(4), hex('0007 0000 00000003 00000001'));
    const req = decodeRequest(frame.subarray(4));
    ok(!req.unsupported);
    equal(req.header.clientId, null);
    equal(req.headerVersion, 0);
  });
});

void describe('unsupported requests', () => {
  void test('version out of range: header parsed, body undefined', () => {
    const frame = hex(`0012 0063 0000002a 0003${ascii('cli')} 00 ffff`);
    const req = decodeRequest(frame);
    ok(req.unsupported);
    equal(req.body, undefined);
    equal(req.apiKey, 18);
    equal(req.apiVersion, 99);
    deepStrictEqual(req.header, { requestApiKey: 18, requestApiVersion: 99, correlationId: 42, clientId: 'cli' });
  });

  void test('unknown API key, client id unreadable', () => {
    const req = decodeRequest(hex('7fff 0000 00000005 00ff'));
    ok(req.unsupported);
    equal(req.header.correlationId, 5);
    equal(req.header.clientId, null);
  });

  void test('frames too short for a header are DecodeErrors', () => {
    throws(
      () => decodeRequest(hex('0012 0003 0000')),
      (e: unknown) => e instanceof DecodeError && e.reason === 'truncated',
    );
  });

  void test('encoding an unknown key or version is a RangeError (a caller bug)', () => {
    throws(() => encodeResponse(9999, 0, 1, {}), RangeError);
    throws(() => encodeResponse(ApiKey.Produce, 99, 1, {} as never), RangeError);
    throws(() => decodeResponse(ApiKey.Produce, -1, Buffer.alloc(8)), RangeError);
  });
});

void describe('errors', () => {
  void test('error table', () => {
    equal(ErrorCode.NONE, 0);
    equal(ErrorCode.NOT_LEADER_OR_FOLLOWER, 6);
    equal(ErrorCode.UNSUPPORTED_VERSION, 35);
    equal(ErrorCode.UNKNOWN_SERVER_ERROR, -1);
    deepStrictEqual(errorInfo(6), { name: 'NOT_LEADER_OR_FOLLOWER', code: 6, retriable: true });
    deepStrictEqual(errorInfo(1), { name: 'OFFSET_OUT_OF_RANGE', code: 1, retriable: false });
    deepStrictEqual(errorInfo(5000), { name: 'UNKNOWN_ERROR_5000', code: 5000, retriable: false });
    for (let code = -1; code <= 130; code++) ok(!errorInfo(code).name.startsWith('UNKNOWN_ERROR_'), `code ${code}`);
  });

  void test('peekCorrelationId', () => {
    equal(peekCorrelationId(hex('0000002a00')), 42);
    throws(() => peekCorrelationId(hex('00')), DecodeError);
  });
});

void describe('frame round trips (property, every API)', () => {
  const specs = loadSpecs(DEFAULT_SPEC_DIR);
  const requests = specs.filter((s) => s.type === 'request');
  const responses = new Map(specs.filter((s) => s.type === 'response').map((s) => [s.apiKey, s]));
  const pick = fc
    .constantFrom(...requests)
    .chain((spec) =>
      fc.integer({ min: spec.validVersions.min, max: spec.validVersions.max }).map((v) => ({ spec, v })),
    );

  void test('encodeRequest -> decodeRequest', () => {
    fc.assert(
      fc.property(
        pick.chain(({ spec, v }) =>
          fc.record({
            spec: fc.constant(spec),
            v: fc.constant(v),
            body: structArb(spec, spec.root, v),
            correlationId: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
            clientId: fc.option(fc.string({ maxLength: 10 }), { nil: null }),
          }),
        ),
        ({ spec, v, body, correlationId, clientId }) => {
          const frame = encodeRequest(
            { requestApiKey: spec.apiKey, requestApiVersion: v, correlationId, clientId },
            body as never,
          );
          equal(frame.readInt32BE(0), frame.length - 4);
          const req = decodeRequest(frame.subarray(4));
          ok(!req.unsupported);
          equal(req.header.correlationId, correlationId);
          equal(req.header.clientId, req.headerVersion === 0 ? null : clientId);
          deepStrictEqual(req.body, body);
        },
      ),
      { numRuns: 400, seed: 11 },
    );
  });

  void test('encodeResponse -> decodeResponse', () => {
    fc.assert(
      fc.property(
        pick.chain(({ spec, v }) => {
          const resp = responses.get(spec.apiKey)!;
          return fc.record({
            apiKey: fc.constant(spec.apiKey),
            v: fc.constant(v),
            body: structArb(resp, resp.root, v),
            correlationId: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
          });
        }),
        ({ apiKey, v, body, correlationId }) => {
          const frame = encodeResponse(apiKey, v, correlationId, body as never);
          equal(frame.readInt32BE(0), frame.length - 4);
          equal(peekCorrelationId(frame.subarray(4)), correlationId);
          const decoded = decodeResponse(apiKey, v, frame.subarray(4));
          equal(decoded.correlationId, correlationId);
          deepStrictEqual(decoded.body, body);
        },
      ),
      { numRuns: 400, seed: 12 },
    );
  });
});
