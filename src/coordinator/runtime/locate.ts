/**
 * Which node coordinates a key's partition of a coordinator topic (FindCoordinator), shared
 * by the group and transaction coordinators: this node when its shard is active (waiting up
 * to a second for a load in progress, rather than bouncing the client), else the
 * partition's leader from the metadata (Kafka answers from its metadata on any broker),
 * else COORDINATOR_NOT_AVAILABLE.
 */
import type { Clock } from '../../env/clock.ts';
import type { MetadataImage } from '../../metadata/image.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';

/** How long FindCoordinator waits for a shard that is loading. */
const LOAD_WAIT_MS = 1000;

export interface CoordinatorLocation {
  errorCode: number;
  nodeId: number;
}

export async function locateCoordinator(options: {
  topic: string;
  partition: number;
  nodeId: number;
  clock: Clock;
  /** The shard's load in progress, if any. */
  load: Promise<void> | undefined;
  isActive: () => boolean;
  image: (() => MetadataImage) | undefined;
}): Promise<CoordinatorLocation> {
  if (options.load !== undefined) {
    let cancel = (): void => {};
    await Promise.race([
      options.load,
      new Promise<void>((resolve) => {
        cancel = options.clock.schedule(LOAD_WAIT_MS, resolve);
      }),
    ]);
    cancel();
  }
  if (options.isActive()) return { errorCode: ErrorCode.NONE, nodeId: options.nodeId };
  const p = options.image?.().topicsByName.get(options.topic)?.partitions.get(options.partition);
  if (p !== undefined && p.leader >= 0 && p.leader !== options.nodeId) {
    return { errorCode: ErrorCode.NONE, nodeId: p.leader };
  }
  return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, nodeId: -1 };
}
