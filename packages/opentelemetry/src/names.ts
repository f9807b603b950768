/**
 * The metric names, units and attribute keys of `@cmek/opentelemetry`, after the OpenTelemetry
 * semantic-convention naming rules: a `cmek.` namespace, dot-separated lower-case segments,
 * `snake_case` within a segment, UCUM units (`s` for durations, `{call}` for counts of things),
 * and the semantic-convention attribute `error.type` for the error code.
 */

/** One metric: its name, instrument kind, UCUM unit and description. */
export interface CmekMetricDescriptor {
  readonly name: string;
  readonly instrument: 'counter' | 'histogram' | 'gauge';
  readonly unit: string;
  readonly description: string;
}

/** Every metric this package can record (some only once core emits what feeds them). */
export const CMEK_METRICS = {
  kekCalls: {
    name: 'cmek.kek.calls',
    instrument: 'counter',
    unit: '{call}',
    description: 'Calls to a key-encryption key (KEK) provider, by outcome',
  },
  kekCallDuration: {
    name: 'cmek.kek.call.duration',
    instrument: 'histogram',
    unit: 's',
    description: 'Duration of calls to a KEK provider',
  },
  kekDeks: {
    name: 'cmek.kek.deks',
    instrument: 'counter',
    unit: '{dek}',
    description: 'Data-encryption keys (DEKs) handled by KEK calls (several per unwrapMany)',
  },
  cacheLookups: {
    name: 'cmek.dek_cache.lookups',
    instrument: 'counter',
    unit: '{lookup}',
    description: 'DEK cache lookups, by cache and result (hit or miss)',
  },
  cacheEvictions: {
    name: 'cmek.dek_cache.evictions',
    instrument: 'counter',
    unit: '{dek}',
    description: 'DEKs dropped from a cache (and zeroed), by cache and reason',
  },
  cacheStaleServed: {
    name: 'cmek.dek_cache.stale_uses',
    instrument: 'counter',
    unit: '{use}',
    description: 'Uses of a cached DEK past its age limit while the KEK was unavailable',
  },
  cacheSize: {
    name: 'cmek.dek_cache.size',
    instrument: 'gauge',
    unit: '{dek}',
    description: 'DEKs held in a cache',
  },
  values: {
    name: 'cmek.values',
    instrument: 'counter',
    unit: '{value}',
    description: 'Values encrypted or decrypted, by operation and field',
  },
  plaintextReads: {
    name: 'cmek.plaintext.reads',
    instrument: 'counter',
    unit: '{value}',
    description: 'Legacy plaintext values read (not cmek tokens), by field and policy',
  },
  decryptFailures: {
    name: 'cmek.decrypt.failures',
    instrument: 'counter',
    unit: '{value}',
    description: 'Values that failed to decrypt, by error code and field',
  },
  engineRows: {
    name: 'cmek.engine.rows',
    instrument: 'counter',
    unit: '{row}',
    description: 'Rows scanned by backfill, rewrap and verify runs',
  },
  engineWrites: {
    name: 'cmek.engine.writes',
    instrument: 'counter',
    unit: '{value}',
    description: 'Values written by backfill and rewrap runs, by result (written or conflict)',
  },
} as const satisfies Record<string, CmekMetricDescriptor>;

/** The attribute keys this package sets; `error.type` is the semantic-convention one. */
export const CMEK_ATTRIBUTES = {
  provider: 'cmek.kek.provider',
  operation: 'cmek.kek.operation',
  outcome: 'cmek.kek.outcome',
  keyRef: 'cmek.kek.key_ref',
  count: 'cmek.kek.dek_count',
  errorType: 'error.type',
  cache: 'cmek.cache',
  cacheResult: 'cmek.cache.result',
  evictionReason: 'cmek.cache.eviction_reason',
  field: 'cmek.field',
  policy: 'cmek.plaintext.policy',
  valueOperation: 'cmek.operation',
  engineOperation: 'cmek.engine.operation',
  store: 'cmek.engine.store',
  writeResult: 'cmek.engine.write_result',
  batchRows: 'cmek.engine.batch.rows',
  batchWritten: 'cmek.engine.batch.written',
  batchConflicts: 'cmek.engine.batch.conflicts',
  runRows: 'cmek.engine.run.rows',
  runWritten: 'cmek.engine.run.written',
  runConflicts: 'cmek.engine.run.conflicts',
  phase: 'cmek.engine.phase',
} as const;

/** The instrumentation scope of the meter and the tracer. */
export const SCOPE_NAME = '@cmek/opentelemetry';

/**
 * Bucket boundaries (seconds) of the KEK call duration: from a local key (tens of microseconds)
 * to a KMS call retried by its SDK (seconds).
 */
export const KEK_DURATION_BUCKETS = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5,
  10,
];
