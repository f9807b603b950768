/**
 * KEK outages: values under cached DEKs keep decrypting, and the optional `staleGraceMs` serves
 * a cached DEK past its `maxAgeMs` while (and only while) the KEK answers unavailable.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CmekConfigError,
  type CmekEvent,
  CmekKekAccessDeniedError,
  CmekKekUnavailableError,
  createEnvelope,
  type StaleDekUsedEvent,
} from '../src/index';
import { memoryProvider } from './support/memory-provider';

const ctx = { field: 'users.email' };
const T0 = Date.UTC(2030, 0, 1);
const at = (ms: number) => vi.setSystemTime(T0 + ms);
const down = () => new CmekKekUnavailableError('KMS down');

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  at(0);
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(cache: { maxAgeMs: number; staleGraceMs?: number }) {
  const kek = memoryProvider({ keyRef: 'k1' });
  const events: CmekEvent[] = [];
  const env = createEnvelope({
    kek,
    dekCache: cache,
    decryptCache: cache,
    onEvent: (e) => events.push(e),
  });
  const stale = () => events.filter((e): e is StaleDekUsedEvent => e.type === 'stale-dek-used');
  return { kek, env, events, stale };
}

describe('the KEK unavailable', () => {
  it('values under cached DEKs decrypt, and writes go on under the cached DEK, without a KEK call', async () => {
    const { kek, env } = setup({ maxAgeMs: 60_000 });
    const token = await env.encrypt('a@x.io', { context: ctx });
    kek.failWith = down();
    const calls = { ...kek.calls };
    expect(await env.decrypt(token, { context: ctx })).toBe('a@x.io');
    const late = await env.encrypt('b@x.io', { context: ctx });
    expect(env.inspect(late).dekId).toBe(env.inspect(token).dekId);
    expect(await env.decrypt(late, { context: ctx })).toBe('b@x.io');
    expect(kek.calls).toEqual(calls);
  });

  it('without a grace (the default), a DEK past maxAgeMs is not used: the call fails, retryable', async () => {
    const { kek, env, stale } = setup({ maxAgeMs: 1_000 });
    const token = await env.encrypt('a@x.io', { context: ctx });
    at(1_500);
    kek.failWith = down();
    const read = await env.decrypt(token, { context: ctx }).catch((e: unknown) => e);
    expect(CmekKekUnavailableError.isInstance(read)).toBe(true);
    const write = await env.encrypt('b', { context: ctx }).catch((e: unknown) => e);
    expect(CmekKekUnavailableError.isInstance(write)).toBe(true);
    expect(stale()).toEqual([]);
  });
});

describe('staleGraceMs', () => {
  it('read: past maxAgeMs the KEK is asked first; unavailable, the cached DEK serves until the grace ends', async () => {
    const { kek, env, events, stale } = setup({ maxAgeMs: 1_000, staleGraceMs: 5_000 });
    const token = await env.encrypt('a@x.io', { context: ctx });
    at(1_500);
    kek.failWith = down();
    const unwraps = kek.calls.unwrap;
    expect(await env.decrypt(token, { context: ctx })).toBe('a@x.io');
    expect(kek.calls.unwrap).toBe(unwraps + 1);
    expect(stale()).toEqual([
      {
        type: 'stale-dek-used',
        cache: 'decrypt',
        providerId: 'memory',
        keyRef: 'k1',
        overAgeMs: 500,
      },
    ]);
    // Past maxAgeMs + staleGraceMs: refused, and the DEK dropped.
    at(6_000);
    const error = await env.decrypt(token, { context: ctx }).catch((e: unknown) => e);
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
    expect(stale()).toHaveLength(1);
    expect(events).toContainEqual({
      type: 'cache-evict',
      cache: 'decrypt',
      reason: 'expired',
      providerId: 'memory',
      keyRef: 'k1',
    });
    expect(env.stats().caches.find((c) => c.cache === 'decrypt')!.size).toBe(0);
  });

  it('read: the KEK back, the DEK is unwrapped again and no stale use is reported', async () => {
    const { kek, env, stale } = setup({ maxAgeMs: 1_000, staleGraceMs: 5_000 });
    const token = await env.encrypt('a@x.io', { context: ctx });
    at(1_500);
    const unwraps = kek.calls.unwrap;
    expect(await env.decrypt(token, { context: ctx })).toBe('a@x.io');
    expect(kek.calls.unwrap).toBe(unwraps + 1);
    expect(stale()).toEqual([]);
  });

  it('read: concurrent reads of one stale DEK share one KEK call and are all served', async () => {
    const { kek, env, stale } = setup({ maxAgeMs: 1_000, staleGraceMs: 5_000 });
    const tokens = await env.encryptMany(['a', 'b', 'c'], { context: ctx });
    at(2_000);
    kek.failWith = down();
    kek.delayMs = 5;
    const unwraps = kek.calls.unwrap;
    const opened = await Promise.all(tokens.map((t) => env.decrypt(t, { context: ctx })));
    expect(opened).toEqual(['a', 'b', 'c']);
    expect(kek.calls.unwrap).toBe(unwraps + 1);
    expect(stale().map((e) => e.overAgeMs)).toEqual([1_000, 1_000, 1_000]);
  });

  it('read: never after access denied; the key reference is evicted, fresh DEKs included', async () => {
    const { kek, env, events, stale } = setup({ maxAgeMs: 1_000, staleGraceMs: 5_000 });
    const old = await env.encrypt('old', { context: ctx });
    at(1_500);
    const fresh = await env.encrypt('fresh', { context: ctx });
    kek.failWith = new CmekKekAccessDeniedError('key disabled');
    const error = await env.decrypt(old, { context: ctx }).catch((e: unknown) => e);
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(stale()).toEqual([]);
    expect(events.filter((e) => e.type === 'cache-evict' && e.reason === 'access-denied')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ cache: 'decrypt', count: 2 }),
        expect.objectContaining({ cache: 'encrypt' }),
      ]),
    );
    // The fresh DEK is gone too: reading its value asks the KEK again.
    kek.failWith = undefined;
    const unwraps = kek.calls.unwrap;
    expect(await env.decrypt(fresh, { context: ctx })).toBe('fresh');
    expect(kek.calls.unwrap).toBe(unwraps + 1);
  });

  it('write: past maxAgeMs a new DEK is asked for; unavailable, the cached DEK writes until the grace ends', async () => {
    const { kek, env, stale } = setup({ maxAgeMs: 1_000, staleGraceMs: 5_000 });
    const first = await env.encrypt('a', { context: ctx });
    at(3_000);
    kek.failWith = down();
    const generated = kek.calls.generateDataKey;
    const late = await env.encrypt('b', { context: ctx });
    expect(kek.calls.generateDataKey).toBe(generated + 1);
    expect(env.inspect(late).dekId).toBe(env.inspect(first).dekId);
    expect(stale()).toEqual([
      {
        type: 'stale-dek-used',
        cache: 'encrypt',
        providerId: 'memory',
        keyRef: 'k1',
        overAgeMs: 2_000,
      },
    ]);
    at(6_000);
    const error = await env.encrypt('c', { context: ctx }).catch((e: unknown) => e);
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
    // Back up: a new DEK.
    kek.failWith = undefined;
    const next = await env.encrypt('d', { context: ctx });
    expect(env.inspect(next).dekId).not.toBe(env.inspect(first).dekId);
    expect(await env.decrypt(late, { context: ctx })).toBe('b');
  });

  it('write: the grace extends the age only, never maxUses', async () => {
    const kek = memoryProvider();
    const writer = createEnvelope({ kek, dekCache: { maxUses: 2, staleGraceMs: 5_000 } });
    await writer.encrypt('a');
    await writer.encrypt('b');
    kek.failWith = down();
    const error = await writer.encrypt('c').catch((e: unknown) => e);
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
  });

  it('write: never after access denied; the write DEK is dropped', async () => {
    const { kek, env, stale } = setup({ maxAgeMs: 1_000, staleGraceMs: 5_000 });
    const first = await env.encrypt('a', { context: ctx });
    at(1_500);
    kek.failWith = new CmekKekAccessDeniedError('key disabled');
    const error = await env.encrypt('b', { context: ctx }).catch((e: unknown) => e);
    expect(CmekKekAccessDeniedError.isInstance(error)).toBe(true);
    expect(stale()).toEqual([]);
    expect(env.stats().caches.find((c) => c.cache === 'encrypt')!.size).toBe(0);
    kek.failWith = undefined;
    expect(env.inspect(await env.encrypt('c', { context: ctx })).dekId).not.toBe(
      env.inspect(first).dekId,
    );
  });

  it('is a number of 0 or more, on both caches', () => {
    const kek = memoryProvider();
    expect(() => createEnvelope({ kek, dekCache: { staleGraceMs: 0 } })).not.toThrow();
    for (const bad of [-1, Number.NaN, '5' as unknown as number]) {
      expect(() => createEnvelope({ kek, dekCache: { staleGraceMs: bad } })).toThrow(
        CmekConfigError,
      );
      expect(() => createEnvelope({ kek, decryptCache: { staleGraceMs: bad } })).toThrow(
        CmekConfigError,
      );
    }
  });
});
