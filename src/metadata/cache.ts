/**
 * The broker's view of the metadata: the current image and a way to hear about every
 * new one. The controller publishes here after its records are committed and replayed;
 * the replica manager subscribes to create, update and delete partition logs.
 *
 * A publish awaits every listener (in subscription order) before it resolves, and the
 * controller answers a request only after the publish resolved: once CreateTopics has
 * answered, the partitions' logs exist and a Produce to them succeeds. Publishes never
 * overlap: the next starts after the previous one's listeners finished.
 *
 * A listener must never wait for a controller operation: the controller's queue is
 * waiting for the listener (start such work without awaiting it).
 */
import type { MetadataDelta, MetadataImage } from './image.ts';

export interface MetadataUpdate {
  readonly image: MetadataImage;
  readonly previous: MetadataImage;
  readonly delta: MetadataDelta;
}

export type MetadataListener = (update: MetadataUpdate) => void | Promise<void>;

export interface MetadataCache {
  /** The latest published image. */
  image(): MetadataImage;
  /**
   * Calls listener on every later publish. A listener that throws (or rejects) is
   * reported to the cache's onError and does not stop the others. Returns unsubscribe.
   */
  subscribe(listener: MetadataListener): () => void;
  /** True while updates are held back (CatchUpGate before its open): do not apply image() yet. */
  held?(): boolean;
}

export class MetadataPublisher implements MetadataCache {
  private current: MetadataImage;
  private readonly listeners: MetadataListener[] = [];

  constructor(
    initial: MetadataImage,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.current = initial;
  }

  image(): MetadataImage {
    return this.current;
  }

  subscribe(listener: MetadataListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Makes `image` current and runs every listener on it (the controller's single writer calls this). */
  async publish(image: MetadataImage, delta: MetadataDelta): Promise<void> {
    const previous = this.current;
    this.current = image;
    const update: MetadataUpdate = { image, previous, delta };
    for (const listener of [...this.listeners]) {
      try {
        await listener(update);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/**
 * A broker's view of the metadata that holds every update back until the broker has
 * caught up with the quorum (Kafka's initial catch-up): while held, a restarting broker
 * replays its on-disk metadata log, and acting on each intermediate image would make it
 * lead partitions at old leader epochs. image() is always the newest replayed image (so
 * lookups answer NOT_LEADER_OR_FOLLOWER for known partitions); listeners hear nothing
 * until open(), which delivers the newest image once, as a full update from the empty
 * image, and then forwards every later publish.
 */
export class CatchUpGate implements MetadataCache {
  private readonly listeners: MetadataListener[] = [];
  private opened = false;

  constructor(
    private readonly source: MetadataPublisher,
    private readonly base: MetadataImage,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    source.subscribe(async (update) => {
      if (!this.opened) return;
      await this.deliver(update);
    });
  }

  image(): MetadataImage {
    return this.source.image();
  }

  /** True until open(): subscribers must not apply image() on their own yet. */
  held(): boolean {
    return !this.opened;
  }

  subscribe(listener: MetadataListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Releases the gate: one update with the whole current image, then every later one. */
  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    const image = this.source.image();
    await this.deliver({ image, previous: this.base, delta: fullDelta(image) });
  }

  private async deliver(update: MetadataUpdate): Promise<void> {
    for (const listener of [...this.listeners]) {
      try {
        await listener(update);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** A delta that names everything in `image` as new (from an empty image). */
function fullDelta(image: MetadataImage): MetadataDelta {
  const changedPartitions = new Map<string, ReadonlySet<number>>();
  for (const topic of image.topicsById.values()) changedPartitions.set(topic.topicId, new Set(topic.partitions.keys()));
  return {
    createdTopics: new Set(image.topicsById.keys()),
    changedPartitions,
    deletedTopics: [],
    changedConfigs: new Set(image.configs.keys()),
    changedBrokers: new Set(image.brokers.keys()),
    changedFeatures: true,
  };
}
