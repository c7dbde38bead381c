/**
 * Emits the cross-message tables: API keys (with header versions), metadata
 * record types, coordinator record types, error codes and the index.
 */
import { GENERATED_HEADER } from './emit-message.ts';
import { isEmpty, type MessageSpec } from './spec.ts';

/** kebab-case module name (without extension) for a message. */
export function moduleName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

function importCodecs(names: string[]): string[] {
  return names.map((n) => `import { ${n}Codec } from './${moduleName(n)}.ts';`);
}

function importTypes(names: string[]): string[] {
  return names.map((n) => `import type { ${n} } from './${moduleName(n)}.ts';`);
}

function range(min: number, max: number): string {
  return `{ min: ${min}, max: ${max} }`;
}

export function emitApiKeys(specs: MessageSpec[]): string {
  const requests = specs.filter((s) => s.type === 'request').sort((a, b) => a.apiKey - b.apiKey);
  const responses = new Map(specs.filter((s) => s.type === 'response').map((s) => [s.apiKey, s]));
  const lines: string[] = [GENERATED_HEADER];
  const codecNames: string[] = [];
  for (const req of requests) {
    const resp = responses.get(req.apiKey);
    if (resp === undefined) throw new Error(`no response for ${req.name}`);
    codecNames.push(req.name, resp.name);
  }
  lines.push("import type { MessageCodec } from '../codec/message.ts';");
  lines.push(...importCodecs(codecNames));
  lines.push(...importTypes(codecNames));
  lines.push('');
  lines.push('/** Every API key, by name (the request name without "Request"). */');
  lines.push('export const ApiKey = {');
  for (const req of requests) lines.push(`  ${apiName(req)}: ${req.apiKey},`);
  lines.push('} as const;');
  lines.push('export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];');
  lines.push('');
  lines.push('/** Facts about one API from its request/response specs. */');
  lines.push('export interface ApiInfo {');
  lines.push('  readonly apiKey: number;');
  lines.push('  readonly name: string;');
  lines.push("  /** Where the API is served: 'broker', 'controller', 'zkBroker'. */");
  lines.push('  readonly listeners: readonly string[];');
  lines.push('  readonly validVersions: { readonly min: number; readonly max: number };');
  lines.push('  /** First flexible version, or -1. */');
  lines.push('  readonly flexibleVersions: number;');
  lines.push('  /** Deprecated versions, or null. */');
  lines.push('  readonly deprecatedVersions: { readonly min: number; readonly max: number } | null;');
  lines.push('  /** The highest version is still under development in Kafka. */');
  lines.push('  readonly latestVersionUnstable: boolean;');
  lines.push('  readonly request: MessageCodec<unknown>;');
  lines.push('  readonly response: MessageCodec<unknown>;');
  lines.push('}');
  lines.push('');
  lines.push('/** ApiInfo by API key. */');
  lines.push('export const API_INFO: ReadonlyMap<number, ApiInfo> = new Map<number, ApiInfo>([');
  for (const req of requests) {
    const resp = responses.get(req.apiKey)!;
    const dep = isEmpty(req.deprecatedVersions)
      ? 'null'
      : range(req.deprecatedVersions.min, Math.min(req.deprecatedVersions.max, req.validVersions.max));
    lines.push(`  [${req.apiKey}, {`);
    lines.push(`    apiKey: ${req.apiKey},`);
    lines.push(`    name: '${apiName(req)}',`);
    lines.push(`    listeners: [${req.listeners.map((l) => `'${l}'`).join(', ')}],`);
    lines.push(`    validVersions: ${range(req.validVersions.min, req.validVersions.max)},`);
    lines.push(`    flexibleVersions: ${isEmpty(req.flexibleVersions) ? -1 : req.flexibleVersions.min},`);
    lines.push(`    deprecatedVersions: ${dep},`);
    lines.push(`    latestVersionUnstable: ${req.latestVersionUnstable},`);
    lines.push(`    request: ${req.name}Codec,`);
    lines.push(`    response: ${resp.name}Codec,`);
    lines.push('  }],');
  }
  lines.push(']);');
  lines.push('');
  lines.push('/** ApiInfo for `apiKey`, or undefined when the key is unknown. */');
  lines.push('export function apiInfo(apiKey: number): ApiInfo | undefined {');
  lines.push('  return API_INFO.get(apiKey);');
  lines.push('}');
  lines.push('');
  lines.push('/** Request body type by API key. */');
  lines.push('export interface RequestTypes {');
  for (const req of requests) lines.push(`  ${req.apiKey}: ${req.name};`);
  lines.push('}');
  lines.push('');
  lines.push('/** Response body type by API key. */');
  lines.push('export interface ResponseTypes {');
  for (const req of requests) lines.push(`  ${req.apiKey}: ${responses.get(req.apiKey)!.name};`);
  lines.push('}');
  lines.push('');
  lines.push('/**');
  lines.push(' * Request header version for an API version: 2 when the API version is flexible, else 1;');
  lines.push(' * ControlledShutdown v0 uses header v0. Unknown keys get 1 (enough to read the correlation id).');
  lines.push(' */');
  lines.push('export function requestHeaderVersion(apiKey: number, apiVersion: number): number {');
  lines.push('  if (apiKey === ApiKey.ControlledShutdown && apiVersion === 0) return 0;');
  lines.push('  const info = API_INFO.get(apiKey);');
  lines.push(
    '  return info !== undefined && info.flexibleVersions >= 0 && apiVersion >= info.flexibleVersions ? 2 : 1;',
  );
  lines.push('}');
  lines.push('');
  lines.push('/**');
  lines.push(' * Response header version for an API version: 1 when flexible, else 0. ApiVersions responses');
  lines.push(' * always use v0 so that a client can read them whatever version it asked for.');
  lines.push(' */');
  lines.push('export function responseHeaderVersion(apiKey: number, apiVersion: number): number {');
  lines.push('  if (apiKey === ApiKey.ApiVersions) return 0;');
  lines.push('  const info = API_INFO.get(apiKey);');
  lines.push(
    '  return info !== undefined && info.flexibleVersions >= 0 && apiVersion >= info.flexibleVersions ? 1 : 0;',
  );
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function apiName(req: MessageSpec): string {
  return req.name.replace(/Request$/, '');
}

export function emitMetadataRecords(specs: MessageSpec[]): string {
  const recs = specs.filter((s) => s.type === 'metadata').sort((a, b) => a.apiKey - b.apiKey);
  const lines: string[] = [
    GENERATED_HEADER,
    "import { DecodeError } from '../codec/errors.ts';",
    "import { isSupportedVersion, type MessageCodec } from '../codec/message.ts';",
    "import { Reader } from '../codec/reader.ts';",
    "import { sizeOfUnsignedVarint } from '../codec/varint.ts';",
    "import { Writer } from '../codec/writer.ts';",
  ];
  lines.push(...importCodecs(recs.map((r) => r.name)));
  lines.push('');
  lines.push(
    "/** KRaft metadata record type ids (the spec's apiKey), written after the frame version in the metadata log. */",
  );
  lines.push('export const MetadataRecordType = {');
  for (const r of recs) lines.push(`  ${r.name}: ${r.apiKey},`);
  lines.push('} as const;');
  lines.push('export type MetadataRecordType = (typeof MetadataRecordType)[keyof typeof MetadataRecordType];');
  lines.push('');
  lines.push('/** Metadata record codecs by type id. */');
  lines.push(
    'export const METADATA_RECORDS: ReadonlyMap<number, MessageCodec<unknown>> = new Map<number, MessageCodec<unknown>>([',
  );
  for (const r of recs) lines.push(`  [${r.apiKey}, ${r.name}Codec],`);
  lines.push(']);');
  lines.push('');
  lines.push('/** Codec for a metadata record type id, or undefined when unknown. */');
  lines.push('export function metadataRecordCodec(typeId: number): MessageCodec<unknown> | undefined {');
  lines.push('  return METADATA_RECORDS.get(typeId);');
  lines.push('}');
  lines.push(...METADATA_FRAMING);
  return `${lines.join('\n')}\n`;
}

/** Framing of metadata log records (emitted verbatim after the table). */
const METADATA_FRAMING: string[] = `
/** The frame version Kafka writes before every metadata record. */
export const METADATA_FRAME_VERSION = 1;

/** A metadata log record: type id, record version and the decoded record. */
export interface MetadataRecord {
  typeId: number;
  version: number;
  record: unknown;
}

/**
 * Encodes a metadata record as Kafka's metadata log stores it: unsigned varints for the
 * frame version (1), the type id and the record version, then the record. Throws RangeError
 * for an unknown type id or version.
 */
export function encodeMetadataRecord(typeId: number, version: number, record: unknown): Buffer {
  const codec = METADATA_RECORDS.get(typeId);
  if (codec === undefined) throw new RangeError(\`unknown metadata record type \${typeId}\`);
  if (!isSupportedVersion(codec, version)) throw new RangeError(\`\${codec.name} has no version \${version}\`);
  const size =
    sizeOfUnsignedVarint(METADATA_FRAME_VERSION) +
    sizeOfUnsignedVarint(typeId) +
    sizeOfUnsignedVarint(version) +
    codec.size(record, version);
  const w = Writer.alloc(size);
  w.writeUnsignedVarint(METADATA_FRAME_VERSION);
  w.writeUnsignedVarint(typeId);
  w.writeUnsignedVarint(version);
  codec.write(w, record, version);
  return w.buf;
}

/** Decodes a framed metadata record; throws DecodeError on bad bytes, unknown type or version. */
export function decodeMetadataRecord(buf: Buffer): MetadataRecord {
  const r = new Reader(buf);
  const frameVersion = r.readUnsignedVarint();
  if (frameVersion !== METADATA_FRAME_VERSION) {
    throw new DecodeError('invalid-value', \`unsupported metadata frame version \${frameVersion}\`, 0);
  }
  const typeId = r.readUnsignedVarint();
  const version = r.readUnsignedVarint();
  const codec = METADATA_RECORDS.get(typeId);
  if (codec === undefined) throw new DecodeError('invalid-value', \`unknown metadata record type \${typeId}\`);
  if (!isSupportedVersion(codec, version)) {
    throw new DecodeError('unsupported-version', \`\${codec.name} has no version \${version}\`);
  }
  return { typeId, version, record: codec.read(r, version) };
}`.split('\n');

/** Framing of coordinator records (emitted verbatim after the tables). */
const COORDINATOR_FRAMING: string[] = `
/**
 * Encodes a coordinator record key or value as Kafka stores it in its topic: an int16
 * version followed by the message. Throws RangeError for a version the codec lacks.
 */
export function encodeVersioned(codec: MessageCodec<unknown>, version: number, message: unknown): Buffer {
  if (!isSupportedVersion(codec, version)) throw new RangeError(\`\${codec.name} has no version \${version}\`);
  const w = Writer.alloc(2 + codec.size(message, version));
  w.writeInt16(version);
  codec.write(w, message, version);
  return w.buf;
}

/** A decoded coordinator record; value is null for a tombstone. */
export interface CoordinatorRecord {
  type: CoordinatorRecordType;
  keyVersion: number;
  key: unknown;
  valueVersion: number;
  value: unknown;
}

/**
 * Decodes a record of a coordinator topic from its key and value bytes (value null =
 * tombstone). Throws DecodeError on bad bytes or unknown key/value versions.
 */
export function decodeCoordinatorRecord(
  table: readonly CoordinatorRecordType[],
  keyBytes: Buffer,
  valueBytes: Buffer | null,
): CoordinatorRecord {
  const kr = new Reader(keyBytes);
  const keyVersion = kr.readInt16();
  const type = coordinatorRecordType(table, keyVersion);
  if (type === undefined) throw new DecodeError('unsupported-version', \`unknown record key version \${keyVersion}\`, 0);
  const key = type.key.read(kr, keyVersion);
  if (valueBytes === null) return { type, keyVersion, key, valueVersion: -1, value: null };
  const vr = new Reader(valueBytes);
  const valueVersion = vr.readInt16();
  if (!isSupportedVersion(type.value, valueVersion)) {
    throw new DecodeError('unsupported-version', \`\${type.value.name} has no version \${valueVersion}\`, 0);
  }
  return { type, keyVersion, key, valueVersion, value: type.value.read(vr, valueVersion) };
}`.split('\n');

export function emitCoordinatorRecords(specs: MessageSpec[]): string {
  const lines: string[] = [
    GENERATED_HEADER,
    "import { DecodeError } from '../codec/errors.ts';",
    "import { isSupportedVersion, type MessageCodec } from '../codec/message.ts';",
    "import { Reader } from '../codec/reader.ts';",
    "import { Writer } from '../codec/writer.ts';",
  ];
  const groups: [string, string, string][] = [
    ['group-coordinator', 'GROUP_COORDINATOR_RECORDS', '__consumer_offsets'],
    ['transaction-coordinator', 'TRANSACTION_COORDINATOR_RECORDS', '__transaction_state'],
    ['share-coordinator', 'SHARE_COORDINATOR_RECORDS', '__share_group_state'],
  ];
  const body: string[] = [];
  const names: string[] = [];
  for (const [dir, constName, topic] of groups) {
    const inDir = specs.filter((s) => s.dir === dir);
    const keys = inDir.filter((s) => s.name.endsWith('Key')).sort((a, b) => a.validVersions.min - b.validVersions.min);
    body.push(`/** Key/value record pairs of ${topic}; the key's version is the record type. */`);
    body.push(`export const ${constName}: readonly CoordinatorRecordType[] = [`);
    for (const k of keys) {
      const valueName = `${k.name.slice(0, -3)}Value`;
      const value = inDir.find((s) => s.name === valueName);
      if (value === undefined) throw new Error(`no value record for ${k.name}`);
      names.push(k.name, value.name);
      body.push('  {');
      body.push(`    name: '${k.name.slice(0, -3)}',`);
      body.push(`    keyVersions: ${range(k.validVersions.min, k.validVersions.max)},`);
      body.push(`    valueVersions: ${range(value.validVersions.min, value.validVersions.max)},`);
      body.push(`    key: ${k.name}Codec,`);
      body.push(`    value: ${value.name}Codec,`);
      body.push('  },');
    }
    body.push('];', '');
  }
  lines.push(...importCodecs(names));
  lines.push('');
  lines.push('/** One record type of a coordinator topic: a versioned key and its versioned value. */');
  lines.push('export interface CoordinatorRecordType {');
  lines.push('  readonly name: string;');
  lines.push('  /** Key versions: the int16 at the start of the record key selects the record type. */');
  lines.push('  readonly keyVersions: { readonly min: number; readonly max: number };');
  lines.push('  readonly valueVersions: { readonly min: number; readonly max: number };');
  lines.push('  readonly key: MessageCodec<unknown>;');
  lines.push('  readonly value: MessageCodec<unknown>;');
  lines.push('}');
  lines.push('');
  lines.push(...body);
  lines.push('/** The record type whose key versions include `keyVersion`, or undefined. */');
  lines.push('export function coordinatorRecordType(');
  lines.push('  table: readonly CoordinatorRecordType[],');
  lines.push('  keyVersion: number,');
  lines.push('): CoordinatorRecordType | undefined {');
  lines.push('  return table.find((t) => keyVersion >= t.keyVersions.min && keyVersion <= t.keyVersions.max);');
  lines.push('}');
  lines.push(...COORDINATOR_FRAMING);
  return `${lines.join('\n')}\n`;
}

export interface ErrorRow {
  code: number;
  name: string;
  retriable: boolean;
}

export function parseErrorTsv(text: string): ErrorRow[] {
  const rows: ErrorRow[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [code, name, retriable] = t.split('\t');
    if (code === undefined || name === undefined || (retriable !== 'true' && retriable !== 'false')) {
      throw new Error(`bad error-codes line: ${line}`);
    }
    rows.push({ code: Number.parseInt(code, 10), name, retriable: retriable === 'true' });
  }
  return rows.sort((a, b) => a.code - b.code);
}

export function emitErrors(rows: ErrorRow[]): string {
  const lines: string[] = [GENERATED_HEADER, ''];
  lines.push('/** Kafka error codes by name. */');
  lines.push('export const ErrorCode = {');
  for (const r of rows) lines.push(`  ${r.name}: ${r.code},`);
  lines.push('} as const;');
  lines.push('export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];');
  lines.push('');
  lines.push('export interface ErrorInfo {');
  lines.push('  readonly name: string;');
  lines.push('  readonly code: number;');
  lines.push('  /** A client may retry the operation (Kafka: the exception is a RetriableException). */');
  lines.push('  readonly retriable: boolean;');
  lines.push('}');
  lines.push('');
  lines.push('const ERRORS: ReadonlyMap<number, ErrorInfo> = new Map<number, ErrorInfo>([');
  for (const r of rows) lines.push(`  [${r.code}, { name: '${r.name}', code: ${r.code}, retriable: ${r.retriable} }],`);
  lines.push(']);');
  lines.push('');
  lines.push('/** Name and retriability of an error code; unknown codes are UNKNOWN_ERROR_<n> and not retriable. */');
  lines.push('export function errorInfo(code: number): ErrorInfo {');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: emitted source text
  lines.push('  return ERRORS.get(code) ?? { name: `UNKNOWN_ERROR_${code}`, code, retriable: false };');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export function emitIndex(modules: string[]): string {
  const lines = [
    GENERATED_HEADER,
    ...modules.sort().map((m) => `export * from './${m}.ts';`),
    "export { ZERO_UUID } from '../codec/uuid.ts';",
  ];
  return `${lines.join('\n')}\n`;
}
