/**
 * Loads Kafka's JSON message specs and normalizes them into a model the
 * emitter (and the round-trip tests) share: resolved struct types, parsed
 * version ranges, camelCase property names and exported TypeScript names.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Inclusive version range; `max` is Infinity for open ranges ("3+"). */
export interface VersionRange {
  min: number;
  max: number;
}

export const NO_VERSIONS: VersionRange = { min: 0, max: -1 };

export type PrimitiveName =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint16'
  | 'uint32'
  | 'float64'
  | 'bool'
  | 'uuid'
  | 'string'
  | 'bytes'
  | 'records';

export type FieldType =
  | { kind: 'primitive'; name: PrimitiveName }
  | { kind: 'struct'; struct: StructSpec }
  | { kind: 'array'; element: FieldType };

export interface FieldSpec {
  /** Name as in the spec (PascalCase). */
  name: string;
  /** Property name in TypeScript (camelCase). */
  prop: string;
  type: FieldType;
  versions: VersionRange;
  nullableVersions: VersionRange;
  /** Tag number for tagged fields. */
  tag: number | undefined;
  taggedVersions: VersionRange;
  /** Field-level override of flexibleVersions (only RequestHeader.ClientId uses it: "none"). */
  flexibleVersions: VersionRange | undefined;
  /** Raw `default` from the spec, if any. */
  default: string | number | boolean | null | undefined;
}

export interface StructSpec {
  /** Struct name in the spec. */
  name: string;
  /** Exported TypeScript name (prefixed by the message name unless it already starts with it). */
  tsName: string;
  fields: FieldSpec[];
  /** Versions in which the struct can appear (the message range for common structs). */
  context: VersionRange;
}

export type SpecType = 'request' | 'response' | 'header' | 'data' | 'metadata';

export interface MessageSpec {
  /** Folder under the spec root: protocol, metadata, group-coordinator, ... */
  dir: string;
  name: string;
  type: SpecType;
  apiKey: number;
  listeners: string[];
  validVersions: VersionRange;
  flexibleVersions: VersionRange;
  deprecatedVersions: VersionRange;
  latestVersionUnstable: boolean;
  /** The top-level struct (tsName = message name). */
  root: StructSpec;
  /** Every struct of the message, root first, in definition order. */
  structs: StructSpec[];
}

/** Folders read, in order. */
export const SPEC_DIRS = [
  'protocol',
  'metadata',
  'group-coordinator',
  'transaction-coordinator',
  'raft',
  'share-coordinator',
] as const;

/** Removes `//` comments outside string literals. */
export function stripJsonComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') {
        out += text[i + 1] ?? '';
        i++;
      } else if (c === '"') {
        inString = false;
      }
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

/** Parses "0+", "3-7", "5", "none". */
export function parseVersions(s: string | undefined, fallback: VersionRange = NO_VERSIONS): VersionRange {
  if (s === undefined) return fallback;
  const t = s.trim();
  if (t === 'none') return NO_VERSIONS;
  if (t.endsWith('+')) return { min: Number.parseInt(t.slice(0, -1), 10), max: Number.POSITIVE_INFINITY };
  const dash = t.indexOf('-');
  if (dash > 0) return { min: Number.parseInt(t.slice(0, dash), 10), max: Number.parseInt(t.slice(dash + 1), 10) };
  const v = Number.parseInt(t, 10);
  if (Number.isNaN(v)) throw new Error(`bad version range ${JSON.stringify(s)}`);
  return { min: v, max: v };
}

export function isEmpty(r: VersionRange): boolean {
  return r.max < r.min;
}

export function intersect(a: VersionRange, b: VersionRange): VersionRange {
  return { min: Math.max(a.min, b.min), max: Math.min(a.max, b.max) };
}

export function contains(r: VersionRange, v: number): boolean {
  return v >= r.min && v <= r.max;
}

