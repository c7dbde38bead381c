import { DecodeError } from './errors.ts';
import { Reader } from './reader.ts';
import { sizeOfUnsignedVarint } from './varint.ts';
import { Writer } from './writer.ts';

/** A tagged field whose tag the schema does not know: kept as raw bytes and written back. */
export interface TaggedField {
  tag: number;
  data: Buffer;
}

/** Where a message lives: on the wire (request/response/header) or in a log (data/metadata). */
export type MessageType = 'request' | 'response' | 'header' | 'data' | 'metadata';

/**
 * Everything needed to size, write, read and default one message type.
 * Generated for every spec file (src/protocol/generated/*.ts).
 */
export interface MessageCodec<T> {
  readonly name: string;
  /** API key (requests/responses) or record type id (metadata records); -1 when the spec has none. */
  readonly apiKey: number;
  readonly type: MessageType;
  readonly validVersions: { readonly min: number; readonly max: number };
  /** First flexible version (compact encodings, tagged fields), or -1 if never flexible. */
  readonly flexibleVersions: number;
  /** Exact encoded size of `msg` at `version`. */
  size(msg: T, version: number): number;
  /** Writes `msg` at `version`; fields absent from `version` are skipped. */
  write(w: Writer, msg: T, version: number): void;
  /** Reads a message; fields absent from `version` get their defaults. */
  read(r: Reader, version: number): T;
  /** A fresh message with every field at its default. */
  defaults(): T;
}

/** True when `version` is one the codec knows. */
export function isSupportedVersion(codec: MessageCodec<unknown>, version: number): boolean {
  return Number.isInteger(version) && version >= codec.validVersions.min && version <= codec.validVersions.max;
}

/**
 * Encodes `msg` at `version` into one exactly-sized buffer.
 * Fields that `version` does not have are skipped, not rejected.
 */
export function encode<T>(codec: MessageCodec<T>, msg: T, version: number): Buffer {
  if (!isSupportedVersion(codec, version)) {
    throw new RangeError(`${codec.name} has no version ${version}`);
  }
  const size = codec.size(msg, version);
  const w = Writer.alloc(size);
  codec.write(w, msg, version);
  if (w.offset !== size) throw new Error(`${codec.name} v${version}: wrote ${w.offset} bytes, sized ${size}`);
  return w.buf;
}

/** Decodes a whole buffer as one message; trailing bytes are ignored. */
export function decode<T>(codec: MessageCodec<T>, buf: Buffer, version: number): T {
  if (!isSupportedVersion(codec, version)) {
    throw new DecodeError('unsupported-version', `${codec.name} has no version ${version}`);
  }
  return codec.read(new Reader(buf), version);
}

// ---- helpers used by generated code ----

/** A shared zero-length buffer: the default of non-nullable bytes fields. */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/** Returns `v`, or throws when a field that is not nullable in the version being written holds null. */
export function nonNull<T>(v: T | null, field: string): T {
  if (v === null) throw new TypeError(`${field} is null but not nullable in this version`);
  return v;
}

/** Size of unknown tagged fields (tag, size, data each). */
export function sizeOfUnknownTaggedFields(fields: readonly TaggedField[] | undefined): number {
  if (fields === undefined) return 0;
  let size = 0;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    size += sizeOfUnsignedVarint(f.tag) + sizeOfUnsignedVarint(f.data.length) + f.data.length;
  }
  return size;
}

/** `fields` sorted by tag (the same array when already sorted). */
export function sortedTaggedFields(fields: readonly TaggedField[]): readonly TaggedField[] {
  for (let i = 1; i < fields.length; i++) {
    if (fields[i - 1]!.tag > fields[i]!.tag) return [...fields].sort((a, b) => a.tag - b.tag);
  }
  return fields;
}

/**
 * Writes unknown tagged fields from index `from` whose tag is below `beforeTag`;
 * returns the index of the first one not written.
 */
export function writeUnknownTaggedFields(
  w: Writer,
  fields: readonly TaggedField[] | undefined,
  from: number,
  beforeTag: number,
): number {
  if (fields === undefined) return 0;
  let i = from;
  for (; i < fields.length && fields[i]!.tag < beforeTag; i++) {
    const f = fields[i]!;
    w.writeUnsignedVarint(f.tag);
    w.writeUnsignedVarint(f.data.length);
    w.writeRawBytes(f.data);
  }
  return i;
}

/** Structural equality of decoded values (used to omit tagged struct fields equal to their default). */
export function deepEqualValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) {
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqualValue(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!deepEqualValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
