/**
 * ApiVersions (key 18): the API ranges this broker serves, computed from the handlers'
 * own declarations (the dispatcher holds them). An unknown ApiVersions version never
 * reaches here: the dispatcher answers it at v0 with UNSUPPORTED_VERSION.
 */
import { ApiKey } from '../../protocol/generated/api-keys.ts';
import { ErrorCode } from '../../protocol/generated/errors.ts';
import { defineHandler } from '../handler.ts';

export const apiVersionsHandler = defineHandler({
  apiKey: ApiKey.ApiVersions,
  minVersion: 0,
  maxVersion: 4,
  handle(request, ctx, services) {
    // v3+ carries the client's software name and version, which must be valid when given.
    const valid = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;
    const badName =
      ctx.apiVersion >= 3 &&
      ((request.clientSoftwareName !== '' && !valid.test(request.clientSoftwareName)) ||
        (request.clientSoftwareVersion !== '' && !valid.test(request.clientSoftwareVersion)));
    return {
      errorCode: badName ? ErrorCode.INVALID_REQUEST : ErrorCode.NONE,
      apiKeys: services.apiVersions(),
      throttleTimeMs: 0,
      supportedFeatures: services.supportedFeatures(),
      finalizedFeaturesEpoch: services.finalizedFeaturesEpoch(),
      finalizedFeatures: services.finalizedFeatures(),
      zkMigrationReady: false,
    };
  },
});
