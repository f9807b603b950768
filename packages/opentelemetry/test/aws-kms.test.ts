/**
 * Real KEK calls against moto (AWS KMS API): the shared server for the metrics and the secrecy
 * scan, and a private moto server killed mid-run for the outage.
 */
import { randomBytes } from 'node:crypto';
import { CmekKekUnavailableError, createEnvelope } from '@cmek/core';
import { createAwsKmsKekProvider } from '@cmek/provider-aws-kms';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { cmekTelemetry, CMEK_METRICS as M } from '../src/index';
import { createOtel, exportedStrings, type Otel, pointsOf, sumOf } from './support/otel';
import { Secrets } from './support/secrets';
import { createKmsKey, motoEndpoint, PrivateMoto, REGION } from './support/services';

const endpoint = motoEndpoint();
const field = { field: 'integrations.token' };

let otel: Otel;
let secrets: Secrets;
beforeEach(() => {
  otel = createOtel();
  secrets = new Secrets();
});
afterEach(async () => {
  vi.useRealTimers();
  await otel.shutdown();
});

function kms(
  at: string,
  keyId: string,
  extra: { maxAttempts?: number; requestTimeoutMs?: number } = {},
) {
  const secretAccessKey = `otel-${randomBytes(16).toString('hex')}`;
  secrets.add(secretAccessKey);
  return secrets.capture(
    createAwsKmsKekProvider({
      keyId,
      region: REGION,
      endpoint: at,
      credentials: { accessKeyId: 'otel-test', secretAccessKey },
      ...extra,
    }),
  );
}

async function writeValues(env: ReturnType<typeof createEnvelope>, n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const plaintext = `tok_${randomBytes(16).toString('hex')}`;
    secrets.add(plaintext);
    const token = await env.encrypt(plaintext, { context: field });
    secrets.token(token);
    tokens.push(token);
  }
  return tokens;
}

