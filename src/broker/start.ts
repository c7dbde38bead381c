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

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { BrokerConfig, ConfigError, loadBrokerConfig, validateTopicConfigs } from '../config/index.ts';
import { RemoteControllerApi, RoutingControllerApi } from '../controller/controller-api.ts';
import { type ControllerServices, controllerHandlers } from '../controller/handlers.ts';
import { RaftNetwork } from '../controller/raft-network.ts';
import { groupConfigFrom } from '../coordinator/group/config.ts';
import { GROUP_METADATA_TOPIC, GroupCoordinator } from '../coordinator/group/coordinator.ts';
import { ReplicaCoordinatorLog } from '../coordinator/runtime/replica-log.ts';
import {
  TRANSACTION_STATE_TOPIC,
  TransactionCoordinator,
  txnConfigFrom,
} from '../coordinator/transaction/coordinator.ts';
import { TxnMarkerChannel } from '../coordinator/transaction/marker-channel.ts';
import type { Clock } from '../env/clock.ts';
import { systemClock } from '../env/clock.ts';
import type { Disk } from '../env/disk.ts';
import { nodeDisk } from '../env/disk.ts';
import type { Random } from '../env/random.ts';
import { systemRandom } from '../env/random.ts';
import { CatchUpGate, MetadataPublisher } from '../metadata/cache.ts';
import { type ConfigRules, METADATA_VERSION_LEVEL, QuorumController } from '../metadata/controller.ts';
import { emptyImage, type MetadataImage, SecurityProtocol } from '../metadata/image.ts';
import { imageToRecords } from '../metadata/image-records.ts';
import { loadOrFormatMetaProperties, randomUuid } from '../metadata/meta-properties.ts';
import { METADATA_PARTITION, METADATA_TOPIC, metadataLogConfig, RaftMetadataLog } from '../metadata/metadata-log.ts';
import { uuidFromBytes } from '../protocol/codec/uuid.ts';
import { ApiKey } from '../protocol/generated/api-keys.ts';
import { RaftDriver } from '../raft/client.ts';
import { parseQuorumVoters, raftConfig, type VoterEndpoint } from '../raft/config.ts';
import { describeQuorum } from '../raft/describe-quorum.ts';
import { LogManager } from '../storage/log-manager.ts';
import { VERSION } from '../version.ts';
import { Dispatcher } from './dispatcher.ts';
import { FetchSessionCache } from './fetch/sessions.ts';
import { allHandlers } from './handlers/index.ts';
import { BrokerLifecycle } from './lifecycle.ts';
import {
  type Connection,
  type FrameResponse,
  type Listener,
  type NetworkLogger,
  silentLogger,
  startListener,
} from './network/index.ts';
import { ProducerIdManager } from './producer-state/producer-ids.ts';
import { ReplicaManager } from './replica/replica-manager.ts';
import { replicationSettingsFrom } from './replica/replication-config.ts';
import type { BrokerServices } from './services.ts';

export { ConfigError } from '../config/index.ts';

/** The longest a closing broker waits for the controller to agree to its controlled shutdown. */
const CONTROLLED_SHUTDOWN_WAIT_MS = 5000;
/** How long kill() (a simulated crash, for tests) waits for each component to stop. */
const KILL_STEP_WAIT_MS = 5000;
/** The most a broker waits for its own image to show a topic change the remote controller made. */
const READ_YOUR_WRITES_WAIT_MS = 5000;
/** How long a broker keeps trying to reach the active controller with one operation. */
const CONTROLLER_REQUEST_TIMEOUT_MS = 30_000;

