/**
 * A simulated network between numbered nodes: per-link delay (a base plus uniform
 * jitter, so messages reorder), drop and duplicate rates, and partitions, symmetric
 * (both directions) or one-way. A message sent into a cut link, or arriving at a cut
 * link or a down node, is lost. Generic over the message type: anything with from/to.
 */
import type { Random } from '../env/random.ts';
import type { Scheduler } from './scheduler.ts';

export interface LinkConfig {
  baseDelayMs: number;
  jitterMs: number;
  dropRate: number;
  duplicateRate: number;
}

export interface Routable {
  from: number;
  to: number;
}

export const EVENT_DELIVER = 1;

export class SimNetwork<M extends Routable> {
  /** Cut links, as "from>to". */
  private readonly cut = new Set<string>();
  private readonly overrides = new Map<string, Partial<LinkConfig>>();
  sent = 0;
  delivered = 0;
  dropped = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    public defaults: LinkConfig,
    private readonly deliver: (message: M) => void | Promise<void>,
  ) {}

  private link(from: number, to: number): LinkConfig {
    const o = this.overrides.get(`${from}>${to}`);
    return o ? { ...this.defaults, ...o } : this.defaults;
  }

  setLink(from: number, to: number, config: Partial<LinkConfig> | undefined): void {
    if (config) this.overrides.set(`${from}>${to}`, config);
    else this.overrides.delete(`${from}>${to}`);
  }

  /** Cuts from -> to (one way). */
  cutLink(from: number, to: number): void {
    this.cut.add(`${from}>${to}`);
  }

  healLink(from: number, to: number): void {
    this.cut.delete(`${from}>${to}`);
  }

  /** Cuts every link between `node` and the others, both ways. */
  isolate(node: number, others: readonly number[]): void {
    for (const o of others) {
      if (o === node) continue;
      this.cutLink(node, o);
      this.cutLink(o, node);
    }
  }

  healAll(): void {
    this.cut.clear();
    this.overrides.clear();
  }

  isCut(from: number, to: number): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  send(message: M): void {
    this.sent++;
    const { from, to } = message;
    if (from === to) {
      this.scheduler.schedule(this.scheduler.nowMs, EVENT_DELIVER, to, () => this.arrive(message));
      return;
    }
    const cfg = this.link(from, to);
    if (this.cut.has(`${from}>${to}`) || (cfg.dropRate > 0 && this.random.next() < cfg.dropRate)) {
      this.dropped++;
      return;
    }
    const copies = cfg.duplicateRate > 0 && this.random.next() < cfg.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = cfg.baseDelayMs + this.random.int(cfg.jitterMs + 1);
      this.scheduler.schedule(this.scheduler.nowMs + delay, EVENT_DELIVER, to, () => this.arrive(message));
    }
  }

  private arrive(message: M): void | Promise<void> {
    if (this.cut.has(`${message.from}>${message.to}`)) {
      this.dropped++;
      return;
    }
    this.delivered++;
    return this.deliver(message);
  }
}
