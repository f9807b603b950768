export * from './adapter-conformance';
export {
  type KekCallCounter,
  type KekCallCounterOptions,
  type KekCallCounts,
  kekCallCounter,
} from './kek-call-counter';
export {
  type MemoryKekCalls,
  type MemoryKekProvider,
  type MemoryKekProviderOptions,
  memoryKekProvider,
} from './memory-provider';
export {
  DEFAULT_TAMPER_ERROR_CODES,
  DEFAULT_WRONG_KEY_ERROR_CODES,
  PROVIDER_GROUPS,
  type ProviderConformanceOptions,
  type ProviderFeatures,
  type ProviderGroup,
  type ProviderHarness,
  providerConformanceSuite,
} from './provider-conformance';
export { type ServiceRequirement, serviceUrl } from './service';
export type { TestApi, TestBody } from './test-api';
