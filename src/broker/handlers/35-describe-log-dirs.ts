/**
 * DescribeLogDirs (key 35), v0-4: the one log directory, the partitions in it (all, or
 * those asked for) with their sizes, offset lag 0 (no future replicas), and from v4 the
 * directory's total and usable bytes (-1 when unknown).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { DescribeLogDirsResponseDescribeLogDirsTopic } from '../../protocol/generated/describe-log-dirs-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const describeLogDirsHandler = defineHandler({
  apiKey: ApiKey.DescribeLogDirs,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, _ctx, services) {
    const replicas = services.replicas;
    const wanted =
      request.topics === null ? undefined : new Map(request.topics.map((t) => [t.topic, new Set(t.partitions)]));
    const byTopic = new Map<string, DescribeLogDirsResponseDescribeLogDirsTopic>();
    for (const p of replicas
      .allPartitions()
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)) {
      if (wanted !== undefined && !wanted.get(p.topic)?.has(p.partition)) continue;
      let topic = byTopic.get(p.topic);
      if (topic === undefined) {
        topic = { name: p.topic, partitions: [] };
        byTopic.set(p.topic, topic);
      }
      topic.partitions.push({
        partitionIndex: p.partition,
        partitionSize: BigInt(p.log.sizeInBytes()),
        offsetLag: 0n,
        isFutureKey: false,
      });
    }
    const usage = await replicas.logDirUsage().catch(() => undefined);
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      results: [
        {
          errorCode: ErrorCode.NONE,
          logDir: replicas.logDir,
          topics: [...byTopic.values()],
          totalBytes: BigInt(usage?.totalBytes ?? -1),
          usableBytes: BigInt(usage?.usableBytes ?? -1),
        },
      ],
    };
  },
});
