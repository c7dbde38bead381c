/**
 * A small in-process Kafka for client unit tests: one or more TCP listeners on 127.0.0.1
 * sharing one state (topics, partition logs of raw batches, groups, committed offsets),
 * answering with the generated codecs. Tests inject faults per request: an error code for a
 * partition, a dropped response (the client times out), a delay, a closed connection.
 *
 * Produce checks idempotent sequences the way a broker does (per producer id and partition:
 * duplicates of the last batches are answered with their original offset, gaps get
 * OUT_OF_ORDER_SEQUENCE_NUMBER), so tests can assert there are no duplicates and no reordering.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decode } from '../../src/protocol/codec/message.ts';
import { type DecodedRequest, decodeRequest, encodeResponse } from '../../src/protocol/frame.ts';
import { API_INFO, ApiKey } from '../../src/protocol/generated/api-keys.ts';
import {
  type ConsumerProtocolSubscription,
  ConsumerProtocolSubscriptionCodec,
} from '../../src/protocol/generated/consumer-protocol-subscription.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import {
  assignBatchOffset,
  BatchOffset,
  buildControlBatch,
  ControlRecordType,
  iterateBatches,
  lastOffsetOf,
  readBatchHeader,
} from '../../src/protocol/records/index.ts';

export interface FakePartition {
  leader: number;
  leaderEpoch: number;
  batches: Buffer[];
  logStartOffset: number;
  nextOffset: number;
  /** Per producer id: sequences of the last 5 batches with their base offsets. */
  producers: Map<bigint, { epoch: number; recent: { firstSeq: number; lastSeq: number; baseOffset: number }[] }>;
  /** Open transactions on this partition: producer id -> first offset (bounds the last stable offset). */
  ongoing: Map<bigint, number>;
  /** Aborted transactions, for read_committed fetches. */
  aborted: { producerId: bigint; firstOffset: number; lastOffset: number }[];
}

/** The fake's transaction coordinator state for one transactional id. */
export interface FakeTxn {
  transactionalId: string;
  producerId: bigint;
  epoch: number;
  state: 'Empty' | 'Ongoing';
  partitions: Set<string>;
  groups: Set<string>;
  /** Offsets staged by TxnOffsetCommit: group -> "topic:partition" -> offset. */
  pendingOffsets: Map<string, Map<string, bigint>>;
}

export interface FakeTopic {
  name: string;
  topicId: string;
  partitions: FakePartition[];
  configs: Map<string, string>;
}

/** What a fault hook may answer for a request. */
export type Fault =
  | { kind: 'drop' } // never answer (the client's request timeout fires)
  | { kind: 'close' } // close the connection
  | { kind: 'error'; code: number } // answer with this error code for every partition/top level
  | { kind: 'delay'; ms: number }
  | { kind: 'hold'; until: Promise<void> } // answer once `until` resolves
  | undefined;

export type FaultHook = (req: DecodedRequest, nodeId: number) => Fault;

interface GroupMember {
  memberId: string;
  groupInstanceId: string | null;
  protocols: { name: string; metadata: Buffer }[];
  assignment: Buffer;
  joinResolve: ((r: Buffer) => void) | null;
  joinVersion: number;
  joinCorrelationId: number;
  syncResolve: (() => void) | null;
  lastHeartbeat: number;
}

interface FakeGroup {
  groupId: string;
  generationId: number;
  state: 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';
  protocolName: string | null;
  leader: string;
  members: Map<string, GroupMember>;
  offsets: Map<string, bigint>;
  joinTimer: NodeJS.Timeout | null;
}

let nextMemberId = 0;

type FetchBody = Extract<DecodedRequest, { apiKey: 1 }>['body'];

export class FakeKafka {
  readonly nodes: { nodeId: number; server: Server; port: number }[] = [];
  readonly topics = new Map<string, FakeTopic>();
  readonly groups = new Map<string, FakeGroup>();
  readonly sockets = new Set<Socket>();
  /** Every request seen, by API key (counts). */
  readonly requestCounts = new Map<number, number>();
  /** Version of the last request seen, by API key. */
  readonly requestVersions = new Map<number, number>();
  /** Caps the versions the fake advertises in ApiVersions, by API key. */
  readonly maxVersions = new Map<number, number>();
  /** Connections accepted, per node. */
  readonly connectionCounts = new Map<number, number>();
  faults: FaultHook[] = [];
  nextProducerId = 1000n;
  /** Join window: how long the fake waits for other members before completing a rebalance. */
  rebalanceDelayMs = 30;
  /** How long a rebalance waits for known members to rejoin before dropping them. */
  rebalanceTimeoutMs = 3000;
  autoCreateTopics = false;
  /** When > 0, responses are written in pieces of this many bytes, one per I/O turn. */
  splitWritesBytes = 0;
  private splitChain: Promise<void> = Promise.resolve();
  /** Fetch sessions (KIP-227); false makes the fake answer every fetch without one. */
  fetchSessionsEnabled = true;
  private readonly fetchSessions = new Map<
    number,
    {
      epoch: number;
      parts: Map<string, { topic: string; topicId: string; p: FetchBody['topics'][0]['partitions'][0] }>;
    }
  >();
  private nextFetchSessionId = 1;
  /** True while the fake holds fetch session `id` (opened and not closed or replaced). */
  hasFetchSession(id: number): boolean {
    return this.fetchSessions.has(id);
  }
  /** The last 1000 fetches: session id and epoch, partitions and forgotten partitions carried. */
  readonly fetchLog: { sessionId: number; sessionEpoch: number; partitions: number; forgotten: number }[] = [];
  /** Transaction coordinator state, by transactional id. */
  readonly txns = new Map<string, FakeTxn>();
  /** Aborted transactions listed in Fetch responses (tests of read_committed). */
  abortedTransactions: (topic: string, partition: number) => { producerId: bigint; firstOffset: bigint }[] = () => [];
  private fetchWaiters: (() => void)[] = [];

