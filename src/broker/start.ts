/**
 * Starting a broker: config -> meta.properties -> logs -> metadata replay -> replicas ->
 * broker registration -> listeners. One node is broker and controller (the whole quorum).
 *
 *   const broker = await startBroker({ config: { 'log.dirs': dir, listeners: 'PLAINTEXT://127.0.0.1:0' } });
 *   broker.bootstrap; // "127.0.0.1:54321"
 *   await broker.close();
 *
 * close() stops accepting connections, answers the requests in flight, closes the
 * partitions (producer snapshots), flushes and closes every log and writes the
 * clean-shutdown marker. kill() drops everything as a crash would (tests).
 */
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { BrokerConfig, ConfigError, loadBrokerConfig, validateTopicConfigs } from '../config/index.ts';
import { groupConfigFrom } from '../coordinator/group/config.ts';
import { GROUP_METADATA_TOPIC, GroupCoordinator } from '../coordinator/group/coordinator.ts';
import { ReplicaCoordinatorLog } from '../coordinator/runtime/replica-log.ts';
import type { Clock } from '../env/clock.ts';
import { systemClock } from '../env/clock.ts';
import type { Disk } from '../env/disk.ts';
import { nodeDisk } from '../env/disk.ts';
import type { Random } from '../env/random.ts';
import { systemRandom } from '../env/random.ts';
import { MetadataPublisher } from '../metadata/cache.ts';
import { type ConfigRules, METADATA_VERSION_LEVEL, QuorumController } from '../metadata/controller.ts';
import { emptyImage, SecurityProtocol } from '../metadata/image.ts';
import { loadOrFormatMetaProperties, randomUuid } from '../metadata/meta-properties.ts';
import { METADATA_PARTITION, METADATA_TOPIC, metadataLogConfig, RaftMetadataLog } from '../metadata/metadata-log.ts';
import { RaftDriver } from '../raft/client.ts';
import { parseQuorumVoters, raftConfig, type VoterEndpoint } from '../raft/config.ts';
import { LogManager } from '../storage/log-manager.ts';
import { VERSION } from '../version.ts';
import { Dispatcher } from './dispatcher.ts';
import { FetchSessionCache } from './fetch/sessions.ts';
import { allHandlers } from './handlers/index.ts';
import { type Listener, type NetworkLogger, silentLogger, startListener } from './network/index.ts';
import { ProducerIdManager } from './producer-state/producer-ids.ts';
import { ReplicaManager } from './replica/replica-manager.ts';
import type { BrokerServices } from './services.ts';

export { ConfigError } from '../config/index.ts';

export interface StartBrokerOptions {
  /** Kafka broker properties (string values), e.g. { 'log.dirs': '/tmp/x', listeners: 'PLAINTEXT://127.0.0.1:0' }, or a loaded config. */
  config?: Readonly<Record<string, string>> | BrokerConfig;
  clock?: Clock;
  random?: Random;
  disk?: Disk;
  logger?: NetworkLogger;
  /** Where the one "listening" line goes (default: logger.info). */
  announce?: (line: string) => void;
}

export interface RunningBroker {
  /** host:port of the first listener, for clients. */
  readonly bootstrap: string;
  readonly host: string;
  readonly port: number;
  readonly nodeId: number;
  readonly clusterId: string;
  readonly logDir: string;
  readonly services: BrokerServices;
  readonly listeners: readonly Listener[];
  close(): Promise<void>;
  /** Drops the broker as a crash would: sockets closed, nothing flushed, no clean-shutdown marker. */
  kill(): Promise<void>;
}

