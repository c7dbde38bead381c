/**
 * Producer id allocation for idempotent producers (InitProducerId without a transactional
 * id). Ids come in blocks from the controller (Kafka's AllocateProducerIds, persisted as a
 * ProducerIdsRecord in the metadata log, so no id is handed out twice, across restarts
 * and brokers); this broker hands them out one by one and asks for the next block when
 * one runs out. Concurrent callers share one outstanding block request.
 */

export interface ProducerIdBlock {
  readonly firstProducerId: bigint | number;
  readonly size: number;
}

/** Where blocks come from: the controller (src/metadata/controller.ts), or a counter in tests. */
export interface ProducerIdBlockSource {
  allocateProducerIds(brokerId: number): Promise<ProducerIdBlock>;
}

export class ProducerIdManager {
  private next = 0n;
  private end = 0n;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly brokerId: number,
    private readonly source: ProducerIdBlockSource,
  ) {}

  /** The next unused producer id. Rejects when the controller cannot give a block. */
  async nextProducerId(): Promise<bigint> {
    for (;;) {
      if (this.next < this.end) return this.next++;
      this.pending ??= this.fetchBlock().finally(() => {
        this.pending = undefined;
      });
      await this.pending;
    }
  }

  private async fetchBlock(): Promise<void> {
    const block = await this.source.allocateProducerIds(this.brokerId);
    if (block.size <= 0) throw new Error(`empty producer id block from the controller`);
    this.next = BigInt(block.firstProducerId);
    this.end = this.next + BigInt(block.size);
  }
}

/** A block source counting from a start value (tests, the in-process helper). */
export function counterBlockSource(start = 0n, blockSize = 1000): ProducerIdBlockSource {
  let next = start;
  return {
    allocateProducerIds() {
      const block = { firstProducerId: next, size: blockSize };
      next += BigInt(blockSize);
      return Promise.resolve(block);
    },
  };
}
