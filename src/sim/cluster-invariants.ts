/**
 * The invariants of the cluster simulation, checked after every event (cluster-run.ts):
 *
 * - one leader per partition per leader epoch (across every broker and every life);
 * - leader and partition epochs never go back: in the controller's image, and in each
 *   broker's image within one life;
 * - the controller's image: the ISR is a non-empty subset of the replicas, the leader
 *   (when there is one) is in the ISR; a broker's LeaderState has itself in its ISR;
 * - each replica's high watermark never goes back within one life (after a restart it is
 *   re-learned from the checkpoint), and its log never loses offsets below it;
 * - the committed log: every batch below any replica's high watermark, and every batch a
 *   consumer read, is the same batch (offsets, leader epoch, CRC) as everyone else saw at
 *   that offset: so replicas' logs are identical below their high watermarks and what
 *   consumers saw never changes;
 * - every record acknowledged with acks=-1 is in the committed log at the offset it was
 *   acknowledged at (at once when the committed log reaches it, and at the end of a run,
 *   which heals every fault and waits for new acknowledgements, every acknowledged offset
 *   must have been reached).
 */
import type { MetadataImage } from '../metadata/image.ts';
import { BATCH_LOG_OVERHEAD, readBatchHeader } from '../protocol/records/batch-header.ts';
import type { PartitionLog } from '../storage/partition-log.ts';
import type { SimBroker } from './cluster-broker.ts';
import { InvariantViolation } from './invariants.ts';

interface CommittedBatch {
  baseOffset: number;
  lastOffset: number;
  leaderEpoch: number;
  crc: number;
  /** Who first saw it below a high watermark. */
  by: string;
}

interface ReplicaView {
  life: number;
  /** Offsets below this were checked against the committed log (a batch boundary). */
  verified: number[];
  highWatermark: number[];
  imageEpochs: number[];
}

export interface AckedRecord {
  key: string;
  crc: number;
}

export class ClusterChecker {
  /** By partition: the committed batches in offset order, contiguous from 0. */
  readonly committed: CommittedBatch[][];
  private readonly views = new Map<number, ReplicaView>();
  private readonly leaderOfEpoch = new Map<string, number>();
  private readonly controllerEpochs: { leaderEpoch: number; partitionEpoch: number }[];
  /** By partition: acknowledged records by offset. */
  readonly acked: Map<number, AckedRecord>[];
  checks = 0;
  /** Sees each batch as it enters the committed log (traces). */
  onCommit: ((pid: number, description: string) => void) | undefined;

  constructor(
    private readonly topic: string,
    private readonly partitions: number,
  ) {
    this.committed = Array.from({ length: partitions }, () => []);
    this.acked = Array.from({ length: partitions }, () => new Map());
    this.controllerEpochs = Array.from({ length: partitions }, () => ({ leaderEpoch: -1, partitionEpoch: -1 }));
  }

  committedEnd(pid: number): number {
    return this.committed[pid]!.at(-1)?.lastOffset === undefined ? 0 : this.committed[pid]!.at(-1)!.lastOffset + 1;
  }

