/**
 * Request/response framing, sans-io: bytes in, typed messages out, and back.
 *
 * A Kafka frame on the wire is `int32 size` followed by `size` bytes of
 * header + body. The decode functions take the bytes AFTER the size prefix;
 * the encode functions return the whole frame INCLUDING the size prefix, in
 * one exactly-sized allocation.
 */
import { DecodeError } from './codec/errors.ts';
import { Reader } from './codec/reader.ts';
import { GatherWriter, Writer } from './codec/writer.ts';
import {
  API_INFO,
  type RequestTypes,
  type ResponseTypes,
  requestHeaderVersion,
  responseHeaderVersion,
} from './generated/api-keys.ts';
import {
  type RequestHeader,
  readRequestHeader,
  sizeOfRequestHeader,
  writeRequestHeader,
} from './generated/request-header.ts';
import {
  type ResponseHeader,
  readResponseHeader,
  sizeOfResponseHeader,
  writeResponseHeader,
} from './generated/response-header.ts';

/** A request whose API key and version this codebase can decode. */
export type KnownRequest = {
  [K in keyof RequestTypes]: {
    header: RequestHeader;
    apiKey: K;
    apiVersion: number;
    /** Request header version used (0, 1 or 2). */
    headerVersion: number;
    body: RequestTypes[K];
    unsupported: false;
  };
}[keyof RequestTypes];

/**
 * A request with an unknown API key or a version outside the codec's range.
 * Only the header's apiKey, apiVersion, correlationId and (when readable)
 * clientId are set; the broker answers it with UNSUPPORTED_VERSION.
 */
export interface UnsupportedRequest {
  header: RequestHeader;
  apiKey: number;
  apiVersion: number;
  body: undefined;
  unsupported: true;
}

export type DecodedRequest = KnownRequest | UnsupportedRequest;

/** Body type of a request/response by API key literal (unknown for a plain number). */
export type RequestBody<K extends number> = K extends keyof RequestTypes ? RequestTypes[K] : unknown;
export type ResponseBody<K extends number> = K extends keyof ResponseTypes ? ResponseTypes[K] : unknown;

/**
 * Decodes one request frame (the bytes after the 4-byte size prefix).
 * Throws DecodeError, and nothing else, on malformed input. Trailing bytes after the body are ignored.
 */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const r = new Reader(frame);
  if (frame.length < 8)
    throw new DecodeError('truncated', `request frame of ${frame.length} bytes is shorter than a header`);
  const apiKey = frame.readInt16BE(0);
  const apiVersion = frame.readInt16BE(2);
  const info = API_INFO.get(apiKey);
  if (info === undefined || apiVersion < info.validVersions.min || apiVersion > info.validVersions.max) {
    r.offset = 4;
    const correlationId = r.readInt32();
    let clientId: string | null = null;
    try {
      clientId = r.readNullableString();
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
    return {
      header: { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId },
      apiKey,
      apiVersion,
      body: undefined,
      unsupported: true,
    };
  }
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  const header = readRequestHeader(r, headerVersion);
  const body = info.request.read(r, apiVersion);
  return { header, apiKey, apiVersion, headerVersion, body, unsupported: false } as KnownRequest;
}

/**
 * Encodes a response frame, size prefix included, in one allocation.
 * The response header version follows the API version (ApiVersions always uses v0).
 * Throws RangeError for an unknown API key or version.
 */
export function encodeResponse<K extends number>(
  apiKey: K,
  apiVersion: number,
  correlationId: number,
  body: ResponseBody<K>,
): Buffer {
  const info = API_INFO.get(apiKey);
  if (info === undefined) throw new RangeError(`unknown API key ${apiKey}`);
  checkVersion(info.validVersions, apiKey, apiVersion);
  const headerVersion = responseHeaderVersion(apiKey, apiVersion);
  const header: ResponseHeader = { correlationId };
  const size = sizeOfResponseHeader(header, headerVersion) + info.response.size(body, apiVersion);
  const w = Writer.alloc(4 + size);
  w.writeInt32(size);
  writeResponseHeader(w, header, headerVersion);
  info.response.write(w, body, apiVersion);
  if (w.offset !== 4 + size) throw new Error(`response ${apiKey} v${apiVersion}: wrote ${w.offset - 4}, sized ${size}`);
  return w.buf;
}

/**
 * Encodes a response frame as parts written back to back, WITHOUT the size prefix: byte
 * strings (e.g. Fetch records) of at least `minBytes` are not copied but become parts of
 * their own. `gatheredBytes` must be the sum of the lengths of exactly those byte strings
 * in `body`. Returns the parts and the frame size.
 */