describe.skipIf(!endpoint)('against moto (AWS KMS)', () => {
  it('records every KEK metric with the provider, the key ARN and the outcome; no secret in any attribute', async () => {
    const arn = await createKmsKey(endpoint!);
    const telemetry = cmekTelemetry(otel.providers);
    const writer = createEnvelope({
      kek: kms(endpoint!, arn),
      onEvent: telemetry.onEvent,
      dekCache: { maxUses: 2 },
    });
    const tokens = await writeValues(writer, 6);
    const reader = createEnvelope({ kek: kms(endpoint!, arn), onEvent: telemetry.onEvent });
    const opened = await reader.decryptMany(tokens, { context: field });
    expect(opened).toHaveLength(6);
    await reader.decrypt('legacy token value', { context: field });

    const points = await otel.points();
    const attrs = {
      'cmek.kek.provider': 'aws-kms',
      'cmek.kek.key_ref': arn,
      'cmek.kek.outcome': 'ok',
    };
    expect(
      sumOf(points, M.kekCalls.name, { ...attrs, 'cmek.kek.operation': 'generateDataKey' }),
    ).toBe(3);
    // Three distinct DEKs read in one batch: one KEK call per DEK (KMS has no batch decrypt).
    expect(sumOf(points, M.kekDeks.name, { ...attrs, 'cmek.kek.operation': 'unwrap' })).toBe(3);
    const durations = pointsOf(points, M.kekCallDuration.name, attrs);
    expect(durations.reduce((n, p) => n + p.histogram!.count, 0)).toBe(6);
    expect(durations.every((p) => p.unit === 's' && (p.histogram!.sum ?? 0) > 0)).toBe(true);
    expect(
      sumOf(points, M.cacheLookups.name, { 'cmek.cache': 'decrypt', 'cmek.cache.result': 'miss' }),
    ).toBe(3);
    expect(sumOf(points, M.plaintextReads.name, { 'cmek.field': 'integrations.token' })).toBe(1);
    const spans = otel.spans().filter((s) => s.name.startsWith('cmek.kek.'));
    expect(spans).toHaveLength(6);
    expect(spans.every((s) => s.attributes['cmek.kek.key_ref'] === arn)).toBe(true);

    const exported = exportedStrings(points, otel.spans());
    expect(exported).toContain(arn);
    secrets.expectNoneIn(exported, 3);
    await writer.close();
    await reader.close();
  });

  describe('a KMS server killed mid-run', () => {
    let moto: PrivateMoto | undefined;
    beforeAll(async () => {
      moto = await PrivateMoto.start();
    });
    afterAll(async () => {
      await moto?.kill();
    });

    it('records unavailable outcomes while reads under cached DEKs and writes under the cached DEK still succeed', async () => {
      const at = moto!.endpoint;
      const arn = await createKmsKey(at);
      const telemetry = cmekTelemetry(otel.providers);
      // One attempt, a short timeout: the SDK's retries would only slow the test down.
      const impatient = { maxAttempts: 1, requestTimeoutMs: 2_000 };
      const writer = createEnvelope({ kek: kms(at, arn, impatient), onEvent: telemetry.onEvent });
      const reader = createEnvelope({ kek: kms(at, arn, impatient), onEvent: telemetry.onEvent });
      const other = createEnvelope({ kek: kms(at, arn, impatient) });
      const tokens = await writeValues(writer, 4);
      const [unread] = await writeValues(other, 1);
      for (const token of tokens) await reader.decrypt(token, { context: field });

      await moto!.kill();

      // Cached DEKs keep working: every value read before, and a new write under the write DEK.
      for (const token of tokens) {
        expect(await reader.decrypt(token, { context: field })).toMatch(/^tok_/);
      }
      const [late] = await writeValues(writer, 1);
      expect(await reader.decrypt(late!, { context: field })).toMatch(/^tok_/);
      // A DEK not cached needs the KMS: unavailable, retryable.
      const failed = await reader.decrypt(unread!, { context: field }).catch((e: unknown) => e);
      expect(CmekKekUnavailableError.isInstance(failed)).toBe(true);
      const cold = createEnvelope({
        kek: kms(at, arn, impatient),
        onEvent: telemetry.onEvent,
        dekCache: false,
      });
      const refused = await cold.encrypt('needs a new DEK').catch((e: unknown) => e);
      expect(CmekKekUnavailableError.isInstance(refused)).toBe(true);

      const points = await otel.points();
      const down = { 'cmek.kek.outcome': 'unavailable', 'error.type': 'CMEK_KEK_UNAVAILABLE' };
      expect(sumOf(points, M.kekCalls.name, { ...down, 'cmek.kek.operation': 'unwrap' })).toBe(1);
      expect(
        sumOf(points, M.kekCalls.name, { ...down, 'cmek.kek.operation': 'generateDataKey' }),
      ).toBe(1);
      expect(sumOf(points, M.kekCalls.name, { 'cmek.kek.outcome': 'ok' })).toBe(2);
      expect(
        sumOf(points, M.decryptFailures.name, {
          'error.type': 'CMEK_KEK_UNAVAILABLE',
          'cmek.field': 'integrations.token',
        }),
      ).toBe(1);
      // The hits of the reads that kept working during the outage.
      expect(
        sumOf(points, M.cacheLookups.name, { 'cmek.cache': 'decrypt', 'cmek.cache.result': 'hit' }),
      ).toBeGreaterThanOrEqual(5);
      const errorSpans = otel.spans().filter((s) => s.status.code === SpanStatusCode.ERROR);
      expect(errorSpans.map((s) => [s.name, s.attributes['cmek.kek.outcome']]).sort()).toEqual([
        ['cmek.kek.generateDataKey', 'unavailable'],
        ['cmek.kek.unwrap', 'unavailable'],
      ]);
      secrets.expectNoneIn(exportedStrings(points, otel.spans()), 2);
      await Promise.all([writer.close(), reader.close(), other.close(), cold.close()]);
    });
  });

  describe('a KMS server killed mid-run, with staleGraceMs', () => {
    let moto: PrivateMoto | undefined;
    beforeAll(async () => {
      moto = await PrivateMoto.start();
    });
    afterAll(async () => {
      await moto?.kill();
    });

    it('uses the cached DEKs past maxAgeMs within the grace, and refuses them after', async () => {
      const at = moto!.endpoint;
      const arn = await createKmsKey(at);
      const telemetry = cmekTelemetry(otel.providers);
      const impatient = { maxAttempts: 1, requestTimeoutMs: 2_000 };
      const limits = { maxAgeMs: 60_000, staleGraceMs: 300_000 };
      const env = createEnvelope({
        kek: kms(at, arn, impatient),
        dekCache: limits,
        decryptCache: limits,
        ...telemetry.envelopeOptions,
      });
      const [token] = await writeValues(env, 1);

      await moto!.kill();
      // The clock moves on by Date only (the KMS is gone: no request is signed that could work).
      vi.useFakeTimers({ toFake: ['Date'] });
      const start = Date.now();

      // Two minutes later: past maxAgeMs, within the grace. KMS is asked first and does not
      // answer; the cached DEKs serve, each use counted.
      vi.setSystemTime(start + 120_000);
      expect(await env.decrypt(token!, { context: field })).toMatch(/^tok_/);
      const [late] = await writeValues(env, 1);
      expect(env.inspect(late!).dekId).toBe(env.inspect(token!).dekId);
      expect(await env.decrypt(late!, { context: field })).toMatch(/^tok_/);
      let points = await otel.points();
      expect(sumOf(points, M.cacheStaleServed.name, { 'cmek.kek.key_ref': arn })).toBe(3);
      expect(
        sumOf(points, M.kekCalls.name, {
          'cmek.kek.outcome': 'unavailable',
          'error.type': 'CMEK_KEK_UNAVAILABLE',
        }),
      ).toBe(3);

      // Past maxAgeMs + staleGraceMs: refused, retryable, and the DEKs dropped.
      vi.setSystemTime(start + 400_000);
      const read = await env.decrypt(token!, { context: field }).catch((e: unknown) => e);
      expect(CmekKekUnavailableError.isInstance(read)).toBe(true);
      const write = await env.encrypt('after the grace').catch((e: unknown) => e);
      expect(CmekKekUnavailableError.isInstance(write)).toBe(true);
      points = await otel.points();
      expect(sumOf(points, M.cacheStaleServed.name)).toBe(3);
      expect(
        sumOf(points, M.cacheEvictions.name, { 'cmek.cache.eviction_reason': 'expired' }),
      ).toBeGreaterThanOrEqual(2);
      const health = await env.health();
      expect(health).toMatchObject({
        status: 'unavailable',
        kek: { ok: false, errorCode: 'CMEK_KEK_UNAVAILABLE' },
      });
      secrets.expectNoneIn(exportedStrings(points, otel.spans()), 1);
      await env.close();
    });
  });
});
