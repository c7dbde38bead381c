/**
 * DescribeQuorum (key 55, KIP-595): the metadata quorum's leader, epoch, high watermark and
 * each voter's and observer's progress. Only the Raft leader knows the progress: a broker
 * asks it (services.describeQuorum), as Kafka's admin client reaches the controller.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const describeQuorumHandler = defineHandler({
  apiKey: ApiKey.DescribeQuorum,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, _ctx, services) {
    const asked = request.topics[0];
    if (asked?.topicName !== '__cluster_metadata' || asked.partitions[0]?.partitionIndex !== 0) {
      return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null, topics: [], nodes: [] };
    }
    return services.describeQuorum();
  },
});