export interface StartBrokerOptions {
  /** Kafka broker properties (string values), e.g. { 'log.dirs': '/tmp/x', listeners: 'PLAINTEXT://127.0.0.1:0' }, or a loaded config. */
  config?: Readonly<Record<string, string>> | BrokerConfig;
  clock?: Clock;
  random?: Random;
  disk?: Disk;
  logger?: NetworkLogger;
  /** Where the one "listening" line goes (default: logger.info). */
  announce?: (line: string) => void;
  /** Rewrites the address of a voter this node connects to (tests put a fault-injecting proxy in between). */
  route?: (voter: VoterEndpoint) => { host: string; port: number };
  /** Told each step of the start as it is reached (`runnel start` prints them under RUNNEL_START_TRACE=1). */
  trace?: (step: string) => void;
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
  /** The metadata quorum's Raft client on this node (voter or observer). */
  readonly raft: RaftDriver;
  readonly metadataLog: RaftMetadataLog;
  /** This node's controller (process.roles has controller); it acts while it is the active one. */
  readonly controller?: QuorumController;
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
  const trace = options.trace ?? ((_step: string): void => {});
  trace('config loaded');
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

  const roles = config.list('process.roles');
  const isController = roles.includes('controller');
  const isBroker = roles.includes('broker');
  if (!isController && !isBroker) throw new ConfigError('process.roles: give broker, controller or both');
  const quorum = quorumSetup(config, nodeId);
  if (isController && !quorum.voters.some((v) => v.id === nodeId)) {
    throw new ConfigError(`process.roles includes controller, but node ${nodeId} is not in controller.quorum.voters`);
  }
  if (!isController && quorum.alone) {
    throw new ConfigError('process.roles=broker needs controller.quorum.voters naming the controllers');
  }
  const controllerNames = new Set(
    (config.string('controller.listener.names') ?? '')
      .split(',')
      .map((n) => n.trim().toUpperCase())
      .filter((n) => n !== ''),
  );
  const controllerSpecs = config.listeners.filter((l) => controllerNames.has(l.name));
  const brokerSpecs = config.listeners.filter((l) => !controllerNames.has(l.name));
  if (!quorum.alone && isController && controllerSpecs.length === 0) {
    throw new ConfigError(
      'a controller in a multi-voter quorum needs a controller listener: name it in controller.listener.names and listeners',
    );
  }
  if (isBroker && brokerSpecs.length === 0)
    throw new ConfigError('listeners: a broker needs a non-controller listener');

