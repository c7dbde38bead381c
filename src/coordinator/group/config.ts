/** The group coordinator's settings (Kafka's broker properties of the same names). */
export interface GroupCoordinatorConfig {
  /** offsets.topic.num.partitions (50). */
  numPartitions: number;
  /** group.min.session.timeout.ms (6000). */
  minSessionTimeoutMs: number;
  /** group.max.session.timeout.ms (1800000). */
  maxSessionTimeoutMs: number;
  /** group.initial.rebalance.delay.ms (3000). */
  initialRebalanceDelayMs: number;
  /** group.max.size (Integer.MAX_VALUE). */
  maxGroupSize: number;
  /** offsets.retention.minutes (10080) in ms. */
  offsetsRetentionMs: number;
  /** offsets.retention.check.interval.ms (600000). */
  offsetsRetentionCheckIntervalMs: number;
  /** offset.metadata.max.bytes (4096). */
  offsetMetadataMaxBytes: number;
  /** group.consumer.session.timeout.ms (45000). */
  consumerSessionTimeoutMs: number;
  /** group.consumer.heartbeat.interval.ms (5000). */
  consumerHeartbeatIntervalMs: number;
  /** group.consumer.max.size. */
  consumerMaxSize: number;
  /** group.consumer.assignors (uniform,range); the first is the default. */
  consumerAssignors: string[];
}

export const DEFAULT_GROUP_CONFIG: GroupCoordinatorConfig = {
  numPartitions: 50,
  minSessionTimeoutMs: 6000,
  maxSessionTimeoutMs: 1_800_000,
  initialRebalanceDelayMs: 3000,
  maxGroupSize: 2_147_483_647,
  offsetsRetentionMs: 10080 * 60_000,
  offsetsRetentionCheckIntervalMs: 600_000,
  offsetMetadataMaxBytes: 4096,
  consumerSessionTimeoutMs: 45_000,
  consumerHeartbeatIntervalMs: 5000,
  consumerMaxSize: 2_147_483_647,
  consumerAssignors: ['uniform', 'range'],
};

/** Reads the settings from broker properties (string values), defaults for what is unset. */
export function groupConfigFrom(get: (name: string) => string | undefined): GroupCoordinatorConfig {
  const num = (name: string, dflt: number): number => {
    const v = get(name);
    if (v === undefined || v.trim() === '') return dflt;
    const n = Number(v);
    return Number.isFinite(n) ? n : dflt;
  };
  const d = DEFAULT_GROUP_CONFIG;
  const assignors = get('group.consumer.assignors');
  return {
    numPartitions: num('offsets.topic.num.partitions', d.numPartitions),
    minSessionTimeoutMs: num('group.min.session.timeout.ms', d.minSessionTimeoutMs),
    maxSessionTimeoutMs: num('group.max.session.timeout.ms', d.maxSessionTimeoutMs),
    initialRebalanceDelayMs: num('group.initial.rebalance.delay.ms', d.initialRebalanceDelayMs),
    maxGroupSize: num('group.max.size', d.maxGroupSize),
    offsetsRetentionMs: num('offsets.retention.minutes', 10080) * 60_000,
    offsetsRetentionCheckIntervalMs: num('offsets.retention.check.interval.ms', d.offsetsRetentionCheckIntervalMs),
    offsetMetadataMaxBytes: num('offset.metadata.max.bytes', d.offsetMetadataMaxBytes),
    consumerSessionTimeoutMs: num('group.consumer.session.timeout.ms', d.consumerSessionTimeoutMs),
    consumerHeartbeatIntervalMs: num('group.consumer.heartbeat.interval.ms', d.consumerHeartbeatIntervalMs),
    consumerMaxSize: num('group.consumer.max.size', d.consumerMaxSize),
    consumerAssignors:
      assignors === undefined
        ? d.consumerAssignors
        : assignors
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
            .map((s) => (s.includes('.') ? (s.toLowerCase().includes('range') ? 'range' : 'uniform') : s)),
  };
}
