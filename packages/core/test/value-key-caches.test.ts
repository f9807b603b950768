/**
 * SPEC §3 revision 2: the writer's salt per (DEK, context) with its value key, and the reader's
 * value-key cache beside the DEK cache. Keys must be reused where the SPEC allows it, and zeroed
 * whenever their DEK goes.
 */
import { describe, expect, it, vi } from 'vitest';
import { canonicalContextOf } from '../src/context';
import {
  CmekConfigError,
  type CmekEvent,
  createEnvelope,
  createKeyring,
  DEFAULT_DEK_CACHE,
} from '../src/index';
import { ReadDekCache } from '../src/read-dek-cache';
import { WriteDekCache } from '../src/write-dek-cache';
import { memoryProvider } from './support/memory-provider';

const ctx = { field: 'users.email' };
const saltOf = (token: string) => token.split('|')[1]!;
const kekOf = (token: string) => token.split('|')[0]!;
const zeroed = (b: Buffer | { readonly vk: Buffer }) =>
  (Buffer.isBuffer(b) ? b : b.vk).every((x) => x === 0);
const canon = (field: string) => canonicalContextOf({ field });
const noop = () => undefined;

describe('writer: one salt per (DEK, context)', () => {
  it('reuses the salt for a context, draws another for another context, and a new one with a new DEK', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek, dekCache: { maxUses: 4 } });
    const a = await env.encryptMany(['1', '2', '3'], { context: ctx });
    const other = await env.encrypt('4', { context: { field: 'users.phone' } });
    expect(new Set(a.map((t) => saltOf(t!))).size).toBe(1);
    expect(kekOf(other)).toBe(kekOf(a[0]!));
    expect(saltOf(other)).not.toBe(saltOf(a[0]!));
    // maxUses reached: a new DEK, and with it a new salt for the same context.
    const rotated = await env.encrypt('5', { context: ctx });
    expect(kek.calls.generateDataKey).toBe(2);
    expect(kekOf(rotated)).not.toBe(kekOf(a[0]!));
    expect(saltOf(rotated)).not.toBe(saltOf(a[0]!));
    // A context spelled with its keys in another order is the same canonical context.
    const two = await env.encryptMany(['x', 'y'], { context: { b: '2', a: '1' } });
    const same = await env.encrypt('z', { context: { a: '1', b: '2' } });
    expect(saltOf(same)).toBe(saltOf(two[0]!));
    for (const [token, value] of [
      [a[2]!, '3'],
      [other, '4'],
      [rotated, '5'],
    ] as const) {
      const context = token === other ? { field: 'users.phone' } : ctx;
      expect(await env.decrypt(token, { context })).toBe(value);
    }
    await env.close();
  });

  it('saltPerValue: true draws a salt per value (revision 1), with the same KEK calls', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek, dekCache: { saltPerValue: true } });
    const tokens = await env.encryptMany(['a', 'b', 'c'], { context: ctx });
    tokens.push(await env.encrypt('d', { context: ctx }));
    expect(new Set(tokens.map((t) => saltOf(t!))).size).toBe(4);
    expect(new Set(tokens.map((t) => kekOf(t!))).size).toBe(1);
    expect(kek.calls.generateDataKey).toBe(1);
    expect(await env.decryptMany(tokens, { context: ctx })).toEqual(['a', 'b', 'c', 'd']);
    await env.close();
    expect(DEFAULT_DEK_CACHE.saltPerValue).toBe(false);
    for (const dekCache of [{ saltPerValue: 'yes' }, { maxContexts: 0 }, null, 'big']) {
      expect(() => createEnvelope({ kek: memoryProvider(), dekCache: dekCache as never })).toThrow(
        CmekConfigError,
      );
    }
  });

  it('dekCache: false still makes one KEK call per batch, one salt per context in the batch', async () => {
    const kek = memoryProvider();
    const env = createEnvelope({ kek, dekCache: false });
    const batch = await env.encryptMany(['a', 'b'], { context: ctx });
    const single = await env.encrypt('c', { context: ctx });
    expect(kek.calls.generateDataKey).toBe(2);
    expect(saltOf(batch[0]!)).toBe(saltOf(batch[1]!));
    expect(kekOf(single)).not.toBe(kekOf(batch[0]!));
    await env.close();
  });

  it('zeroes the DEK and every value key when the DEK is retired, beyond maxContexts, and on close', async () => {
    const onValueKey = vi.fn((_k: string, _s: string, _c: string, vk: Buffer) => vk.fill(0));
    const cache = new WriteDekCache(
      memoryProvider(),
      { emit: noop },
      { maxUses: 3, maxAgeMs: 60_000, maxContexts: 2 },
      { onDek: (_k, dek) => dek.fill(0), onValueKey },
    );
    expect(cache.tryLease(1)).toBeUndefined();
    expect(await cache.acquire(1)).toBeUndefined();
    const lease = cache.tryLease(1)!;
    const a = cache.keyFor(lease.entry, canon('a'));
    expect(cache.keyFor(lease.entry, canon('a'))).toBe(a);
    const b = cache.keyFor(lease.entry, canon('b'));
    expect(zeroed(a.vk) || zeroed(b.vk)).toBe(false);
    // A third context evicts the oldest (a) and zeroes its key.
    const c = cache.keyFor(lease.entry, canon('c'));
    expect(zeroed(a.vk)).toBe(true);
    expect(zeroed(b.vk)).toBe(false);
    expect(cache.keyFor(lease.entry, canon('a'))).not.toBe(a);
    expect(onValueKey).toHaveBeenCalledTimes(4);
    // Used up (3 uses): the next lease retires the DEK, zeroing it and its keys.
    const dek = lease.entry.dek;
    cache.tryLease(2);
    expect(cache.tryLease(1)).toBeUndefined();
    expect(zeroed(dek) && zeroed(b.vk) && zeroed(c.vk)).toBe(true);
    await cache.acquire(1);
    const next = cache.tryLease(1)!;
    const key = cache.keyFor(next.entry, canon('a'));
    cache.close();
    expect(zeroed(next.entry.dek) && zeroed(key.vk)).toBe(true);
  });
});

