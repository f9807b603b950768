/**
 * `cmekTelemetry()`: one object holding the listeners and hooks to give an envelope, a keyring's
 * rewrap and the engine, recording through `@opentelemetry/api` only (the global providers unless
 * others are given). It never records a plaintext, a DEK, a KEK, a token or a context value other
 * than the `field` label: only provider ids, key references (optional), operations, outcomes,
 * error codes, counts and durations.
 */

import { CmekConfigError, type Envelope } from '@cmek/core';
import {
  type Attributes,
  type MeterProvider,
  metrics,
  type ObservableResult,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type {
  CacheStats,
  KekCallHook,
  KekCallInfo,
  ObservableEnvelope,
  ObservedEvent,
} from './core-shapes';
import { type ProgressHandler, progressHandler } from './engine-spans';
import {
  type AttributeChoices,
  createInstruments,
  fieldAttribute,
  kekAttributes,
} from './instruments';
import { kekCallAttributes, spanFromEvent, spanningHook } from './kek-spans';
import { CMEK_ATTRIBUTES as A, CMEK_METRICS as M, SCOPE_NAME } from './names';

export interface CmekTelemetryOptions {
  /** Default: the global one (`metrics.getMeterProvider()`), read when `cmekTelemetry` runs. */
  meterProvider?: MeterProvider;
  /** Default: the global one (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /** Spans around KEK calls and engine batches. Default `true`. */
  spans?: boolean;
  /**
   * The `cmek.kek.key_ref` attribute (an ARN, alias, Transit key name or key-file reference: an
   * identifier, not a secret). Default `true`; `false` keeps only the provider id.
   */
  keyRefAttribute?: boolean;
  /** The `cmek.field` attribute (the context's `field` label, e.g. `users.email`). Default `true`. */
  fieldAttribute?: boolean;
}

export interface CmekTelemetry {
  /** The envelope's (or `rewrap`'s) `onEvent`. Never throws. */
  readonly onEvent: (event: ObservedEvent) => void;
  /** The engine's `onProgress` (backfill, rewrap, verify): run and batch spans, row counters. */
  readonly onProgress: ProgressHandler;
  /** For core's `kekCallHook` option: real, active KEK spans. */
  readonly kekCallHook: KekCallHook;
  /** `createEnvelope({ kek, ...telemetry.envelopeOptions })`. */
  readonly envelopeOptions: {
    readonly onEvent: CmekTelemetry['onEvent'];
    readonly kekCallHook: KekCallHook;
  };
  /**
   * Reports the cache sizes of an envelope with `stats()` (`cmek.dek_cache.size`);
   * with an older core without it, it does nothing. Returns a function that stops observing it.
   */
  observe(envelope: Envelope | ObservableEnvelope): () => void;
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new CmekConfigError(`cmekTelemetry: ${name} must be a boolean`);
  return value;
}

export function cmekTelemetry(options: CmekTelemetryOptions = {}): CmekTelemetry {
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('cmekTelemetry takes an options object');
  }
  const choices: AttributeChoices = {
    keyRef: flag(options.keyRefAttribute, 'keyRefAttribute', true),
    field: flag(options.fieldAttribute, 'fieldAttribute', true),
  };
  const spans = flag(options.spans, 'spans', true);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE_NAME);
  const tracer = spans
    ? (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE_NAME)
    : undefined;
  const inst = createInstruments(meter, choices);

  /** Envelopes with `stats()`; when one reports hits, cache events are no longer counted. */
  const observed = new Set<ObservableEnvelope>();
  let lookupsFromStats = false;
  const statsOf = (): CacheStats[] => {
    const all: CacheStats[] = [];
    for (const envelope of observed) {
      try {
        all.push(...(envelope.stats?.().caches ?? []));
      } catch {
        observed.delete(envelope); // closed
      }
    }
    return all;
  };

  meter
    .createObservableCounter(M.cacheLookups.name, {
      unit: M.cacheLookups.unit,
      description: M.cacheLookups.description,
    })
    .addCallback((result: ObservableResult) => {
      for (const { hit, miss } of inst.lookups.values()) {
        hit.observe(result);
        miss.observe(result);
      }
      if (!lookupsFromStats) return;
      for (const s of statsOf()) {
        if (s.hits === undefined || s.misses === undefined) continue;
        result.observe(s.hits, { [A.cache]: s.cache, [A.cacheResult]: 'hit' });
        result.observe(s.misses, { [A.cache]: s.cache, [A.cacheResult]: 'miss' });
      }
    });
  meter
    .createObservableCounter(M.plaintextReads.name, {
      unit: M.plaintextReads.unit,
      description: M.plaintextReads.description,
    })
    .addCallback((result) => inst.plaintextReads.observe(result));
  meter
    .createObservableCounter(M.values.name, {
      unit: M.values.unit,
      description: M.values.description,
    })
    .addCallback((result) => inst.values.observe(result));
  meter
    .createObservableGauge(M.cacheSize.name, {
      unit: M.cacheSize.unit,
      description: M.cacheSize.description,
    })
    .addCallback((result) => {
      const sizes = new Map<string, number>();
      for (const s of statsOf()) sizes.set(s.cache, (sizes.get(s.cache) ?? 0) + s.size);
      for (const [cache, size] of sizes) result.observe(size, { [A.cache]: cache });
    });

  let hookInUse = false;
  const hook: KekCallHook | undefined = tracer
    ? spanningHook(tracer, (call: KekCallInfo) =>
        kekAttributes(choices, call.providerId, call.keyRef),
      )
    : undefined;
  const kekCallHook: KekCallHook = (call, run) => {
    hookInUse = true;
    return hook === undefined ? run() : hook(call, run);
  };

  const handle = (event: ObservedEvent): void => {
    switch (event.type) {
      case 'cache-hit':
      case 'cache-miss': {
        if (lookupsFromStats) return;
        const tallies = inst.cacheTallies(event.cache);
        (event.type === 'cache-hit' ? tallies.hit : tallies.miss).add(
          event.providerId,
          choices.keyRef ? event.keyRef : '',
        );
        return;
      }
      case 'kek-call': {
        const attributes = kekCallAttributes(
          kekAttributes(choices, event.providerId, event.keyRef),
          event.operation,
          event.ok ? undefined : (event.errorCode ?? '_OTHER'),
        );
        inst.kekCalls.add(1, attributes);
        inst.kekDuration.record(Math.max(0, event.durationMs) / 1000, attributes);
        inst.kekDeks.add(event.count, attributes);
        if (tracer && !hookInUse) spanFromEvent(tracer, event, attributes);
        return;
      }
      case 'plaintext-read':
        inst.plaintextReads.add(event.policy, choices.field ? (event.field ?? '') : '');
        return;
      case 'decrypt-failed': {
        const kek: Attributes =
          event.providerId === undefined
            ? {}
            : kekAttributes(choices, event.providerId, event.keyRef);
        inst.decryptFailures.add(1, {
          ...kek,
          [A.errorType]: event.errorCode,
          ...fieldAttribute(choices, event.field),
        });
        return;
      }
      case 'values':
        inst.values.add(event.operation, choices.field ? (event.field ?? '') : '', event.count);
        return;
      case 'cache-evict':
        inst.evictions.add(event.count ?? 1, {
          ...kekAttributes(choices, event.providerId, event.keyRef),
          [A.cache]: event.cache,
          [A.evictionReason]: event.reason,
        });
        return;
      case 'stale-dek-used':
        inst.staleUses.add(1, {
          ...kekAttributes(choices, event.providerId, event.keyRef),
          [A.cache]: event.cache,
        });
        return;
      default:
      // An event type this version does not know: ignored.
    }
  };
  const onEvent = (event: ObservedEvent): void => {
    try {
      handle(event);
    } catch {
      // Telemetry must never break encryption.
    }
  };

  const engine = progressHandler(inst, tracer);
  const onProgress: ProgressHandler = (event) => {
    try {
      engine(event);
    } catch {
      // Nor an engine run.
    }
  };

  return {
    onEvent,
    onProgress,
    kekCallHook,
    envelopeOptions: { onEvent, kekCallHook },
    observe(candidate) {
      const envelope = candidate as ObservableEnvelope;
      if (typeof envelope?.stats !== 'function') return () => undefined;
      observed.add(envelope);
      try {
        const caches = envelope.stats().caches;
        if (caches.some((c) => c.hits !== undefined)) lookupsFromStats = true;
      } catch {
        observed.delete(envelope);
      }
      return () => {
        observed.delete(envelope);
      };
    },
  };
}
