/**
 * The cluster simulation's --wire mode: every broker <-> controller and broker <-> broker
 * message goes through the bytes of its generated codec at the newest version and back
 * (registration, heartbeats, AlterPartition, replica Fetch request and response), so the
 * replication core and the controller decisions run on what decoding really yields.
 * Client messages (produce, consumer fetch, metadata) are the simulation's own and pass
 * unchanged; metadata log fetches carry replayed records as objects.
 */
import type { MessageCodec } from '../protocol/codec/message.ts';
import { decode, encode } from '../protocol/codec/message.ts';
import { ApiKey, apiInfo } from '../protocol/generated/api-keys.ts';
import type { FetchResponse } from '../protocol/generated/fetch-response.ts';
import type { ClusterMessage } from './cluster-messages.ts';

function roundTrip<T>(apiKey: number, side: 'request' | 'response', body: T): T {
  const info = apiInfo(apiKey)!;
  const codec = (side === 'request' ? info.request : info.response) as MessageCodec<unknown>;
  const version = info.validVersions.max;
  return decode(codec, encode(codec, body, version), version) as T;
}

export function clusterWireRoundTrip(m: ClusterMessage, topic: string, topicId: string): ClusterMessage {
  switch (m.type) {
    case 'register':
      return { ...m, request: roundTrip(ApiKey.BrokerRegistration, 'request', m.request) };
    case 'registerResponse':
      return { ...m, response: roundTrip(ApiKey.BrokerRegistration, 'response', m.response) };
    case 'heartbeat':
      return { ...m, request: roundTrip(ApiKey.BrokerHeartbeat, 'request', m.request) };
    case 'heartbeatResponse':
      return { ...m, response: roundTrip(ApiKey.BrokerHeartbeat, 'response', m.response) };
    case 'alterPartition':
      return { ...m, request: roundTrip(ApiKey.AlterPartition, 'request', m.request) };
    case 'alterPartitionResponse':
      return { ...m, response: roundTrip(ApiKey.AlterPartition, 'response', m.response) };
    case 'replicaFetch':
      return { ...m, request: roundTrip(ApiKey.Fetch, 'request', m.request) };
    case 'replicaFetchResponse': {
      const body: FetchResponse = {
        throttleTimeMs: 0,
        errorCode: 0,
        sessionId: 0,
        responses: [{ topic, topicId, partitions: m.partitions.map((p) => p.data) }],
        nodeEndpoints: [],
      };
      const back = roundTrip(ApiKey.Fetch, 'response', body);
      const partitions = back.responses[0]!.partitions.map((data, i) => ({
        data,
        currentLeaderEpoch: m.partitions[i]!.currentLeaderEpoch,
      }));
      return { ...m, partitions };
    }
    default:
      return m;
  }
}
