/**
 * The metrics and spans of real envelope calls over `@cmek/provider-local`, read back through
 * the SDK's in-memory exporters.
 */
import { randomBytes } from 'node:crypto';
import { CmekDecryptionError, createEnvelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cmekTelemetry, CMEK_METRICS as M } from '../src/index';
import { useAsyncContext } from './support/context';
import { createOtel, exportedStrings, type Otel, pointsOf, sumOf } from './support/otel';
import { Secrets } from './support/secrets';

let otel: Otel;
beforeEach(() => {
  otel = createOtel();
});
afterEach(async () => {
  await otel.shutdown();
});

const local = () => createLocalKekProviderFromKey(randomBytes(32));
const email = { field: 'users.email' };

describe('metrics from envelope events (provider-local)', () => {
  it('records KEK calls, their duration in seconds, cache lookups, plaintext reads and failures', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const kek = local();
    const env = createEnvelope({ kek, onEvent: telemetry.onEvent, plaintextPolicy: 'allow' });
    const tokens = await env.encryptMany(['a@x.io', 'b@x.io', 'c@x.io'], { context: email });
    await env.encrypt('d@x.io', { context: email });
    // A second envelope over the same KEK: a cold read cache, so one unwrap, then hits.
    const reader = createEnvelope({ kek, onEvent: telemetry.onEvent });
    for (const token of tokens) await reader.decrypt(token!, { context: email });
    await reader.decrypt('legacy plaintext', { context: { field: 'users.phone' } });
    await reader.decrypt('legacy plaintext 2', { context: { field: 'users.phone' } });
    await expect(
      reader.decrypt(tokens[0]!, { context: { field: 'users.other' } }),
    ).rejects.toSatisfy((e) => CmekDecryptionError.isInstance(e));
    const points = await otel.points();
    const kekAttrs = { 'cmek.kek.provider': 'local', 'cmek.kek.key_ref': kek.keyRef };

    const calls = pointsOf(points, M.kekCalls.name, kekAttrs);
    expect(
      calls
        .map((p) => [p.attributes['cmek.kek.operation'], p.attributes['cmek.kek.outcome'], p.value])
        .sort(),
    ).toEqual([
      ['generateDataKey', 'ok', 1],
      ['unwrap', 'ok', 1],
    ]);
    expect(calls.every((p) => p.unit === '{call}' && !('error.type' in p.attributes))).toBe(true);
    const duration = pointsOf(points, M.kekCallDuration.name, {
      ...kekAttrs,
      'cmek.kek.operation': 'unwrap',
    });
    expect(duration).toHaveLength(1);
    expect(duration[0]!.unit).toBe('s');
    expect(duration[0]!.histogram!.count).toBe(1);
    // A local unwrap takes well under a second: the value is in seconds, not milliseconds.
    expect(duration[0]!.histogram!.sum).toBeGreaterThan(0);
    expect(duration[0]!.histogram!.sum).toBeLessThan(1);
    expect(sumOf(points, M.kekDeks.name, { 'cmek.kek.operation': 'unwrap' })).toBe(1);

    const lookups = (cache: string, result: string) =>
      sumOf(points, M.cacheLookups.name, {
        'cmek.cache': cache,
        'cmek.cache.result': result,
        ...kekAttrs,
      });
    // The write cache: one miss (the first DEK), then a hit for the single encrypt.
    expect(lookups('encrypt', 'miss')).toBe(1);
    expect(lookups('encrypt', 'hit')).toBeGreaterThanOrEqual(1);
    // The reader: a miss for the first token, hits for the others sharing its DEK.
    expect(lookups('decrypt', 'miss')).toBe(1);
    expect(lookups('decrypt', 'hit')).toBeGreaterThanOrEqual(2);

    const reads = pointsOf(points, M.plaintextReads.name);
    expect(reads.map((p) => [p.attributes, p.value])).toEqual([
      [{ 'cmek.plaintext.policy': 'allow', 'cmek.field': 'users.phone' }, 2],
    ]);
    const failures = pointsOf(points, M.decryptFailures.name);
    expect(failures.map((p) => [p.attributes, p.value])).toEqual([
      [{ ...kekAttrs, 'error.type': 'CMEK_DECRYPTION', 'cmek.field': 'users.other' }, 1],
    ]);
    await env.close();
    await reader.close();
  });

  it('keyRefAttribute: false and fieldAttribute: false leave those attributes out', async () => {
    const telemetry = cmekTelemetry({
      ...otel.providers,
      keyRefAttribute: false,
      fieldAttribute: false,
    });
    const kek = local();
    const env = createEnvelope({ kek, onEvent: telemetry.onEvent });
    const token = await env.encrypt('v', { context: email });
    await env.decrypt(token, { context: email });
    await env.decrypt('legacy', { context: email });
    const strings = exportedStrings(await otel.points(), otel.spans());
    expect(strings).toContain('cmek.kek.provider');
    expect(strings).toContain('cmek.plaintext.policy');
    expect(strings).not.toContain('cmek.kek.key_ref');
    expect(strings).not.toContain(kek.keyRef);
    expect(strings).not.toContain('cmek.field');
    expect(strings).not.toContain('users.email');
    await env.close();
  });

  it('refuses options of the wrong type with CmekConfigError', () => {
    expect(() => cmekTelemetry({ spans: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'CMEK_CONFIG' }),
    );
    expect(() => cmekTelemetry(null as never)).toThrow(
      expect.objectContaining({ code: 'CMEK_CONFIG' }),
    );
  });

  it('uses the global providers when none is given', async () => {
    const { metrics } = await import('@opentelemetry/api');
    metrics.setGlobalMeterProvider(otel.meterProvider);
    trace.setGlobalTracerProvider(otel.tracerProvider);
    try {
      const telemetry = cmekTelemetry();
      const env = createEnvelope({ kek: local(), onEvent: telemetry.onEvent });
      await env.encrypt('v');
      expect(sumOf(await otel.points(), M.kekCalls.name)).toBe(1);
      expect(otel.spans().map((s) => s.name)).toEqual(['cmek.kek.generateDataKey']);
      await env.close();
    } finally {
      metrics.disable();
      trace.disable();
    }
  });

  it('a throwing meter does not break encryption', async () => {
    const broken = cmekTelemetry({
      meterProvider: otel.meterProvider,
      tracerProvider: {
        getTracer: () => {
          throw new Error('boom');
        },
      },
      spans: false,
    });
    const env = createEnvelope({ kek: local(), onEvent: broken.onEvent });
    expect(await env.decrypt(await env.encrypt('still works'))).toBe('still works');
    await env.close();
  });
});

