export { backfill } from './backfill';
export {
  type Checkpoint,
  type CheckpointStore,
  fileCheckpoints,
  memoryCheckpoints,
} from './checkpoint';
export { rewrap } from './rewrap';
export { createRewrapCache, type RewrapCache, type RewrapCacheOptions } from './rewrap-cache';
export type {
  BackfillOptions,
  EncryptedCount,
  EngineOperation,
  EngineOptions,
  ProgressEvent,
  ProgressListener,
  RewrapOptions,
  VerifyFieldReport,
  VerifyOptions,
  VerifyReport,
  WriteFieldReport,
  WriteReport,
} from './types';
export { verify } from './verify';
