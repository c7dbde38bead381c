/**
 * What handlers reach through: the broker's parts, each the single writer of its own
 * state. Handlers hold no state of their own.
 *
 * Members are added by the area that owns them (metadata, replicas, coordinators);
 * keep each one an interface from its own folder, not a concrete class.
 */
import type { ControllerApi } from '../controller/controller-api.ts';
import type { GroupCoordinatorService } from '../coordinator/group/coordinator.ts';
import type { TransactionCoordinatorService } from '../coordinator/transaction/coordinator.ts';
import type { Clock } from '../env/clock.ts';
import type { Random } from '../env/random.ts';
import type { MetadataCache } from '../metadata/cache.ts';
import type { BrokerConfigView } from '../metadata/config-view.ts';
import type {
  ApiVersionsResponseFinalizedFeatureKey,
  ApiVersionsResponseSupportedFeatureKey,
} from '../protocol/generated/api-versions-response.ts';
import type { DescribeQuorumResponse } from '../protocol/generated/describe-quorum-response.ts';
import type { ApiVersionRange } from './dispatcher.ts';
import type { FetchSessionCache } from './fetch/sessions.ts';
import type { NetworkLogger } from './network/index.ts';
import type { ProducerIdManager } from './producer-state/producer-ids.ts';
import type { ReplicaManager } from './replica/replica-manager.ts';

export interface BrokerServices {
  readonly nodeId: number;
  readonly clusterId: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: NetworkLogger;

  /** API ranges served (from the handlers' declarations). */
  apiVersions(): ApiVersionRange[];
  supportedFeatures(): ApiVersionsResponseSupportedFeatureKey[];
  finalizedFeatures(): ApiVersionsResponseFinalizedFeatureKey[];
  finalizedFeaturesEpoch(): bigint;

  /** The current metadata image and its updates (src/metadata). */
  readonly metadata: MetadataCache;
  /**
   * The metadata controller: every metadata change goes through it (the local one while it
   * is active, else the active controller over the controller listener).
   */
  readonly controller: ControllerApi;
  /** DescribeQuorum as the metadata quorum's leader answers it (asked over the network when that is another node). */
  describeQuorum(): Promise<DescribeQuorumResponse>;
  /** This broker's epoch from its registration (-1 before); AlterPartition and replica fetches carry it. */
  brokerEpoch(): bigint;
  /** The broker's configuration and the config rules (describe, validate, defaults). */
  readonly config: BrokerConfigView;

  /** The partitions this node hosts: logs, produce and fetch (src/broker/replica). */
  readonly replicas: ReplicaManager;
  /** Incremental fetch sessions (KIP-227). */
  readonly fetchSessions: FetchSessionCache;
  /** Producer ids for idempotent producers (blocks from the controller). */
  readonly producerIds: ProducerIdManager;
  /** The group coordinator: consumer groups and committed offsets (src/coordinator). */
  readonly groups: GroupCoordinatorService;
  /** The transaction coordinator: transactional ids, their transactions and markers (src/coordinator/transaction). */
  readonly transactions: TransactionCoordinatorService;
}
