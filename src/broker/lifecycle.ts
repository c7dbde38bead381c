/**
 * The broker's side of KIP-631: register with the active controller (BrokerRegistration:
 * incarnation id, listeners, rack, supported features, log dirs), then heartbeat every
 * broker.heartbeat.interval.ms with the metadata offset this broker has replayed. The
 * broker epoch the registration answers is what AlterPartition and replica fetches carry.
 *
 * A heartbeat answered STALE_BROKER_EPOCH or BROKER_ID_NOT_REGISTERED (a new controller
 * that lost the registration, or a fenced-and-removed broker) registers again. Controlled
 * shutdown: heartbeats with wantShutDown until the controller answers shouldShutDown, or
 * until the bounded wait runs out (the broker then closes anyway).
 */
import type { ControllerApi } from '../controller/controller-api.ts';
import type { Clock } from '../env/clock.ts';
import type { BrokerHeartbeatResponse } from '../protocol/generated/broker-heartbeat-response.ts';
import type { BrokerRegistrationRequest } from '../protocol/generated/broker-registration-request.ts';
import { ErrorCode } from '../protocol/generated/errors.ts';

export interface BrokerLifecycleOptions {
  nodeId: number;
  controller: ControllerApi;
  clock: Clock;
  /** broker.heartbeat.interval.ms. */
  heartbeatIntervalMs: number;
  /** The registration to send (built once the listeners are bound). */
  registration: () => BrokerRegistrationRequest;
  /** The end offset of the metadata this broker has replayed. */
  metadataOffset: () => number;
  onError: (err: unknown) => void;
}

export class BrokerLifecycle {
  private epoch = -1n;
  private fenced = true;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private wantShutDown = false;
  private inFlight: Promise<void> | undefined;
  private readonly unfencedWaiters: (() => void)[] = [];

  constructor(private readonly options: BrokerLifecycleOptions) {}

  /** The broker epoch from the last registration (-1 before). */
  brokerEpoch(): bigint {
    return this.epoch;
  }

  isFenced(): boolean {
    return this.fenced;
  }

  /** Registers, retrying until timeoutMs; then heartbeats. Throws when no controller accepted it. */
  async start(timeoutMs: number): Promise<void> {
    const deadline = this.options.clock.monotonicMs() + timeoutMs;
    let last: unknown;
    while (!this.stopped && this.options.clock.monotonicMs() < deadline) {
      try {
        const res = await this.options.controller.brokerRegistration(this.options.registration());
        if (res.errorCode === ErrorCode.NONE) {
          this.epoch = res.brokerEpoch;
          await this.heartbeat();
          this.schedule();
          return;
        }
        last = new Error(`BrokerRegistration failed with error code ${res.errorCode}`);
        if (res.errorCode === ErrorCode.INCONSISTENT_CLUSTER_ID) break;
      } catch (err) {
        last = err;
      }
      await new Promise<void>((resolve) => this.options.clock.schedule(100, resolve));
    }
    throw new Error(
      `broker ${this.options.nodeId} could not register with the controller within ${timeoutMs} ms: ${
        last instanceof Error ? last.message : String(last)
      }`,
    );
  }

  /** Resolves once the controller has unfenced this broker (false after timeoutMs). */
  waitUnfenced(timeoutMs: number): Promise<boolean> {
    if (!this.fenced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const cancel = this.options.clock.schedule(timeoutMs, () => {
        const i = this.unfencedWaiters.indexOf(done);
        if (i >= 0) this.unfencedWaiters.splice(i, 1);
        resolve(false);
      });
      const done = (): void => {
        cancel();
        resolve(true);
      };
      this.unfencedWaiters.push(done);
    });
  }

  /** Controlled shutdown: wantShutDown until shouldShutDown (or timeoutMs). */
  async controlledShutdown(timeoutMs: number): Promise<boolean> {
    if (this.epoch < 0n || this.stopped) return false;
    this.wantShutDown = true;
    this.cancelTimer?.();
    const deadline = this.options.clock.monotonicMs() + timeoutMs;
    while (this.options.clock.monotonicMs() < deadline) {
      try {
        const res = await this.withTimeout(this.send(), Math.max(1, deadline - this.options.clock.monotonicMs()));
        if (res?.shouldShutDown) return true;
      } catch {
        // the controller may be moving: try again until the deadline
      }
      await new Promise<void>((resolve) =>
        this.options.clock.schedule(Math.min(200, this.options.heartbeatIntervalMs), resolve),
      );
    }
    return false;
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }

  private schedule(): void {
    if (this.stopped || this.wantShutDown) return;
    this.cancelTimer = this.options.clock.schedule(this.options.heartbeatIntervalMs, () => {
      this.cancelTimer = undefined;
      this.inFlight ??= this.heartbeat()
        .catch((err: unknown) => this.options.onError(err))
        .finally(() => {
          this.inFlight = undefined;
          this.schedule();
        });
    });
  }

  private async heartbeat(): Promise<void> {
    const res = await this.send();
    if (res === undefined) return;
    if (res.errorCode === ErrorCode.STALE_BROKER_EPOCH || res.errorCode === ErrorCode.BROKER_ID_NOT_REGISTERED) {
      const again = await this.options.controller.brokerRegistration(this.options.registration());
      if (again.errorCode === ErrorCode.NONE) this.epoch = again.brokerEpoch;
    }
  }

  /** The promise's value, or undefined once timeoutMs passed (the promise keeps running). */
  private withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const cancel = this.options.clock.schedule(timeoutMs, () => resolve(undefined));
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

  private async send(): Promise<BrokerHeartbeatResponse | undefined> {
    if (this.stopped) return undefined;
    const res = await this.options.controller.brokerHeartbeat({
      brokerId: this.options.nodeId,
      brokerEpoch: this.epoch,
      currentMetadataOffset: BigInt(this.options.metadataOffset()),
      wantFence: false,
      wantShutDown: this.wantShutDown,
      offlineLogDirs: [],
    });
    if (res.errorCode === ErrorCode.NONE) {
      this.fenced = res.isFenced;
      if (!this.fenced) for (const fn of this.unfencedWaiters.splice(0)) fn();
    }
    return res;
  }
}