  static async start(nodeCount = 1): Promise<FakeKafka> {
    const k = new FakeKafka();
    for (let i = 0; i < nodeCount; i++) {
      const nodeId = i;
      const server = createServer((socket) => k.serve(socket, nodeId));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      k.nodes.push({ nodeId, server, port });
    }
    return k;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.nodes[0]!.port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const g of this.groups.values()) if (g.joinTimer) clearTimeout(g.joinTimer);
    await Promise.all(this.nodes.map((n) => new Promise<void>((resolve) => n.server.close(() => resolve()))));
  }

  createTopic(name: string, partitions: number, leaderOf: (p: number) => number = () => 0): FakeTopic {
    const t: FakeTopic = {
      name,
      topicId: Buffer.from(name.padEnd(16, '_').slice(0, 16)).toString('base64url'),
      partitions: [],
      configs: new Map([['retention.ms', '604800000']]),
    };
    for (let p = 0; p < partitions; p++) t.partitions.push(newPartition(leaderOf(p)));
    this.topics.set(name, t);
    return t;
  }

  /** Moves a partition's leadership; the old leader now answers NOT_LEADER_OR_FOLLOWER. */
  setLeader(topic: string, partition: number, nodeId: number): void {
    const p = this.topics.get(topic)!.partitions[partition]!;
    p.leader = nodeId;
    p.leaderEpoch++;
  }

  /** Adds a fault hook; returns a function removing it. */
  inject(hook: FaultHook): () => void {
    this.faults.push(hook);
    return () => {
      this.faults = this.faults.filter((h) => h !== hook);
    };
  }

  /** All records' values of a partition, decoded, in offset order. */
  partitionBatches(topic: string, partition: number): Buffer[] {
    return this.topics.get(topic)!.partitions[partition]!.batches;
  }

  private serve(socket: Socket, nodeId: number): void {
    this.sockets.add(socket);
    this.connectionCounts.set(nodeId, (this.connectionCounts.get(nodeId) ?? 0) + 1);
    socket.setNoDelay(true);
    let chunks: Buffer[] = [];
    let size = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      while (size >= 4) {
        const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        chunks = [all];
        const len = all.readInt32BE(0);
        if (size < 4 + len) return;
        const frame = Buffer.from(all.subarray(4, 4 + len));
        chunks = size > 4 + len ? [all.subarray(4 + len)] : [];
        size -= 4 + len;
        this.onFrame(socket, nodeId, frame);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  private onFrame(socket: Socket, nodeId: number, frame: Buffer): void {
    const req = decodeRequest(frame);
    this.requestCounts.set(req.apiKey, (this.requestCounts.get(req.apiKey) ?? 0) + 1);
    this.requestVersions.set(req.apiKey, req.apiVersion);
    if (req.unsupported) return;
    let fault: Fault;
    for (const h of this.faults) {
      fault = h(req, nodeId);
      if (fault !== undefined) break;
    }
    if (fault?.kind === 'drop') return;
    if (fault?.kind === 'close') {
      socket.destroy();
      return;
    }
    const apiVersionsMax = this.maxVersions.get(ApiKey.ApiVersions);
    if (req.apiKey === ApiKey.ApiVersions && apiVersionsMax !== undefined && req.apiVersion > apiVersionsMax) {
      // As Kafka does: an ApiVersions version it cannot read is answered in v0 with UNSUPPORTED_VERSION.
      const body = { ...(this.handle(req, nodeId, 0) as object), errorCode: ErrorCode.UNSUPPORTED_VERSION };
      socket.write(encodeResponse(ApiKey.ApiVersions, 0, req.header.correlationId, body as never));
      return;
    }
    const reply = (body: unknown): void => {
      if (socket.destroyed) return;
      const bytes = encodeResponse(req.apiKey, req.apiVersion, req.header.correlationId, body as never);
      if (this.splitWritesBytes <= 0) {
        socket.write(bytes);
        return;
      }
      // Tests of framing: the response leaves in small pieces, one per I/O turn, in order.
      for (let at = 0; at < bytes.length; at += this.splitWritesBytes) {
        const piece = bytes.subarray(at, at + this.splitWritesBytes);
        this.splitChain = this.splitChain.then(
          () =>
            new Promise<void>((resolve) => {
              setImmediate(() => {
                if (!socket.destroyed) socket.write(piece);
                resolve();
              });
            }),
        );
      }
    };
    const run = (): void => {
      const forced = fault?.kind === 'error' ? fault.code : 0;
      const out = this.handle(req, nodeId, forced);
      if (out === NO_RESPONSE) return;
      if (out instanceof Promise) void out.then(reply);
      else reply(out);
    };
    if (fault?.kind === 'delay') setTimeout(run, fault.ms);
    else if (fault?.kind === 'hold') void fault.until.then(run);
    else run();
  }

  private handle(req: DecodedRequest, nodeId: number, forced: number): unknown {
    if (req.unsupported) return NO_RESPONSE;
    const info = API_INFO.get(req.apiKey)!;
    const base = info.response.defaults() as Record<string, unknown>;
    switch (req.apiKey) {
      case ApiKey.ApiVersions:
        return {
          ...base,
          errorCode: 0,
          apiKeys: [...API_INFO.entries()].map(([apiKey, i]) => ({
            apiKey,
            minVersion: i.validVersions.min,
            maxVersion: Math.min(i.validVersions.max, this.maxVersions.get(apiKey) ?? i.validVersions.max),
          })),
        };
      case ApiKey.Metadata: {
        const b = req.body;
        const names =
          b.topics === null ? [...this.topics.keys()] : b.topics.map((t) => t.name ?? '').filter((n) => n !== '');
        return {
          ...base,
          brokers: this.nodes.map((n) => ({ nodeId: n.nodeId, host: '127.0.0.1', port: n.port, rack: null })),
          clusterId: 'fake-cluster',
          controllerId: 0,
          topics: names.map((name) => {
            let t = this.topics.get(name);
            if (t === undefined && this.autoCreateTopics && b.allowAutoTopicCreation) t = this.createTopic(name, 1);
            if (t === undefined) {
              return { ...topicDefaults(), errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, partitions: [] };
            }
            return {
              ...topicDefaults(),
              errorCode: forced,
              name,
              topicId: t.topicId,
              partitions: t.partitions.map((p, i) => ({
                errorCode: 0,
                partitionIndex: i,
                leaderId: p.leader,
                leaderEpoch: p.leaderEpoch,
                replicaNodes: [p.leader],
                isrNodes: [p.leader],
                offlineReplicas: [],
              })),
            };
          }),
        };
      }
      case ApiKey.InitProducerId: {
        const b = req.body;
        if (forced) return { ...base, errorCode: forced };
        if (b.transactionalId !== null) return { ...base, ...this.initTransactional(b) };
        if (b.producerId >= 0n) return { ...base, producerId: b.producerId, producerEpoch: b.producerEpoch + 1 };
        return { ...base, producerId: this.nextProducerId++, producerEpoch: 0 };
      }
      case ApiKey.Produce: {
        const b = req.body;
        const responses = b.topicData.map((td) => ({
          name: td.name,
          partitionResponses: td.partitionData.map((pd) => {
            const r = this.produce(td.name, pd.index, pd.records!, nodeId, forced);
            return {
              index: pd.index,
              errorCode: r.errorCode,
              baseOffset: BigInt(r.baseOffset),
              logAppendTimeMs: -1n,
              logStartOffset: 0n,
              recordErrors: [],
              errorMessage: null,
              currentLeader: { leaderId: -1, leaderEpoch: -1 },
            };
          }),
        }));
        if (b.acks === 0) return NO_RESPONSE;
        return { ...base, responses };
      }
      case ApiKey.Fetch:
        return this.fetch(req.body, nodeId, forced, base);
      case ApiKey.ListOffsets: {
        const b = req.body;
        return {
          ...base,
          topics: b.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => {
              const part = this.topics.get(t.name)?.partitions[p.partitionIndex];
              if (part === undefined || forced) {
                return {
                  ...listOffsetDefaults(),
                  partitionIndex: p.partitionIndex,
                  errorCode: forced || ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                };
              }
              let offset = part.nextOffset;
              if (p.timestamp === -2n) offset = part.logStartOffset;
              else if (p.timestamp >= 0n) offset = this.offsetForTime(part, Number(p.timestamp));
              return {
                ...listOffsetDefaults(),
                partitionIndex: p.partitionIndex,
                offset: BigInt(offset),
                timestamp: -1n,
              };
            }),
          })),
        };
      }
      case ApiKey.FindCoordinator: {
        const b = req.body;
        const node = this.nodes[0]!;
        const keys = req.apiVersion >= 4 ? b.coordinatorKeys : [b.key];
        return {
          ...base,
          errorCode: forced,
          nodeId: node.nodeId,
          host: '127.0.0.1',
          port: node.port,
          coordinators: keys.map((key) => ({
            key,
            nodeId: node.nodeId,
            host: '127.0.0.1',
            port: node.port,
            errorCode: forced,
            errorMessage: null,
          })),
        };
      }
      case ApiKey.AddPartitionsToTxn: {
        const b = req.body;
        const code =
          forced || this.checkTxn(b.v3AndBelowTransactionalId, b.v3AndBelowProducerId, b.v3AndBelowProducerEpoch);
        const t = this.txns.get(b.v3AndBelowTransactionalId);
        return {
          ...base,
          errorCode: 0,
          resultsByTopicV3AndBelow: b.v3AndBelowTopics.map((topic) => ({
            name: topic.name,
            resultsByPartition: topic.partitions.map((partitionIndex) => {
              let partitionErrorCode = code;
              if (code === 0 && this.topics.get(topic.name)?.partitions[partitionIndex] === undefined) {
                partitionErrorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
              }
              if (partitionErrorCode === 0 && t !== undefined) {
                t.partitions.add(`${topic.name}:${partitionIndex}`);
                t.state = 'Ongoing';
              }
              return { partitionIndex, partitionErrorCode };
            }),
          })),
        };
      }
      case ApiKey.AddOffsetsToTxn: {
        const b = req.body;
        const code = forced || this.checkTxn(b.transactionalId, b.producerId, b.producerEpoch);
        const t = this.txns.get(b.transactionalId);
        if (code === 0 && t !== undefined) {
          t.groups.add(b.groupId);
          t.state = 'Ongoing';
        }
        return { ...base, errorCode: code };
      }
      case ApiKey.TxnOffsetCommit: {
        const b = req.body;
        let code = forced || this.checkTxn(b.transactionalId, b.producerId, b.producerEpoch);
        const t = this.txns.get(b.transactionalId);
        const g = this.groups.get(b.groupId);
        if (code === 0 && (t === undefined || !t.groups.has(b.groupId))) code = ErrorCode.INVALID_TXN_STATE;
        if (code === 0 && b.generationId >= 0 && g !== undefined && g.generationId !== b.generationId) {
          code = ErrorCode.ILLEGAL_GENERATION;
        }
        if (code === 0 && b.memberId !== '' && g !== undefined && !g.members.has(b.memberId)) {
          code = ErrorCode.UNKNOWN_MEMBER_ID;
        }
        if (code === 0 && t !== undefined) {
          let staged = t.pendingOffsets.get(b.groupId);
          if (staged === undefined) {
            staged = new Map();
            t.pendingOffsets.set(b.groupId, staged);
          }
          for (const topic of b.topics) {
            for (const p of topic.partitions) staged.set(`${topic.name}:${p.partitionIndex}`, p.committedOffset);
          }
        }
        return {
          ...base,
          topics: b.topics.map((topic) => ({
            name: topic.name,
            partitions: topic.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })),
          })),
        };
      }
      case ApiKey.EndTxn: {
        const b = req.body;
        const code = forced || this.checkTxn(b.transactionalId, b.producerId, b.producerEpoch);
        const t = this.txns.get(b.transactionalId);
        if (code !== 0 || t === undefined) return { ...base, errorCode: code };
        if (t.state !== 'Ongoing') return { ...base, errorCode: ErrorCode.INVALID_TXN_STATE };
        this.completeTxn(t, b.committed);
        return { ...base, errorCode: 0, producerId: t.producerId, producerEpoch: t.epoch };
      }
      case ApiKey.JoinGroup:
        return this.joinGroup(req, forced, base);
      case ApiKey.SyncGroup:
        return this.syncGroup(req, forced, base);
      case ApiKey.Heartbeat: {
        const g = this.groups.get(req.body.groupId);
        if (forced) return { ...base, errorCode: forced };
        if (g === undefined || !g.members.has(req.body.memberId)) {
          return { ...base, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
        }
        if (req.body.generationId !== g.generationId) return { ...base, errorCode: ErrorCode.ILLEGAL_GENERATION };
        if (g.state === 'PreparingRebalance') return { ...base, errorCode: ErrorCode.REBALANCE_IN_PROGRESS };
        return { ...base, errorCode: 0 };
      }
      case ApiKey.LeaveGroup: {
        const g = this.groups.get(req.body.groupId);
        const ids = req.apiVersion >= 3 ? req.body.members.map((m) => m.memberId) : [req.body.memberId];
        if (g !== undefined) {
          for (const id of ids) g.members.delete(id);
          if (g.members.size === 0) g.state = 'Empty';
          else this.prepareRebalance(g);
        }
        return {
          ...base,
          errorCode: forced,
          members: req.body.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            errorCode: 0,
          })),
        };
      }
      case ApiKey.OffsetCommit: {
        const b = req.body;
        const g = this.group(b.groupId);
        return {
          ...base,
          topics: b.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => {
              if (!forced) g.offsets.set(`${t.name}:${p.partitionIndex}`, p.committedOffset);
              return { partitionIndex: p.partitionIndex, errorCode: forced };
            }),
          })),
        };
      }
      case ApiKey.OffsetFetch: {
        const b = req.body;
        const one = (groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null) => {
          const g = this.group(groupId);
          const list =
            topics ??
            [...g.offsets.keys()].map((k) => ({
              name: k.slice(0, k.lastIndexOf(':')),
              partitionIndexes: [Number(k.slice(k.lastIndexOf(':') + 1))],
            }));
          return list.map((t) => ({
            name: t.name,
            partitions: t.partitionIndexes.map((p) => ({
              partitionIndex: p,
              committedOffset: g.offsets.get(`${t.name}:${p}`) ?? -1n,
              committedLeaderEpoch: -1,
              metadata: '',
              errorCode: 0,
            })),
          }));
        };
        if (req.apiVersion >= 8) {
          return {
            ...base,
            groups: b.groups.map((g) => ({ groupId: g.groupId, topics: one(g.groupId, g.topics), errorCode: forced })),
          };
        }
        return { ...base, errorCode: forced, topics: one(b.groupId, b.topics) };
      }
      case ApiKey.CreateTopics: {
        return {
          ...base,
          topics: req.body.topics.map((t) => {
            const exists = this.topics.has(t.name);
            if (!exists && !req.body.validateOnly) this.createTopic(t.name, t.numPartitions < 0 ? 1 : t.numPartitions);
            return {
              name: t.name,
              topicId: this.topics.get(t.name)?.topicId ?? 'AAAAAAAAAAAAAAAAAAAAAA',
              errorCode: exists ? ErrorCode.TOPIC_ALREADY_EXISTS : forced,
              errorMessage: null,
              numPartitions: t.numPartitions,
              replicationFactor: 1,
              configs: [],
              topicConfigErrorCode: 0,
            };
          }),
        };
      }
      case ApiKey.DeleteTopics: {
        const names = req.apiVersion >= 6 ? req.body.topics.map((t) => t.name ?? '') : req.body.topicNames;
        return {
          ...base,
          responses: names.map((name) => {
            const ok = this.topics.delete(name);
            return {
              name,
              topicId: 'AAAAAAAAAAAAAAAAAAAAAA',
              errorCode: ok ? 0 : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
              errorMessage: null,
            };
          }),
        };
      }
      case ApiKey.CreatePartitions: {
        return {
          ...base,
          results: req.body.topics.map((t) => {
            const topic = this.topics.get(t.name);
            if (topic === undefined)
              return { name: t.name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null };
            if (t.count <= topic.partitions.length) {
              return { name: t.name, errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'count too small' };
            }
            while (topic.partitions.length < t.count) topic.partitions.push(newPartition(0));
            return { name: t.name, errorCode: 0, errorMessage: null };
          }),
        };
      }
      case ApiKey.DescribeConfigs: {
        return {
          ...base,
          results: req.body.resources.map((r) => {
            const t = this.topics.get(r.resourceName);
            return {
              errorCode: t === undefined ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : 0,
              errorMessage: null,
              resourceType: r.resourceType,
              resourceName: r.resourceName,
              configs: [...(t?.configs ?? new Map<string, string>())]
                .filter(([k]) => r.configurationKeys === null || r.configurationKeys.includes(k))
                .map(([name, value]) => ({
                  name,
                  value,
                  readOnly: false,
                  isDefault: false,
                  configSource: 1,
                  isSensitive: false,
                  synonyms: [],
                  configType: 0,
                  documentation: null,
                })),
            };
          }),
        };
      }
      case ApiKey.IncrementalAlterConfigs: {
        return {
          ...base,
          responses: req.body.resources.map((r) => {
            const t = this.topics.get(r.resourceName);
            if (t !== undefined) {
              for (const c of r.configs) {
                if (c.configOperation === 1) t.configs.delete(c.name);
                else t.configs.set(c.name, c.value ?? '');
              }
            }
            return {
              errorCode: t === undefined ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : 0,
              errorMessage: null,
              resourceType: r.resourceType,
              resourceName: r.resourceName,
            };
          }),
        };
      }
      case ApiKey.ListGroups:
        return {
          ...base,
          groups: [...this.groups.values()].map((g) => ({
            groupId: g.groupId,
            protocolType: 'consumer',
            groupState: g.state,
            groupType: 'classic',
          })),
        };
      case ApiKey.DescribeGroups:
        return {
          ...base,
          groups: req.body.groups.map((id) => {
            const g = this.groups.get(id);
            return {
              errorCode: 0,
              errorMessage: null,
              groupId: id,
              groupState: g?.state ?? 'Dead',
              protocolType: 'consumer',
              protocolData: g?.protocolName ?? '',
              members: [...(g?.members.values() ?? [])].map((m) => ({
                memberId: m.memberId,
                groupInstanceId: m.groupInstanceId,
                clientId: 'c',
                clientHost: '/127.0.0.1',
                memberMetadata: m.protocols[0]?.metadata ?? Buffer.alloc(0),
                memberAssignment: m.assignment,
              })),
              authorizedOperations: -2147483648,
            };
          }),
        };
      case ApiKey.DeleteGroups:
        return {
          ...base,
          results: req.body.groupsNames.map((id) => ({
            groupId: id,
            errorCode: this.groups.delete(id) ? 0 : ErrorCode.GROUP_ID_NOT_FOUND,
          })),
        };
      case ApiKey.DescribeCluster:
        return {
          ...base,
          errorCode: 0,
          clusterId: 'fake-cluster',
          controllerId: 0,
          brokers: this.nodes.map((n) => ({
            brokerId: n.nodeId,
            host: '127.0.0.1',
            port: n.port,
            rack: null,
            isFenced: false,
          })),
        };
      case ApiKey.DeleteRecords:
        return {
          ...base,
          topics: req.body.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => {
              const part = this.topics.get(t.name)!.partitions[p.partitionIndex]!;
              const target = p.offset < 0n ? part.nextOffset : Number(p.offset);
              part.logStartOffset = Math.max(part.logStartOffset, target);
              return { partitionIndex: p.partitionIndex, lowWatermark: BigInt(part.logStartOffset), errorCode: 0 };
            }),
          })),
        };
      default:
        return { ...base, errorCode: ErrorCode.UNSUPPORTED_VERSION };
    }
  }

  private produce(
    topic: string,
    partition: number,
    records: Buffer,
    nodeId: number,
    forced: number,
  ): { errorCode: number; baseOffset: number } {
    const t = this.topics.get(topic);
    const p = t?.partitions[partition];
    if (p === undefined) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1 };
    if (p.leader !== nodeId) return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, baseOffset: -1 };
    if (forced) return { errorCode: forced, baseOffset: -1 };
    const batch = Buffer.from(records);
    const h = readBatchHeader(batch, 0);
    const transactional = (h.attributes & 0x10) !== 0;
    if (transactional) {
      const t = [...this.txns.values()].find((x) => x.producerId === h.producerId);
      if (t === undefined || t.epoch > h.producerEpoch)
        return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, baseOffset: -1 };
      if (!t.partitions.has(`${topic}:${partition}`)) return { errorCode: ErrorCode.INVALID_TXN_STATE, baseOffset: -1 };
    }
    if (h.producerId >= 0n) {
      let ps = p.producers.get(h.producerId);
      const lastSeq = h.baseSequence + h.recordsCount - 1;
      if (ps === undefined || ps.epoch < h.producerEpoch) {
        if (h.baseSequence !== 0) return { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 };
        ps = { epoch: h.producerEpoch, recent: [] };
        p.producers.set(h.producerId, ps);
      } else if (ps.epoch > h.producerEpoch) {
        return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, baseOffset: -1 };
      } else {
        const dup = ps.recent.find((r) => r.firstSeq === h.baseSequence && r.lastSeq === lastSeq);
        if (dup !== undefined) return { errorCode: 0, baseOffset: dup.baseOffset };
        const last = ps.recent[ps.recent.length - 1];
        const expected = last === undefined ? 0 : last.lastSeq + 1;
        if (h.baseSequence !== expected) return { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 };
      }
      ps.recent.push({ firstSeq: h.baseSequence, lastSeq, baseOffset: p.nextOffset });
      if (ps.recent.length > 5) ps.recent.shift();
    }
    const baseOffset = p.nextOffset;
    if (transactional && !p.ongoing.has(h.producerId)) p.ongoing.set(h.producerId, baseOffset);
    assignBatchOffset(batch, 0, baseOffset, p.leaderEpoch);
    p.batches.push(batch);
    p.nextOffset = lastOffsetOf(batch, 0) + 1;
    const waiters = this.fetchWaiters;
    this.fetchWaiters = [];
    for (const w of waiters) w();
    return { errorCode: 0, baseOffset };
  }

  /** InitProducerId with a transactional id: a new producer, or the next epoch (aborting what the old one left open). */
  private initTransactional(b: { transactionalId: string | null; producerId: bigint; producerEpoch: number }): {
    errorCode: number;
    producerId: bigint;
    producerEpoch: number;
  } {
    const id = b.transactionalId!;
    let t = this.txns.get(id);
    if (t === undefined) {
      t = {
        transactionalId: id,
        producerId: this.nextProducerId++,
        epoch: 0,
        state: 'Empty',
        partitions: new Set(),
        groups: new Set(),
        pendingOffsets: new Map(),
      };
      this.txns.set(id, t);
      return { errorCode: 0, producerId: t.producerId, producerEpoch: t.epoch };
    }
    if (b.producerId >= 0n && (b.producerId !== t.producerId || b.producerEpoch !== t.epoch)) {
      return { errorCode: ErrorCode.PRODUCER_FENCED, producerId: -1n, producerEpoch: -1 };
    }
    if (t.state === 'Ongoing') this.completeTxn(t, false);
    t.epoch++;
    return { errorCode: 0, producerId: t.producerId, producerEpoch: t.epoch };
  }

  private checkTxn(transactionalId: string, producerId: bigint, producerEpoch: number): number {
    const t = this.txns.get(transactionalId);
    if (t === undefined || t.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (producerEpoch < t.epoch) return ErrorCode.PRODUCER_FENCED;
    return 0;
  }

  /** Writes the commit/abort markers, applies or drops staged offsets, and closes the transaction. */
  private completeTxn(t: FakeTxn, committed: boolean): void {
    for (const key of t.partitions) {
      const i = key.lastIndexOf(':');
      const p = this.topics.get(key.slice(0, i))?.partitions[Number(key.slice(i + 1))];
      if (p === undefined) continue;
      const marker = buildControlBatch({
        type: committed ? ControlRecordType.Commit : ControlRecordType.Abort,
        coordinatorEpoch: 0,
        producerId: t.producerId,
        producerEpoch: t.epoch,
        timestamp: Date.now(),
      });
      const offset = p.nextOffset;
      assignBatchOffset(marker, 0, offset, p.leaderEpoch);
      p.batches.push(marker);
      p.nextOffset = offset + 1;
      const first = p.ongoing.get(t.producerId);
      p.ongoing.delete(t.producerId);
      if (!committed && first !== undefined)
        p.aborted.push({ producerId: t.producerId, firstOffset: first, lastOffset: offset });
    }
    if (committed) {
      for (const [groupId, staged] of t.pendingOffsets) {
        const g = this.group(groupId);
        for (const [k, v] of staged) g.offsets.set(k, v);
      }
    }
    t.state = 'Empty';
    t.partitions.clear();
    t.groups.clear();
    t.pendingOffsets.clear();
    const waiters = this.fetchWaiters;
    this.fetchWaiters = [];
    for (const w of waiters) w();
  }

  private offsetForTime(p: FakePartition, ts: number): number {
    for (const b of p.batches) {
      if (Number(b.readBigInt64BE(BatchOffset.MaxTimestamp)) >= ts) return Number(b.readBigInt64BE(0));
    }
    return p.nextOffset;
  }

  /** Fetch sessions (KIP-227): resolves the partitions a request stands for. */
  private fetchSession(b: FetchBody): {
    errorCode: number;
    sessionId: number;
    topics: FetchBody['topics'];
    incremental: boolean;
  } {
    this.fetchLog.push({
      sessionId: b.sessionId,
      sessionEpoch: b.sessionEpoch,
      partitions: b.topics.reduce((n, t) => n + t.partitions.length, 0),
      forgotten: b.forgottenTopicsData.reduce((n, t) => n + t.partitions.length, 0),
    });
    if (this.fetchLog.length > 1000) this.fetchLog.shift();
    const none = { errorCode: 0, sessionId: 0, topics: b.topics, incremental: false };
    if (b.sessionEpoch < 0) {
      if (b.sessionId !== 0) this.fetchSessions.delete(b.sessionId);
      return none;
    }
    const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
    if (b.sessionEpoch === 0) {
      if (b.sessionId !== 0) this.fetchSessions.delete(b.sessionId);
      if (!this.fetchSessionsEnabled) return none;
      const id = this.nextFetchSessionId++;
      const parts = new Map<string, { topic: string; topicId: string; p: FetchBody['topics'][0]['partitions'][0] }>();
      for (const ft of b.topics) for (const p of ft.partitions) parts.set(key(ft.topic, p.partition), { ...ft, p });
      this.fetchSessions.set(id, { epoch: 1, parts });
      return { ...none, sessionId: id };
    }
    const session = this.fetchSessions.get(b.sessionId);
    if (session === undefined) return { ...none, errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND };
    if (session.epoch !== b.sessionEpoch) return { ...none, errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH };
    session.epoch++;
    for (const f of b.forgottenTopicsData) for (const p of f.partitions) session.parts.delete(key(f.topic, p));
    for (const ft of b.topics)
      for (const p of ft.partitions) session.parts.set(key(ft.topic, p.partition), { ...ft, p });
    const byTopic = new Map<string, FetchBody['topics'][0]>();
    for (const { topic, topicId, p } of session.parts.values()) {
      let t = byTopic.get(topic);
      if (t === undefined) {
        t = { topic, topicId, partitions: [] };
        byTopic.set(topic, t);
      }
      t.partitions.push(p);
    }
    return { errorCode: 0, sessionId: b.sessionId, topics: [...byTopic.values()], incremental: true };
  }

  private fetch(b: FetchBody, nodeId: number, forced: number, base: Record<string, unknown>): unknown {
    if (forced === ErrorCode.FETCH_SESSION_ID_NOT_FOUND || forced === ErrorCode.INVALID_FETCH_SESSION_EPOCH) {
      this.fetchLog.push({ sessionId: b.sessionId, sessionEpoch: b.sessionEpoch, partitions: -1, forgotten: -1 });
      return { ...base, errorCode: forced, sessionId: 0, responses: [] };
    }
    const session = this.fetchSession(b);
    if (session.errorCode !== 0) return { ...base, errorCode: session.errorCode, sessionId: 0, responses: [] };
    const build = (): { body: unknown; bytes: number } => {
      let bytes = 0;
      const all = session.topics.map((ft) => ({
        topic: ft.topic,
        topicId: ft.topicId,
        partitions: ft.partitions.map((fp) => {
          const p = this.topics.get(ft.topic)?.partitions[fp.partition];
          const pd = {
            ...partitionDataDefaults(),
            partitionIndex: fp.partition,
          };
          if (p === undefined) return { ...pd, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
          if (p.leader !== nodeId) return { ...pd, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
          if (forced) return { ...pd, errorCode: forced };
          const offset = Number(fp.fetchOffset);
          if (offset > p.nextOffset || offset < p.logStartOffset) {
            return { ...pd, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
          }
          let lastStable = p.nextOffset;
          for (const first of p.ongoing.values()) lastStable = Math.min(lastStable, first);
          const upTo = b.isolationLevel === 1 ? lastStable : p.nextOffset;
          const out: Buffer[] = [];
          let size = 0;
          for (const batch of p.batches) {
            if (lastOffsetOf(batch, 0) < offset) continue;
            if (lastOffsetOf(batch, 0) >= upTo) break;
            if (size > 0 && size + batch.length > fp.partitionMaxBytes) break;
            out.push(batch);
            size += batch.length;
          }
          bytes += size;
          return {
            ...pd,
            highWatermark: BigInt(p.nextOffset),
            lastStableOffset: BigInt(lastStable),
            logStartOffset: BigInt(p.logStartOffset),
            records: Buffer.concat(out),
            abortedTransactions:
              b.isolationLevel === 1
                ? [
                    ...this.abortedTransactions(ft.topic, fp.partition),
                    ...p.aborted
                      .filter((a) => a.lastOffset >= offset && a.firstOffset < upTo)
                      .map((a) => ({ producerId: a.producerId, firstOffset: BigInt(a.firstOffset) })),
                  ]
                : null,
          };
        }),
      }));
      // An incremental answer carries only partitions with records or errors.
      const responses = session.incremental
        ? all
            .map((t) => ({
              ...t,
              partitions: t.partitions.filter((p) => p.errorCode !== 0 || (p.records?.length ?? 0) > 0),
            }))
            .filter((t) => t.partitions.length > 0)
        : all;
      return { body: { ...base, errorCode: 0, sessionId: session.sessionId, responses }, bytes };
    };
    const first = build();
    if (first.bytes >= b.minBytes || b.maxWaitMs <= 0) return first.body;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.fetchWaiters = this.fetchWaiters.filter((w) => w !== wake);
        resolve(build().body);
      }, b.maxWaitMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(build().body);
      };
      this.fetchWaiters.push(wake);
    });
  }

  private group(groupId: string): FakeGroup {
    let g = this.groups.get(groupId);
    if (g === undefined) {
      g = {
        groupId,
        generationId: 0,
        state: 'Empty',
        protocolName: null,
        leader: '',
        members: new Map(),
        offsets: new Map(),
        joinTimer: null,
      };
      this.groups.set(groupId, g);
    }
    return g;
  }

  private prepareRebalance(g: FakeGroup): void {
    g.state = 'PreparingRebalance';
    if (g.joinTimer) clearTimeout(g.joinTimer);
    const startedAt = Date.now();
    g.joinTimer = setTimeout(() => this.completeJoin(g, startedAt), this.rebalanceDelayMs);
  }

  /** As the coordinator does: wait for every known member to rejoin, up to the rebalance timeout. */
  private completeJoin(g: FakeGroup, startedAt: number): void {
    g.joinTimer = null;
    const waiting = [...g.members.values()].some((m) => m.joinResolve === null);
    if (waiting && Date.now() - startedAt < this.rebalanceTimeoutMs) {
      g.joinTimer = setTimeout(() => this.completeJoin(g, startedAt), 10);
      return;
    }
    // Members that did not rejoin are dropped.
    for (const [id, m] of g.members) if (m.joinResolve === null) g.members.delete(id);
    if (g.members.size === 0) {
      g.state = 'Empty';
      return;
    }
    g.generationId++;
    g.state = 'CompletingRebalance';
    const members = [...g.members.values()];
    const first = members[0]!;
    if (!g.members.has(g.leader)) g.leader = first.memberId;
    g.protocolName = first.protocols.find((p) =>
      members.every((m) => m.protocols.some((q) => q.name === p.name)),
    )!.name;
    for (const m of members) {
      const resolve = m.joinResolve!;
      m.joinResolve = null;
      const isLeader = m.memberId === g.leader;
      resolve(
        Buffer.from(
          JSON.stringify({
            generationId: g.generationId,
            protocolName: g.protocolName,
            leader: g.leader,
            memberId: m.memberId,
            members: isLeader
              ? members.map((x) => ({
                  memberId: x.memberId,
                  groupInstanceId: x.groupInstanceId,
                  metadata: x.protocols.find((p) => p.name === g.protocolName)!.metadata.toString('base64'),
                }))
              : [],
          }),
        ),
      );
    }
  }

  private joinGroup(
    req: Extract<DecodedRequest, { apiKey: 11 }>,
    forced: number,
    base: Record<string, unknown>,
  ): unknown {
    const b = req.body;
    if (forced) return { ...base, errorCode: forced, memberId: b.memberId };
    const g = this.group(b.groupId);
    let memberId = b.memberId;
    if (memberId === '') {
      if (b.groupInstanceId !== null) {
        const existing = [...g.members.values()].find((m) => m.groupInstanceId === b.groupInstanceId);
        memberId = existing?.memberId ?? `${b.groupInstanceId}-${nextMemberId++}`;
      } else {
        memberId = `member-${nextMemberId++}`;
        if (req.apiVersion >= 4) {
          return { ...base, errorCode: ErrorCode.MEMBER_ID_REQUIRED, memberId };
        }
      }
    } else if (!g.members.has(memberId) && b.groupInstanceId === null && !memberId.startsWith('member-')) {
      return { ...base, errorCode: ErrorCode.UNKNOWN_MEMBER_ID, memberId: '' };
    }
    let m = g.members.get(memberId);
    if (m === undefined) {
      m = {
        memberId,
        groupInstanceId: b.groupInstanceId,
        protocols: [],
        assignment: Buffer.alloc(0),
        joinResolve: null,
        joinVersion: req.apiVersion,
        joinCorrelationId: 0,
        syncResolve: null,
        lastHeartbeat: Date.now(),
      };
      g.members.set(memberId, m);
    }
    m.protocols = b.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) }));
    const member = m;
    const p = new Promise<Buffer>((resolve) => {
      member.joinResolve = resolve;
    });
    if (g.state !== 'PreparingRebalance') this.prepareRebalance(g);
    return p.then((json) => {
      const r = JSON.parse(json.toString()) as {
        generationId: number;
        protocolName: string;
        leader: string;
        memberId: string;
        members: { memberId: string; groupInstanceId: string | null; metadata: string }[];
      };
      return {
        ...base,
        errorCode: 0,
        generationId: r.generationId,
        protocolType: 'consumer',
        protocolName: r.protocolName,
        leader: r.leader,
        memberId: r.memberId,
        members: r.members.map((x) => ({ ...x, metadata: Buffer.from(x.metadata, 'base64') })),
      };
    });
  }

  private syncGroup(
    req: Extract<DecodedRequest, { apiKey: 14 }>,
    forced: number,
    base: Record<string, unknown>,
  ): unknown {
    const b = req.body;
    if (forced) return { ...base, errorCode: forced };
    const g = this.groups.get(b.groupId);
    const m = g?.members.get(b.memberId);
    if (g === undefined || m === undefined) return { ...base, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
    if (b.generationId !== g.generationId) return { ...base, errorCode: ErrorCode.ILLEGAL_GENERATION };
    if (g.state === 'PreparingRebalance') return { ...base, errorCode: ErrorCode.REBALANCE_IN_PROGRESS };
    const answer = (): unknown => ({
      ...base,
      errorCode: 0,
      protocolType: 'consumer',
      protocolName: g.protocolName,
      assignment: g.members.get(b.memberId)?.assignment ?? Buffer.alloc(0),
    });
    if (b.memberId === g.leader) {
      for (const a of b.assignments) {
        const x = g.members.get(a.memberId);
        if (x !== undefined) x.assignment = Buffer.from(a.assignment);
      }
      g.state = 'Stable';
      for (const x of g.members.values()) {
        const r = x.syncResolve;
        x.syncResolve = null;
        r?.();
      }
      return answer();
    }
    if (g.state === 'Stable') return answer();
    return new Promise<void>((resolve) => {
      m.syncResolve = resolve;
    }).then(answer);
  }

  /** Subscriptions of a group's members (decoded from their JoinGroup metadata). */
  subscriptions(groupId: string): ConsumerProtocolSubscription[] {
    const g = this.groups.get(groupId);
    if (g === undefined) return [];
    return [...g.members.values()].map((m) => {
      const md = m.protocols[0]!.metadata;
      return decode(ConsumerProtocolSubscriptionCodec, md.subarray(2), md.readInt16BE(0));
    });
  }

  /** Values (utf8) of every record in a partition, in offset order. */
  async values(topic: string, partition: number): Promise<string[]> {
    const { decodeRecordBatch } = await import('../../src/protocol/records/index.ts');
    const out: string[] = [];
    for (const b of this.partitionBatches(topic, partition)) {
      for (const { position } of iterateBatches(b)) {
        for (const r of decodeRecordBatch(b, position).records) out.push(r.value?.toString() ?? '');
      }
    }
    return out;
  }
}

const NO_RESPONSE = Symbol('no response');

function newPartition(leader: number): FakePartition {
  return {
    leader,
    leaderEpoch: 0,
    batches: [],
    logStartOffset: 0,
    nextOffset: 0,
    producers: new Map(),
    ongoing: new Map(),
    aborted: [],
  };
}

function topicDefaults() {
  return {
    errorCode: 0,
    name: '',
    topicId: 'AAAAAAAAAAAAAAAAAAAAAA',
    isInternal: false,
    partitions: [],
    topicAuthorizedOperations: -2147483648,
  };
}

function listOffsetDefaults() {
  return { partitionIndex: 0, errorCode: 0, oldStyleOffsets: [], timestamp: -1n, offset: -1n, leaderEpoch: -1 };
}

function partitionDataDefaults() {
  return {
    partitionIndex: 0,
    errorCode: 0,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    divergingEpoch: { epoch: -1, endOffset: -1n },
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
    snapshotId: { endOffset: -1n, epoch: -1 },
    abortedTransactions: null,
    preferredReadReplica: -1,
    records: Buffer.alloc(0),
  };
}
