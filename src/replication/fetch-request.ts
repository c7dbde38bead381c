/**
 * The Fetch request a follower broker sends to one leader for all the partitions it
 * follows there (one fetcher per source broker), sans-io.
 *
 * Replica fetches identify themselves by ReplicaId (versions before 15) or by
 * ReplicaState { replicaId, replicaEpoch = the broker epoch } (v15+); they read to the
 * leader's log end offset and carry CurrentLeaderEpoch and LastFetchedEpoch (v12+) so
 * the leader can fence stale followers and detect divergence. No fetch session is used
 * (every request is a full fetch: sessionEpoch -1).
 */
import type { FetchRequest, FetchRequestFetchTopic } from '../protocol/generated/fetch-request.ts';
import type { FollowerState } from './follower.ts';

/** Kafka's defaults for the replica.fetch.* settings. */
export const REPLICA_FETCH_DEFAULTS = {
  /** replica.fetch.max.bytes: per partition. */
  maxBytes: 1_048_576,
  /** replica.fetch.min.bytes */
  minBytes: 1,
  /** replica.fetch.wait.max.ms */
  waitMaxMs: 500,
  /** replica.fetch.response.max.bytes */
  responseMaxBytes: 10_485_760,
  /** replica.fetch.backoff.ms */
  backoffMs: 1000,
} as const;

export interface ReplicaFetchSettings {
  maxBytes: number;
  minBytes: number;
  waitMaxMs: number;
  responseMaxBytes: number;
}

export interface BuiltFetch {
  request: FetchRequest;
  /** The fetch offset each partition was asked from, by `${topic}:${partition}`. */
  fetchOffsets: Map<string, number>;
}

export function followerKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** Builds the request from the partitions ready at `nowMs`; undefined when none is. */
export function buildReplicaFetch(
  followers: Iterable<FollowerState>,
  self: { replicaId: number; brokerEpoch: number },
  settings: ReplicaFetchSettings,
  nowMs: number,
): BuiltFetch | undefined {
  const topics = new Map<string, FetchRequestFetchTopic>();
  const fetchOffsets = new Map<string, number>();
  for (const f of followers) {
    if (!f.isReady(nowMs)) continue;
    let topic = topics.get(f.topic);
    if (topic === undefined) {
      topic = { topic: f.topic, topicId: f.topicId, partitions: [] };
      topics.set(f.topic, topic);
    }
    topic.partitions.push(f.fetchPartition(settings.maxBytes));
    fetchOffsets.set(followerKey(f.topic, f.partition), f.fetchOffset());
  }
  if (fetchOffsets.size === 0) return undefined;
  return {
    request: {
      clusterId: null,
      replicaId: self.replicaId,
      replicaState: { replicaId: self.replicaId, replicaEpoch: BigInt(self.brokerEpoch) },
      maxWaitMs: settings.waitMaxMs,
      minBytes: settings.minBytes,
      maxBytes: settings.responseMaxBytes,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [...topics.values()],
      forgottenTopicsData: [],
      rackId: '',
    },
    fetchOffsets,
  };
}
