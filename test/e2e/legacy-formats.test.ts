/**
 * Message formats v0/v1 end to end with real old clients:
 *
 * - kcat forced to 0.9 (api.version.request=false, broker.version.fallback=0.9.0.0: no
 *   ApiVersions, Produce v1 / Fetch v1, format v0) with every codec v0 knows. (librdkafka
 *   only honours the fallback below 0.10: at 0.10.0.0 it asks ApiVersions anyway and uses
 *   v2 batches, so that mode proves nothing about format v1.)
 * - kafka-python 2.0 pinned with api_version (no probing): 0.8.2 = Produce v0 / Fetch v0,
 *   0.9 = v1 / v1 (format v0), 0.10.0 = Produce v2 / Fetch v2, 0.10.1 = Fetch v3
 *   (format v1); none and gzip (the only codecs its install has).
 * - a modern producer's messages reach the old consumers and the old producers' reach a
 *   modern one; over a raw connection: Fetch v0-3 shapes and byte limits, the codec kept
 *   on disk, Produce v3 refusing message sets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';
import { ErrorCode } from '../../src/protocol/generated/errors.ts';
import { buildRecordBatch, CompressionType, decodeRecordBatches } from '../../src/protocol/records/index.ts';
import { decodeMessageSet, encodeMessageSet } from '../../src/protocol/records/legacy.ts';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { kcat, python } from './helpers/kcat.ts';
import { RawClient } from './helpers/raw-client.ts';
import { fetchRequest, produceRequest } from './helpers/requests.ts';

const CODECS = ['none', 'gzip', 'snappy', 'lz4'] as const;
const PY_APIS = ['0.8.2', '0.9', '0.10.0', '0.10.1'] as const;

/** kafka-python pinned to an old protocol: produce three messages, or print what it consumes. */
const PY_SCRIPT = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
bootstrap, topic, api, codec, mode, expected = sys.argv[1], sys.argv[2], tuple(int(x) for x in sys.argv[3].split('.')), sys.argv[4], sys.argv[5], int(sys.argv[6])
if mode == 'produce':
    p = KafkaProducer(bootstrap_servers=bootstrap, api_version=api, compression_type=None if codec == 'none' else codec, linger_ms=50)
    fs = [p.send(topic, key=('%s-k%d' % (codec, i)).encode(), value=('%s-v%d' % (codec, i)).encode(), partition=0) for i in range(3)]
    p.flush()
    for f in fs: f.get(timeout=10)
    p.close()
else:
    c = KafkaConsumer(bootstrap_servers=bootstrap, api_version=api, enable_auto_commit=False, auto_offset_reset='earliest', consumer_timeout_ms=10000, group_id=None)
    c.assign([TopicPartition(topic, 0)])
    c.seek_to_beginning()
    n = 0
    for m in c:
        print('%d|%s|%s|%s' % (m.offset, m.key and m.key.decode(), m.value.decode(), m.timestamp), flush=True)
        n += 1
        if n >= expected: break
    c.close()
