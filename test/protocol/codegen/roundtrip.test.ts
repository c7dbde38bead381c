import { deepStrictEqual, equal } from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decode, encode, type MessageCodec } from '../../../src/protocol/codec/message.ts';
import * as generated from '../../../src/protocol/generated/index.ts';
import { DEFAULT_SPEC_DIR } from '../../../tools/codegen/main.ts';
import { loadSpecs } from '../../../tools/codegen/spec.ts';
import { scrambleAbsent, structArb } from './arbitraries.ts';

const RUNS = Number(process.env.ROUNDTRIP_RUNS ?? 20);
const specs = loadSpecs(DEFAULT_SPEC_DIR).filter((s) => s.type !== 'header' || s.name.endsWith('Header'));
const registry = generated as unknown as Record<string, MessageCodec<unknown>>;

for (const spec of specs) {
  void test(`${spec.dir}/${spec.name}: encode -> decode round trip in every version`, () => {
    const codec = registry[`${spec.name}Codec`];
    if (codec === undefined) throw new Error(`no codec for ${spec.name}`);
    for (let version = spec.validVersions.min; version <= spec.validVersions.max; version++) {
      fc.assert(
        fc.property(structArb(spec, spec.root, version), (value) => {
          const input = scrambleAbsent(spec, spec.root, value, version);
          const bytes = encode(codec, input, version);
          equal(codec.size(input, version), bytes.length);
          deepStrictEqual(decode(codec, bytes, version), value, `${spec.name} v${version}`);
        }),
        { numRuns: RUNS, seed: Number(process.env.ROUNDTRIP_SEED ?? 42) + version },
      );
    }
  });
}

void test('every message spec has a generated codec with matching versions', () => {
  for (const spec of specs) {
    const codec = registry[`${spec.name}Codec`]!;
    deepStrictEqual(codec.validVersions, { min: spec.validVersions.min, max: spec.validVersions.max });
    equal(codec.name, spec.name);
    equal(codec.apiKey, spec.apiKey);
  }
  equal(specs.filter((s) => s.type === 'request').length, 88);
  equal(specs.filter((s) => s.type === 'response').length, 88);
});

void test('defaults() of every message encode and decode back at every version', () => {
  for (const spec of specs) {
    const codec = registry[`${spec.name}Codec`]!;
    for (let version = spec.validVersions.min; version <= spec.validVersions.max; version++) {
      const value = codec.defaults();
      deepStrictEqual(decode(codec, encode(codec, value, version), version), value, `${spec.name} v${version}`);
    }
  }
});
