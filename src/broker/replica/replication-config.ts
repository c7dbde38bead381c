/**
 * The replica.* broker properties as ReplicaManagerOptions.replication wants them:
 *
 *   ReplicaManager.start({ ..., replication: replicationSettingsFrom((n) => config.get(n)) })
 *
 * Absent or unparsable values keep Kafka's defaults (DEFAULT_REPLICATION_SETTINGS).
 */
import { DEFAULT_REPLICATION_SETTINGS, type ReplicationSettings } from './replica-manager.ts';

export function replicationSettingsFrom(get: (name: string) => string | undefined): ReplicationSettings {
  const d = DEFAULT_REPLICATION_SETTINGS;
  const num = (name: string, fallback: number): number => {
    const raw = get(name);
    const n = raw === undefined ? Number.NaN : Number(raw);
    return Number.isFinite(n) ? n : fallback;
  };
  const str = (name: string): string | undefined => {
    const raw = get(name);
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const settings: ReplicationSettings = {
    replicaLagTimeMaxMs: num('replica.lag.time.max.ms', d.replicaLagTimeMaxMs),
    replicaFetchMaxBytes: num('replica.fetch.max.bytes', d.replicaFetchMaxBytes),
    replicaFetchMinBytes: num('replica.fetch.min.bytes', d.replicaFetchMinBytes),
    replicaFetchWaitMaxMs: num('replica.fetch.wait.max.ms', d.replicaFetchWaitMaxMs),
    replicaFetchResponseMaxBytes: num('replica.fetch.response.max.bytes', d.replicaFetchResponseMaxBytes),
    replicaFetchBackoffMs: num('replica.fetch.backoff.ms', d.replicaFetchBackoffMs),
    replicaHighWatermarkCheckpointIntervalMs: num(
      'replica.high.watermark.checkpoint.interval.ms',
      d.replicaHighWatermarkCheckpointIntervalMs,
    ),
    replicaSocketTimeoutMs: num('replica.socket.timeout.ms', d.replicaSocketTimeoutMs),
  };
  const listener = str('inter.broker.listener.name');
  if (listener !== undefined) settings.interBrokerListenerName = listener;
  const selector = str('replica.selector.class');
  if (selector !== undefined) settings.replicaSelectorClass = selector;
  return settings;
}
