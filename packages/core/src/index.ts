export { envelopeOption, fieldOptionEntries, indexerOption } from './adapter-options';
export {
  BLIND_INDEX_MAX_LENGTH,
  BLIND_INDEX_PREFIX,
  type BlindIndexInfo,
  type BlindIndexMode,
  type BlindIndexNormalizer,
  type BlindIndexNormalizerName,
  DEFAULT_SLOW_COST,
  inspectBlindIndex,
  isBlindIndexValue,
} from './blind-index';
export {
  type BlindIndexOptions,
  blindIndexCells,
  blindIndexesOption,
  blindIndexLabel,
  type IndexCells,
  type IndexColumnValues,
  type IndexLookup,
  indexLookupValues,
} from './blind-index-cells';
export {
  type BlindIndexComputeOptions,
  type BlindIndexer,
  type CreateBlindIndexKeyOptions,
  createBlindIndexKey,
  INDEX_KEY_PREFIX,
  type LoadBlindIndexesOptions,
  loadBlindIndexes,
} from './blind-index-keys';
export type { CacheStats, EnvelopeStats } from './cache-events';
export { type FieldCells, openCells, sealCells } from './cells';
export { createEnvelope, DEFAULT_DECRYPT_CACHE, DEFAULT_DEK_CACHE } from './envelope';
export type {
  CryptOptions,
  DecryptCacheOptions,
  DecryptOptions,
  DekCacheOptions,
  Encryptable,
  EncryptionContext,
  Envelope,
  EnvelopeOptions,
  PlaintextPolicy,
  TokenInfo,
} from './envelope-types';
export {
  CmekClosedError,
  CmekConfigError,
  CmekDecryptionError,
  CmekError,
  type CmekErrorCode,
  type CmekErrorOptions,
  CmekFormatError,
  CmekInvalidInputError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  CmekKeyFileError,
  CmekPlaintextRejectedError,
  CmekProviderError,
  CmekQueryError,
  CmekTenantKeyRevokedError,
  CmekUnknownKekError,
  CmekUnknownTenantError,
} from './errors';
export type {
  CacheEvent,
  CacheEvictEvent,
  CacheName,
  CmekEvent,
  CmekEventListener,
  DecryptFailedEvent,
  EvictionReason,
  KekCallEvent,
  KekOperation,
  PlaintextReadEvent,
  StaleDekUsedEvent,
  TenantTagged,
  ValuesEvent,
} from './events';
export {
  defaultContext,
  type FieldOptions,
  maxPlaintextBytesOption,
  measureTokenLength,
  validateContext,
  warnDeprecatedOption,
} from './field-config';
export {
  assertFieldValue,
  describeValueType,
  encryptFieldValues,
  type FieldValuesOptions,
  type SealedFieldValues,
} from './field-values';
export type { HealthOptions, HealthReport, HealthStatus } from './health';
export type { KekCallHook, KekCallInfo } from './kek-call-hook';
export { createKeyring, type Keyring, type KeyringOptions } from './keyring';
export type { GeneratedDataKey, KekProvider, WrappedDataKey } from './provider';
export type {
  CasWrite,
  Cursor,
  IndexValues,
  Row,
  RowCounter,
  RowStore,
  ScanOptions,
} from './row-store';
export { storeWriteError } from './store-errors';
export {
  groupByTenant,
  isTenantEnvelope,
  type TenantCell,
  type TenantGroup,
  tenantContext,
  tenantIdOf,
} from './tenant-cells';
export { createTenantEnvelope, DEFAULT_TENANT_CACHE } from './tenant-envelope';
export type {
  TenantCacheOptions,
  TenantEnvelope,
  TenantEnvelopeOptions,
  TenantEnvelopeStats,
  TenantHealthOptions,
  TenantHealthReport,
  TenantKek,
  TenantResolver,
  TenantStats,
} from './tenant-types';
export { inspectToken, TOKEN_PREFIX } from './token';
