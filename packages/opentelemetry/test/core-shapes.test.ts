/**
 * The shapes of `core-shapes.ts` as this release of `@cmek/core` emits them: real envelopes over
 * `@cmek/provider-local`, no hand-made event.
 */
import { randomBytes } from 'node:crypto';
import {
  CmekKekUnavailableError,
  createEnvelope,
  type KekProvider,
  type Row,
  type RowStore,
} from '@cmek/core';
import { backfill } from '@cmek/core/engine';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cmekTelemetry, CMEK_METRICS as M } from '../src/index';
import { useAsyncContext } from './support/context';
import { createOtel, type Otel, pointsOf, sumOf } from './support/otel';

let otel: Otel;
let stopContext: () => void;
beforeEach(() => {
  otel = createOtel();
  stopContext = useAsyncContext();
});
afterEach(async () => {
  vi.useRealTimers();
  stopContext();
  await otel.shutdown();
});

const email = { field: 'users.email' };

/** provider-local behind a switch: `down` makes every call answer unavailable. */
function switchable() {
  const local = createLocalKekProviderFromKey(randomBytes(32));
  const state = { down: false };
  const gate = <T>(run: () => Promise<T>): Promise<T> =>
    state.down ? Promise.reject(new CmekKekUnavailableError('KEK down (test)')) : run();
  const kek: KekProvider = {
    specificationVersion: 'v1',
    providerId: local.providerId,
    keyRef: local.keyRef,
    generateDataKey: () => gate(() => local.generateDataKey()),
    unwrap: (wrapped, keyRef) => gate(() => local.unwrap(wrapped, keyRef)),
  };
  return { kek, state };
}

describe("this core's shapes, picked up", () => {
  it('kekCallHook: the KEK span is the active parent of what the provider does, and the only KEK span', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const local = createLocalKekProviderFromKey(randomBytes(32));
    const sdk = otel.tracerProvider.getTracer('provider-sdk');
    // What a KMS SDK does inside the call: its own HTTP span, under the active context.
    const kek: KekProvider = {
      specificationVersion: 'v1',
      providerId: local.providerId,
      keyRef: local.keyRef,
      generateDataKey: () =>
        sdk.startActiveSpan('http POST', (span) => {
          span.end();
          return local.generateDataKey();
        }),
      unwrap: (wrapped, keyRef) => local.unwrap(wrapped, keyRef),
    };
    const env = createEnvelope({ kek, ...telemetry.envelopeOptions });
    await env.encrypt('v', { context: email });
    const spans = otel.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['cmek.kek.generateDataKey', 'http POST']);
    const kekSpan = spans.find((s) => s.name === 'cmek.kek.generateDataKey')!;
    const http = spans.find((s) => s.name === 'http POST')!;
    expect(http.parentSpanContext?.spanId).toBe(kekSpan.spanContext().spanId);
    expect(kekSpan.attributes).toMatchObject({ 'cmek.kek.outcome': 'ok', 'cmek.kek.dek_count': 1 });
    expect(sumOf(await otel.points(), M.kekCalls.name)).toBe(1);
    await env.close();
  });

  it('observe(envelope) reads stats(): cache sizes, and lookups counted once', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const env = createEnvelope({
      kek: createLocalKekProviderFromKey(randomBytes(32)),
      ...telemetry.envelopeOptions,
    });
    telemetry.observe(env);
    const tokens = await env.encryptMany(['a', 'b'], { context: email });
    for (const token of tokens) await env.decrypt(token!, { context: email });
    const points = await otel.points();
    expect(
      pointsOf(points, M.cacheSize.name)
        .map((p) => [p.attributes['cmek.cache'], p.value])
        .sort(),
    ).toEqual([
      ['decrypt', 1],
      ['encrypt', 1],
      ['value-key', 1],
    ]);
    const stats = env.stats().caches.find((c) => c.cache === 'decrypt')!;
    expect(stats.hits).toBe(2);
    expect(
      sumOf(points, M.cacheLookups.name, { 'cmek.cache': 'decrypt', 'cmek.cache.result': 'hit' }),
    ).toBe(stats.hits);
    await env.close();
  });

  it('values, evictions and health calls from a real envelope', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const env = createEnvelope({
      kek: createLocalKekProviderFromKey(randomBytes(32)),
      dekCache: { maxUses: 2 },
      ...telemetry.envelopeOptions,
    });
    await env.encryptMany(['a', null, 'b'], { context: email });
    await env.encrypt('c', { context: email });
    expect((await env.health()).status).toBe('ok');
    await env.close();
    const points = await otel.points();
    expect(
      sumOf(points, M.values.name, { 'cmek.operation': 'encrypt', 'cmek.field': 'users.email' }),
    ).toBe(3);
    expect(
      sumOf(points, M.cacheEvictions.name, {
        'cmek.cache': 'encrypt',
        'cmek.cache.eviction_reason': 'uses',
      }),
    ).toBe(1);
    // Two DEKs in the read cache, handed over by the writer, dropped at close.
    expect(
      sumOf(points, M.cacheEvictions.name, {
        'cmek.cache': 'decrypt',
        'cmek.cache.eviction_reason': 'close',
      }),
    ).toBe(2);
    expect(sumOf(points, M.kekCalls.name, { 'cmek.kek.operation': 'health' })).toBe(1);
  });

  it('stale DEK uses during an outage with staleGraceMs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const telemetry = cmekTelemetry(otel.providers);
    const { kek, state } = switchable();
    const grace = { maxAgeMs: 1_000, staleGraceMs: 60_000 };
    const env = createEnvelope({
      kek,
      dekCache: grace,
      decryptCache: grace,
      ...telemetry.envelopeOptions,
    });
    const token = await env.encrypt('a', { context: email });
    vi.setSystemTime(Date.now() + 5_000);
    state.down = true;
    expect(await env.decrypt(token, { context: email })).toBe('a');
    await env.encrypt('b', { context: email });
    const points = await otel.points();
    expect(sumOf(points, M.cacheStaleServed.name, { 'cmek.cache': 'decrypt' })).toBe(1);
    expect(sumOf(points, M.cacheStaleServed.name, { 'cmek.cache': 'encrypt' })).toBe(1);
    expect(sumOf(points, M.kekCalls.name, { 'cmek.kek.outcome': 'unavailable' })).toBe(2);
    await env.close();
  });

  it("the engine's failed phase ends the run span with ERROR and the code", async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const { kek, state } = switchable();
    state.down = true;
    const rows: Row[] = [{ id: 1, values: { secret: 'x' } }];
    const store: RowStore = {
      name: 'orders',
      fields: ['secret'],
      contextFor: (field) => ({ field: `orders.${field}` }),
      scan: async (after) => (after === undefined ? rows : []),
      compareAndSet: async () => true,
    };
    const run = backfill(store, {
      envelope: createEnvelope({ kek }),
      onProgress: telemetry.onProgress,
    });
    await expect(run).rejects.toSatisfy((e) => CmekKekUnavailableError.isInstance(e));
    const span = otel.spans().find((s) => s.name === 'cmek.engine.backfill')!;
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('CMEK_KEK_UNAVAILABLE');
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});
