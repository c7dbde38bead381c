/**
 * Replication through real ReplicaManagers, in process: three nodes over MemoryLogs
 * whose fetchers call each other's Fetch handler directly (fetchTransport), and a small
 * fake controller that answers AlterPartition and publishes the next image to every
 * running node. Covers: followers converge on the leader's log and high watermark;
 * acks=-1 waits for the ISR; a stopped follower is dropped from the ISR after
 * replica.lag.time.max.ms (NOT_ENOUGH_REPLICAS with min.insync.replicas=3, min 2 still
 * works) and rejoins after a restart; a leader change with an unreplicated tail on the
 * old leader, which comes back as a follower and truncates; rack-aware
 * PreferredReadReplica and consumer reads on followers.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { handleFetch } from '../../../src/broker/fetch/fetch.ts';
import { FetchSessionCache } from '../../../src/broker/fetch/sessions.ts';
import { handleProduce } from '../../../src/broker/replica/produce.ts';
import {
  type LogProvider,
  RACK_AWARE_REPLICA_SELECTOR,
  ReplicaManager,
} from '../../../src/broker/replica/replica-manager.ts';
import { systemClock } from '../../../src/env/clock.ts';
import { seededRandom } from '../../../src/env/random.ts';
import { MetadataPublisher } from '../../../src/metadata/cache.ts';
import type { BrokerImage, MetadataImage, PartitionImage, TopicImage } from '../../../src/metadata/image.ts';
import type { AlterPartitionRequest } from '../../../src/protocol/generated/alter-partition-request.ts';
import type { AlterPartitionResponse } from '../../../src/protocol/generated/alter-partition-response.ts';
import { ErrorCode } from '../../../src/protocol/generated/errors.ts';
import type { FetchRequest } from '../../../src/protocol/generated/fetch-request.ts';
import type { LogConfig } from '../../../src/storage/config.ts';
import { MemoryLog } from '../../../src/storage/memory-log.ts';
import type { PartitionLog } from '../../../src/storage/partition-log.ts';
import { batch, imageOf } from './helpers.ts';

const LAG_MS = 300;

class Logs implements LogProvider {
  readonly logs = new Map<string, MemoryLog>();
  getOrCreateLog(topic: string, partition: number, config: LogConfig): Promise<PartitionLog> {
    const k = `${topic}-${partition}`;
    let log = this.logs.get(k);
    if (log === undefined) {
      log = new MemoryLog({ topic, partition, config, clock: systemClock });
      this.logs.set(k, log);
    }
    return Promise.resolve(log);
  }
  deleteLog(topic: string, partition: number): Promise<void> {
    this.logs.delete(`${topic}-${partition}`);
    return Promise.resolve();
  }
}

interface Node {
  id: number;
  logs: Logs;
  publisher?: MetadataPublisher;
  replicas?: ReplicaManager;
  sessions: FetchSessionCache;
}

function brokerImage(id: number, rack: string): BrokerImage {
  return {
    nodeId: id,
    incarnationId: `inc-${id}`,
    brokerEpoch: 10 + id,
    endpoints: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 1, securityProtocol: 0 }],
    rack,
    fenced: false,
    inControlledShutdown: false,
    logDirs: [],
  };
}

class MiniCluster {
  image: MetadataImage;
  readonly nodes = new Map<number, Node>();
  alterRequests = 0;

  constructor(image: MetadataImage) {
    this.image = image;
    for (const id of [1, 2, 3]) {
      this.nodes.set(id, { id, logs: new Logs(), sessions: new FetchSessionCache(systemClock, seededRandom(id), 100) });
    }
  }

  async start(id: number, selector?: string): Promise<ReplicaManager> {
    const node = this.nodes.get(id)!;
    node.publisher = new MetadataPublisher(this.image);
    node.replicas = await ReplicaManager.start({
      nodeId: id,
      clock: systemClock,
      metadata: node.publisher,
      logs: node.logs,
      logDir: '/data',
      brokerEpoch: () => BigInt(10 + id),
      alterPartition: (r) => this.alterPartition(r),
      fetchTransport: (source, request, version) => this.fetch(source, request, version),
      replication: {
        replicaLagTimeMaxMs: LAG_MS,
        replicaFetchWaitMaxMs: 20,
        replicaFetchBackoffMs: 20,
        replicaSelectorClass: selector,
      },
    });
    return node.replicas;
  }

  kill(id: number): void {
    const node = this.nodes.get(id)!;
    node.replicas?.abandon();
    node.replicas = undefined;
    node.publisher = undefined;
  }

  async fetch(source: number, request: FetchRequest, version = 12) {
    const node = this.nodes.get(source)!;
    if (node.replicas === undefined) throw new Error(`node ${source} is down`);
    return handleFetch(request, version, { replicas: node.replicas, sessions: node.sessions, clock: systemClock });
  }

  partition(): PartitionImage {
    return this.image.topicsByName.get('t')!.partitions.get(0)!;
  }

  async setPartition(change: Partial<PartitionImage>): Promise<void> {
    const topic = this.image.topicsByName.get('t')!;
    const next: PartitionImage = {
      ...this.partition(),
      ...change,
      partitionEpoch: this.partition().partitionEpoch + 1,
    };
    const t: TopicImage = { ...topic, partitions: new Map([[0, next]]) };
    this.image = {
      ...this.image,
      offset: this.image.offset + 1,
      topicsByName: new Map([['t', t]]),
      topicsById: new Map([[t.topicId, t]]),
    };
    const delta = {
      createdTopics: new Set<string>(),
      changedPartitions: new Map([[t.topicId, new Set([0])]]),
      deletedTopics: [],
      changedConfigs: new Set<string>(),
      changedBrokers: new Set<number>(),
      changedFeatures: false,
    };
    for (const node of this.nodes.values()) await node.publisher?.publish(this.image, delta);
  }

  /** The controller's side: accept when epochs match, publish the new ISR. */
  async alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse> {
    this.alterRequests++;
    const topics = [];
    for (const t of request.topics) {
      const partitions = [];
      for (const p of t.partitions) {
        const current = this.partition();
        if (p.leaderEpoch !== current.leaderEpoch || p.partitionEpoch !== current.partitionEpoch) {
          partitions.push({
            partitionIndex: p.partitionIndex,
            errorCode: ErrorCode.INVALID_UPDATE_VERSION,
            leaderId: -1,
            leaderEpoch: -1,
            isr: [],
            leaderRecoveryState: 0,
            partitionEpoch: -1,
          });
          continue;
        }
        await this.setPartition({ isr: p.newIsr });
        const now = this.partition();
        partitions.push({
          partitionIndex: p.partitionIndex,
          errorCode: 0,
          leaderId: now.leader,
          leaderEpoch: now.leaderEpoch,
          isr: [...now.isr],
          leaderRecoveryState: 0,
          partitionEpoch: now.partitionEpoch,
        });
      }
      topics.push({ topicName: t.topicName, topicId: t.topicId, partitions });
    }
    return { throttleTimeMs: 0, errorCode: 0, topics };
  }

  async produce(leader: number, records: number, acks = -1, timeoutMs = 5000): Promise<number> {
    const replicas = this.nodes.get(leader)!.replicas!;
    const { response } = await handleProduce(
      {
        transactionalId: null,
        acks,
        timeoutMs,
        topicData: [{ name: 't', partitionData: [{ index: 0, records: batch(records) }] }],
      },
      9,
      { replicas, nowMs: () => systemClock.nowMs() },
    );
    return response.responses[0]!.partitionResponses[0]!.errorCode;
  }

  log(id: number): MemoryLog {
    return this.nodes.get(id)!.logs.logs.get('t-0')!;
  }

  async contents(id: number): Promise<Buffer> {
    const log = this.log(id);
    const r = await log.read(log.logStartOffset(), 1 << 24, { maxOffset: log.logEndOffset() });
    return r.kind === 'records' ? r.records : Buffer.alloc(0);
  }

  stopAll(): void {
    for (const id of this.nodes.keys()) this.kill(id);
  }
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function clusterImage(minIsr: string): MetadataImage {
  const base = imageOf([
    {
      name: 't',
      partitions: 1,
      leader: 1,
      replicas: [1, 2, 3],
      isr: [1, 2, 3],
      leaderEpoch: 1,
      configs: { 'min.insync.replicas': minIsr },
    },
  ]);
  return {
    ...base,
    brokers: new Map([
      [1, brokerImage(1, 'r1')],
      [2, brokerImage(2, 'r2')],
      [3, brokerImage(3, 'r3')],
    ]),
  };
}

