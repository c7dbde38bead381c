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
