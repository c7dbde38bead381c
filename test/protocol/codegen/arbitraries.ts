/**
 * fast-check arbitraries built from the same normalized spec model the
 * generator uses, so every field of every version is exercised.
 */
import fc from 'fast-check';
import type { TaggedField } from '../../../src/protocol/codec/message.ts';
import * as generated from '../../../src/protocol/generated/index.ts';
import {
  contains,
  type FieldSpec,
  type FieldType,
  intersect,
  isEmpty,
  type MessageSpec,
  type PrimitiveName,
  type StructSpec,
} from '../../../tools/codegen/spec.ts';

type Obj = Record<string, unknown>;

const registry = generated as unknown as Record<string, unknown>;

/** Fresh defaults of a struct, from the generated `defaultsX` function. */
export function structDefaults(s: StructSpec): Obj {
  const fn = registry[`defaults${s.tsName}`];
  if (typeof fn !== 'function') throw new Error(`no defaults${s.tsName}`);
  return (fn as () => Obj)();
}

function isFlexible(msg: MessageSpec, version: number): boolean {
  return contains(msg.flexibleVersions, version);
}

/** Whether `f` is on the wire at `version` (regular or tagged). */
export function isPresent(msg: MessageSpec, f: FieldSpec, version: number): boolean {
  if (f.tag !== undefined) {
    return isFlexible(msg, version) && contains(intersect(f.versions, f.taggedVersions), version);
  }
  return contains(f.versions, version);
}

function typeNullable(f: FieldSpec): boolean {
  return (
    (f.type.kind === 'primitive' && f.type.name === 'records') || !isEmpty(intersect(f.nullableVersions, f.versions))
  );
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function primitive(name: PrimitiveName): fc.Arbitrary<unknown> {
  switch (name) {
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'uint32':
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case 'int64':
      return fc.bigInt({ min: I64_MIN, max: I64_MAX });
    case 'float64':
      return fc.double();
    case 'bool':
      return fc.boolean();
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64url'));
    case 'string':
      return fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 4 }));
    case 'bytes':
    case 'records':
      return fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b));
  }
}

function typeArb(msg: MessageSpec, t: FieldType, version: number, depth: number): fc.Arbitrary<unknown> {
  if (t.kind === 'primitive') return primitive(t.name);
  if (t.kind === 'struct') return structArb(msg, t.struct, version, depth + 1);
  return fc.array(typeArb(msg, t.element, version, depth), { maxLength: depth > 2 ? 1 : 3 });
}

function unknownTagsArb(): fc.Arbitrary<TaggedField[] | undefined> {
  return fc.option(
    fc
      .uniqueArray(fc.integer({ min: 1000, max: 100000 }), { minLength: 1, maxLength: 3 })
      .chain((tags) =>
        fc.tuple(
          ...tags
            .sort((a, b) => a - b)
            .map((tag) => fc.uint8Array({ maxLength: 6 }).map((d) => ({ tag, data: Buffer.from(d) }))),
        ),
      ),
    { nil: undefined, freq: 3 },
  );
}

/**
 * A random struct value for `version`: present fields get random values (null only
 * where the version allows it); absent fields get random values too, which the
 * encoder must skip.
 */
export function structArb(msg: MessageSpec, s: StructSpec, version: number, depth = 0): fc.Arbitrary<Obj> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of s.fields) {
    const present = isPresent(msg, f, version);
    if (!present) {
      // Absent in this version: the encoder skips it whatever it holds. Keep it cheap (the default).
      shape[f.prop] = fc.constant(undefined);
      continue;
    }
    let arb = typeArb(msg, f.type, version, depth);
    if (contains(f.nullableVersions, version) && typeNullable(f)) arb = fc.option(arb, { nil: null, freq: 4 });
    shape[f.prop] = arb;
  }
  const flexible = isFlexible(msg, version);
  return fc
    .record({ fields: fc.record(shape), unknown: flexible ? unknownTagsArb() : fc.constant(undefined) })
    .map(({ fields, unknown }) => {
      const out = structDefaults(s);
      for (const f of s.fields) if (fields[f.prop] !== undefined) out[f.prop] = fields[f.prop];
      if (unknown !== undefined) out.unknownTaggedFields = unknown;
      return out;
    });
}

/**
 * Scrambles fields that `version` does not carry (sets them to non-default values), so a
 * round trip proves the encoder skipped them; returns the message to encode.
 */
export function scrambleAbsent(msg: MessageSpec, s: StructSpec, value: Obj, version: number): Obj {
  const out: Obj = { ...value };
  for (const f of s.fields) {
    if (isPresent(msg, f, version)) {
      const v = value[f.prop];
      if (f.type.kind === 'struct' && v !== null && v !== undefined) {
        out[f.prop] = scrambleAbsent(msg, f.type.struct, v as Obj, version);
      } else if (f.type.kind === 'array' && f.type.element.kind === 'struct' && Array.isArray(v)) {
        const el = f.type.element.struct;
        out[f.prop] = v.map((x: Obj) => scrambleAbsent(msg, el, x, version));
      }
      continue;
    }
    out[f.prop] = scrambleValue(f);
  }
  return out;
}

function scrambleValue(f: FieldSpec): unknown {
  const t = f.type;
  if (t.kind === 'array') return [];
  if (t.kind === 'struct') return typeNullable(f) ? null : structDefaults(t.struct);
  switch (t.name) {
    case 'int64':
      return 12345n;
    case 'bool':
      return true;
    case 'string':
      return 'absent';
    case 'uuid':
      return 'AQIDBAUGBwgJCgsMDQ4PEA';
    case 'bytes':
    case 'records':
      return Buffer.from([9, 9]);
    default:
      return 77;
  }
}
