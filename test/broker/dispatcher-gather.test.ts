/**
 * The dispatcher's gathered answers: Fetch record sets of at least GATHER_MIN_BYTES leave as
 * parts of their own (the handler's Buffers, not copies); smaller ones are copied into the frame.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dispatcher, GATHER_MIN_BYTES } from '../../src/broker/dispatcher.ts';
import { fetchHandler } from '../../src/broker/handlers/01-fetch.ts';
import type { Connection } from '../../src/broker/network/index.ts';
import { silentLogger } from '../../src/broker/network/index.ts';
import { systemClock } from '../../src/env/clock.ts';
import { decodeResponse, encodeRequest } from '../../src/protocol/frame.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { defaultsFetchRequest } from '../../src/protocol/generated/fetch-request.ts';
import type { FetchResponse } from '../../src/protocol/generated/fetch-response.ts';
import { fetchPartition as partition } from '../helpers/fetch-partition.ts';

const connection = { id: 'test', listenerName: 'PLAINTEXT' } as unknown as Connection;

void describe('dispatcher: gathered answers', () => {
  void it('sends record sets of 1 KiB and more by reference, copies smaller ones, and the bytes decode', async () => {
    assert.equal(GATHER_MIN_BYTES, 1024);
    const big = Buffer.alloc(3000, 7);
    const small = Buffer.alloc(500, 9);
    const response: FetchResponse = {
      throttleTimeMs: 0,
      errorCode: 0,
      sessionId: 0,
      responses: [
        { topic: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAA', partitions: [partition(0, big), partition(1, small)] },
      ],
      nodeEndpoints: [],
    };
    let written = 0;
    const dispatcher = new Dispatcher(
      [
        {
          ...fetchHandler,
          handle: (_request: unknown, ctx: { afterResponseWritten?: (fn: () => void) => void }) => {
            ctx.afterResponseWritten?.(() => written++);
            return response;
          },
        },
      ],
      {} as never,
      systemClock,
      silentLogger,
    );
    const version = 12;
    const frame = encodeRequest(
      { requestApiKey: ApiKey.Fetch, requestApiVersion: version, correlationId: 42, clientId: 'c' },
      defaultsFetchRequest(),
    ).subarray(4);
    const answer = await dispatcher.handleFrame(connection, frame);
    assert.ok(Array.isArray(answer), 'a gathered answer');
    const parts = answer as readonly Buffer[] & { onWritten?: () => void };
    assert.ok(
      parts.some((p) => p === big),
      'the 3000-byte record set is a part of its own',
    );
    assert.ok(!parts.some((p) => p === small), 'the 500-byte one is copied');
    assert.equal(written, 0, 'buffers stay the handler’s until the socket is done with them');
    parts.onWritten?.();
    assert.equal(written, 1);
    const decoded = decodeResponse(ApiKey.Fetch, version, Buffer.concat(parts));
    assert.equal(decoded.correlationId, 42);
    const [p0, p1] = decoded.body.responses[0]!.partitions;
    assert.deepEqual(p0!.records, big);
    assert.deepEqual(p1!.records, small);
  });
});
