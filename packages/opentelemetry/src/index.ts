export type {
  CacheEvictEvent,
  CacheStats,
  EnvelopeStats,
  KekCallHook,
  KekCallInfo,
  ObservableEnvelope,
  ObservedEvent,
  StaleDekUsedEvent,
  ValuesEvent,
} from './core-shapes';
export { CMEK_ATTRIBUTES, CMEK_METRICS, type CmekMetricDescriptor } from './names';
export type { KekOutcome } from './outcome';
export { type CmekTelemetry, type CmekTelemetryOptions, cmekTelemetry } from './telemetry';
