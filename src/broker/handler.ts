/**
 * What a request handler is. One API per file under handlers/, named by key
 * (handlers/00-produce.ts). A handler declares the versions it serves; ApiVersions is
 * computed from those declarations, so the two never drift.
 *
 * Protocol errors are data: a handler answers with Kafka error codes (per partition
 * where the API has them). A thrown exception is a bug: the dispatcher logs it and
 * closes that connection only.
 */

import type { RequestTypes, ResponseTypes } from '../protocol/generated/api-keys.ts';
import type { RequestHeader } from '../protocol/generated/request-header.ts';
import type { Connection } from './network/index.ts';
import type { BrokerServices } from './services.ts';

export type ServedApiKey = keyof RequestTypes & keyof ResponseTypes;

/** Everything a handler knows about the request beyond its body. */
export interface RequestContext {
  readonly header: RequestHeader;
  readonly apiVersion: number;
  readonly connection: Connection;
  readonly listenerName: string;
  readonly clientId: string;
  /** Monotonic time the request was read, for request-level timeouts. */
  readonly receivedAtMs: number;
  /**
   * Runs `fn` once the socket is done with the response's bytes (handed to the kernel or
   * copied into the frame, or the connection failed): a handler whose response refers to
   * pooled buffers gives them back here. May never run (connection closed first); absent
   * where nothing writes the response.
   */
  readonly afterResponseWritten?: (fn: () => void) => void;
}

export interface ApiHandler<K extends ServedApiKey = ServedApiKey> {
  readonly apiKey: K;
  readonly minVersion: number;
  readonly maxVersion: number;
  /**
   * Answers one request. Returning null sends no response (acks=0 produce).
   * Must not throw for anything a client can send: bad input gets an error code.
   */
  handle(
    request: RequestTypes[K],
    ctx: RequestContext,
    services: BrokerServices,
  ): Promise<ResponseTypes[K] | null> | ResponseTypes[K] | null;
  /**
   * For responses carrying large byte strings (Fetch records): the sum of the lengths of
   * the byte strings of at least `minBytes` in `response`. The dispatcher then sends those
   * Buffers as they are, behind the rest of the frame, instead of copying them into it.
   */
  gatheredBytes?(response: ResponseTypes[K], minBytes: number): number;
}

/** Helper that keeps the key literal, so `request` and the result are typed. */
export function defineHandler<K extends ServedApiKey>(handler: ApiHandler<K>): ApiHandler<K> {
  return handler;
}
