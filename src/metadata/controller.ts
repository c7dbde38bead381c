/**
 * The metadata controller: the single writer of the metadata log (implementation follows).
 */

/** A block of producer ids handed to one broker (Kafka's ProducerIdsBlock: 1000 ids). */
export interface ProducerIdBlock {
  readonly brokerId: number;
  readonly firstProducerId: number;
  readonly size: number;
}

/** What the data path and handlers call on the controller. */
export interface MetadataController {
  /** Allocates the next block of producer ids for brokerId (a ProducerIdsRecord). */
  allocateProducerIds(brokerId: number): Promise<ProducerIdBlock>;
}
