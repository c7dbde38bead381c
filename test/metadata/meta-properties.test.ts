/**
 * meta.properties: formatted on first start, read back after, and a directory that belongs
 * to another node or cluster stops the start with a message saying so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memoryDisk } from '../../src/env/disk-memory.ts';
import { seededRandom } from '../../src/env/random.ts';
import {
  formatMetaProperties,
  loadOrFormatMetaProperties,
  MetaPropertiesError,
  parseProperties,
} from '../../src/metadata/meta-properties.ts';

async function readText(disk: ReturnType<typeof memoryDisk>, path: string): Promise<string> {
  const stat = await disk.stat(path);
  const file = await disk.open(path);
  try {
    return (await file.read(0, stat!.size)).toString('utf8');
  } finally {
    await file.close();
  }
}

void describe('meta.properties', () => {
  void it('formats an empty directory once, then reads the same cluster id', async () => {
    const disk = memoryDisk();
    const random = seededRandom(3);
    const first = await loadOrFormatMetaProperties({ disk, random, nowMs: 0, logDirs: ['/data'], nodeId: 1 });
    assert.deepEqual(first.formatted, ['/data']);
    const props = parseProperties(await readText(disk, '/data/meta.properties'));
    assert.equal(props.get('version'), '1');
    assert.equal(props.get('node.id'), '1');
    assert.equal(props.get('cluster.id'), first.clusterId);
    assert.equal(props.get('directory.id')?.length, 22);
    const again = await loadOrFormatMetaProperties({ disk, random, nowMs: 0, logDirs: ['/data'], nodeId: 1 });
    assert.equal(again.clusterId, first.clusterId);
    assert.deepEqual(again.formatted, []);
  });

  void it('uses a given cluster id to format, and refuses a directory of another cluster or node', async () => {
    const disk = memoryDisk();
    const random = seededRandom(4);
    const { clusterId } = await loadOrFormatMetaProperties({
      disk,
      random,
      nowMs: 0,
      logDirs: ['/d'],
      nodeId: 2,
      clusterId: 'MkU3OEVBNTcwNTJENDM2Qk',
    });
    assert.equal(clusterId, 'MkU3OEVBNTcwNTJENDM2Qk');
    await assert.rejects(
      loadOrFormatMetaProperties({ disk, random, nowMs: 0, logDirs: ['/d'], nodeId: 3 }),
      (err: Error) => err instanceof MetaPropertiesError && /Stored node id 2/.test(err.message),
    );
    await assert.rejects(
      loadOrFormatMetaProperties({ disk, random, nowMs: 0, logDirs: ['/d'], nodeId: 2, clusterId: 'other' }),
      (err: Error) => err instanceof MetaPropertiesError && /Invalid cluster.id/.test(err.message),
    );
  });

  void it('writes the properties format Kafka writes', () => {
    const text = formatMetaProperties({ clusterId: 'c', nodeId: 5, directoryId: 'd' }, 0);
    assert.deepEqual(
      [...parseProperties(text)],
      [
        ['cluster.id', 'c'],
        ['directory.id', 'd'],
        ['node.id', '5'],
        ['version', '1'],
      ],
    );
  });
});