`;

void describe('message formats v0/v1 with old clients', () => {
  let broker: TestBroker;
  let c: RawClient;
  before(async () => {
    broker = await startTestBroker({ config: { 'num.partitions': '1' } });
    c = await RawClient.connect(broker.bootstrap);
  });
  after(async () => {
    c.close();
    await broker.stop();
  });

  const old = (fallback: string): string[] => [
    '-b',
    broker.bootstrap,
    '-X',
    'api.version.request=false',
    '-X',
    `broker.version.fallback=${fallback}`,
  ];
  const consume = async (args: string[], topic: string): Promise<string[]> => {
    const out = await kcat(
      [...args, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%o|%k|%s|%T\n'],
      undefined,
      30_000,
    );
    return out.split('\n').filter((l) => l !== '');
  };
  const storedCodecs = async (topic: string): Promise<number[]> => {
    const r = await c.send(ApiKey.Fetch, 12, fetchRequest(topic, 0, 0));
    return decodeRecordBatches(r.responses[0]!.partitions[0]!.records!).map((b) => b.compression);
  };

  const OLD_KCAT = '0.9.0.0';

  void it('kcat at 0.9 (Produce v1, Fetch v1, format v0): produce and consume with every codec', {
    timeout: 60_000,
  }, async () => {
    const topic = 'old-kcat';
    const expected: string[] = [];
    for (const z of CODECS) {
      const input = [0, 1, 2].map((i) => `${z}-k${i}:${z}-v${i}-${'x'.repeat(i * 40)}`).join('\n');
      await kcat([...old(OLD_KCAT), '-P', '-t', topic, '-p', '0', '-K:', '-z', z], `${input}\n`, 30_000);
      expected.push(...[0, 1, 2].map((i) => `${z}-k${i}|${z}-v${i}-${'x'.repeat(i * 40)}`));
    }
    // Stored as v2 batches, one per produce, with the producer's codec.
    assert.deepEqual(await storedCodecs(topic), [0, 1, 2, 3]);
    const lines = await consume(old(OLD_KCAT), topic);
    assert.deepEqual(
      lines.map((l) => l.split('|').slice(0, 3).join('|')),
      expected.map((e, i) => `${i}|${e}`),
    );
    // v0 has no timestamps (stored as -1).
    for (const l of lines) assert.ok(Number(l.split('|')[3]) <= 0, l);
    // A modern consumer reads what the old producer wrote.
    const modern = await consume(['-b', broker.bootstrap], topic);
    assert.deepEqual(
      modern.map((l) => l.split('|').slice(0, 3).join('|')),
      expected.map((e, i) => `${i}|${e}`),
    );
  });

  void it('a modern producer (kcat defaults, v2 + headers) is read by kcat at 0.9', {
    timeout: 60_000,
  }, async () => {
    const topic = 'modern';
    for (const z of CODECS) {
      await kcat(
        ['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0', '-K:', '-z', z, '-H', 'h=dropped'],
        `mk-${z}:mv-${z}\n`,
      );
    }
    const lines = await consume(old(OLD_KCAT), topic);
    assert.deepEqual(
      lines.map((l) => l.split('|').slice(0, 3).join('|')),
      CODECS.map((z, i) => `${i}|mk-${z}|mv-${z}`),
    );
  });

  for (const api of PY_APIS) {
    void it(`kafka-python at ${api}: produce and consume (none, gzip)`, { timeout: 90_000 }, async () => {
      const topic = `py-${api}`;
      for (const z of ['none', 'gzip'])
        await python(PY_SCRIPT, [broker.bootstrap, topic, api, z, 'produce', '0'], 30_000);
      assert.deepEqual(await storedCodecs(topic), [0, 1]);
      const lines = (await python(PY_SCRIPT, [broker.bootstrap, topic, api, 'none', 'consume', '6'], 30_000))
        .split('\n')
        .filter((l) => l !== '');
      const withTimestamps = api.startsWith('0.10');
      assert.deepEqual(
        lines.map((l) => l.split('|').slice(0, 3).join('|')),
        ['none', 'gzip'].flatMap((z, j) => [0, 1, 2].map((i) => `${j * 3 + i}|${z}-k${i}|${z}-v${i}`)),
      );
      for (const l of lines) {
        const ts = l.split('|')[3]!;
        if (withTimestamps) assert.ok(Math.abs(Number(ts) - Date.now()) < 600_000, l);
        else assert.equal(ts, 'None', l);
      }
      // And kcat, modern, reads it.
      assert.equal((await consume(['-b', broker.bootstrap], topic)).length, 6);
    });
  }

  void it('a modern producer is read by kafka-python at 0.8.2 and 0.10.1', { timeout: 60_000 }, async () => {
    const topic = 'modern-py';
    for (const z of ['none', 'gzip']) {
      await kcat(
        ['-b', broker.bootstrap, '-P', '-t', topic, '-p', '0', '-K:', '-z', z, '-H', 'h=x'],
        `k-${z}:v-${z}\n`,
      );
    }
    for (const api of ['0.8.2', '0.10.1']) {
      const lines = (await python(PY_SCRIPT, [broker.bootstrap, topic, api, 'none', 'consume', '2'], 30_000))
        .split('\n')
        .filter((l) => l !== '');
      assert.deepEqual(
        lines.map((l) => l.split('|').slice(0, 3).join('|')),
        ['0|k-none|v-none', '1|k-gzip|v-gzip'],
        api,
      );
    }
  });

  void it('Fetch v0-3 answer message sets of the fetch version, limited by partition bytes', async () => {
    const topic = 'raw';
    const records = buildRecordBatch({
      compression: CompressionType.Gzip,
      records: Array.from({ length: 4 }, (_, i) => ({
        key: `k${i}`,
        value: `v${i}`,
        timestamp: 5_000 + i,
        headers: [{ key: 'h', value: 'x' }],
      })),
    });
    await c.send(ApiKey.Metadata, 12, {
      topics: [{ name: topic, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
      allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    assert.equal(
      (await c.send(ApiKey.Produce, 9, produceRequest(topic, 0, records))).responses[0]!.partitionResponses[0]!
        .errorCode,
      0,
    );
    const plain = buildRecordBatch({
      baseOffset: 0,
      records: [
        { value: 'a'.repeat(300), timestamp: 6_000 },
        { value: 'b', timestamp: 6_001 },
      ],
    });
    await c.send(ApiKey.Produce, 9, produceRequest(topic, 0, plain));
    for (let v = 0; v <= 3; v++) {
      const r = await c.send(ApiKey.Fetch, v, fetchRequest(topic, 0, 1));
      const p = r.responses[0]!.partitions[0]!;
      assert.equal(p.errorCode, ErrorCode.NONE, `v${v}`);
      assert.equal(p.highWatermark, 6n);
      const msgs = decodeMessageSet(p.records!);
      // The gzip wrapper keeps its first record (offset 0); the client skips it.
      assert.deepEqual(
        msgs.map((m) => [m.offset, m.magic, m.timestamp, m.compression]),
        [
          [0, v < 2 ? 0 : 1, v < 2 ? -1 : 5_000, 1],
          [1, v < 2 ? 0 : 1, v < 2 ? -1 : 5_001, 1],
          [2, v < 2 ? 0 : 1, v < 2 ? -1 : 5_002, 1],
          [3, v < 2 ? 0 : 1, v < 2 ? -1 : 5_003, 1],
          [4, v < 2 ? 0 : 1, v < 2 ? -1 : 6_000, 0],
          [5, v < 2 ? 0 : 1, v < 2 ? -1 : 6_001, 0],
        ],
        `v${v}`,
      );
      // 100 bytes: the 300-byte message does not fit. v3 sends it whole, v0-2 a partial one.
      const small = await c.send(ApiKey.Fetch, v, fetchRequest(topic, 0, 4, { maxBytes: 100 }));
      const bytes = small.responses[0]!.partitions[0]!.records!;
      if (v === 3)
        assert.deepEqual(
          decodeMessageSet(bytes).map((m) => m.value?.length),
          [300],
        );
      else {
        assert.equal(bytes.length, 100);
        assert.deepEqual(decodeMessageSet(bytes, { allowPartialTail: true }), []);
      }
    }
  });

  void it('Produce v0-2 take message sets (offsets assigned, codec kept); v3 refuses them', async () => {
    const topic = 'raw-produce';
    let expected = 0n;
    for (let v = 0; v <= 2; v++) {
      const set = encodeMessageSet({
        magic: v === 2 ? 1 : 0,
        compression: CompressionType.Snappy,
        messages: [0, 1].map((i) => ({ offset: i, timestamp: 9_000 + i, key: `p${v}`, value: `m${i}` })),
      });
      if (v === 0) {
        await c.send(ApiKey.Metadata, 12, {
          topics: [{ name: topic, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }],
          allowAutoTopicCreation: true,
          includeClusterAuthorizedOperations: false,
          includeTopicAuthorizedOperations: false,
        });
      }
      const p = (await c.send(ApiKey.Produce, v, produceRequest(topic, 0, set))).responses[0]!.partitionResponses[0]!;
      assert.equal(p.errorCode, ErrorCode.NONE, `v${v}`);
      assert.equal(p.baseOffset, expected, `v${v}`);
      expected += 2n;
    }
    const set = encodeMessageSet({ magic: 1, messages: [{ offset: 0, timestamp: 1, value: 'x' }] });
    const refused = (await c.send(ApiKey.Produce, 3, produceRequest(topic, 0, set))).responses[0]!
      .partitionResponses[0]!;
    assert.equal(refused.errorCode, ErrorCode.INVALID_RECORD);
    const r = await c.send(ApiKey.Fetch, 12, fetchRequest(topic, 0, 0));
    const batches = decodeRecordBatches(r.responses[0]!.partitions[0]!.records!);
    assert.deepEqual(
      batches.map((b) => [b.baseOffset, b.compression, b.records.map((x) => x.timestamp)]),
      [
        [0, CompressionType.Snappy, [-1, -1]],
        [2, CompressionType.Snappy, [-1, -1]],
        [4, CompressionType.Snappy, [9_000, 9_001]],
      ],
    );
  });
});