void describe('replication between replica managers', () => {
  const clusters: MiniCluster[] = [];
  after(() => {
    for (const c of clusters) c.stopAll();
  });

  void it('acks=all, ISR shrink and expand, leader change with truncation of the old leader', async () => {
    const c = new MiniCluster(clusterImage('2'));
    clusters.push(c);
    for (const id of [1, 2, 3]) await c.start(id);

    assert.equal(await c.produce(1, 5), ErrorCode.NONE, 'acks=-1 answered once the ISR has it');
    assert.equal(c.log(1).highWatermark(), 5);
    await waitFor('followers at the leader HW', () => c.log(2).highWatermark() === 5 && c.log(3).highWatermark() === 5);
    assert.deepEqual(await c.contents(2), await c.contents(1));
    assert.deepEqual(await c.contents(3), await c.contents(1));

    // Follower 3 stops: dropped from the ISR after the lag; acks=-1 keeps working with min 2.
    c.kill(3);
    assert.equal(await c.produce(1, 2), ErrorCode.NONE, 'waits for the shrink, then commits');
    await waitFor('ISR [1, 2]', () => c.partition().isr.join() === '1,2');
    assert.equal(await c.produce(1, 1), ErrorCode.NONE);
    // min.insync.replicas=3 now refuses before appending.
    const p1 = c.nodes.get(1)!.replicas!.getPartition('t', 0)!;
    p1.applyConfig({ ...p1.config, minInsyncReplicas: 3 });
    const endBefore = c.log(1).logEndOffset();
    assert.equal(await c.produce(1, 1), ErrorCode.NOT_ENOUGH_REPLICAS);
    assert.equal(c.log(1).logEndOffset(), endBefore, 'nothing appended');
    assert.equal(await c.produce(1, 1, 1), ErrorCode.NONE, 'acks=1 is not affected');

    // Follower 3 comes back: catches up and rejoins the ISR.
    await c.start(3);
    await waitFor('ISR [1, 2, 3]', () => c.partition().isr.length === 3);
    assert.equal(await c.produce(1, 1), ErrorCode.NONE, 'min.insync=3 satisfied again');
    await waitFor('follower 3 caught up', () => c.log(3).logEndOffset() === c.log(1).logEndOffset());
    const committed = c.log(1).highWatermark();

    // The leader writes a tail nobody fetches, then dies; 2 becomes leader at epoch 2.
    c.kill(2);
    c.kill(3);
    await c.log(1).append(batch(4), { leaderEpoch: 1 });
    c.kill(1);
    await c.start(2);
    await c.start(3);
    await c.setPartition({ leader: 2, leaderEpoch: 2, isr: [2, 3] });
    assert.equal(c.log(2).logEndOffset(), committed, 'the new leader has every acknowledged record');
    assert.equal(await c.produce(2, 3), ErrorCode.NONE);
    // The old leader returns as a follower: its epoch-1 tail is truncated, then it copies epoch 2.
    await c.start(1);
    await waitFor('old leader converged', async () => (await c.contents(1)).equals(await c.contents(2)));
    assert.equal(c.log(1).latestEpoch(), 2);
    await waitFor('ISR [2, 3, 1]', () => c.partition().isr.length === 3);
    assert.ok(c.alterRequests >= 3);
  });

  void it('rack-aware PreferredReadReplica, stale broker epochs refused, consumers read from a follower up to its HW', async () => {
    const c = new MiniCluster(clusterImage('1'));
    clusters.push(c);
    for (const id of [1, 2, 3]) await c.start(id, RACK_AWARE_REPLICA_SELECTOR);
    assert.equal(await c.produce(1, 3), ErrorCode.NONE);
    const consumerFetch = (node: number, rackId: string) =>
      c.fetch(node, {
        clusterId: null,
        replicaId: -1,
        replicaState: { replicaId: -1, replicaEpoch: -1n },
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: 't',
            topicId: '',
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: -1,
                fetchOffset: 0n,
                lastFetchedEpoch: -1,
                logStartOffset: -1n,
                partitionMaxBytes: 1 << 20,
                replicaDirectoryId: '',
              },
            ],
          },
        ],
        forgottenTopicsData: [],
        rackId,
      });
    const fromLeader = (await consumerFetch(1, 'r3')).responses[0]!.partitions[0]!;
    assert.equal(fromLeader.preferredReadReplica, 3);
    assert.equal(fromLeader.records?.length ?? 0, 0);
    const sameRack = (await consumerFetch(1, 'r1')).responses[0]!.partitions[0]!;
    assert.equal(sameRack.preferredReadReplica, -1);
    assert.ok((sameRack.records?.length ?? 0) > 0);
    await waitFor('follower 3 HW', () => c.log(3).highWatermark() === 3);
    // A follower fetch (v15) with a broker epoch other than the registered one is refused.
    const topicId = c.image.topicsByName.get('t')!.topicId;
    const stale = await c.fetch(
      1,
      {
        clusterId: null,
        replicaId: -1,
        replicaState: { replicaId: 2, replicaEpoch: 99n },
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: '',
            topicId,
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: 1,
                fetchOffset: 0n,
                lastFetchedEpoch: -1,
                logStartOffset: 0n,
                partitionMaxBytes: 1 << 20,
                replicaDirectoryId: '',
              },
            ],
          },
        ],
        forgottenTopicsData: [],
        rackId: '',
      },
      15,
    );
    assert.equal(stale.responses[0]!.partitions[0]!.errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
    const fromFollower = (await consumerFetch(3, 'r3')).responses[0]!.partitions[0]!;
    assert.equal(fromFollower.errorCode, ErrorCode.NONE);
    assert.equal(fromFollower.highWatermark, 3n);
    assert.ok((fromFollower.records?.length ?? 0) > 0);
  });
});
