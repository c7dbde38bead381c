/**
 * Broker properties: Kafka's names, types, defaults, valid values and dynamic update mode,
 * with our one-line descriptions. Runnel's defaults differ from Kafka's only where a
 * single node must work out of the box; each such entry says so in its note.
 */
import { CLEANUP_POLICIES, COMPRESSION_TYPES, TIMESTAMP_TYPES } from './topic-defs.ts';
import { type BrokerConfigDef, type DynamicMode, type Importance, LONG_MAX_STRING, type Validator } from './types.ts';

interface Extra {
  valid?: Validator;
  importance?: Importance;
  dynamic?: DynamicMode;
  note?: string;
}

function b(
  name: string,
  type: BrokerConfigDef['type'],
  defaultValue: string | null,
  doc: string,
  extra: Extra = {},
): BrokerConfigDef {
  return {
    scope: 'broker',
    name,
    type,
    defaultValue,
    doc,
    importance: extra.importance ?? 'medium',
    dynamic: extra.dynamic ?? 'read-only',
    ...(extra.valid !== undefined ? { valid: extra.valid } : {}),
    ...(extra.note !== undefined ? { note: extra.note } : {}),
  };
}

const atLeast = (min: number): Validator => ({ kind: 'range', min });
const between = (min: number, max: number): Validator => ({ kind: 'range', min, max });
const CLUSTER = { dynamic: 'cluster-wide' } as const;
const INT_MAX = '2147483647';
const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;