export function camelCase(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

const PRIMITIVES = new Set<string>([
  'int8',
  'int16',
  'int32',
  'int64',
  'uint16',
  'uint32',
  'float64',
  'bool',
  'uuid',
  'string',
  'bytes',
  'records',
]);

interface RawField {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number | string;
  flexibleVersions?: string;
  default?: string | number | boolean | null;
  fields?: RawField[];
}

interface RawMessage {
  apiKey?: number;
  type: SpecType;
  name: string;
  listeners?: string[];
  validVersions: string;
  flexibleVersions?: string;
  deprecatedVersions?: string;
  latestVersionUnstable?: boolean;
  fields: RawField[];
  commonStructs?: { name: string; versions?: string; fields: RawField[] }[];
}

export function parseMessage(dir: string, raw: RawMessage): MessageSpec {
  const validVersions = parseVersions(raw.validVersions);
  const flexibleVersions = parseVersions(raw.flexibleVersions ?? 'none');
  const tsNameOf = (structName: string): string =>
    structName.startsWith(raw.name) ? structName : `${raw.name}${structName}`;

  // Pass 1: create every struct (common and inline) so references resolve in any order.
  const byName = new Map<string, { spec: StructSpec; raw: RawField[] }>();
  const structs: StructSpec[] = [];
  const root: StructSpec = { name: raw.name, tsName: raw.name, fields: [], context: validVersions };
  structs.push(root);
  const declare = (name: string, fields: RawField[], context: VersionRange): StructSpec => {
    if (byName.has(name)) throw new Error(`${raw.name}: struct ${name} defined twice`);
    const spec: StructSpec = { name, tsName: tsNameOf(name), fields: [], context };
    byName.set(name, { spec, raw: fields });
    structs.push(spec);
    return spec;
  };
  for (const cs of raw.commonStructs ?? []) declare(cs.name, cs.fields, validVersions);
  const collectInline = (fields: RawField[], context: VersionRange): void => {
    for (const f of fields) {
      if (f.fields !== undefined) {
        const structName = f.type.startsWith('[]') ? f.type.slice(2) : f.type;
        const ctx = intersect(context, parseVersions(f.versions));
        declare(structName, f.fields, ctx);
        collectInline(f.fields, ctx);
      }
    }
  };
  collectInline(raw.fields, validVersions);
  for (const cs of raw.commonStructs ?? []) collectInline(cs.fields, validVersions);

  const resolveType = (t: string): FieldType => {
    if (t.startsWith('[]')) return { kind: 'array', element: resolveType(t.slice(2)) };
    if (PRIMITIVES.has(t)) return { kind: 'primitive', name: t as PrimitiveName };
    const s = byName.get(t);
    if (s === undefined) throw new Error(`${raw.name}: unknown type ${t}`);
    return { kind: 'struct', struct: s.spec };
  };
  const toFields = (fields: RawField[]): FieldSpec[] =>
    fields.map((f) => {
      const versions = parseVersions(f.versions);
      return {
        name: f.name,
        prop: camelCase(f.name),
        type: resolveType(f.type),
        versions,
        nullableVersions: parseVersions(f.nullableVersions),
        tag: f.tag === undefined ? undefined : Number(f.tag),
        taggedVersions: f.tag === undefined ? NO_VERSIONS : parseVersions(f.taggedVersions, versions),
        flexibleVersions: f.flexibleVersions === undefined ? undefined : parseVersions(f.flexibleVersions),
        default: f.default,
      };
    });
  root.fields = toFields(raw.fields);
  for (const { spec, raw: rf } of byName.values()) spec.fields = toFields(rf);

  return {
    dir,
    name: raw.name,
    type: raw.type,
    apiKey: raw.apiKey ?? -1,
    listeners: raw.listeners ?? [],
    validVersions,
    flexibleVersions,
    deprecatedVersions: parseVersions(raw.deprecatedVersions ?? 'none'),
    latestVersionUnstable: raw.latestVersionUnstable === true,
    root,
    structs,
  };
}

/** Loads every spec file under `specDir`, sorted by folder then file name. */
export function loadSpecs(specDir: string): MessageSpec[] {
  const out: MessageSpec[] = [];
  for (const dir of SPEC_DIRS) {
    const files = readdirSync(join(specDir, dir))
      .filter((f) => f.endsWith('.json'))
      .sort();
    for (const file of files) {
      const raw = JSON.parse(stripJsonComments(readFileSync(join(specDir, dir, file), 'utf8'))) as RawMessage;
      out.push(parseMessage(dir, raw));
    }
  }
  return out;
}