  /** The batch at `baseOffset` of the committed log, if it reaches there. */
  private committedAt(pid: number, offset: number): CommittedBatch | undefined {
    const list = this.committed[pid]!;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = list[mid]!;
      if (b.lastOffset < offset) lo = mid + 1;
      else if (b.baseOffset > offset) hi = mid - 1;
      else return b;
    }
    return undefined;
  }

  /** Someone saw this batch below a high watermark: it must agree with the committed log. */
  claim(pid: number, batch: Omit<CommittedBatch, 'by'>, by: string): void {
    const end = this.committedEnd(pid);
    if (batch.baseOffset < end) {
      const c = this.committedAt(pid, batch.baseOffset);
      if (
        c === undefined ||
        c.baseOffset !== batch.baseOffset ||
        c.lastOffset !== batch.lastOffset ||
        c.crc !== batch.crc ||
        c.leaderEpoch !== batch.leaderEpoch
      ) {
        throw new InvariantViolation(
          `${this.topic}-${pid}: ${by} has ${describeBatch(batch)} below its high watermark where ${c?.by} had ${c ? describeBatch(c) : 'another batch boundary'}`,
        );
      }
      return;
    }
    if (batch.baseOffset > end) {
      throw new InvariantViolation(
        `${this.topic}-${pid}: ${by} claims ${describeBatch(batch)} past a gap (committed end ${end})`,
      );
    }
    for (let o = batch.baseOffset; o <= batch.lastOffset; o++) {
      const a = this.acked[pid]!.get(o);
      if (a !== undefined && (o !== batch.baseOffset || a.crc !== batch.crc)) {
        throw new InvariantViolation(
          `${this.topic}-${pid}: acknowledged ${a.key} at ${o} lost: the committed log has ${describeBatch(batch)} (${by})`,
        );
      }
    }
    this.committed[pid]!.push({ ...batch, by });
    this.onCommit?.(pid, `${describeBatch(batch)} by ${by}`);
  }

  /** A produce answered NONE: `crc` at `offset`. */
  onAck(pid: number, offset: number, record: AckedRecord): void {
    const previous = this.acked[pid]!.get(offset);
    if (previous !== undefined && previous.crc !== record.crc) {
      throw new InvariantViolation(
        `${this.topic}-${pid}: offset ${offset} acknowledged twice, for ${previous.key} and for ${record.key}`,
      );
    }
    this.acked[pid]!.set(offset, record);
    if (offset < this.committedEnd(pid)) {
      const c = this.committedAt(pid, offset)!;
      if (c.baseOffset !== offset || c.crc !== record.crc) {
        throw new InvariantViolation(
          `${this.topic}-${pid}: ${record.key} acknowledged at ${offset}, but the committed log has ${describeBatch(c)} there`,
        );
      }
    }
  }

  /** Every image the controller publishes. */
  onControllerImage(image: MetadataImage): void {
    const topic = image.topicsByName.get(this.topic);
    if (topic === undefined) return;
    for (const p of topic.partitions.values()) {
      const where = `${this.topic}-${p.partitionId}`;
      if (p.isr.length === 0) throw new InvariantViolation(`${where}: empty ISR`);
      if (p.isr.some((r) => !p.replicas.includes(r))) {
        throw new InvariantViolation(`${where}: ISR [${p.isr}] not within replicas [${p.replicas}]`);
      }
      if (p.leader !== -1 && !p.isr.includes(p.leader)) {
        throw new InvariantViolation(`${where}: leader ${p.leader} outside ISR [${p.isr}]`);
      }
      const seen = this.controllerEpochs[p.partitionId]!;
      if (p.leaderEpoch < seen.leaderEpoch || p.partitionEpoch < seen.partitionEpoch) {
        throw new InvariantViolation(
          `${where}: controller epochs went back: leader ${seen.leaderEpoch} -> ${p.leaderEpoch}, partition ${seen.partitionEpoch} -> ${p.partitionEpoch}`,
        );
      }
      seen.leaderEpoch = p.leaderEpoch;
      seen.partitionEpoch = p.partitionEpoch;
    }
  }

  /** After every event: each live broker's replicas. */
  async checkBrokers(brokers: readonly SimBroker[]): Promise<void> {
    this.checks++;
    for (const b of brokers) {
      if (!b.up) continue;
      let view = this.views.get(b.id);
      if (view === undefined || view.life !== b.lives) {
        view = {
          life: b.lives,
          verified: new Array<number>(this.partitions).fill(0),
          highWatermark: new Array<number>(this.partitions).fill(-1),
          imageEpochs: new Array<number>(this.partitions).fill(-1),
        };
        this.views.set(b.id, view);
      }
      const topic = b.image.topicsByName.get(this.topic);
      for (let pid = 0; pid < this.partitions; pid++) {
        const where = `${this.topic}-${pid} on broker ${b.id}`;
        const p = topic?.partitions.get(pid);
        if (p !== undefined) {
          if (p.leaderEpoch < view.imageEpochs[pid]!) {
            throw new InvariantViolation(
              `${where}: image leader epoch went back ${view.imageEpochs[pid]} -> ${p.leaderEpoch}`,
            );
          }
          view.imageEpochs[pid] = p.leaderEpoch;
        }
        const leader = b.leaders.get(pid);
        if (leader !== undefined) {
          const key = `${pid}:${leader.leaderEpoch}`;
          const other = this.leaderOfEpoch.get(key);
          if (other === undefined) this.leaderOfEpoch.set(key, b.id);
          else if (other !== b.id) {
            throw new InvariantViolation(`${where}: two leaders in epoch ${leader.leaderEpoch}: ${other} and ${b.id}`);
          }
          if (!leader.isr.includes(b.id))
            throw new InvariantViolation(`${where}: leader outside its ISR [${leader.isr}]`);
        }
        const log = b.logs.get(pid);
        if (log === undefined) continue;
        const hw = log.highWatermark();
        if (hw < view.highWatermark[pid]!) {
          throw new InvariantViolation(`${where}: high watermark went back ${view.highWatermark[pid]} -> ${hw}`);
        }
        view.highWatermark[pid] = hw;
        const verified = view.verified[pid]!;
        if (log.logEndOffset() < verified) {
          throw new InvariantViolation(
            `${where}: log truncated to ${log.logEndOffset()}, below offsets it had under its high watermark (${verified})`,
          );
        }
        if (hw > verified) view.verified[pid] = await this.verify(pid, log, verified, hw, `broker ${b.id}`);
      }
    }
  }

  /** Claims every batch of [from, hw) of a replica's log; returns the new verified end. */
  private async verify(
    pid: number,
    log: Pick<PartitionLog, 'read' | 'logStartOffset'>,
    from: number,
    hw: number,
    by: string,
  ): Promise<number> {
    // Below the log start (DeleteRecords) there is nothing left to compare.
    let at = Math.max(from, log.logStartOffset());
    while (at < hw) {
      const read = await log.read(at, 1 << 20, { maxOffset: hw });
      if (read.kind !== 'records' || read.records.length === 0) {
        throw new InvariantViolation(`${this.topic}-${pid}: ${by} cannot read ${at} below its high watermark ${hw}`);
      }
      const before = at;
      at = this.claimAll(pid, read.records, at, hw, by);
      if (at === before) break;
    }
    return at;
  }

  /** Claims the whole batches of `records` from `from` below `limit`; returns where it stopped. */
  claimAll(pid: number, records: Buffer, from: number, limit: number, by: string): number {
    let at = from;
    let pos = 0;
    while (records.length - pos >= BATCH_LOG_OVERHEAD + 49) {
      const h = readBatchHeader(records, pos);
      pos += h.sizeInBytes;
      const lastOffset = h.baseOffset + h.lastOffsetDelta;
      if (lastOffset < at) continue;
      if (lastOffset >= limit) break;
      // A batch may straddle `at` only where a log start moved inside it (DeleteRecords).
      if (h.baseOffset > at) {
        throw new InvariantViolation(
          `${this.topic}-${pid}: ${by} has a batch at ${h.baseOffset} where ${at} was expected`,
        );
      }
      this.claim(pid, { baseOffset: h.baseOffset, lastOffset, leaderEpoch: h.partitionLeaderEpoch, crc: h.crc }, by);
      at = lastOffset + 1;
    }
    return at;
  }

  /** End of a run: every acknowledged offset made it into the committed log. */
  checkAllAcknowledgedCommitted(): void {
    for (let pid = 0; pid < this.partitions; pid++) {
      const end = this.committedEnd(pid);
      for (const [offset, a] of this.acked[pid]!) {
        if (offset >= end) {
          throw new InvariantViolation(
            `${this.topic}-${pid}: acknowledged ${a.key} at ${offset} never committed (committed end ${end})`,
          );
        }
      }
    }
  }
}

function describeBatch(b: { baseOffset: number; lastOffset: number; leaderEpoch: number; crc: number }): string {
  return `[${b.baseOffset}..${b.lastOffset}] e${b.leaderEpoch} crc ${b.crc.toString(16)}`;
}