/** The controller's view of config rules: per value, and a topic's whole set against the broker's defaults. */
function configRules(config: BrokerConfig): ConfigRules {
  return {
    validateTopicConfig: (name, value) => config.validateTopicConfig(name, value),
    validateTopicConfigSet: (explicit) => validateTopicConfigs(explicit, config.effectiveTopicConfig(explicit)),
    validateBrokerConfig: (name, value) => config.validateBrokerConfig(name, value),
    isList: (resourceType, name) => config.isList(resourceType, name),
  };
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const config =
    options.config instanceof BrokerConfig ? options.config : loadBrokerConfig({ overrides: options.config ?? {} });
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const disk = options.disk ?? nodeDisk;
  const logger = options.logger ?? silentLogger;
  const nodeId = config.nodeId;
  const logDirs = config.logDirs();
  if (logDirs.length === 0) logDirs.push('./data');
  if (logDirs.length !== 1) {
    throw new ConfigError(`log.dirs: Runnel supports exactly one log directory for now (got ${logDirs.join(', ')})`);
  }
  const logDir = logDirs[0]!;
  const metadataLogDir = config.string('metadata.log.dir');
  if (metadataLogDir !== null && metadataLogDir.replace(/\/+$/, '') !== logDir.replace(/\/+$/, '')) {
    throw new ConfigError(
      `metadata.log.dir: the metadata log lives in the log directory (${logDir}) for now; got ${metadataLogDir}`,
    );
  }
  for (const l of config.listeners) {
    if (l.securityProtocol !== 'PLAINTEXT') {
      throw new ConfigError(
        `listeners: ${l.name} uses ${l.securityProtocol}; only PLAINTEXT listeners are supported for now`,
      );
    }
  }

  const { clusterId } = await loadOrFormatMetaProperties({
    disk,
    random,
    nowMs: clock.nowMs(),
    logDirs,
    nodeId,
    ...(config.string('cluster.id') !== null ? { clusterId: config.string('cluster.id')! } : {}),
  });

  const onError = (err: unknown, task: string): void => {
    logger.error(`background task failed: ${task}`, { error: err instanceof Error ? err.message : String(err) });
  };
  const logs = await LogManager.open({
    dataDir: logDir,
    disk,
    clock,
    configFor: (topic) => (topic === METADATA_TOPIC ? metadataLogConfig : undefined),
    // __cluster_metadata-0 is the Raft store's directory, not a partition log.
    skip: (topic) => topic === METADATA_TOPIC,
    retentionCheckIntervalMs: config.int('log.retention.check.interval.ms'),
    cleanerBackoffMs: config.int('log.cleaner.backoff.ms'),
    openConcurrency: config.int('num.recovery.threads.per.data.dir'),
    onError,
  });
  let listeners: Listener[] = [];
  let replicas: ReplicaManager | undefined;
  let controller: QuorumController | undefined;
  let raft: RaftDriver | undefined;
  let groupCoordinator: GroupCoordinator | undefined;
  try {
    const publisher = new MetadataPublisher(emptyImage(clusterId), (err) => onError(err, 'metadata listener'));
    const quorum = quorumSetup(config, nodeId);
    const raftDir = posix.join(logDir, `${METADATA_TOPIC}-${METADATA_PARTITION}`);
    await refuseOldMetadataLog(disk, raftDir, logDir);
    const driver = await RaftDriver.open({
      config: quorum.raft(clusterId),
      disk,
      dir: raftDir,
      clock,
      random,
      transport: () => {},
    });
    raft = driver;
    const metadataLog = new RaftMetadataLog({
      raft: driver,
      publisher,
      clusterId,
      onError: (err) => onError(err, 'metadata replay'),
    });
    const ctl = new QuorumController({
      nodeId,
      log: metadataLog,
      publisher,
      clock,
      random,
      rules: configRules(config),
      settings: {
        numPartitions: config.int('num.partitions'),
        defaultReplicationFactor: config.int('default.replication.factor'),
        deleteTopicEnable: config.bool('delete.topic.enable'),
      },
    });
    controller = ctl;
    metadataLog.start();
    const registrationTimeoutMs = config.int('initial.broker.registration.timeout.ms');
    if (!(await metadataLog.waitActive(clock, registrationTimeoutMs))) {
      throw new Error(
        `no active controller after ${registrationTimeoutMs} ms (initial.broker.registration.timeout.ms)`,
      );
    }
    // The activation finalizes metadata.version; an explicit bootstrap waits for it.
    await ctl.bootstrap();

    replicas = await ReplicaManager.start({
      nodeId,
      clock,
      metadata: publisher,
      logs,
      logDir,
      disk,
      topicDefaults: config.topicDefaults(),
      producerIdExpirationMs: config.int('producer.id.expiration.ms'),
      onError,
    });
    logs.startBackgroundTasks();

    const groups = new GroupCoordinator({
      nodeId,
      clock,
      random,
      config: groupConfigFrom((name) => config.get(name)),
      log: new ReplicaCoordinatorLog({
        topic: GROUP_METADATA_TOPIC,
        replicas,
        commitTimeoutMs: config.int('offsets.commit.timeout.ms'),
      }),
      metadata: publisher,
      controller: ctl,
      offsetsTopic: {
        replicationFactor: config.int('offsets.topic.replication.factor'),
        segmentBytes: Number(config.get('offsets.topic.segment.bytes') ?? '104857600'),
      },
      onError,
    });
    groupCoordinator = groups;
    groups.start();

    let dispatcher: Dispatcher | undefined;
    const services: BrokerServices = {
      nodeId,
      clusterId,
      clock,
      random,
      logger,
      apiVersions: () => dispatcher?.apiVersions() ?? [],
      supportedFeatures: () => [{ name: 'metadata.version', minVersion: 1, maxVersion: METADATA_VERSION_LEVEL }],
      finalizedFeatures: () =>
        [...publisher.image().features].map(([name, level]) => ({
          name,
          maxVersionLevel: level,
          minVersionLevel: level,
        })),
      finalizedFeaturesEpoch: () => BigInt(publisher.image().offset),
      metadata: publisher,
      controller: ctl,
      config,
      replicas,
      fetchSessions: new FetchSessionCache(clock, random),
      producerIds: new ProducerIdManager(nodeId, ctl),
      groups,
    };
    const d = new Dispatcher(allHandlers, services, clock, logger);
    dispatcher = d;

    for (const spec of config.listeners) {
      listeners.push(
        await startListener({
          name: spec.name,
          host: spec.host,
          port: spec.port,
          clock,
          logger,
          maxRequestBytes: config.int('socket.request.max.bytes'),
          maxInFlightPerConnection: config.int('queued.max.requests'),
          idleTimeoutMs: config.int('connections.max.idle.ms'),
          maxConnections: config.int('max.connections'),
          async onFrame(conn, frame) {
            const response = await d.handleFrame(conn, frame);
            // The dispatcher's frames carry their size prefix; the listener writes its own.
            if (response === null) return null;
            if (Buffer.isBuffer(response)) return response.subarray(4);
            return response;
          },
        }),
      );
    }

    const advertised = config.advertisedListeners.map((a) => {
      // Port 0 advertises the port the OS picked; a wildcard host advertises this machine's name.
      const actual = listeners.find((l) => l.name === a.name);
      const port = a.port === 0 && actual !== undefined ? actual.port : a.port;
      const host = a.host === '' || a.host === '0.0.0.0' || a.host === '::' ? hostname() : a.host;
      return { name: a.name, host, port, securityProtocol: SecurityProtocol[a.securityProtocol] };
    });
    await ctl.registerBroker({
      nodeId,
      incarnationId: randomUuid(random),
      endpoints: advertised,
      rack: config.string('broker.rack'),
      logDirs: [],
    });

    const first = advertised[0]!;
    const where = advertised.map((a) => `${a.name}://${a.host}:${a.port}`).join(', ');
    const line = `runnel ${VERSION}: node ${nodeId} of cluster ${clusterId} listening on ${where} (data in ${logDir})`;
    (options.announce ?? ((l: string) => logger.info(l)))(line);

    let stopping: Promise<void> | undefined;
    const rm = replicas;
    return {
      bootstrap: `${first.host}:${first.port}`,
      host: first.host,
      port: first.port,
      nodeId,
      clusterId,
      logDir,
      services,
      listeners,
      close() {
        stopping ??= (async () => {
          // Each step runs even when an earlier one failed; the first failure is reported.
          // Without a clean close of every log no marker is written and the next start recovers.
          let failure: unknown;
          const step = async (fn: () => Promise<unknown>): Promise<void> => {
            try {
              await fn();
            } catch (err) {
              failure ??= err;
            }
          };
          await step(() => Promise.all(listeners.map((l) => l.close())));
          await step(() => groups.close());
          await step(() => ctl.close());
          await step(() => driver.close());
          await step(() => rm.close());
          await step(() => logs.close());
          if (failure !== undefined) throw failure;
        })();
        return stopping;
      },
      async kill() {
        stopping ??= (async () => {
          // Nothing more reaches the disk: timers stop, handles are dropped unflushed.
          rm.abandon();
          logs.abandon();
          await Promise.all(listeners.map((l) => l.close()));
          await groups.close();
          await ctl.close();
          await driver.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close().catch(() => {})));
    listeners = [];
    await groupCoordinator?.close().catch(() => {});
    await controller?.close().catch(() => {});
    await raft?.close().catch(() => {});
    await replicas?.close().catch(() => {});
    await logs.close().catch(() => {});
    throw err;
  }
}

/** The quorum this node is part of: controller.quorum.voters, or itself alone when unset. */
interface QuorumSetup {
  voters: VoterEndpoint[];
  /** One voter and it is this node: no network, and an election at once. */
  alone: boolean;
  raft(clusterId: string): ReturnType<typeof raftConfig>;
}

function quorumSetup(config: BrokerConfig, nodeId: number): QuorumSetup {
  const listed = config.list('controller.quorum.voters');
  let voters: VoterEndpoint[];
  try {
    voters = listed.length > 0 ? parseQuorumVoters(listed.join(',')) : [{ id: nodeId, host: '', port: 0 }];
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  const alone = voters.length === 1 && voters[0]!.id === nodeId;
  return {
    voters,
    alone,
    raft: (clusterId) =>
      raftConfig(
        nodeId,
        voters.map((v) => v.id),
        {
          clusterId,
          // Alone there is nobody to wait for: elect at once (keeps a single node's start fast).
          electionTimeoutMs: alone ? 1 : config.int('controller.quorum.election.timeout.ms'),
          electionBackoffMaxMs: alone ? 1 : config.int('controller.quorum.election.backoff.max.ms'),
          fetchTimeoutMs: config.int('controller.quorum.fetch.timeout.ms'),
          requestTimeoutMs: config.int('controller.quorum.request.timeout.ms'),
          retryBackoffMs: config.int('controller.quorum.retry.backoff.ms'),
        },
      ),
  };
}

/**
 * Runnel before the Raft quorum kept __cluster_metadata-0 as a plain partition log
 * (segment files). That format is not read any more (pre-release): say so plainly.
 */
async function refuseOldMetadataLog(disk: Disk, raftDir: string, logDir: string): Promise<void> {
  const stat = await disk.stat(raftDir);
  if (stat === undefined || !stat.isDirectory) return;
  const names = await disk.readdir(raftDir);
  if (names.some((n) => /^\d{20}\.log$/.test(n))) {
    throw new ConfigError(
      `${raftDir} holds a metadata log in the format of an earlier Runnel (a partition log, before the Raft ` +
        `quorum), which this version does not read. Start with an empty data directory: move ${logDir} aside ` +
        '(or delete it; its topics and records are not carried over).',
    );
  }
}
