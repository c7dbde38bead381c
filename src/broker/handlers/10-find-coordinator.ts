/**
 * FindCoordinator (key 10), v0-6. Key type 0 (group): the leader of the group's
 * __consumer_offsets partition, which is created (compacted) on the first request: this
 * node once its shard is loaded, another broker when it leads it, COORDINATOR_NOT_AVAILABLE
 * while the partition has no leader or its shard is loading here. Key type 1
 * (transaction): the leader of the id's __transaction_state partition (created on the
 * first request), this node once its shard is loaded, another broker when it leads it.
 * v4+ answers a batch of keys (`coordinatorKeys`).
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import type { FindCoordinatorResponseCoordinator } from '../../protocol/generated/find-coordinator-response.ts';
import { defineHandler } from '../handler.ts';
import type { BrokerServices } from '../services.ts';

const KEY_TYPE_GROUP = 0;
const KEY_TYPE_TRANSACTION = 1;

async function findOne(
  key: string,
  keyType: number,
  listenerName: string,
  services: BrokerServices,
): Promise<FindCoordinatorResponseCoordinator> {
  const none = (errorCode: number, errorMessage: string | null = null): FindCoordinatorResponseCoordinator => ({
    key,
    nodeId: -1,
    host: '',
    port: -1,
    errorCode,
    errorMessage,
  });
  if (keyType !== KEY_TYPE_GROUP && keyType !== KEY_TYPE_TRANSACTION) {
    return none(ErrorCode.INVALID_REQUEST, `Unknown coordinator key type ${keyType}`);
  }
  if (keyType === KEY_TYPE_TRANSACTION && key === '') return none(ErrorCode.INVALID_REQUEST, 'empty transactional id');
  const found =
    keyType === KEY_TYPE_GROUP
      ? await services.groups.findCoordinator(key)
      : await services.transactions.findCoordinator(key);
  if (found.errorCode !== ErrorCode.NONE) return none(found.errorCode);
  const nodeId = found.nodeId;
  const broker = services.metadata.image().brokers.get(nodeId);
  const endpoint = broker?.endpoints.find((e) => e.name === listenerName);
  if (endpoint === undefined) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  return { key, nodeId, host: endpoint.host, port: endpoint.port, errorCode: 0, errorMessage: null };
}

export const findCoordinatorHandler = defineHandler({
  apiKey: ApiKey.FindCoordinator,
  minVersion: 0,
  maxVersion: 6,
  async handle(request, ctx, services) {
    if (ctx.apiVersion >= 4) {
      const coordinators = await Promise.all(
        request.coordinatorKeys.map((k) => findOne(k, request.keyType, ctx.listenerName, services)),
      );
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        errorMessage: null,
        nodeId: -1,
        host: '',
        port: -1,
        coordinators,
      };
    }
    const c = await findOne(
      request.key,
      ctx.apiVersion === 0 ? KEY_TYPE_GROUP : request.keyType,
      ctx.listenerName,
      services,
    );
    return {
      throttleTimeMs: 0,
      errorCode: c.errorCode,
      errorMessage: c.errorMessage,
      nodeId: c.nodeId,
      host: c.host,
      port: c.port,
      coordinators: [],
    };
  },
});
