/** Makes a workload target from its spec: how a child process gets the parent's target. */
import { NatsTarget } from '../peers/nats.ts';
import { RedisTarget } from '../peers/redis.ts';
import { KafkajsTarget, PlatformaticTarget } from './kafka.ts';
import { RunnelClientTarget } from './runnel-client.ts';
import type { TargetSpec, WorkloadTarget } from './target.ts';

export function makeTarget(spec: TargetSpec): WorkloadTarget {
  switch (spec.kind) {
    case 'nats':
      return new NatsTarget(spec.port);
    case 'redis':
      return new RedisTarget(spec.port);
    case 'kafkajs':
      return new KafkajsTarget(spec);
    case 'platformatic':
      return new PlatformaticTarget(spec);
    case 'runnel-client':
      return new RunnelClientTarget(spec);
  }
}
