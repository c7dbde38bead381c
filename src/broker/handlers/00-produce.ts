/**
 * Produce (key 0), v0-11. The work is in replica/produce.ts: per-partition validation,
 * the leader append, and the acks=-1 wait. acks=0 sends no answer; when such a request
 * failed somewhere, the connection is closed, as Kafka does, so the client notices.
 * Produce v0-2 carry message formats v0/v1, which are up-converted to v2 batches
 * before the usual validation and append (replica/up-convert.ts). A transactional batch
 * is verified with its coordinator first (KIP-890 part 1, ../txn-verification.ts) while
 * transaction.partition.verification.enable is true.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { defineHandler } from '../handler.ts';
import { handleProduce, type ProduceDeps } from '../replica/produce.ts';
import type { BrokerServices } from '../services.ts';
import { txnVerification } from '../txn-verification.ts';

/** The verification step of each broker's services (built once: the hot path only looks it up). */
const verifiers = new WeakMap<BrokerServices, NonNullable<ProduceDeps['txnVerification']>>();

function verifierFor(services: BrokerServices): NonNullable<ProduceDeps['txnVerification']> {
  let v = verifiers.get(services);
  if (v === undefined) {
    v = txnVerification({
      enabled: () => services.config.get('transaction.partition.verification.enable') !== 'false',
      verifyOnCoordinator: (id, pid, epoch, partitions) =>
        services.transactions.verifyOnCoordinator(id, pid, epoch, partitions),
      nowMs: () => services.clock.nowMs(),
    });
    verifiers.set(services, v);
  }
  return v;
}

export const produceHandler = defineHandler({
  apiKey: ApiKey.Produce,
  minVersion: 0,
  maxVersion: 11,
  async handle(request, ctx, services) {
    const { response, anyError } = await handleProduce(request, ctx.apiVersion, {
      replicas: services.replicas,
      nowMs: () => services.clock.nowMs(),
      txnVerification: verifierFor(services),
    });
    if (request.acks === 0) {
      if (anyError) ctx.connection.close('acks=0 produce failed');
      return null;
    }
    if (anyError && ctx.apiVersion >= 10) {
      const leaders = response.responses.flatMap((t) =>
        t.partitionResponses.filter((p) => p.currentLeader.leaderId >= 0).map((p) => p.currentLeader.leaderId),
      );
      response.nodeEndpoints = services.replicas.nodeEndpoints(leaders, ctx.listenerName);
    }
    return response;
  },
});
