/**
 * Turns request frames into response frames: decode, find the handler by API key,
 * check the version, run it, encode. It knows nothing of sockets (the listener in
 * network/ calls it) and nothing of any one API (handlers/ do).
 *
 * An API key or version the broker does not serve gets Kafka's answer, never a dropped
 * connection: an ApiVersions request at an unknown version is answered at v0 with
 * UNSUPPORTED_VERSION and the supported ranges (clients then retry at a version both
 * know); any other unsupported request is answered with the error code field of its
 * response set to UNSUPPORTED_VERSION where the response can be encoded, and otherwise
 * closes the connection as Kafka does.
 */
import type { Clock } from '../env/clock.ts';
import { decodeRequest, encodeResponse, encodeResponseParts } from '../protocol/frame.ts';
import { API_INFO, ApiKey } from '../protocol/generated/api-keys.ts';
import type { ApiVersionsResponse } from '../protocol/generated/api-versions-response.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';
import type { ApiHandler, RequestContext, ServedApiKey } from './handler.ts';
import type { Connection, FrameResponse, NetworkLogger } from './network/index.ts';
import type { BrokerServices } from './services.ts';

/**
 * Byte strings at least this long are written from the handler's Buffers rather than copied
 * into the frame. Copying is cheap, but the frame it needs is a fresh Buffer of the records'
 * size, and fresh Buffer memory is what starts V8's full collections (heap-growth.ts): at
 * 16 KiB, a consumer at the tail (a few KiB per partition per fetch) had every record copied.
 */
export const GATHER_MIN_BYTES = 1024;

export interface ApiVersionRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

/** A handler as the dispatcher sees it: the broker's ApiHandler, or the controller's (other services). */
export interface DispatchedHandler<S> {
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(request: never, ctx: RequestContext, services: S): Promise<unknown> | unknown;
  gatheredBytes?(response: never, minBytes: number): number;
}

/** Serves one handler set: the broker's (BrokerServices) or the controller listener's. */
export class Dispatcher<S = BrokerServices> {
  private readonly handlers = new Map<number, DispatchedHandler<S>>();

  constructor(
    handlers: readonly (ApiHandler | DispatchedHandler<S>)[],
    private readonly services: S,
    private readonly clock: Clock,
    private readonly logger: NetworkLogger,
  ) {
    for (const handler of handlers) {
      const info = API_INFO.get(handler.apiKey);
      if (info === undefined) throw new Error(`handler for unknown API key ${handler.apiKey}`);
      if (handler.minVersion < info.validVersions.min || handler.maxVersion > info.validVersions.max) {
        throw new Error(`${info.name} handler declares v${handler.minVersion}-${handler.maxVersion} beyond the spec`);
      }
      if (this.handlers.has(handler.apiKey)) throw new Error(`two handlers for ${info.name}`);
      this.handlers.set(handler.apiKey, handler as DispatchedHandler<S>);
    }
  }

  /** The served version ranges, sorted by API key (the body of ApiVersions). */
  apiVersions(): ApiVersionRange[] {
    return [...this.handlers.values()]
      .map((h) => ({ apiKey: h.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }))
      .sort((a, b) => a.apiKey - b.apiKey);
  }

  /**
   * Handles one frame (the bytes after the size prefix). Rejects only on bugs or undecodable
   * frames. A Buffer answer carries its size prefix; an array answer (large byte strings, e.g.
   * Fetch records, kept by reference rather than copied) is the frame without it.
   */
  async handleFrame(connection: Connection, frame: Buffer): Promise<FrameResponse> {
    const receivedAtMs = this.clock.monotonicMs();
    const request = decodeRequest(frame);
    const handler = request.unsupported ? undefined : this.handlers.get(request.apiKey);
    const { correlationId } = request.header;
    if (
      request.unsupported ||
      handler === undefined ||
      request.apiVersion < handler.minVersion ||
      request.apiVersion > handler.maxVersion
    ) {
      return this.unsupported(request.apiKey, request.apiVersion, correlationId);
    }
    let written: (() => void)[] | undefined;
    const ctx: RequestContext = {
      header: request.header,
      apiVersion: request.apiVersion,
      connection,
      listenerName: connection.listenerName,
      clientId: request.header.clientId ?? '',
      receivedAtMs,
      afterResponseWritten: (fn) => {
        written ??= [];
        written.push(fn);
      },
    };
    const response = await handler.handle(request.body as never, ctx, this.services);
    const runWritten = (): void => {
      for (const fn of written ?? []) fn();
    };
    if (response === null) {
      runWritten();
      return null;
    }
    if (handler.gatheredBytes !== undefined) {
      const gathered = handler.gatheredBytes(response as never, GATHER_MIN_BYTES);
      if (gathered > 0) {
        const parts = encodeResponseParts(
          request.apiKey as ServedApiKey,
          request.apiVersion,
          correlationId,
          response as never,
          GATHER_MIN_BYTES,
          gathered,
        );
        // The parts refer to the handler's buffers: they are free once the socket took them.
        return written === undefined ? parts : Object.assign(parts, { onWritten: runWritten });
      }
    }
    const encoded = encodeResponse(
      request.apiKey as ServedApiKey,
      request.apiVersion,
      correlationId,
      response as never,
    );
    runWritten(); // everything was copied into the frame
    return encoded;
  }

  private unsupported(apiKey: number, apiVersion: number, correlationId: number): FrameResponse {
    if (apiKey === ApiKey.ApiVersions) {
      const body: ApiVersionsResponse = {
        errorCode: ErrorCode.UNSUPPORTED_VERSION,
        apiKeys: this.apiVersions(),
        throttleTimeMs: 0,
        supportedFeatures: [],
        finalizedFeaturesEpoch: -1n,
        finalizedFeatures: [],
        zkMigrationReady: false,
      };
      return encodeResponse(ApiKey.ApiVersions, 0, correlationId, body);
    }
    const info = API_INFO.get(apiKey);
    const handler = this.handlers.get(apiKey);
    if (info !== undefined && apiVersion >= info.validVersions.min && apiVersion <= info.validVersions.max) {
      // A known version we do not serve: answer with the response's top-level error code if it has one.
      const body = info.response.defaults() as Record<string, unknown>;
      if ('errorCode' in body) {
        body.errorCode = ErrorCode.UNSUPPORTED_VERSION;
        return encodeResponse(apiKey as ServedApiKey, apiVersion, correlationId, body as never);
      }
    }
    this.logger.warn('closing connection on unsupported request', {
      apiKey,
      apiVersion,
      served: handler === undefined ? 'none' : `${handler.minVersion}-${handler.maxVersion}`,
    });
    throw new UnsupportedRequestError(apiKey, apiVersion);
  }
}

export class UnsupportedRequestError extends Error {
  constructor(
    readonly apiKey: number,
    readonly apiVersion: number,
  ) {
    super(`unsupported request: API key ${apiKey} version ${apiVersion}`);
    this.name = 'UnsupportedRequestError';
  }
}