  // Nodes of one quorum must agree on the cluster id: without cluster.id they derive it from the voters.
  const configuredClusterId = config.string('cluster.id') ?? (quorum.alone ? null : clusterIdFromVoters(quorum.voters));
  const { clusterId } = await loadOrFormatMetaProperties({
    disk,
    random,
    nowMs: clock.nowMs(),
    logDirs,
    nodeId,
    ...(configuredClusterId !== null ? { clusterId: configuredClusterId } : {}),
  });
  trace('meta.properties');

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
  trace('logs opened');
  let listeners: Listener[] = [];
  let replicas: ReplicaManager | undefined;
  let controller: QuorumController | undefined;
  let raft: RaftDriver | undefined;
  let network: RaftNetwork | undefined;
  let remote: RemoteControllerApi | undefined;
  let lifecycle: BrokerLifecycle | undefined;
  let groupCoordinator: GroupCoordinator | undefined;
  let transactions: TransactionCoordinator | undefined;
  try {
    const publisher = new MetadataPublisher(emptyImage(clusterId), (err) => onError(err, 'metadata listener'));
    const raftDir = posix.join(logDir, `${METADATA_TOPIC}-${METADATA_PARTITION}`);
    await refuseOldMetadataLog(disk, raftDir, logDir);
    const requestTimeoutMs = config.int('controller.quorum.request.timeout.ms');
    let driverRef: RaftDriver | undefined;
    const net = quorum.alone
      ? undefined
      : new RaftNetwork({
          nodeId,
          voters: quorum.voters,
          clock,
          requestTimeoutMs,
          deliver: (m) => void driverRef?.receive(m),
          ...(options.route !== undefined ? { route: options.route } : {}),
        });
    network = net;
    const driver = await RaftDriver.open({
      config: quorum.raft(clusterId),
      disk,
      dir: raftDir,
      clock,
      random,
      transport: (m) => net?.send(m),
    });
    trace('raft log opened');
    driverRef = driver;
    raft = driver;
    const metadataLog = new RaftMetadataLog({
      raft: driver,
      publisher,
      clusterId,
      onError: (err) => onError(err, 'metadata replay'),
      snapshots: {
        maxRecordBytes: config.int('metadata.log.max.record.bytes.between.snapshots'),
        intervalMs: config.int('metadata.log.max.snapshot.interval.ms'),
        clock,
        create: (endOffset, data) => driver.createSnapshot(endOffset, data),
        toRecords: imageToRecords,
      },
    });
    const ctl = isController
      ? new QuorumController({
          nodeId,
          log: metadataLog,
          publisher,
          clock,
          random,
          rules: configRules(config),
          brokerSessionTimeoutMs: config.int('broker.session.timeout.ms'),
          settings: {
            numPartitions: config.int('num.partitions'),
            defaultReplicationFactor: config.int('default.replication.factor'),
            deleteTopicEnable: config.bool('delete.topic.enable'),
            uncleanLeaderElectionEnable: config.bool('unclean.leader.election.enable'),
            autoLeaderRebalance: {
              enable: config.bool('auto.leader.rebalance.enable'),
              checkIntervalMs: config.int('leader.imbalance.check.interval.seconds') * 1000,
              imbalancePerBrokerPercentage: config.int('leader.imbalance.per.broker.percentage'),
            },
          },
        })
      : undefined;
    controller = ctl;
    let lc: BrokerLifecycle | undefined;
    remote = quorum.alone
      ? undefined
      : new RemoteControllerApi({
          nodeId,
          voters: quorum.voters,
          leader: () => driver.leaderAndEpoch(),
          clock,
          timeoutMs: CONTROLLER_REQUEST_TIMEOUT_MS,
          brokerEpoch: () => lc?.brokerEpoch() ?? -1n,
          ...(options.route !== undefined ? { route: options.route } : {}),
        });
    const controllerApi = new RoutingControllerApi(ctl, remote, (ready) =>
      waitForImage(publisher, clock, READ_YOUR_WRITES_WAIT_MS, ready),
    );
    const localDescribeQuorum = () => {
      const wallOffset = clock.nowMs() - clock.monotonicMs();
      const response = describeQuorum(driver.node, clock.monotonicMs(), (ms) => ms + wallOffset);
      response.nodes = quorum.voters
        .filter((v) => v.port > 0)
        .map((v) => ({
          nodeId: v.id,
          listeners: [{ name: controllerSpecs[0]?.name ?? 'CONTROLLER', host: v.host, port: v.port }],
        }));
      return response;
    };
    metadataLog.start();
    trace('metadata log started');
    const registrationTimeoutMs = config.int('initial.broker.registration.timeout.ms');
    if (quorum.alone) {
      if (!(await metadataLog.waitActive(clock, registrationTimeoutMs))) {
        throw new Error(`no active controller after ${registrationTimeoutMs} ms`);
      }
      // The activation finalizes metadata.version; an explicit bootstrap waits for it.
      await ctl!.bootstrap();
      trace('controller active');
    }

    // A broker in a multi-node quorum acts on no image before it has caught up with the
    // quorum and its new registration is in the image (the gate opens below); replaying its
    // own metadata log must not make it lead partitions at old epochs.
    const brokerView = new CatchUpGate(publisher, emptyImage(clusterId), (err) => onError(err, 'metadata listener'));
    const gated = isBroker && !quorum.alone;
    if (!gated) await brokerView.open();
    replicas = await ReplicaManager.start({
      nodeId,
      clock,
      metadata: brokerView,
      logs,
      logDir,
      disk,
      topicDefaults: config.topicDefaults(),
      producerIdExpirationMs: config.int('producer.id.expiration.ms'),
      alterPartition: (request) => controllerApi.alterPartition(request),
      brokerEpoch: () => lc?.brokerEpoch() ?? -1n,
      replication: replicationSettingsFrom((name) => config.get(name)),
      onError,
    });
    logs.startBackgroundTasks();
    trace('replica manager started');

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
      metadata: brokerView,
      controller: controllerApi,
      offsetsTopic: {
        replicationFactor: config.int('offsets.topic.replication.factor'),
        segmentBytes: Number(config.get('offsets.topic.segment.bytes') ?? '104857600'),
      },
      onError,
    });
    groupCoordinator = groups;
    // Coordinators load the partitions they lead from image(): start them once the gate opened.
    if (isBroker && !gated) groups.start();

    const producerIds = new ProducerIdManager(nodeId, controllerApi);
    const txns = new TransactionCoordinator({
      nodeId,
      clock,
      config: txnConfigFrom((name) => config.get(name)),
      log: new ReplicaCoordinatorLog({
        topic: TRANSACTION_STATE_TOPIC,
        replicas,
        commitTimeoutMs: config.int('offsets.commit.timeout.ms'),
      }),
      producerIds,
      markers: new TxnMarkerChannel({
        clock,
        metadata: publisher,
        listenerName: config.string('inter.broker.listener.name') ?? undefined,
        onError,
      }),
      groupPartitionFor: (groupId) => groups.partitionFor(groupId),
      groupTopic: GROUP_METADATA_TOPIC,
      metadata: brokerView,
      controller: controllerApi,
      onError,
    });
    transactions = txns;
    if (isBroker && !gated) txns.start();

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
      controller: controllerApi,
      brokerEpoch: () => lc?.brokerEpoch() ?? -1n,
      describeQuorum: async () => {
        if (driver.node.stateName() === 'leader' || remote === undefined) return localDescribeQuorum();
        return remote.forward(ApiKey.DescribeQuorum, {
          topics: [{ topicName: METADATA_TOPIC, partitions: [{ partitionIndex: METADATA_PARTITION }] }],
        });
      },
      config,
      replicas,
      fetchSessions: new FetchSessionCache(clock, random),
      producerIds,
      groups,
      transactions: txns,
    };
    const d = new Dispatcher(allHandlers, services, clock, logger);
    dispatcher = d;
    trace('coordinators and dispatcher');

    let openBrokerListeners = (): void => {};
    const serve = (
      spec: (typeof config.listeners)[number],
      handle: (conn: Connection, frame: Buffer) => Promise<FrameResponse>,
    ) =>
      startListener({
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
          const response = await handle(conn, frame);
          // The dispatcher's frames carry their size prefix; the listener writes its own.
          if (response === null) return null;
          if (Buffer.isBuffer(response)) return response.subarray(4);
          return response;
        },
      });

    if (isController && net !== undefined && ctl !== undefined) {
      let cd: Dispatcher<ControllerServices> | undefined;
      const controllerServices: ControllerServices = {
        nodeId,
        clusterId,
        clock,
        random,
        logger,
        apiVersions: () => cd?.apiVersions() ?? [],
        raft: driver,
        network: net,
        controller: ctl,
        metadata: publisher,
        config,
        voters: quorum.voters,
        listenerName: controllerSpecs[0]!.name,
        requestTimeoutMs,
      };
      cd = new Dispatcher<ControllerServices>(controllerHandlers, controllerServices, clock, logger);
      const controllerDispatcher = cd;
      for (const spec of controllerSpecs) {
        listeners.push(await serve(spec, (conn, frame) => controllerDispatcher.handleFrame(conn, frame)));
      }
    }
    if (isBroker) {
      // A restarting broker of a cluster answers clients only once its image has caught up
      // with the quorum and holds its registration (below), as Kafka enables request
      // processing after its initial catch-up: before that its Metadata would show the stale
      // image replayed from its own disk, or none (librdkafka then took a topic for deleted).
      // Requests received meanwhile wait (each connection's in-flight requests are bounded).
      let clientsOpen = !gated;
      let openClients = (): void => {};
      const clientsReady = new Promise<void>((resolve) => {
        openClients = () => {
          clientsOpen = true;
          resolve();
        };
      });
      openBrokerListeners = openClients;
      const handleClient = async (conn: Connection, frame: Buffer): Promise<FrameResponse> => {
        if (!clientsOpen) await clientsReady;
        return d.handleFrame(conn, frame);
      };
      for (const spec of brokerSpecs) listeners.push(await serve(spec, handleClient));
    }
    trace('listeners bound');

    const advertised = config.advertisedListeners
      .filter((a) => !controllerNames.has(a.name))
      .map((a) => {
        // Port 0 advertises the port the OS picked; a wildcard host advertises this machine's name.
        const actual = listeners.find((l) => l.name === a.name);
        const port = a.port === 0 && actual !== undefined ? actual.port : a.port;
        const host = a.host === '' || a.host === '0.0.0.0' || a.host === '::' ? hostname() : a.host;
        return { name: a.name, host, port, securityProtocol: SecurityProtocol[a.securityProtocol] };
      });

    if (isBroker) {
      if (!quorum.alone && !(await metadataLog.waitCaughtUp(clock, registrationTimeoutMs))) {
        throw new Error(`metadata did not catch up with the quorum within ${registrationTimeoutMs} ms`);
      }
      const incarnationId = randomUuid(random);
      lc = new BrokerLifecycle({
        nodeId,
        controller: controllerApi,
        clock,
        heartbeatIntervalMs: config.int('broker.heartbeat.interval.ms'),
        metadataOffset: () => metadataLog.appliedOffset(),
        onError: (err) => onError(err, 'broker heartbeat'),
        registration: () => ({
          brokerId: nodeId,
          clusterId,
          incarnationId,
          listeners: advertised.map((a) => ({ ...a })),
          features: [{ name: 'metadata.version', minSupportedVersion: 1, maxSupportedVersion: METADATA_VERSION_LEVEL }],
          rack: config.string('broker.rack'),
          isMigratingZkBroker: false,
          logDirs: [],
          previousBrokerEpoch: -1n,
        }),
      });
      lifecycle = lc;
      await lc.start(registrationTimeoutMs);
      trace('broker registered');
      if (gated) {
        // Caught up (above) and the image holds this incarnation's registration: act on it.
        const registered = lc;
        const ok = await waitForImage(
          publisher,
          clock,
          registrationTimeoutMs,
          (image) => image.brokers.get(nodeId)?.brokerEpoch === Number(registered.brokerEpoch()),
        );
        if (!ok)
          throw new Error(`registration of broker ${nodeId} not in the metadata within ${registrationTimeoutMs} ms`);
        await brokerView.open();
        openBrokerListeners();
        groups.start();
        txns.start();
      }
      await lc.waitUnfenced(registrationTimeoutMs);
      // Clients are told about this broker by its own Metadata: wait until its image has it unfenced.
      await waitForImage(
        publisher,
        clock,
        registrationTimeoutMs,
        (image) => image.brokers.get(nodeId)?.fenced === false,
      );
      trace('broker unfenced');
    }

    const shown = isBroker
      ? advertised
      : controllerSpecs.map((c) => ({
          name: c.name,
          host: c.host === '' ? hostname() : c.host,
          port: listeners.find((l) => l.name === c.name)?.port ?? c.port,
        }));
    const first = shown[0]!;
    const where = shown.map((a) => `${a.name}://${a.host}:${a.port}`).join(', ');
    const what = isBroker ? (isController ? 'node' : 'broker') : 'controller';
    const line = `runnel ${VERSION}: ${what} ${nodeId} of cluster ${clusterId} listening on ${where} (data in ${logDir})`;
    (options.announce ?? ((l: string) => logger.info(l)))(line);

    let stopping: Promise<void> | undefined;
    const rm = replicas;
    const stopRaft = async (): Promise<void> => {
      remote?.close();
      net?.close();
      await driver.close();
      metadataLog.close();
    };
    return {
      bootstrap: `${first.host}:${first.port}`,
      host: first.host,
      port: first.port,
      nodeId,
      clusterId,
      logDir,
      services,
      listeners,
      raft: driver,
      metadataLog,
      ...(ctl !== undefined ? { controller: ctl } : {}),
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
          if (lc !== undefined) {
            const l = lc;
            await step(() => l.controlledShutdown(CONTROLLED_SHUTDOWN_WAIT_MS));
            l.stop();
          }
          // Hand the quorum over first (EndQuorumEpoch), then leave it: a node that closes its
          // listeners while its Raft still answers would look alive to the others.
          if (driver.node.stateName() === 'leader') await step(() => withTimeout(clock, driver.resign(), 1000));
          await step(stopRaft);
          await step(() => Promise.all(listeners.map((l) => l.close())));
          await step(() => txns.close());
          await step(() => groups.close());
          if (ctl !== undefined) await step(() => ctl.close());
          await step(() => rm.close());
          await step(() => logs.close());
          if (failure !== undefined) throw failure;
        })();
        return stopping;
      },
      async kill() {
        stopping ??= (async () => {
          // A crash waits for nothing: each step gets KILL_STEP_WAIT_MS, and one that is still
          // waiting then (a bug: something waits for a write that can no longer happen) is
          // reported and left behind.
          const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
            const done = await withTimeout(
              clock,
              fn().then(
                () => true,
                () => true,
              ),
              KILL_STEP_WAIT_MS,
            );
            if (done !== true) {
              process.emitWarning(`kill of node ${nodeId}: ${what} still waiting after ${KILL_STEP_WAIT_MS} ms`);
            }
          };
          // Nothing more reaches the disk: timers stop, handles are dropped unflushed.
          lc?.stop();
          rm.abandon();
          logs.abandon();
          // The quorum loses this node at once (no answers from a half-closed node).
          await step('the Raft client', stopRaft);
          await step('the listeners', () => Promise.all(listeners.map((l) => l.close())));
          await step('the transaction coordinator', () => txns.close());
          await step('the group coordinator', () => groups.close());
          if (ctl !== undefined) await step('the controller', () => ctl.close());
        })();
        return stopping;
      },
    };
  } catch (err) {
    lifecycle?.stop();
    await Promise.all(listeners.map((l) => l.close().catch(() => {})));
    listeners = [];
    await transactions?.close().catch(() => {});
    await groupCoordinator?.close().catch(() => {});
    await controller?.close().catch(() => {});
    remote?.close();
    network?.close();
    await raft?.close().catch(() => {});
    await replicas?.close().catch(() => {});
    await logs.close().catch(() => {});
    throw err;
  }
}

