/**
 * DescribeCluster (key 60): the cluster id, this node as controller, and the brokers with
 * the endpoint of the listener the request came in on. v1 asks for an endpoint type: a
 * broker listener serves only brokers (1); controllers (2) get UNSUPPORTED_ENDPOINT_TYPE.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';
import { ALL_CLUSTER_OPERATIONS, AUTHORIZED_OPERATIONS_OMITTED, brokersFor } from './03-metadata.ts';

const ENDPOINT_TYPE_BROKER = 1;

export const describeClusterHandler = defineHandler({
  apiKey: ApiKey.DescribeCluster,
  minVersion: 0,
  maxVersion: 1,
  handle(request, ctx, services) {
    const image = services.metadata.image();
    const endpointType = ctx.apiVersion >= 1 ? request.endpointType : ENDPOINT_TYPE_BROKER;
    if (endpointType !== ENDPOINT_TYPE_BROKER) {
      return {
        throttleTimeMs: 0,
        errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
        errorMessage: `The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type ${endpointType === 2 ? 'CONTROLLER' : endpointType}`,
        endpointType,
        clusterId: image.clusterId,
        controllerId: -1,
        brokers: [],
        clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
      };
    }
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType,
      clusterId: image.clusterId,
      controllerId: services.nodeId,
      brokers: brokersFor(image, ctx.listenerName).map((b) => ({
        brokerId: b.nodeId,
        host: b.host,
        port: b.port,
        rack: b.rack,
      })),
      clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
        ? ALL_CLUSTER_OPERATIONS
        : AUTHORIZED_OPERATIONS_OMITTED,
    };
  },
});
