export * from './adapter-conformance';
export {
  DEFAULT_TAMPER_ERROR_CODES,
  DEFAULT_WRONG_KEY_ERROR_CODES,
  type ProviderConformanceOptions,
  type ProviderFeatures,
  type ProviderHarness,
  providerConformanceSuite,
} from './provider-conformance';
export { type ServiceRequirement, serviceUrl } from './service';
export type { TestApi, TestBody } from './test-api';