/** The promise, or nothing once timeoutMs passed. */
function withTimeout(clock: Clock, promise: Promise<unknown>, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const cancel = clock.schedule(timeoutMs, () => resolve(undefined));
    promise.then(
      (v) => {
        cancel();
        resolve(v);
      },
      (err: unknown) => {
        cancel();
        reject(err);
      },
    );
  });
}

/** Resolves once `ready(image)` holds for the published image (false after timeoutMs). */
function waitForImage(
  publisher: MetadataPublisher,
  clock: Clock,
  timeoutMs: number,
  ready: (image: MetadataImage) => boolean,
): Promise<boolean> {
  if (ready(publisher.image())) return Promise.resolve(true);
  return new Promise((resolve) => {
    let unsubscribe = (): void => {};
    const cancel = clock.schedule(timeoutMs, () => {
      unsubscribe();
      resolve(false);
    });
    unsubscribe = publisher.subscribe(({ image }) => {
      if (!ready(image)) return;
      unsubscribe();
      cancel();
      resolve(true);
    });
  });
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

/**
 * The cluster id every node of a quorum derives from controller.quorum.voters when
 * cluster.id is not set: the same voters string gives the same id on every node, so a
 * cluster needs no format step. (Kafka requires `kafka-storage format --cluster-id`.)
 */
export function clusterIdFromVoters(voters: readonly VoterEndpoint[]): string {
  const canonical = [...voters]
    .sort((a, b) => a.id - b.id)
    .map((v) => `${v.id}@${v.host}:${v.port}`)
    .join(',');
  const digest = createHash('sha256').update(`runnel-cluster:${canonical}`).digest();
  return uuidFromBytes(digest.subarray(0, 16)).replace(/^-/, 'A');
}
