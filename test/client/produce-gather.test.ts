/**
 * A Produce request's record sets of 1 KiB and more go to the socket by reference (parts of
 * the frame), not copied into it: the parts, written back to back, must be byte for byte the
 * frame `encodeRequest` makes, and the large record sets must be the caller's own buffers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeRequest, encodeRequestParts } from '../../src/protocol/frame.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import type { ProduceRequest } from '../../src/protocol/generated/produce-request.ts';

function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

void describe('client: Produce request frame parts', () => {
  for (const version of [3, 9, 11]) {
    void it(`v${version}: the parts are the frame, large record sets by reference`, () => {
      const large = [pattern(3000, 1), pattern(1024, 2)];
      const small = pattern(1023, 3);
      const body: ProduceRequest = {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30_000,
        topicData: [
          {
            name: 'a',
            partitionData: [
              { index: 0, records: large[0]! },
              { index: 1, records: small },
            ],
          },
          { name: 'b', partitionData: [{ index: 7, records: large[1]! }] },
        ],
      };
      const header = { requestApiKey: ApiKey.Produce, requestApiVersion: version, correlationId: 42, clientId: 'c' };
      const parts = encodeRequestParts(header, body, 1024, 3000 + 1024);
      assert.deepEqual(Buffer.concat(parts), encodeRequest(header, body));
      assert.ok(parts.includes(large[0]!) && parts.includes(large[1]!), 'the record sets of 1 KiB and more are parts');
      assert.ok(!parts.includes(small), 'a smaller one is copied');
      assert.equal(parts[0]!.readInt32BE(8), 42, 'the first part holds the header');
      assert.throws(() => encodeRequestParts(header, body, 1024, 3000), /sized/);
    });
  }
});