export function encodeResponseParts<K extends number>(
  apiKey: K,
  apiVersion: number,
  correlationId: number,
  body: ResponseBody<K>,
  minBytes: number,
  gatheredBytes: number,
): Buffer[] {
  const info = API_INFO.get(apiKey);
  if (info === undefined) throw new RangeError(`unknown API key ${apiKey}`);
  checkVersion(info.validVersions, apiKey, apiVersion);
  const headerVersion = responseHeaderVersion(apiKey, apiVersion);
  const header: ResponseHeader = { correlationId };
  const size = sizeOfResponseHeader(header, headerVersion) + info.response.size(body, apiVersion);
  const w = new GatherWriter(Buffer.allocUnsafe(size - gatheredBytes), minBytes);
  writeResponseHeader(w, header, headerVersion);
  info.response.write(w, body, apiVersion);
  if (w.gathered !== gatheredBytes || w.offset + w.gathered !== size) {
    throw new Error(`response ${apiKey} v${apiVersion}: wrote ${w.offset + w.gathered}, sized ${size}`);
  }
  return w.parts();
}

/** Fields of a request header a client sets; the API key and version select the codec. */
export interface RequestHeaderInput {
  requestApiKey: number;
  requestApiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/**
 * Encodes a request frame, size prefix included, in one allocation (client side).
 * Throws RangeError for an unknown API key or version.
 */
export function encodeRequest<K extends number>(
  header: RequestHeaderInput & { requestApiKey: K },
  body: RequestBody<K>,
): Buffer {
  const apiKey = header.requestApiKey;
  const apiVersion = header.requestApiVersion;
  const info = API_INFO.get(apiKey);
  if (info === undefined) throw new RangeError(`unknown API key ${apiKey}`);
  checkVersion(info.validVersions, apiKey, apiVersion);
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  const h: RequestHeader = header;
  const size = sizeOfRequestHeader(h, headerVersion) + info.request.size(body, apiVersion);
  const w = Writer.alloc(4 + size);
  w.writeInt32(size);
  writeRequestHeader(w, h, headerVersion);
  info.request.write(w, body, apiVersion);
  if (w.offset !== 4 + size) throw new Error(`request ${apiKey} v${apiVersion}: wrote ${w.offset - 4}, sized ${size}`);
  return w.buf;
}

/**
 * Encodes a request frame as parts written back to back, size prefix included (client side):
 * byte strings (Produce records) of at least `minBytes` are not copied but become parts of
 * their own. `gatheredBytes` must be the sum of the lengths of exactly those byte strings in
 * `body`. The parts refer to the caller's buffers until the socket has taken them.
 */
export function encodeRequestParts<K extends number>(
  header: RequestHeaderInput & { requestApiKey: K },
  body: RequestBody<K>,
  minBytes: number,
  gatheredBytes: number,
): Buffer[] {
  const apiKey = header.requestApiKey;
  const apiVersion = header.requestApiVersion;
  const info = API_INFO.get(apiKey);
  if (info === undefined) throw new RangeError(`unknown API key ${apiKey}`);
  checkVersion(info.validVersions, apiKey, apiVersion);
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  const h: RequestHeader = header;
  const size = sizeOfRequestHeader(h, headerVersion) + info.request.size(body, apiVersion);
  const w = new GatherWriter(Buffer.allocUnsafe(4 + size - gatheredBytes), minBytes);
  w.writeInt32(size);
  writeRequestHeader(w, h, headerVersion);
  info.request.write(w, body, apiVersion);
  if (w.gathered !== gatheredBytes || w.offset + w.gathered !== 4 + size) {
    throw new Error(`request ${apiKey} v${apiVersion}: wrote ${w.offset + w.gathered - 4}, sized ${size}`);
  }
  return w.parts();
}

/** A decoded response frame. */
export interface DecodedResponse<B> {
  header: ResponseHeader;
  correlationId: number;
  body: B;
}

/**
 * Decodes one response frame (the bytes after the size prefix) for the request the
 * client sent with `apiKey`/`apiVersion` (responses do not carry them). Throws DecodeError on
 * malformed input, RangeError for an unknown API key or version.
 */
export function decodeResponse<K extends number>(
  apiKey: K,
  apiVersion: number,
  frame: Buffer,
): DecodedResponse<ResponseBody<K>> {
  const info = API_INFO.get(apiKey);
  if (info === undefined) throw new RangeError(`unknown API key ${apiKey}`);
  checkVersion(info.validVersions, apiKey, apiVersion);
  const r = new Reader(frame);
  const header = readResponseHeader(r, responseHeaderVersion(apiKey, apiVersion));
  const body = info.response.read(r, apiVersion) as ResponseBody<K>;
  return { header, correlationId: header.correlationId, body };
}

/**
 * Correlation id of a response frame without decoding the rest (for matching
 * responses to in-flight requests). Throws DecodeError when shorter than 4 bytes.
 */
export function peekCorrelationId(frame: Buffer): number {
  if (frame.length < 4) throw new DecodeError('truncated', 'response frame shorter than a correlation id');
  return frame.readInt32BE(0);
}

function checkVersion(range: { min: number; max: number }, apiKey: number, apiVersion: number): void {
  if (!Number.isInteger(apiVersion) || apiVersion < range.min || apiVersion > range.max) {
    throw new RangeError(`API key ${apiKey} has no version ${apiVersion}`);
  }
}
