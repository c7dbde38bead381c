/**
 * The cluster simulation's single controller (`--controllers 1`; the default is the Raft
 * quorum of cluster-quorum.ts): ONE controller process running the real decisions of
 * src/metadata/control (registerBroker, brokerHeartbeat, fenceExpiredBrokers,
 * alterPartition) on an image built only by replay (src/metadata/replay.ts) of its
 * metadata log.
 *
 * Its metadata log counts as durable at once (as if every append were fsynced before the
 * answer leaves): a crash loses the in-memory image and the heartbeat sessions, never a
 * record; a restart replays the log and gives every registered broker a full session
 * (BrokerHeartbeats.activate), as a newly active Kafka controller does. Brokers read the
 * log over the network (metadataFetch), so they learn changes late, out of order
 * answers being dropped by offset.
 */
import { alterPartition } from '../metadata/control/alter-partition.ts';
import { BrokerHeartbeats, brokerHeartbeat, fenceExpiredBrokers, registerBroker } from '../metadata/control/brokers.ts';
import type { ElectionSettings } from '../metadata/control/election.ts';
import { emptyImage, type MetadataImage } from '../metadata/image.ts';
import type { MetadataMessage } from '../metadata/metadata-log.ts';
import { type CommittedRecord, replay } from '../metadata/replay.ts';
import type { ClusterMessage } from './cluster-messages.ts';
import { CONTROLLER_ID } from './cluster-messages.ts';
import type { Scheduler } from './scheduler.ts';

export const EVENT_CONTROLLER_TICK = 20;

/** Records one metadataFetch answer carries at most. */
const METADATA_FETCH_MAX_RECORDS = 64;

export interface ControllerSettings {
  sessionTimeoutMs: number;
  /** How often expired sessions are fenced. */
  fenceCheckMs: number;
  election: ElectionSettings;
}

export class SimController {
  readonly id = CONTROLLER_ID;
  up = false;
  generation = 0;
  /** The durable metadata log: record i is at offset i. */
  readonly log: CommittedRecord[] = [];
  image: MetadataImage;
  private heartbeats = new BrokerHeartbeats();
  /** Sees every image the controller publishes (the invariant checker). */
  onImage: ((image: MetadataImage) => void) | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly send: (m: ClusterMessage) => void,
    readonly settings: ControllerSettings,
    private readonly clusterId: string,
    bootstrap: readonly MetadataMessage[],
  ) {
    this.image = emptyImage(clusterId);
    this.append(bootstrap);
  }

  private append(records: readonly MetadataMessage[]): void {
    if (records.length === 0) return;
    const from = this.log.length;
    const committed = records.map((message, i) => ({ offset: from + i, message }));
    this.log.push(...committed);
    this.image = replay(this.image, committed).image;
    this.onImage?.(this.image);
  }

  start(): void {
    this.up = true;
    this.generation++;
    this.image = replay(emptyImage(this.clusterId), this.log).image;
    this.heartbeats = new BrokerHeartbeats();
    this.heartbeats.activate(this.image, this.scheduler.nowMs);
    this.scheduleTick();
  }

  crash(): void {
    this.up = false;
    this.generation++;
  }

  private scheduleTick(): void {
    const gen = this.generation;
    this.scheduler.schedule(this.scheduler.nowMs + this.settings.fenceCheckMs, EVENT_CONTROLLER_TICK, this.id, () => {
      if (!this.up || gen !== this.generation) return;
      this.scheduleTick();
      const s = this.settings;
      this.append(
        fenceExpiredBrokers(this.image, this.heartbeats, this.scheduler.nowMs, s.sessionTimeoutMs, s.election),
      );
    });
  }

  receive(m: ClusterMessage): void {
    if (!this.up) return;
    const nowMs = this.scheduler.nowMs;
    const s = this.settings;
    switch (m.type) {
      case 'register': {
        const { records, response } = registerBroker(this.image, m.request, {
          nextOffset: this.log.length,
          nowMs,
          heartbeats: this.heartbeats,
          sessionTimeoutMs: s.sessionTimeoutMs,
          settings: s.election,
        });
        this.append(records);
        this.send({
          from: this.id,
          to: m.from,
          type: 'registerResponse',
          incarnationId: m.request.incarnationId,
          response,
        });
        return;
      }
      case 'heartbeat': {
        const { records, response } = brokerHeartbeat(this.image, m.request, this.heartbeats, nowMs, s.election);
        this.append(records);
        this.send({
          from: this.id,
          to: m.from,
          type: 'heartbeatResponse',
          brokerEpoch: Number(m.request.brokerEpoch),
          response,
        });
        return;
      }
      case 'alterPartition': {
        const { records, response } = alterPartition(this.image, m.request, 3, s.election);
        this.append(records);
        this.send({
          from: this.id,
          to: m.from,
          type: 'alterPartitionResponse',
          response,
          correlationId: m.correlationId,
        });
        return;
      }
      case 'metadataFetch': {
        const records = this.log.slice(m.fromOffset, m.fromOffset + METADATA_FETCH_MAX_RECORDS);
        this.send({ from: this.id, to: m.from, type: 'metadataFetchResponse', fromOffset: m.fromOffset, records });
        return;
      }
      default:
        return;
    }
  }
}
