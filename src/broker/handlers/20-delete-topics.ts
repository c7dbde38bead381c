/**
 * DeleteTopics (key 20): by name (v0-5 topicNames, v6 topics[].name) or by id (v6).
 * Unknown names get UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID; with
 * delete.topic.enable=false every topic gets TOPIC_DELETION_DISABLED.
 */

import { controllerErrorCode } from '../../metadata/controller.ts';
import { ZERO_UUID } from '../../protocol/codec/uuid.ts';
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import type { DeleteTopicsResponseDeletableTopicResult } from '../../protocol/generated/delete-topics-response.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

type Target = { name: string; topicId?: undefined } | { name?: undefined; topicId: string };

export const deleteTopicsHandler = defineHandler({
  apiKey: ApiKey.DeleteTopics,
  minVersion: 0,
  maxVersion: 6,
  async handle(request, ctx, services) {
    const invalid: DeleteTopicsResponseDeletableTopicResult[] = [];
    const targets: Target[] = [];
    if (ctx.apiVersion >= 6) {
      for (const t of request.topics) {
        if (t.name !== null && t.topicId !== ZERO_UUID) {
          invalid.push({
            name: t.name,
            topicId: t.topicId,
            errorCode: ErrorCode.INVALID_REQUEST,
            errorMessage: 'Only one of topic name and topic id may be set.',
          });
        } else if (t.name !== null) targets.push({ name: t.name });
        else if (t.topicId !== ZERO_UUID) targets.push({ topicId: t.topicId });
        else {
          invalid.push({
            name: null,
            topicId: ZERO_UUID,
            errorCode: ErrorCode.INVALID_REQUEST,
            errorMessage: 'Neither topic name nor topic id was set.',
          });
        }
      }
    } else {
      for (const name of request.topicNames) targets.push({ name });
    }
    let results: DeleteTopicsResponseDeletableTopicResult[];
    try {
      results = await services.controller.deleteTopics(targets);
    } catch (err) {
      const errorCode = controllerErrorCode(err);
      results = targets.map((t) => ({
        name: t.name ?? null,
        topicId: t.topicId ?? ZERO_UUID,
        errorCode,
        errorMessage: null,
      }));
    }
    return {
      throttleTimeMs: 0,
      responses: [...results, ...invalid].map((r) => ({
        ...r,
        // Before v6 the name is not nullable: answer with the empty name for the impossible case.
        name: ctx.apiVersion < 6 ? (r.name ?? '') : r.name,
      })),
    };
  },
});
