/**
 * A RaftMessage through the bytes it would be on the wire and back: the body with the
 * generated codec at a given version (default: the newest we have), Fetch batches as
 * record batches. The simulator's `--wire` mode sends every message through this, so the
 * core is proven against what decoding really yields (fields a version lacks, defaults).
 */
import type { MessageCodec } from '../protocol/codec/message.ts';
import { decode, encode } from '../protocol/codec/message.ts';
import { ApiKey, apiInfo } from '../protocol/generated/api-keys.ts';
import type { RaftMessage } from './types.ts';
import { decodeRaftBatches, encodeRaftBatches } from './wire-batches.ts';

const API_OF: Record<string, number> = {
  vote: ApiKey.Vote,
  'begin-quorum-epoch': ApiKey.BeginQuorumEpoch,
  'end-quorum-epoch': ApiKey.EndQuorumEpoch,
  fetch: ApiKey.Fetch,
  'fetch-snapshot': ApiKey.FetchSnapshot,
};

export function wireRoundTrip(m: RaftMessage, timestampMs = 0): RaftMessage {
  const isRequest = m.type.endsWith('-request');
  const info = apiInfo(API_OF[m.type.replace(/-(request|response)$/, '')]!)!;
  const codec = (isRequest ? info.request : info.response) as MessageCodec<unknown>;
  const version = info.validVersions.max;
  const body = decode(codec, encode(codec, m.body, version), version);
  if (m.type === 'fetch-response') {
    const batches = m.batches.length > 0 ? decodeRaftBatches(encodeRaftBatches(m.batches, timestampMs)) : [];
    return { ...m, body: body as typeof m.body, batches };
  }
  return { ...m, body } as RaftMessage;
}
