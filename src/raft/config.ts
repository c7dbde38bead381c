/**
 * Raft quorum settings, named after Kafka's `controller.quorum.*` properties.
 */

export interface VoterEndpoint {
  id: number;
  host: string;
  port: number;
}

export interface RaftConfig {
  /** This node's id (`node.id`). */
  nodeId: number;
  /** The voter ids (`controller.quorum.voters`); a node not in it is an observer. */
  voters: readonly number[];
  /** `controller.quorum.election.timeout.ms`: the base; each timer adds a random 0..this. */
  electionTimeoutMs: number;
  /** `controller.quorum.fetch.timeout.ms`: a follower that hears nothing for this long starts an election. */
  fetchTimeoutMs: number;
  /** `controller.quorum.election.backoff.max.ms`: the most a lost election waits before the next. */
  electionBackoffMaxMs: number;
  /** `controller.quorum.request.timeout.ms`: an unanswered request is retried after this. */
  requestTimeoutMs: number;
  /** `controller.quorum.retry.backoff.ms`: the pause before retrying a failed request. */
  retryBackoffMs: number;
  /** How long a leader parks a Fetch that has nothing new (Kafka's raft fetch max wait, 500 ms). */
  fetchMaxWaitMs: number;
  /** The most batches one Fetch response carries (bounds memory and message size). */
  fetchMaxBatches: number;
  /** The most bytes of a snapshot one FetchSnapshot response carries. */
  snapshotChunkBytes: number;
  /** Cluster id written into requests and the quorum-state file. */
  clusterId: string;
}

export const defaultRaftConfig: Omit<RaftConfig, 'nodeId' | 'voters'> = {
  electionTimeoutMs: 1000,
  fetchTimeoutMs: 2000,
  electionBackoffMaxMs: 1000,
  requestTimeoutMs: 2000,
  retryBackoffMs: 20,
  fetchMaxWaitMs: 500,
  fetchMaxBatches: 64,
  snapshotChunkBytes: 64 * 1024,
  clusterId: 'runnel-cluster',
};

/**
 * Parses `controller.quorum.voters`: `1@host:port,2@host:port,...`. Throws on a malformed
 * entry or a repeated id (configuration errors are found at start, not at the first election).
 */
export function parseQuorumVoters(value: string): VoterEndpoint[] {
  const out: VoterEndpoint[] = [];
  const seen = new Set<number>();
  for (const part of value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)) {
    const match = /^(\d+)@(.+):(\d+)$/.exec(part);
    if (!match) throw new Error(`controller.quorum.voters: '${part}' is not id@host:port`);
    const id = Number(match[1]);
    const port = Number(match[3]);
    let host = match[2]!;
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (port > 65535) throw new Error(`controller.quorum.voters: port ${port} out of range`);
    if (seen.has(id)) throw new Error(`controller.quorum.voters: voter ${id} appears twice`);
    seen.add(id);
    out.push({ id, host, port });
  }
  if (out.length === 0) throw new Error('controller.quorum.voters: no voters');
  return out;
}

export function raftConfig(nodeId: number, voters: readonly number[], overrides: Partial<RaftConfig> = {}): RaftConfig {
  return { ...defaultRaftConfig, nodeId, voters: [...voters], ...overrides };
}
