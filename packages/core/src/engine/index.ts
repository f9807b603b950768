export { backfill } from './backfill';
export {
  type Checkpoint,
  type CheckpointStore,
  fileCheckpoints,
  memoryCheckpoints,
} from './checkpoint';
export { rewrap } from './rewrap';
export { createRewrapCache, type RewrapCache, type RewrapCacheOptions } from './rewrap-cache';
export {
  type BackfillOptions,
  DEFAULT_MAX_UNDECRYPTABLE_IDS,
  type EncryptedCount,
  type EngineOperation,
  type EngineOptions,
  type IndexWriteCounts,
  type ProgressEvent,
  type ProgressListener,
  type RewrapOptions,
  type VerifyFieldReport,
  type VerifyIndexReport,
  type VerifyOptions,
  type VerifyReport,
  type WriteFieldReport,
  type WriteReport,
} from './types';
export { verify } from './verify';
