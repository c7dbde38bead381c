import { equal, ok, throws } from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DecodeError } from '../../src/protocol/codec/errors.ts';
import { decodeRequest, encodeRequest } from '../../src/protocol/frame.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { DEFAULT_SPEC_DIR } from '../../tools/codegen/main.ts';
import { loadSpecs, type MessageSpec } from '../../tools/codegen/spec.ts';
import { structArb } from './codegen/arbitraries.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? 7);
const requests = loadSpecs(DEFAULT_SPEC_DIR).filter((s) => s.type === 'request');

/** Decoding must either succeed or throw DecodeError; anything else is a codec bug. */
function decodeOnlyThrowsDecodeError(frame: Buffer): void {
  try {
    decodeRequest(frame);
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      throw new Error(`non-DecodeError for frame ${frame.toString('hex')}: ${String(e)}`, { cause: e });
    }
  }
}

/** A valid request frame (without the size prefix) for a random API and version. */
const validFrame: fc.Arbitrary<Buffer> = fc
  .constantFrom(...requests)
  .chain((spec: MessageSpec) =>
    fc
      .integer({ min: spec.validVersions.min, max: spec.validVersions.max })
      .chain((version) => structArb(spec, spec.root, version).map((body) => ({ spec, version, body }))),
  )
  .chain(({ spec, version, body }) =>
    fc
      .record({ correlationId: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), clientId: fc.option(fc.string()) })
      .map(({ correlationId, clientId }) =>
        encodeRequest(
          { requestApiKey: spec.apiKey, requestApiVersion: version, correlationId, clientId: clientId ?? null },
          body as never,
        ).subarray(4),
      ),
  );

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'huge'; at: number; value: number }
  | { kind: 'byte'; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('huge' as const),
    at: fc.nat(),
    value: fc.constantFrom(0x7fffffff, 0xffffffff, 0x80000000, 0x7fff0000, 0xfffffffe),
  }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7f, 0x80, 0xff) }),
);

function mutate(frame: Buffer, mutations: Mutation[]): Buffer {
  let out = Buffer.from(frame);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    switch (m.kind) {
      case 'flip':
        out[at]! ^= 1 << m.bit;
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'huge':
        if (at + 4 <= out.length) out.writeUInt32BE(m.value, at);
        break;
      case 'byte':
        out[at] = m.value;
        break;
    }
  }
  return out;
}

void test('random bytes: decodeRequest throws only DecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => decodeOnlyThrowsDecodeError(Buffer.from(bytes))),
    { numRuns: RUNS * 3, seed: SEED },
  );
});

void test('random bytes behind a valid api key/version prefix: only DecodeError', () => {
  fc.assert(
    fc.property(fc.constantFrom(...requests), fc.nat(), fc.uint8Array({ maxLength: 128 }), (spec, v, tail) => {
      const version = spec.validVersions.min + (v % (spec.validVersions.max - spec.validVersions.min + 1));
      const head = Buffer.alloc(4);
      head.writeInt16BE(spec.apiKey, 0);
      head.writeInt16BE(version, 2);
      decodeOnlyThrowsDecodeError(Buffer.concat([head, Buffer.from(tail)]));
    }),
    { numRuns: RUNS * 3, seed: SEED + 1 },
  );
});

void test('mutated valid frames (bit flips, truncation, huge lengths): only DecodeError', () => {
  fc.assert(
    fc.property(validFrame, fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, mutations) => {
      decodeRequest(frame); // the unmutated frame decodes
      decodeOnlyThrowsDecodeError(mutate(frame, mutations));
    }),
    { numRuns: RUNS, seed: SEED + 2 },
  );
});

void test('every truncation of a valid frame is a DecodeError', () => {
  fc.assert(
    fc.property(validFrame, (frame) => {
      // Trailing bytes are ignored, so only cuts that remove part of a field must fail;
      // cutting the last byte of a flexible frame always removes the final tag count.
      for (let cut = 0; cut < Math.min(frame.length, 8); cut++) {
        throws(() => decodeRequest(frame.subarray(0, cut)), DecodeError);
      }
      for (let cut = 8; cut < frame.length; cut++) decodeOnlyThrowsDecodeError(frame.subarray(0, cut));
    }),
    { numRuns: Math.ceil(RUNS / 3), seed: SEED + 3 },
  );
});

void test('a frame declaring a 2 GiB string or bytes does not allocate it', () => {
  const before = process.memoryUsage().arrayBuffers;
  // ApiVersions v3: header v2 then ClientSoftwareName as a compact string of length 2^31.
  const hugeString = Buffer.from('0012000300000001ffff00' + '8180808008' + '41', 'hex');
  throws(
    () => decodeRequest(hugeString),
    (e: unknown) => e instanceof DecodeError && e.reason === 'length-exceeds-frame',
  );
  // Produce v3: transactionalId null, acks, timeout, 1 topic "t", 1 partition, records int32 length 0x7fffffff.
  const hugeBytes = Buffer.from(
    `0000000300000001ffff ffff 0001 00000000 00000001 000174 00000001 00000000 7fffffff 00`.replace(/\s/g, ''),
    'hex',
  );
  throws(
    () => decodeRequest(hugeBytes),
    (e: unknown) => e instanceof DecodeError && e.reason === 'length-exceeds-frame',
  );
  // A classic array count of 2^31-1 topics.
  const hugeArray = Buffer.from('0003000100000001ffff7fffffff', 'hex');
  throws(
    () => decodeRequest(hugeArray),
    (e: unknown) => e instanceof DecodeError && e.reason === 'length-exceeds-frame',
  );
  ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'no large allocation');
  equal(ApiKey.Produce, 0);
});
