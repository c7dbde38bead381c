/**
 * librdkafka (kcat -C) consuming batches we built: every compression codec, xerial and
 * raw snappy, a transactional batch followed by our COMMIT marker (librdkafka must skip
 * the control batch), all served by the capture responder's Fetch over 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import {
  buildControlBatch,
  buildRecordBatch,
  type CompressionName,
  ControlRecordType,
} from '../../../src/protocol/records/index.ts';
import { CaptureResponder } from '../../../tools/capture/responder.ts';

const T0 = 1_700_000_000_000;
const KCAT_TIMEOUT_MS = 20_000;
const children = new Set<ChildProcess>();
const responders = new Set<CaptureResponder>();

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const r of responders) await r.close();
});

function kcatConsume(port: number, topic: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const args = ['-C', '-b', `127.0.0.1:${port}`, '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-Z', '-q'];
    args.push('-X', 'isolation.level=read_committed', '-f', '%o|%k|%s|%T|%h\\n');
    const child = execFile('kcat', args, { timeout: KCAT_TIMEOUT_MS }, (err, stdout, stderr) => {
      children.delete(child);
      if (err) reject(new Error(`kcat: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
    children.add(child);
  });
}

function log(compression: CompressionName, snappyFraming: 'xerial' | 'raw'): Buffer {
  const common = { compression, snappyFraming };
  return Buffer.concat([
    buildRecordBatch({
      ...common,
      baseOffset: 0,
      records: [
        { key: 'k1', value: 'v1', headers: [{ key: 'h', value: 'x' }], timestamp: T0 },
        { key: null, value: 'no-key', timestamp: T0 + 1 },
        {
          key: 'tombstone',
          value: null,
          headers: [
            { key: 'a', value: '1' },
            { key: 'b', value: '2' },
          ],
          timestamp: T0 + 2,
        },
      ],
    }),
    buildRecordBatch({
      ...common,
      baseOffset: 3,
      producerId: 7n,
      producerEpoch: 0,
      baseSequence: 0,
      transactional: true,
      // over 64 KiB: several lz4 blocks and xerial chunks
      records: [{ key: 'big', value: 'abcdefgh'.repeat(20_000), timestamp: T0 + 3 }],
    }),
    buildControlBatch({
      type: ControlRecordType.Commit,
      coordinatorEpoch: 1,
      producerId: 7n,
      producerEpoch: 0,
      timestamp: T0 + 4,
      baseOffset: 4,
    }),
    buildRecordBatch({ ...common, baseOffset: 5, records: [{ key: 'k6', value: 'last', timestamp: T0 - 5 }] }),
  ]);
}

const EXPECTED = [
  `0|k1|v1|${T0}|h=x`,
  `1|NULL|no-key|${T0 + 1}|`,
  `2|tombstone|NULL|${T0 + 2}|a=1,b=2`,
  `3|big|${'abcdefgh'.repeat(20_000)}|${T0 + 3}|`,
  `5|k6|last|${T0 - 5}|`,
];

void describe('kcat (librdkafka 2.0.2) consumes batches we built', () => {
  const cases: [CompressionName, 'xerial' | 'raw'][] = [
    ['none', 'xerial'],
    ['gzip', 'xerial'],
    ['snappy', 'xerial'],
    ['snappy', 'raw'],
    ['lz4', 'xerial'],
    ['zstd', 'xerial'],
  ];
  for (const [compression, framing] of cases) {
    void it(`${compression}${compression === 'snappy' ? ` (${framing})` : ''}`, async () => {
      const topic = `served-${compression}`;
      const responder = new CaptureResponder({ topics: [topic], logs: new Map([[topic, log(compression, framing)]]) });
      responders.add(responder);
      const port = await responder.listen();
      try {
        const out = await kcatConsume(port, topic);
        assert.deepEqual(out.trimEnd().split('\n'), EXPECTED);
        assert.deepEqual(responder.errors, []);
      } finally {
        await responder.close();
        responders.delete(responder);
      }
    });
  }
});