describe('KEK spans', () => {
  let stopContext: () => void;
  beforeEach(() => {
    stopContext = useAsyncContext();
  });
  afterEach(() => stopContext());

  it('are made after the fact from the event: CLIENT, start = end - duration, under the active span', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const env = createEnvelope({ kek: local(), onEvent: telemetry.onEvent });
    const tracer = otel.tracerProvider.getTracer('app');
    const parent = tracer.startSpan('request');
    await context.with(trace.setSpan(context.active(), parent), () => env.encrypt('v'));
    parent.end();
    const kekSpan = otel.spans().find((s) => s.name === 'cmek.kek.generateDataKey');
    expect(kekSpan).toBeDefined();
    expect(kekSpan!.kind).toBe(SpanKind.CLIENT);
    expect(kekSpan!.attributes).toMatchObject({
      'cmek.kek.provider': 'local',
      'cmek.kek.operation': 'generateDataKey',
      'cmek.kek.outcome': 'ok',
      'cmek.kek.dek_count': 1,
    });
    expect(kekSpan!.status.code).toBe(SpanStatusCode.UNSET);
    expect(kekSpan!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(kekSpan!.spanContext().traceId).toBe(parent.spanContext().traceId);
    const [s0, s1] = kekSpan!.startTime;
    const [e0, e1] = kekSpan!.endTime;
    expect(e0 * 1e9 + e1).toBeGreaterThanOrEqual(s0 * 1e9 + s1);
    await env.close();
  });

  it('spans: false records metrics and no span', async () => {
    const telemetry = cmekTelemetry({ ...otel.providers, spans: false });
    const env = createEnvelope({ kek: local(), onEvent: telemetry.onEvent });
    await env.encrypt('v');
    expect(sumOf(await otel.points(), M.kekCalls.name)).toBe(1);
    expect(otel.spans()).toEqual([]);
    await env.close();
  });

  it('with the proposed around-hook, the KEK span is active around the call and no second span is made', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const inner = otel.tracerProvider.getTracer('sdk');
    // What a core with `kekCallHook` would do around a provider call: the provider SDK's own
    // span (here `http POST`) starts inside `run`, then core emits the `kek-call` event.
    const result = await telemetry.kekCallHook(
      { operation: 'unwrap', providerId: 'aws-kms', keyRef: 'arn:aws:kms:r:1:key/k', count: 1 },
      async () => {
        inner.startSpan('http POST').end();
        telemetry.onEvent({
          type: 'kek-call',
          operation: 'unwrap',
          providerId: 'aws-kms',
          keyRef: 'arn:aws:kms:r:1:key/k',
          count: 1,
          durationMs: 3,
          ok: true,
        });
        return 42;
      },
    );
    expect(result).toBe(42);
    const spans = otel.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['cmek.kek.unwrap', 'http POST']);
    const kekSpan = spans.find((s) => s.name === 'cmek.kek.unwrap')!;
    const http = spans.find((s) => s.name === 'http POST')!;
    expect(http.parentSpanContext?.spanId).toBe(kekSpan.spanContext().spanId);
    expect(sumOf(await otel.points(), M.kekCalls.name)).toBe(1);

    await expect(
      telemetry.kekCallHook(
        { operation: 'unwrap', providerId: 'aws-kms', keyRef: 'k', count: 1 },
        () => Promise.reject(Object.assign(new Error('down'), { code: 'CMEK_KEK_UNAVAILABLE' })),
      ),
    ).rejects.toThrow('down');
    const failed = otel.spans().filter((s) => s.name === 'cmek.kek.unwrap')[1]!;
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.attributes).toMatchObject({
      'error.type': 'CMEK_KEK_UNAVAILABLE',
      'cmek.kek.outcome': 'unavailable',
    });
  });
});

