/**
 * The Raft RPC bodies are the generated wire types: every message a simulated run sends
 * encodes with the generated codec (at the newest version we have) and decodes back equal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageCodec } from '../../src/protocol/codec/message.ts';
import { decode, encode } from '../../src/protocol/codec/message.ts';
import { ApiKey, apiInfo } from '../../src/protocol/generated/api-keys.ts';
import {
  readFetchRequest,
  readFetchResponse,
  readFetchSnapshotRequest,
  readFetchSnapshotResponse,
  readLeaderAndEpoch,
  readQuorumResponse,
  readVoteRequest,
  readVoteResponse,
} from '../../src/raft/rpc.ts';
import type { RaftMessage } from '../../src/raft/types.ts';
import { decodeRaftBatches, encodeRaftBatches } from '../../src/raft/wire-batches.ts';
import { runSeed } from '../../src/sim/run.ts';

const API_OF: Record<string, number> = {
  vote: ApiKey.Vote,
  'begin-quorum-epoch': ApiKey.BeginQuorumEpoch,
  'end-quorum-epoch': ApiKey.EndQuorumEpoch,
  fetch: ApiKey.Fetch,
  'fetch-snapshot': ApiKey.FetchSnapshot,
};

const READERS: Record<string, (body: never) => unknown> = {
  'vote-request': readVoteRequest,
  'vote-response': readVoteResponse,
  'begin-quorum-epoch-request': readLeaderAndEpoch,
  'end-quorum-epoch-request': readLeaderAndEpoch,
  'begin-quorum-epoch-response': readQuorumResponse,
  'end-quorum-epoch-response': readQuorumResponse,
  'fetch-request': readFetchRequest,
  'fetch-response': readFetchResponse,
  'fetch-snapshot-request': readFetchSnapshotRequest,
  'fetch-snapshot-response': readFetchSnapshotResponse,
};

void describe('raft messages on the wire', () => {
  void it('every message of a simulated run round-trips through the generated codecs', async () => {
    const seen = new Map<string, number>();
    let batchesSeen = 0;
    const check = (m: RaftMessage): void => {
      const isRequest = m.type.endsWith('-request');
      const api = API_OF[m.type.replace(/-(request|response)$/, '')]!;
      const info = apiInfo(api)!;
      const codec = (isRequest ? info.request : info.response) as MessageCodec<unknown>;
      const version = info.validVersions.max;
      const back = decode(codec, encode(codec, m.body, version), version) as never;
      // What Raft reads from the body is the same after the trip (a newer version drops
      // fields an older one carried, e.g. Fetch's top-level replicaId and topic name).
      const read = READERS[m.type]!;
      assert.deepEqual(read(back), read(m.body as never), `${m.type} v${version}`);
      seen.set(m.type, (seen.get(m.type) ?? 0) + 1);
      if (m.type === 'fetch-response' && m.batches.length > 0) {
        // The batches beside the body travel as record batches in `records`.
        assert.deepEqual(decodeRaftBatches(encodeRaftBatches(m.batches, 1_700_000_000_000)), m.batches);
        batchesSeen += m.batches.length;
      }
    };
    for (const seed of [3, 11, 19]) {
      const r = await runSeed({ seed, onMessage: check });
      assert.ok(r.ok, r.error);
    }
    for (const type of [
      'vote-request',
      'vote-response',
      'begin-quorum-epoch-request',
      'fetch-request',
      'fetch-response',
    ]) {
      assert.ok((seen.get(type) ?? 0) > 0, `saw ${type}`);
    }
    assert.ok(batchesSeen > 0, 'fetch responses carried record batches');
  });
});
