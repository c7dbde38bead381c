/**
 * Every request handler the broker serves, one per API (files named by API key).
 * The dispatcher takes this list; ApiVersions is computed from it.
 */
import type { ApiHandler } from '../handler.ts';
import { produceHandler } from './00-produce.ts';
import { fetchHandler } from './01-fetch.ts';
import { listOffsetsHandler } from './02-list-offsets.ts';
import { metadataHandler } from './03-metadata.ts';
import { apiVersionsHandler } from './18-api-versions.ts';
import { deleteRecordsHandler } from './21-delete-records.ts';
import { initProducerIdHandler } from './22-init-producer-id.ts';
import { offsetForLeaderEpochHandler } from './23-offset-for-leader-epoch.ts';
import { describeLogDirsHandler } from './35-describe-log-dirs.ts';

export const allHandlers: readonly ApiHandler[] = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  apiVersionsHandler,
  deleteRecordsHandler,
  initProducerIdHandler,
  offsetForLeaderEpochHandler,
  describeLogDirsHandler,
] as readonly ApiHandler[];
