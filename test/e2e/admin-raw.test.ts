/**
 * Metadata-side APIs at the byte level, for what clients do not easily show: Metadata
 * v0 (empty list = all topics), ids, auto-create rules, invalid names; DescribeCluster
 * endpoint types; DescribeTopicPartitions paging with a cursor; and a broker that keeps
 * serving after garbage and after a connection closed mid-request.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ZERO_UUID } from '../../src/protocol/codec/uuid.ts';
import { decodeResponse, encodeRequest } from '../../src/protocol/frame.ts';
import { API_INFO, ApiKey, type RequestTypes, type ResponseTypes } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';

/** One connection, one request at a time. */
class RawClient {
  private buffered = Buffer.alloc(0);
  private waiting: ((frame: Buffer) => void) | undefined;
  private correlationId = 0;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.drain();
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private drain(): void {
    if (this.buffered.length < 4 || this.waiting === undefined) return;
    const size = this.buffered.readInt32BE(0);
    if (this.buffered.length < 4 + size) return;
    const frame = this.buffered.subarray(4, 4 + size);
    this.buffered = this.buffered.subarray(4 + size);
    const wake = this.waiting;
    this.waiting = undefined;
    wake(frame);
  }

  async send<K extends keyof RequestTypes & keyof ResponseTypes>(
    apiKey: K,
    apiVersion: number,
    body: Partial<RequestTypes[K]>,
  ): Promise<ResponseTypes[K]> {
    const full = { ...(API_INFO.get(apiKey)!.request.defaults() as object), ...body } as RequestTypes[K];
    const frame = encodeRequest(
      { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId: ++this.correlationId, clientId: 'raw' },
      full as never,
    );
    const response = new Promise<Buffer>((resolve) => {
      this.waiting = resolve;
    });
    this.socket.write(frame);
    this.drain();
    return decodeResponse(apiKey, apiVersion, await response).body as ResponseTypes[K];
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  closed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) resolve();
      else this.socket.once('close', () => resolve());
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

void describe('metadata APIs on the wire', { timeout: 30_000 }, () => {
  let broker: TestBroker;
  let noAuto: TestBroker;
  let client: RawClient;

  before(async () => {
    broker = await startTestBroker();
    noAuto = await startTestBroker({ config: { 'auto.create.topics.enable': 'false', 'num.partitions': '3' } });
    client = await RawClient.connect(broker.port);
    await client.send(ApiKey.CreateTopics, 7, {
      topics: ['alpha', 'beta', 'gamma'].map((name, i) => ({
        name,
        numPartitions: i + 2,
        replicationFactor: 1,
        assignments: [],
        configs: [],
      })),
      timeoutMs: 5000,
    });
  });
  after(async () => {
    client?.close();
    await broker?.stop();
    await noAuto?.stop();
  });

  void it('Metadata v0: an empty topic list means all topics; v1+: an empty list means none', async () => {
    const v0 = await client.send(ApiKey.Metadata, 0, { topics: [] });
    assert.deepEqual(
      v0.topics.map((t) => t.name),
      ['alpha', 'beta', 'gamma'],
    );
    assert.equal(v0.brokers[0]!.port, broker.port);
    const v1 = await client.send(ApiKey.Metadata, 1, { topics: [] });
    assert.equal(v1.topics.length, 0);
    assert.equal(v1.controllerId, broker.nodeId);
    const v12 = await client.send(ApiKey.Metadata, 12, { topics: null });
    assert.equal(v12.topics.length, 3);
    assert.equal(v12.clusterId, broker.clusterId);
    assert.equal(v12.topics[0]!.topicAuthorizedOperations, -2147483648);
    assert.notEqual(v12.topics[0]!.topicId, ZERO_UUID);
  });

  void it('Metadata by topic id, and unknown ids', async () => {
    const all = await client.send(ApiKey.Metadata, 12, { topics: null });
    const beta = all.topics.find((t) => t.name === 'beta')!;
    const byId = await client.send(ApiKey.Metadata, 12, {
      topics: [
        { topicId: beta.topicId, name: null },
        { topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', name: null },
      ],
    });
    assert.equal(byId.topics[0]!.name, 'beta');
    assert.equal(byId.topics[0]!.partitions.length, 3);
    assert.equal(byId.topics[1]!.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
  });

  void it('auto-creates only when allowed by the request and the broker; invalid names are refused', async () => {
    const refused = await client.send(ApiKey.Metadata, 9, {
      topics: [{ topicId: ZERO_UUID, name: 'no-auto' }],
      allowAutoTopicCreation: false,
    });
    assert.equal(refused.topics[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const created = await client.send(ApiKey.Metadata, 9, {
      topics: [
        { topicId: ZERO_UUID, name: 'auto-made' },
        { topicId: ZERO_UUID, name: 'bad name' },
      ],
      allowAutoTopicCreation: true,
    });
    assert.equal(created.topics[0]!.errorCode, ErrorCode.NONE);
    assert.equal(created.topics[0]!.partitions[0]!.leaderId, broker.nodeId);
    assert.equal(created.topics[1]!.errorCode, ErrorCode.INVALID_TOPIC_EXCEPTION);
    // v0-v3 always allow auto-creation, but not on a broker with auto.create.topics.enable=false.
    const other = await RawClient.connect(noAuto.port);
    try {
      const v1 = await other.send(ApiKey.Metadata, 1, { topics: [{ topicId: ZERO_UUID, name: 'never' }] });
      assert.equal(v1.topics[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      // num.partitions applies to topics created with -1.
      const made = await other.send(ApiKey.CreateTopics, 4, {
        topics: [{ name: 'defaults', numPartitions: -1, replicationFactor: -1, assignments: [], configs: [] }],
      });
      assert.equal(made.topics[0]!.errorCode, ErrorCode.NONE);
      const meta = await other.send(ApiKey.Metadata, 1, { topics: [{ topicId: ZERO_UUID, name: 'defaults' }] });
      assert.equal(meta.topics[0]!.partitions.length, 3);
    } finally {
      other.close();
    }
  });

  void it('an auto-create the controller refuses answers with its error, not a retry loop', async () => {
    const rf3 = await startTestBroker({ config: { 'default.replication.factor': '3' } });
    const other = await RawClient.connect(rf3.port);
    try {
      const r = await other.send(ApiKey.Metadata, 12, {
        topics: [{ topicId: ZERO_UUID, name: 'needs-three' }],
        allowAutoTopicCreation: true,
      });
      assert.equal(r.topics[0]!.errorCode, ErrorCode.INVALID_REPLICATION_FACTOR);
    } finally {
      other.close();
      await rf3.stop();
    }
  });

  void it('CreateTopics v5+ answers with configs, v7 with the topic id; validateOnly writes nothing', async () => {
    const r = await client.send(ApiKey.CreateTopics, 7, {
      topics: [
        {
          name: 'delta',
          numPartitions: 1,
          replicationFactor: 1,
          assignments: [],
          configs: [{ name: 'max.message.bytes', value: '2000000' }],
        },
      ],
      validateOnly: true,
    });
    const t = r.topics[0]!;
    assert.equal(t.errorCode, ErrorCode.NONE);
    assert.equal(t.numPartitions, 1);
    assert.equal(t.configs!.find((c) => c.name === 'max.message.bytes')!.value, '2000000');
    const meta = await client.send(ApiKey.Metadata, 12, {
      topics: [{ topicId: ZERO_UUID, name: 'delta' }],
      allowAutoTopicCreation: false,
    });
    assert.equal(meta.topics[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  void it('DeleteTopics v6 by id', async () => {
    await client.send(ApiKey.CreateTopics, 7, {
      topics: [{ name: 'by-id', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    });
    const all = await client.send(ApiKey.Metadata, 12, { topics: null });
    const id = all.topics.find((t) => t.name === 'by-id')!.topicId;
    const r = await client.send(ApiKey.DeleteTopics, 6, {
      topics: [
        { name: null, topicId: id },
        { name: null, topicId: 'AAAAAAAAAAAAAAAAAAAAAQ' },
      ],
    });
    assert.deepEqual(
      r.responses.map((x) => [x.name, x.errorCode]),
      [
        ['by-id', ErrorCode.NONE],
        [null, ErrorCode.UNKNOWN_TOPIC_ID],
      ],
    );
  });

  void it('DescribeCluster: brokers for endpoint type 1, UNSUPPORTED_ENDPOINT_TYPE for controllers', async () => {
    const r = await client.send(ApiKey.DescribeCluster, 1, { endpointType: 1 });
    assert.equal(r.errorCode, ErrorCode.NONE);
    assert.equal(r.clusterId, broker.clusterId);
    assert.deepEqual(
      r.brokers.map((b) => [b.brokerId, b.port]),
      [[broker.nodeId, broker.port]],
    );
    const c = await client.send(ApiKey.DescribeCluster, 1, { endpointType: 2 });
    assert.equal(c.errorCode, ErrorCode.UNSUPPORTED_ENDPOINT_TYPE);
  });

  void it('DescribeTopicPartitions pages partitions with a cursor', async () => {
    const seen: string[] = [];
    let cursor: { topicName: string; partitionIndex: number } | null = null;
    let pages = 0;
    do {
      const r: ResponseTypes[typeof ApiKey.DescribeTopicPartitions] = await client.send(
        ApiKey.DescribeTopicPartitions,
        0,
        {
          topics: [{ name: 'alpha' }, { name: 'beta' }, { name: 'gamma' }, { name: 'missing' }],
          responsePartitionLimit: 2,
          cursor,
        },
      );
      for (const t of r.topics) {
        if (t.errorCode !== ErrorCode.NONE) {
          seen.push(`${t.name}:error${t.errorCode}`);
          continue;
        }
        for (const p of t.partitions) seen.push(`${t.name}-${p.partitionIndex}`);
      }
      cursor = r.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    // alpha 2, beta 3, gamma 4 partitions; "missing" sorts before the cursor stops it only once.
    assert.deepEqual(
      seen.filter((s) => !s.startsWith('missing')),
      ['alpha-0', 'alpha-1', 'beta-0', 'beta-1', 'beta-2', 'gamma-0', 'gamma-1', 'gamma-2', 'gamma-3'],
    );
    assert.equal(pages, 5);
  });

  void it('DescribeConfigs v0 and v4 for a topic and the broker; unknown broker ids are refused', async () => {
    const r = await client.send(ApiKey.DescribeConfigs, 4, {
      resources: [
        { resourceType: 2, resourceName: 'alpha', configurationKeys: ['retention.ms'] },
        { resourceType: 4, resourceName: String(broker.nodeId), configurationKeys: ['log.dirs', 'num.partitions'] },
        { resourceType: 4, resourceName: '99', configurationKeys: null },
        { resourceType: 2, resourceName: 'nope', configurationKeys: null },
      ],
      includeSynonyms: true,
      includeDocumentation: true,
    });
    assert.equal(r.results[0]!.configs[0]!.value, '604800000');
    assert.equal(r.results[0]!.configs[0]!.configSource, 5);
    assert.equal(r.results[0]!.configs[0]!.configType, 5); // LONG
    const broker4 = new Map(r.results[1]!.configs.map((c) => [c.name, c]));
    assert.equal(broker4.get('log.dirs')!.value, broker.dir);
    assert.equal(broker4.get('log.dirs')!.configSource, 4); // STATIC_BROKER_CONFIG
    assert.equal(broker4.get('log.dirs')!.readOnly, true);
    assert.equal(r.results[2]!.errorCode, ErrorCode.INVALID_REQUEST);
    assert.equal(r.results[3]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const v0 = await client.send(ApiKey.DescribeConfigs, 0, {
      resources: [{ resourceType: 2, resourceName: 'alpha', configurationKeys: null }],
    });
    assert.equal(v0.results[0]!.configs.find((c) => c.name === 'cleanup.policy')!.isDefault, true);
  });

  void it('Metadata and DescribeCluster advertise the endpoint of the listener the request came in on', async () => {
    const two = await startTestBroker({
      config: {
        listeners: 'PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0',
        'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT',
      },
    });
    try {
      const [plain, internal] = two.listeners;
      assert.notEqual(plain!.port, internal!.port);
      for (const listener of [plain!, internal!]) {
        const c = await RawClient.connect(listener.port);
        try {
          const meta = await c.send(ApiKey.Metadata, 12, { topics: null });
          assert.deepEqual(
            meta.brokers.map((b) => b.port),
            [listener.port],
          );
          const cluster = await c.send(ApiKey.DescribeCluster, 0, {});
          assert.deepEqual(
            cluster.brokers.map((b) => b.port),
            [listener.port],
          );
        } finally {
          c.close();
        }
      }
    } finally {
      await two.stop();
    }
  });

  void it('keeps serving after garbage and after a connection dropped mid-request', async () => {
    const bad = await RawClient.connect(broker.port);
    bad.write(Buffer.from([0, 0, 0, 12, 0xff, 0xff, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
    await bad.closed();
    const half = await RawClient.connect(broker.port);
    half.write(Buffer.from([0, 0, 1, 0, 0, 3, 0, 1]));
    half.close();
    const hostile = await RawClient.connect(broker.port);
    hostile.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    await hostile.closed();
    const fresh = await RawClient.connect(broker.port);
    try {
      const r = await fresh.send(ApiKey.Metadata, 12, { topics: null });
      assert.ok(r.topics.length >= 3);
    } finally {
      fresh.close();
    }
  });
});