describe('reader: the value-key cache', () => {
  const record = { providerId: 'memory', keyRef: 'k', wrapped: Buffer.from([1]) };
  const salt = (n: number) => Buffer.alloc(16, n);
  const saltText = (n: number) => salt(n).toString('base64url');
  const reader = (maxEntries: number, maxAgeMs = 60_000) =>
    new ReadDekCache(
      createKeyring({ primary: memoryProvider() }),
      { emit: noop },
      { maxEntries, maxAgeMs },
    );

  it('keeps a value key per (kek part, salt, context) and hands the same one back', () => {
    const cache = reader(10);
    cache.store('kek-a', Buffer.alloc(32, 7), record);
    const entry = cache.hit('kek-a')!;
    expect(entry.record).toBe(record);
    expect(cache.cachedValueKey(entry, saltText(1), canon('x'))).toBeUndefined();
    const vk = cache.deriveValueKey(entry, saltText(1), salt(1), canon('x'));
    expect(cache.cachedValueKey(entry, saltText(1), canon('x'))).toBe(vk);
    expect(cache.cachedValueKey(entry, saltText(1), canon('y'))).toBeUndefined();
    expect(cache.cachedValueKey(entry, saltText(2), canon('x'))).toBeUndefined();
    // A salt part that is not 22 characters is never looked up (no ambiguity with the context).
    expect(cache.cachedValueKey(entry, `${saltText(1)}x`, canon('x'))).toBeUndefined();
    expect(cache.hit('kek-b')).toBeUndefined();
  });

  it('holds at most maxEntries value keys, zeroing the least recently used', () => {
    const cache = reader(2);
    cache.store('kek-a', Buffer.alloc(32, 7), record);
    const entry = cache.hit('kek-a')!;
    const one = cache.deriveValueKey(entry, saltText(1), salt(1), canon('x'));
    const two = cache.deriveValueKey(entry, saltText(2), salt(2), canon('x'));
    cache.cachedValueKey(entry, saltText(1), canon('x')); // one is now the most recent
    cache.deriveValueKey(entry, saltText(3), salt(3), canon('x'));
    expect(zeroed(two)).toBe(true);
    expect(zeroed(one)).toBe(false);
    expect(cache.cachedValueKey(entry, saltText(2), canon('x'))).toBeUndefined();
    expect(cache.cachedValueKey(entry, saltText(1), canon('x'))).toBe(one);
  });

  it('drops and zeroes the value keys with their DEK: evicted, replaced, expired, closed', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const cache = reader(1, 1_000);
      cache.store('kek-a', Buffer.alloc(32, 7), record);
      const a = cache.deriveValueKey(cache.hit('kek-a')!, saltText(1), salt(1), canon('x'));
      cache.store('kek-b', Buffer.alloc(32, 8), record); // evicts kek-a (maxEntries 1)
      expect(zeroed(a)).toBe(true);
      const b = cache.deriveValueKey(cache.hit('kek-b')!, saltText(1), salt(1), canon('x'));
      cache.store('kek-b', Buffer.alloc(32, 9), record); // replaced
      expect(zeroed(b)).toBe(true);
      const c = cache.deriveValueKey(cache.hit('kek-b')!, saltText(1), salt(1), canon('x'));
      vi.advanceTimersByTime(1_000);
      expect(cache.hit('kek-b')).toBeUndefined(); // expired
      expect(zeroed(c)).toBe(true);
      cache.store('kek-c', Buffer.alloc(32, 1), record);
      const d = cache.deriveValueKey(cache.hit('kek-c')!, saltText(1), salt(1), canon('x'));
      const written = Buffer.alloc(32, 5);
      cache.storeValueKey('kek-c', saltText(2), canon('x').key, written);
      expect(cache.cachedValueKey(cache.hit('kek-c')!, saltText(2), canon('x'))?.vk).toBe(written);
      cache.close();
      expect(zeroed(d) && zeroed(written)).toBe(true);
      // A writer's key for a DEK the reader does not hold is zeroed, not kept.
      const stray = Buffer.alloc(32, 3);
      cache.storeValueKey('kek-z', saltText(1), '', stray);
      expect(zeroed(stray)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('envelope: cache events and KEK calls are unchanged', () => {
  it('1 KEK call per DEK on write, 1 per distinct DEK on read, 1 for concurrent cold encrypts', async () => {
    const events: CmekEvent[] = [];
    const kek = memoryProvider();
    const writer = createEnvelope({ kek, onEvent: (e) => events.push(e) });
    const cold = await Promise.all(
      Array.from({ length: 20 }, (_, i) => writer.encrypt(`v${i}`, { context: ctx })),
    );
    expect(kek.calls.generateDataKey).toBe(1);
    const encryptEvents = events.filter((e) => 'cache' in e && e.cache === 'encrypt');
    expect(encryptEvents.filter((e) => e.type === 'cache-miss')).toHaveLength(1);
    expect(encryptEvents.filter((e) => e.type === 'cache-hit')).toHaveLength(20);
    // A reader that did not write them: one unwrap, then hits from the DEK and value-key caches.
    events.length = 0;
    const reader = createEnvelope({ kek, onEvent: (e) => events.push(e) });
    expect(await reader.decryptMany(cold, { context: ctx })).toEqual(cold.map((_, i) => `v${i}`));
    for (const token of cold) await reader.decrypt(token, { context: ctx });
    expect(kek.calls.unwrap).toBe(1);
    const decryptEvents = events.filter((e) => 'cache' in e && e.cache === 'decrypt');
    expect(decryptEvents.filter((e) => e.type === 'cache-miss')).toHaveLength(1);
    expect(decryptEvents.filter((e) => e.type === 'cache-hit')).toHaveLength(20);
    // A wrong context on a cached DEK and salt still fails: the value key is per context.
    await expect(reader.decrypt(cold[0]!, { context: { field: 'other' } })).rejects.toMatchObject({
      code: 'CMEK_DECRYPTION',
    });
    await Promise.all([writer.close(), reader.close()]);
  });

  it('a decrypt whose DEK is cached settles without waiting for the event loop', async () => {
    const kek = memoryProvider();
    kek.delayMs = 50;
    const env = createEnvelope({ kek });
    const token = await env.encrypt('fast', { context: ctx });
    kek.delayMs = 10_000; // any KEK call now would outlast the test
    let settled = false;
    const pending = env.decrypt(token, { context: ctx }).then((v) => {
      settled = true;
      return v;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(settled).toBe(true);
    expect(await pending).toBe('fast');
    expect(await env.encrypt('again', { context: ctx })).toMatch(/^cmek:v1:/);
    expect(kek.calls.unwrap).toBe(0);
    await env.close();
  });
});
