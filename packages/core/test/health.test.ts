/** `envelope.health()`: one KEK call on the primary and what the caches can still serve. */
import { describe, expect, it } from 'vitest';
import {
  CmekClosedError,
  type CmekEvent,
  CmekInvalidInputError,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  createEnvelope,
  type HealthOptions,
} from '../src/index';
import { memoryProvider } from './support/memory-provider';

const ctx = { field: 'users.email' };

function envelopeWithEvents(kek = memoryProvider({ keyRef: 'primary' })) {
  const events: CmekEvent[] = [];
  const env = createEnvelope({ kek, onEvent: (e) => events.push(e) });
  return { kek, env, events };
}

describe('envelope.health()', () => {
  it('ok: one generateDataKey of the primary, reported as operation health', async () => {
    const { kek, env, events } = envelopeWithEvents();
    const report = await env.health();
    expect(report.status).toBe('ok');
    expect(report.kek).toMatchObject({ providerId: 'memory', keyRef: 'primary', ok: true });
    expect(report.kek.errorCode).toBeUndefined();
    expect(report.kek.durationMs).toBeGreaterThanOrEqual(0);
    expect(kek.calls).toEqual({ generateDataKey: 1, unwrap: 0, unwrapMany: 0 });
    expect(events).toEqual([
      expect.objectContaining({ type: 'kek-call', operation: 'health', count: 1, ok: true }),
    ]);
    expect(report.caches.map((c) => [c.cache, c.size])).toEqual([
      ['encrypt', 0],
      ['decrypt', 0],
      ['value-key', 0],
    ]);
    // The probe's DEK is not cached: the first write still asks for its own.
    await env.encrypt('v', { context: ctx });
    expect(kek.calls.generateDataKey).toBe(2);
  });

  it('degraded: the KEK is unavailable but cached DEKs serve, and they do', async () => {
    const { kek, env } = envelopeWithEvents();
    const token = await env.encrypt('a@x.io', { context: ctx });
    kek.failWith = new CmekKekUnavailableError('KMS down');
    const report = await env.health();
    expect(report.status).toBe('degraded');
    expect(report.kek).toMatchObject({ ok: false, errorCode: 'CMEK_KEK_UNAVAILABLE' });
    expect(report.caches.find((c) => c.cache === 'decrypt')!.size).toBe(1);
    expect(await env.decrypt(token, { context: ctx })).toBe('a@x.io');
    expect(await env.encrypt('b@x.io', { context: ctx })).toMatch(/^cmek:v1:/);
  });

  it('unavailable: the KEK is down and no cached DEK serves', async () => {
    const { kek, env } = envelopeWithEvents();
    kek.failWith = new CmekKekUnavailableError('KMS down');
    const report = await env.health();
    expect(report.status).toBe('unavailable');
    expect(report.kek.errorCode).toBe('CMEK_KEK_UNAVAILABLE');
  });

  it('access denied: the key reference is evicted from the caches, so nothing serves', async () => {
    const { kek, env, events } = envelopeWithEvents();
    const token = await env.encrypt('a@x.io', { context: ctx });
    await env.decrypt(token, { context: ctx });
    kek.failWith = new CmekKekAccessDeniedError('key disabled');
    const report = await env.health();
    expect(report.status).toBe('unavailable');
    expect(report.kek.errorCode).toBe('CMEK_KEK_ACCESS_DENIED');
    expect(report.caches.map((c) => c.size)).toEqual([0, 0, 0]);
    expect(
      events
        .filter((e) => e.type === 'cache-evict')
        .map((e) => e.type === 'cache-evict' && [e.cache, e.reason]),
    ).toEqual([
      ['decrypt', 'access-denied'],
      ['value-key', 'access-denied'],
      ['encrypt', 'access-denied'],
    ]);
    // The value is no longer readable from the cache: the KEK is asked, and refuses.
    const error = await env.decrypt(token, { context: ctx }).catch((e: unknown) => e);
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
  });

  it('a signal that aborts ends the wait: the KEK counts as unavailable', async () => {
    const { kek, env, events } = envelopeWithEvents();
    kek.delayMs = 200;
    const controller = new AbortController();
    const pending = env.health({ signal: controller.signal });
    controller.abort();
    const report = await pending;
    expect(report.status).toBe('unavailable');
    expect(report.kek).toMatchObject({ ok: false, errorCode: 'CMEK_KEK_UNAVAILABLE' });
    // Already aborted: no KEK call at all.
    const before = kek.calls.generateDataKey;
    const again = await env.health({ signal: AbortSignal.abort() });
    expect(again.kek.errorCode).toBe('CMEK_KEK_UNAVAILABLE');
    expect(kek.calls.generateDataKey).toBe(before);
    await env.close();
    // The aborted call still ended (and reported) on its own.
    await new Promise((r) => setTimeout(r, 300));
    expect(events.filter((e) => e.type === 'kek-call')).toHaveLength(1);
  });

  it('refuses a signal that is not an AbortSignal, and works only while open', async () => {
    const { env } = envelopeWithEvents();
    await expect(env.health({ signal: 'soon' } as unknown as HealthOptions)).rejects.toSatisfy(
      (e) => CmekInvalidInputError.isInstance(e),
    );
    await env.close();
    await expect(env.health()).rejects.toSatisfy((e) => CmekClosedError.isInstance(e));
    expect(() => env.stats()).toThrow(CmekClosedError);
  });
});
