/**
 * Real request frames captured from third-party clients (test/fixtures/capture):
 * every one decodes to the API and version in its file name, and re-encoding
 * the decoded header and body reproduces the captured bytes exactly.
 */
import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeRequest, encodeRequest } from '../../src/protocol/frame.ts';
import { ApiKey } from '../../src/protocol/generated/api-keys.ts';

const captureDir = fileURLToPath(new URL('../fixtures/capture/', import.meta.url));
const scenarios = readdirSync(captureDir, { withFileTypes: true }).filter((d) => d.isDirectory());

for (const scenario of scenarios) {
  const dir = join(captureDir, scenario.name);
  const frames = readdirSync(dir).filter((f) => f.endsWith('.bin'));
  void test(`captured ${scenario.name}: ${frames.length} frames decode and re-encode byte for byte`, () => {
    for (const file of frames) {
      const m = /^\d+-(\w+)-v(\d+)\.bin$/.exec(file);
      ok(m !== null, file);
      const bytes = readFileSync(join(dir, file));
      const req = decodeRequest(bytes);
      ok(!req.unsupported, `${file} is supported`);
      equal(req.apiKey, ApiKey[m[1] as keyof typeof ApiKey], file);
      equal(req.apiVersion, Number(m[2]), file);
      const again = encodeRequest(req.header, req.body as never);
      deepStrictEqual(again.subarray(4), bytes, `${file} re-encodes to the captured bytes`);
      if (req.apiKey === ApiKey.Produce) {
        const records = req.body.topicData[0]?.partitionData[0]?.records;
        ok(records !== null && records !== undefined && records.length > 61, `${file} carries a record batch`);
        equal(records.buffer, bytes.buffer, 'records are a zero-copy view of the frame');
      }
    }
  });
}