describe('the proposed core shapes, feature-detected', () => {
  it('records values, evictions and stale DEK uses from the events a newer core would emit', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const k = { providerId: 'vault', keyRef: 'orders' };
    telemetry.onEvent({ type: 'values', operation: 'encrypt', count: 3, field: 'users.email' });
    telemetry.onEvent({ type: 'values', operation: 'encrypt', count: 2, field: 'users.email' });
    telemetry.onEvent({ type: 'values', operation: 'decrypt', count: 1 });
    telemetry.onEvent({ type: 'cache-evict', cache: 'decrypt', reason: 'capacity', ...k });
    telemetry.onEvent({ type: 'cache-evict', cache: 'encrypt', reason: 'close', count: 4, ...k });
    telemetry.onEvent({ type: 'stale-dek-used', cache: 'decrypt', overAgeMs: 1_000, ...k });
    telemetry.onEvent({ type: 'cache-hit', cache: 'value-key', ...k } as never);
    telemetry.onEvent({ type: 'some-future-event' } as never);
    const points = await otel.points();
    expect(
      sumOf(points, M.values.name, { 'cmek.operation': 'encrypt', 'cmek.field': 'users.email' }),
    ).toBe(5);
    expect(pointsOf(points, M.values.name, { 'cmek.operation': 'decrypt' })[0]!.attributes).toEqual(
      {
        'cmek.operation': 'decrypt',
      },
    );
    expect(sumOf(points, M.cacheEvictions.name, { 'cmek.cache.eviction_reason': 'capacity' })).toBe(
      1,
    );
    expect(
      sumOf(points, M.cacheEvictions.name, {
        'cmek.cache': 'encrypt',
        'cmek.cache.eviction_reason': 'close',
      }),
    ).toBe(4);
    expect(sumOf(points, M.cacheStaleServed.name, { 'cmek.kek.key_ref': 'orders' })).toBe(1);
    expect(
      sumOf(points, M.cacheLookups.name, { 'cmek.cache': 'value-key', 'cmek.cache.result': 'hit' }),
    ).toBe(1);
  });

  it('observe(envelope) reports cache sizes and counts from stats() instead of per-value events', async () => {
    const telemetry = cmekTelemetry(otel.providers);
    const caches = [
      { cache: 'encrypt' as const, size: 1, hits: 10, misses: 1 },
      { cache: 'decrypt' as const, size: 7, hits: 90, misses: 7 },
    ];
    let reads = 0;
    const stop = telemetry.observe({
      stats: () => {
        reads++;
        return { caches };
      },
    });
    telemetry.onEvent({ type: 'cache-hit', cache: 'decrypt', providerId: 'local', keyRef: 'x' });
    const points = await otel.points();
    expect(
      pointsOf(points, M.cacheSize.name).map((p) => [p.attributes['cmek.cache'], p.value, p.unit]),
    ).toEqual([
      ['encrypt', 1, '{dek}'],
      ['decrypt', 7, '{dek}'],
    ]);
    expect(
      sumOf(points, M.cacheLookups.name, { 'cmek.cache': 'decrypt', 'cmek.cache.result': 'hit' }),
    ).toBe(90);
    stop();
    const before = reads;
    await otel.points();
    expect(before).toBeGreaterThan(0);
    expect(reads).toBe(before);
  });
});

describe('secrecy', () => {
  it('no exported attribute holds a plaintext, a token or a DEK (provider-local)', async () => {
    const secrets = new Secrets();
    const telemetry = cmekTelemetry(otel.providers);
    const kek = secrets.capture(local());
    const env = createEnvelope({ kek, onEvent: telemetry.onEvent, dekCache: { maxUses: 2 } });
    const reader = createEnvelope({ kek, onEvent: telemetry.onEvent });
    for (let i = 0; i < 6; i++) {
      const plaintext = `secret-${randomBytes(12).toString('hex')}`;
      secrets.add(plaintext);
      const token = await env.encrypt(plaintext, {
        context: { field: 'users.totp', tenant: 'acme-tenant-secret' },
      });
      secrets.token(token);
      expect(
        await reader.decrypt(token, {
          context: { field: 'users.totp', tenant: 'acme-tenant-secret' },
        }),
      ).toBe(plaintext);
      await reader
        .decrypt(token, { context: { field: 'users.totp', tenant: 'other-tenant' } })
        .catch(() => undefined);
    }
    secrets.add('acme-tenant-secret', 'other-tenant');
    const exported = exportedStrings(await otel.points(), otel.spans());
    expect(exported).toContain('users.totp');
    secrets.expectNoneIn(exported, 3);
    await env.close();
    await reader.close();
  });
});