export const BROKER_CONFIG_DEFS: readonly BrokerConfigDef[] = [
  // --- Node identity and roles
  b('node.id', 'int', '1', 'Id of this node, unique in the cluster.', {
    valid: atLeast(0),
    importance: 'high',
    note: 'Kafka has no default; Runnel uses 1 so a single node starts without configuration.',
  }),
  b('broker.id', 'int', '-1', 'Older name of node.id; if both are set they must agree.', { importance: 'high' }),
  b('process.roles', 'list', 'broker,controller', 'Roles this node plays: broker, controller or both.', {
    valid: { kind: 'list-in', values: ['broker', 'controller'] },
    importance: 'high',
    note: 'Kafka has no default; Runnel runs combined mode (its own one-node quorum) by default.',
  }),
  b('cluster.id', 'string', null, 'Cluster id used to format empty log directories (default: random).', {
    note: 'Runnel-only: Kafka takes this from `kafka-storage format`.',
  }),
  b('broker.rack', 'string', null, 'Rack of this broker, for rack-aware replica placement and fetch-from-follower.'),
  // --- Listeners
  b(
    'listeners',
    'string',
    'PLAINTEXT://127.0.0.1:9092',
    'Sockets to listen on: NAME://host:port, comma-separated (empty host: all interfaces, port 0: any free port).',
    {
      importance: 'high',
      note: 'Kafka listens on all interfaces (PLAINTEXT://:9092); Runnel binds to loopback unless told otherwise.',
    },
  ),
  b(
    'advertised.listeners',
    'string',
    null,
    'Addresses given to clients in Metadata responses, per listener name (default: listeners).',
    {
      importance: 'high',
      dynamic: 'per-broker',
    },
  ),
  b(
    'listener.security.protocol.map',
    'string',
    'PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
    'Security protocol of each listener name, as NAME:PROTOCOL pairs.',
    {
      dynamic: 'per-broker',
      note: 'Only PLAINTEXT listeners are served for now.',
    },
  ),
  b(
    'inter.broker.listener.name',
    'string',
    null,
    'Listener brokers use to talk to each other (default: the one for security.inter.broker.protocol).',
  ),
  b(
    'security.inter.broker.protocol',
    'string',
    'PLAINTEXT',
    'Security protocol between brokers, when inter.broker.listener.name is not set.',
    {
      valid: { kind: 'in', values: SECURITY_PROTOCOLS },
    },
  ),
  b('controller.listener.names', 'string', null, 'Listener names the controller serves on.', {
    note: 'Needed by a controller in a multi-voter quorum; a single node without controller.quorum.voters is a quorum of itself and needs none.',
  }),
  b('controller.quorum.voters', 'list', '', 'Static quorum: id@host:port for each voter.', { importance: 'high' }),
  b('controller.quorum.bootstrap.servers', 'list', '', 'host:port of quorum members to discover the quorum from.', {
    importance: 'high',
  }),
  // --- Storage
  b('log.dirs', 'string', null, 'Directories where partition data lives, comma-separated (default: log.dir).', {
    importance: 'high',
  }),
  b('log.dir', 'string', './data', 'Data directory, used when log.dirs is not set.', {
    importance: 'high',
    note: 'Kafka defaults to /tmp/kafka-logs; Runnel keeps data in ./data.',
  }),
  b('metadata.log.dir', 'string', null, 'Directory of the metadata log (default: the first log directory).', {
    importance: 'high',
  }),
  b('num.recovery.threads.per.data.dir', 'int', '2', 'Logs opened or recovered at once per directory at start.', {
    valid: atLeast(1),
    ...CLUSTER,
    note: 'Kafka uses threads; Runnel uses it as a concurrency bound.',
  }),
  b(
    'log.retention.ms',
    'long',
    null,
    'Default retention.ms; wins over log.retention.minutes and log.retention.hours (any negative value: no limit).',
    {
      importance: 'high',
      ...CLUSTER,
    },
  ),
  b('log.retention.minutes', 'int', null, 'Default retention in minutes; wins over log.retention.hours.', {
    importance: 'high',
  }),
  b('log.retention.hours', 'int', '168', 'Default retention in hours, used when neither ms nor minutes is set.', {
    importance: 'high',
  }),
  b('log.retention.bytes', 'long', '-1', 'Default retention.bytes (-1: no size limit).', {
    importance: 'high',
    ...CLUSTER,
  }),
  b('log.retention.check.interval.ms', 'long', '300000', 'How often segments are checked against retention.', {
    valid: atLeast(1),
  }),
  b('log.segment.bytes', 'int', '1073741824', 'Default segment.bytes.', {
    valid: atLeast(14),
    importance: 'high',
    ...CLUSTER,
  }),
  b('log.segment.delete.delay.ms', 'long', '60000', 'Default file.delete.delay.ms.', { valid: atLeast(0), ...CLUSTER }),
  b('log.roll.ms', 'long', null, 'Default segment.ms; wins over log.roll.hours.', { valid: atLeast(1), ...CLUSTER }),
  b('log.roll.hours', 'int', '168', 'Default segment.ms in hours.', { valid: atLeast(1), importance: 'high' }),
  b('log.roll.jitter.ms', 'long', null, 'Default segment.jitter.ms; wins over log.roll.jitter.hours.', { ...CLUSTER }),
  b('log.roll.jitter.hours', 'int', '0', 'Default segment.jitter.ms in hours.', {
    valid: atLeast(0),
    importance: 'high',
  }),
  b('log.index.interval.bytes', 'int', '4096', 'Default index.interval.bytes.', { valid: atLeast(0), ...CLUSTER }),
  b('log.index.size.max.bytes', 'int', '10485760', 'Default segment.index.bytes.', { valid: atLeast(4), ...CLUSTER }),
  b('log.flush.interval.messages', 'long', LONG_MAX_STRING, 'Default flush.messages.', {
    valid: atLeast(1),
    importance: 'high',
    ...CLUSTER,
  }),
  b('log.flush.interval.ms', 'long', null, 'Default flush.ms (unset: log.flush.scheduler.interval.ms).', {
    importance: 'high',
    ...CLUSTER,
  }),
  b('log.flush.scheduler.interval.ms', 'long', LONG_MAX_STRING, 'How often logs are checked for a time-based flush.', {
    importance: 'high',
  }),
  b('log.preallocate', 'boolean', 'false', 'Default preallocate.', { ...CLUSTER }),
  b('log.cleanup.policy', 'list', 'delete', 'Default cleanup.policy.', {
    valid: { kind: 'list-in', values: CLEANUP_POLICIES },
    ...CLUSTER,
  }),
  b('log.cleaner.enable', 'boolean', 'true', 'Run the log cleaner, which compacts topics with cleanup.policy=compact.'),
  b('log.cleaner.threads', 'int', '1', 'Cleaner workers.', { valid: atLeast(0), ...CLUSTER }),
  b('log.cleaner.backoff.ms', 'long', '15000', 'Pause of the cleaner when nothing needs cleaning.', {
    valid: atLeast(0),
    ...CLUSTER,
  }),
  b('log.cleaner.dedupe.buffer.size', 'long', '134217728', 'Memory for the key map of one compaction pass.', {
    ...CLUSTER,
  }),
  b('log.cleaner.min.cleanable.ratio', 'double', '0.5', 'Default min.cleanable.dirty.ratio.', {
    valid: between(0, 1),
    ...CLUSTER,
  }),
  b('log.cleaner.delete.retention.ms', 'long', '86400000', 'Default delete.retention.ms.', {
    valid: atLeast(0),
    ...CLUSTER,
  }),
  b('log.cleaner.min.compaction.lag.ms', 'long', '0', 'Default min.compaction.lag.ms.', {
    valid: atLeast(0),
    ...CLUSTER,
  }),
  b('log.cleaner.max.compaction.lag.ms', 'long', LONG_MAX_STRING, 'Default max.compaction.lag.ms.', {
    valid: atLeast(1),
    ...CLUSTER,
  }),
  b('log.message.timestamp.type', 'string', 'CreateTime', 'Default message.timestamp.type.', {
    valid: { kind: 'in', values: TIMESTAMP_TYPES },
    ...CLUSTER,
  }),
  b('log.message.timestamp.before.max.ms', 'long', LONG_MAX_STRING, 'Default message.timestamp.before.max.ms.', {
    valid: atLeast(0),
    ...CLUSTER,
  }),
  b('log.message.timestamp.after.max.ms', 'long', '3600000', 'Default message.timestamp.after.max.ms.', {
    valid: atLeast(0),
    ...CLUSTER,
  }),
  b('log.message.downconversion.enable', 'boolean', 'true', 'Default message.downconversion.enable.', {
    importance: 'low',
    ...CLUSTER,
  }),
  b('log.local.retention.ms', 'long', '-2', 'Default local.retention.ms.', { valid: atLeast(-2) }),
  b('log.local.retention.bytes', 'long', '-2', 'Default local.retention.bytes.', { valid: atLeast(-2) }),
  b('message.max.bytes', 'int', '1048588', 'Default max.message.bytes: largest record batch accepted.', {
    valid: atLeast(0),
    importance: 'high',
    ...CLUSTER,
  }),
  b('compression.type', 'string', 'producer', 'Default compression.type of topics.', {
    valid: { kind: 'in', values: COMPRESSION_TYPES },
    importance: 'high',
    ...CLUSTER,
  }),
  b('compression.gzip.level', 'int', '-1', 'Default compression.gzip.level.', {
    valid: {
      kind: 'custom',
      describe: '-1 (the codec default) or 1..9',
      check: (v) => (v === -1 || (typeof v === 'number' && v >= 1 && v <= 9) ? undefined : 'expected -1 or 1..9'),
    },
    importance: 'low',
    ...CLUSTER,
  }),
  b('compression.lz4.level', 'int', '9', 'Default compression.lz4.level.', {
    valid: between(1, 17),
    importance: 'low',
    ...CLUSTER,
  }),
  b('compression.zstd.level', 'int', '3', 'Default compression.zstd.level.', {
    valid: between(-131072, 22),
    importance: 'low',
    ...CLUSTER,
  }),
  // --- Topics
  b('num.partitions', 'int', '1', 'Partitions of a topic created without a count (and of auto-created topics).', {
    valid: atLeast(1),
    ...CLUSTER,
  }),
  b('default.replication.factor', 'int', '1', 'Replication factor of a topic created without one.', {
    valid: atLeast(1),
    ...CLUSTER,
  }),
  b(
    'auto.create.topics.enable',
    'boolean',
    'true',
    'Create a topic when a client asks for metadata of one that does not exist.',
    { importance: 'high' },
  ),
  b('delete.topic.enable', 'boolean', 'true', 'Allow DeleteTopics.', { importance: 'high' }),
  b('min.insync.replicas', 'int', '1', 'Default min.insync.replicas.', {
    valid: atLeast(1),
    importance: 'high',
    ...CLUSTER,
  }),
  b('unclean.leader.election.enable', 'boolean', 'false', 'Default unclean.leader.election.enable.', {
    importance: 'high',
    ...CLUSTER,
  }),
  b(
    'auto.leader.rebalance.enable',
    'boolean',
    'true',
    'Move leadership back to preferred replicas in the background.',
    { importance: 'high' },
  ),
  b('leader.imbalance.check.interval.seconds', 'long', '300', 'How often leadership balance is checked.', {
    valid: atLeast(1),
  }),
  b('leader.imbalance.per.broker.percentage', 'int', '10', 'Leadership imbalance tolerated per broker, in percent.'),
  b('create.topic.policy.class.name', 'class', null, 'Policy class that vets CreateTopics requests.', {
    importance: 'low',
    note: 'Accepted; Runnel loads no plug-in classes.',
  }),
  b('alter.config.policy.class.name', 'class', null, 'Policy class that vets AlterConfigs requests.', {
    importance: 'low',
    note: 'Accepted; Runnel loads no plug-in classes.',
  }),
  // --- Network
  b(
    'socket.request.max.bytes',
    'int',
    '104857600',
    'Largest request accepted; a bigger size prefix closes the connection.',
    { valid: atLeast(1), importance: 'high' },
  ),
  b('socket.send.buffer.bytes', 'int', '102400', 'SO_SNDBUF of client sockets (-1: OS default).', {
    importance: 'high',
  }),
  b('socket.receive.buffer.bytes', 'int', '102400', 'SO_RCVBUF of client sockets (-1: OS default).', {
    importance: 'high',
  }),
  b('socket.listen.backlog.size', 'int', '50', 'Pending connections the OS queues before accept.', {
    valid: atLeast(1),
  }),
  b('connections.max.idle.ms', 'long', '600000', 'Connections with no traffic for this long are closed.'),
  b('max.connections', 'int', INT_MAX, 'Connections accepted at once; more are refused.', {
    valid: atLeast(0),
    ...CLUSTER,
  }),
  b('max.connections.per.ip', 'int', INT_MAX, 'Connections accepted at once from one address.', {
    valid: atLeast(0),
    ...CLUSTER,
  }),
  b(
    'queued.max.requests',
    'int',
    '500',
    'Requests in progress per connection before the broker stops reading from it.',
    {
      valid: atLeast(1),
      importance: 'high',
      note: 'Kafka bounds one queue shared by all connections; Runnel bounds each connection.',
    },
  ),
  b('queued.max.request.bytes', 'long', '-1', 'Bytes of queued requests before reading stops (-1: no bound).'),
  b('num.network.threads', 'int', '3', 'Network threads in Kafka.', {
    valid: atLeast(1),
    importance: 'high',
    ...CLUSTER,
    note: 'Accepted and reported; Runnel serves sockets on the Node event loop.',
  }),
  b('num.io.threads', 'int', '8', 'Request handler threads in Kafka.', {
    valid: atLeast(1),
    importance: 'high',
    ...CLUSTER,
    note: 'Accepted and reported; Runnel handles requests on the Node event loop.',
  }),
  b('background.threads', 'int', '10', 'Background task threads in Kafka.', {
    valid: atLeast(1),
    ...CLUSTER,
    note: 'Accepted and reported; informative only.',
  }),
  // --- Fetch
  b('fetch.max.bytes', 'int', '57671680', 'Most bytes one Fetch response carries.', { valid: atLeast(1024) }),
  b('max.incremental.fetch.session.cache.slots', 'int', '1000', 'Incremental fetch sessions kept per broker.', {
    valid: atLeast(0),
  }),
  b(
    'fetch.purgatory.purge.interval.requests',
    'int',
    '1000',
    'Purge interval of the delayed-fetch purgatory, in requests.',
    { importance: 'low' },
  ),
  b(
    'producer.purgatory.purge.interval.requests',
    'int',
    '1000',
    'Purge interval of the delayed-produce purgatory, in requests.',
    { importance: 'low' },
  ),
  // --- Replication
  b('replica.lag.time.max.ms', 'long', '30000', 'A follower that has not caught up for this long leaves the ISR.', {
    importance: 'high',
  }),
  b('replica.fetch.max.bytes', 'int', '1048576', 'Bytes a follower asks for per partition.', { valid: atLeast(0) }),
  b('replica.fetch.min.bytes', 'int', '1', 'Bytes a follower fetch waits for.'),
  b('replica.fetch.wait.max.ms', 'int', '500', 'Longest a follower fetch waits; keep below replica.lag.time.max.ms.'),
  b('replica.fetch.backoff.ms', 'int', '1000', 'Pause after a failed follower fetch.', { valid: atLeast(0) }),
  b('replica.fetch.response.max.bytes', 'int', '10485760', 'Most bytes of one follower fetch response.', {
    valid: atLeast(0),
  }),
  b('replica.socket.timeout.ms', 'int', '30000', 'Socket timeout of follower fetches.'),
  b('replica.socket.receive.buffer.bytes', 'int', '65536', 'SO_RCVBUF of follower fetch sockets.'),
  b('replica.high.watermark.checkpoint.interval.ms', 'long', '5000', 'How often high watermarks are checkpointed.'),
  b('num.replica.fetchers', 'int', '1', 'Fetcher workers per source broker.', { ...CLUSTER }),
  b('replica.selector.class', 'class', null, 'Selector that picks a replica to fetch from (fetch-from-follower).', {
    importance: 'low',
  }),
  // --- Group coordinator
  b('offsets.topic.num.partitions', 'int', '50', 'Partitions of __consumer_offsets (fixed once it exists).', {
    valid: atLeast(1),
  }),
  b('offsets.topic.replication.factor', 'short', '1', 'Replication factor of __consumer_offsets.', {
    valid: atLeast(1),
    importance: 'high',
    note: 'Kafka defaults to 3, which a single node cannot satisfy (its own sample single-node config sets 1); Runnel defaults to 1.',
  }),
  b('offsets.topic.segment.bytes', 'int', '104857600', 'segment.bytes of __consumer_offsets.', { valid: atLeast(1) }),
  b('offsets.topic.compression.codec', 'int', '0', 'Codec of offset commit batches (0: none).', { importance: 'low' }),
  b(
    'offsets.retention.minutes',
    'int',
    '10080',
    'Committed offsets of a group are dropped this long after it became empty.',
    { valid: atLeast(1) },
  ),
  b('offsets.retention.check.interval.ms', 'long', '600000', 'How often expired offsets are looked for.', {
    valid: atLeast(1),
  }),
  b('offsets.commit.timeout.ms', 'int', '5000', 'Longest an offset commit waits for its write.', { valid: atLeast(1) }),
  b('offsets.load.buffer.size', 'int', '5242880', 'Batch size when loading offsets into the coordinator.', {
    valid: atLeast(1),
    importance: 'low',
  }),
  b('offset.metadata.max.bytes', 'int', '4096', 'Largest metadata string of an offset commit.'),
  b(
    'group.initial.rebalance.delay.ms',
    'int',
    '3000',
    'Wait for more members before the first rebalance of a new classic group.',
  ),
  b('group.min.session.timeout.ms', 'int', '6000', 'Shortest session timeout a classic group member may ask for.'),
  b('group.max.session.timeout.ms', 'int', '1800000', 'Longest session timeout a classic group member may ask for.'),
  b('group.max.size', 'int', INT_MAX, 'Most members of a classic group.', { valid: atLeast(1) }),
  b('group.coordinator.rebalance.protocols', 'list', 'classic,consumer', 'Group protocols the coordinator serves.', {
    valid: { kind: 'list-in', values: ['classic', 'consumer', 'share', 'streams'], allowEmpty: false },
  }),
  b('group.consumer.session.timeout.ms', 'int', '45000', 'Session timeout of consumer-protocol (KIP-848) members.', {
    valid: atLeast(1),
  }),
  b(
    'group.consumer.min.session.timeout.ms',
    'int',
    '45000',
    'Shortest consumer-protocol session timeout a group may set.',
    { valid: atLeast(1) },
  ),
  b(
    'group.consumer.max.session.timeout.ms',
    'int',
    '60000',
    'Longest consumer-protocol session timeout a group may set.',
    { valid: atLeast(1) },
  ),
  b('group.consumer.heartbeat.interval.ms', 'int', '5000', 'Heartbeat interval given to consumer-protocol members.', {
    valid: atLeast(1),
  }),
  b(
    'group.consumer.min.heartbeat.interval.ms',
    'int',
    '5000',
    'Shortest consumer-protocol heartbeat interval a group may set.',
    { valid: atLeast(1) },
  ),
  b(
    'group.consumer.max.heartbeat.interval.ms',
    'int',
    '15000',
    'Longest consumer-protocol heartbeat interval a group may set.',
    { valid: atLeast(1) },
  ),
  b('group.consumer.max.size', 'int', INT_MAX, 'Most members of a consumer-protocol group.', { valid: atLeast(1) }),
  b('group.consumer.assignors', 'list', 'uniform,range', 'Server-side assignors, the first being the default.', {
    note: 'Kafka takes class names too; Runnel knows assignors by name (uniform, range).',
  }),
  b(
    'group.consumer.migration.policy',
    'string',
    'bidirectional',
    'Whether classic groups convert to consumer-protocol groups and back.',
    {
      valid: { kind: 'in', values: ['disabled', 'downgrade', 'upgrade', 'bidirectional'], caseInsensitive: true },
    },
  ),
  // --- Transactions and producer ids
  b('transaction.state.log.num.partitions', 'int', '50', 'Partitions of __transaction_state (fixed once it exists).', {
    valid: atLeast(1),
  }),
  b('transaction.state.log.replication.factor', 'short', '1', 'Replication factor of __transaction_state.', {
    valid: atLeast(1),
    note: 'Kafka defaults to 3; Runnel defaults to 1 for a single node.',
  }),
  b('transaction.state.log.min.isr', 'int', '1', 'min.insync.replicas of __transaction_state.', {
    valid: atLeast(1),
    note: 'Kafka defaults to 2; Runnel defaults to 1 for a single node.',
  }),
  b('transaction.state.log.segment.bytes', 'int', '104857600', 'segment.bytes of __transaction_state.', {
    valid: atLeast(1),
  }),
  b('transactional.id.expiration.ms', 'int', '604800000', 'A transactional id unused for this long is forgotten.', {
    valid: atLeast(1),
  }),
  b('transaction.max.timeout.ms', 'int', '900000', 'Longest transaction timeout a producer may ask for.', {
    valid: atLeast(1),
  }),
  b(
    'transaction.abort.timed.out.transaction.cleanup.interval.ms',
    'int',
    '10000',
    'How often timed-out transactions are aborted.',
    { valid: atLeast(1), importance: 'low' },
  ),
  b(
    'transaction.remove.expired.transaction.cleanup.interval.ms',
    'int',
    '3600000',
    'How often expired transactional ids are removed.',
    { valid: atLeast(1), importance: 'low' },
  ),
  b(
    'transaction.partition.verification.enable',
    'boolean',
    'true',
    'Check that a partition is in the transaction before a transactional write.',
    { ...CLUSTER },
  ),
  b('producer.id.expiration.ms', 'int', '86400000', 'Producer state of an idle producer id is dropped after this.', {
    valid: atLeast(1),
    ...CLUSTER,
  }),
  b('producer.id.expiration.check.interval.ms', 'int', '600000', 'How often idle producer ids are looked for.', {
    valid: atLeast(1),
    importance: 'low',
  }),
  // --- Share groups (KIP-932): accepted so that Kafka's sample server.properties loads
  b('share.coordinator.state.topic.num.partitions', 'int', '50', 'Partitions of __share_group_state.', {
    valid: atLeast(1),
    note: 'Share groups are not implemented yet.',
  }),
  b('share.coordinator.state.topic.replication.factor', 'short', '1', 'Replication factor of __share_group_state.', {
    valid: atLeast(1),
    note: 'Kafka defaults to 3; Runnel defaults to 1 for a single node. Share groups are not implemented yet.',
  }),
  b('share.coordinator.state.topic.min.isr', 'short', '1', 'min.insync.replicas of __share_group_state.', {
    valid: atLeast(1),
    note: 'Kafka defaults to 2; Runnel defaults to 1 for a single node. Share groups are not implemented yet.',
  }),
  // --- KRaft
  b('broker.heartbeat.interval.ms', 'int', '2000', 'How often a broker heartbeats to the controller.'),
  b('broker.session.timeout.ms', 'int', '9000', 'A broker silent for this long is fenced.'),
  b(
    'initial.broker.registration.timeout.ms',
    'int',
    '60000',
    'How long a starting broker waits to register with the controller.',
  ),
  b(
    'controller.quorum.election.timeout.ms',
    'int',
    '1000',
    'A follower that hears from no leader for this long starts an election.',
  ),
  b('controller.quorum.election.backoff.max.ms', 'int', '1000', 'Longest random wait before a new election.'),
  b(
    'controller.quorum.fetch.timeout.ms',
    'int',
    '2000',
    'A leader without fetches from a majority for this long resigns.',
  ),
  b('controller.quorum.request.timeout.ms', 'int', '2000', 'Timeout of quorum requests.'),
  b('controller.quorum.retry.backoff.ms', 'int', '20', 'Pause before retrying a failed quorum request.'),
  b(
    'metadata.log.max.record.bytes.between.snapshots',
    'long',
    '20971520',
    'Metadata record bytes committed after the latest snapshot that make a node write a new one.',
    { valid: atLeast(1) },
  ),
  b(
    'metadata.log.max.snapshot.interval.ms',
    'long',
    '3600000',
    'Longest time between metadata snapshots while new records are committed (0: no time-based snapshots).',
    { valid: atLeast(0) },
  ),
  b('metadata.log.segment.bytes', 'int', '1073741824', 'segment.bytes of the metadata log.', { valid: atLeast(12) }),
  b('metadata.log.segment.ms', 'long', '604800000', 'segment.ms of the metadata log.'),
  b(
    'metadata.max.retention.bytes',
    'long',
    '104857600',
    'Metadata log bytes kept past the latest snapshot (-1: no limit).',
  ),
  b(
    'metadata.max.retention.ms',
    'long',
    '604800000',
    'Age of metadata log segments kept past the latest snapshot (-1: no limit).',
  ),
  b('metadata.max.idle.interval.ms', 'int', '500', 'How often the controller writes a no-op record when idle.', {
    valid: atLeast(0),
  }),
  // --- Security (accepted; only PLAINTEXT is served for now)
  b('authorizer.class.name', 'string', '', 'Authorizer plug-in (empty: no authorization).', {
    note: 'Accepted; Runnel does not authorize yet.',
  }),
  b('super.users', 'list', '', 'Principals allowed everything.', { importance: 'low' }),
  b('sasl.enabled.mechanisms', 'list', 'GSSAPI', 'SASL mechanisms offered.', { dynamic: 'per-broker' }),
  b('sasl.jaas.config', 'password', null, 'JAAS login configuration.', { dynamic: 'per-broker' }),
  b('ssl.keystore.location', 'string', null, 'Key store file.', { dynamic: 'per-broker' }),
  b('ssl.keystore.password', 'password', null, 'Key store password.', { dynamic: 'per-broker' }),
  b('ssl.key.password', 'password', null, 'Private key password.', { dynamic: 'per-broker' }),
  b('ssl.truststore.location', 'string', null, 'Trust store file.', { dynamic: 'per-broker' }),
  b('ssl.truststore.password', 'password', null, 'Trust store password.', { dynamic: 'per-broker' }),
];

export const BROKER_CONFIGS: ReadonlyMap<string, BrokerConfigDef> = new Map(BROKER_CONFIG_DEFS.map((d) => [d.name, d]));
