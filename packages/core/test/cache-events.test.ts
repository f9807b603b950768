/** The `values`, `cache-evict` and value-key lookup events, and `envelope.stats()`. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CmekEvent, createEnvelope } from '../src/index';
import { memoryProvider } from './support/memory-provider';

const ctx = { field: 'users.email' };

function listen() {
  const events: CmekEvent[] = [];
  return { events, onEvent: (e: CmekEvent) => events.push(e) };
}
const ofType = <T extends CmekEvent['type']>(events: CmekEvent[], type: T) =>
  events.filter((e): e is Extract<CmekEvent, { type: T }> => e.type === type);

afterEach(() => {
  vi.useRealTimers();
});

describe('values events', () => {
  it('one per call with the non-null count and the field; none for a call without values or one that fails', async () => {
    const { events, onEvent } = listen();
    const env = createEnvelope({ kek: memoryProvider(), onEvent });
    const tokens = await env.encryptMany(['a', null, 'b', undefined, 'c'], { context: ctx });
    await env.encrypt('d');
    await env.encrypt(null);
    await env.decryptMany(tokens, { context: ctx });
    await env.decryptBytes(tokens[0]!, { context: ctx });
    await env.decrypt(null);
    await env.decrypt(tokens[0]!, { context: { field: 'other' } }).catch(() => undefined);
    expect(ofType(events, 'values')).toEqual([
      { type: 'values', operation: 'encrypt', count: 3, field: 'users.email' },
      { type: 'values', operation: 'encrypt', count: 1 },
      { type: 'values', operation: 'decrypt', count: 3, field: 'users.email' },
      { type: 'values', operation: 'decrypt', count: 1, field: 'users.email' },
    ]);
    expect(ofType(events, 'decrypt-failed')).toHaveLength(1);
  });
});

describe('cache-evict events', () => {
  it('capacity: the read LRU drops its oldest DEK with its value keys', async () => {
    const writer = createEnvelope({ kek: memoryProvider({ keyRef: 'k' }), dekCache: false });
    const a = await writer.encrypt('a', { context: ctx });
    const b = await writer.encrypt('b', { context: ctx });
    const { events, onEvent } = listen();
    const reader = createEnvelope({
      kek: writer.keyring,
      decryptCache: { maxEntries: 1 },
      onEvent,
    });
    await reader.decrypt(a, { context: ctx });
    await reader.decrypt(b, { context: ctx });
    const k = { providerId: 'memory', keyRef: 'k' };
    expect(ofType(events, 'cache-evict')).toEqual([
      { type: 'cache-evict', cache: 'decrypt', reason: 'capacity', ...k },
      { type: 'cache-evict', cache: 'value-key', reason: 'capacity', ...k },
    ]);
  });

  it('uses and expired: the write DEK retired; close: everything at once, counted', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { events, onEvent } = listen();
    const env = createEnvelope({
      kek: memoryProvider({ keyRef: 'k' }),
      dekCache: { maxUses: 2, maxAgeMs: 1_000 },
      onEvent,
    });
    await env.encryptMany(['a', 'b'], { context: ctx });
    await env.encrypt('c', { context: ctx }); // the first DEK is used up
    vi.setSystemTime(Date.now() + 2_000);
    await env.encrypt('d', { context: ctx }); // the second is too old
    expect(ofType(events, 'cache-evict').map((e) => [e.cache, e.reason, e.count])).toEqual([
      ['encrypt', 'uses', undefined],
      ['encrypt', 'expired', undefined],
    ]);
    events.length = 0;
    await env.close();
    // Three DEKs in the read cache (the writer hands each new DEK to it), the write DEK, and the
    // value keys derived for the context under each.
    expect(ofType(events, 'cache-evict').map((e) => [e.cache, e.reason, e.count])).toEqual([
      ['encrypt', 'close', undefined],
      ['decrypt', 'close', 3],
      ['value-key', 'close', 3],
    ]);
  });
});

describe('value-key lookups and stats()', () => {
  it('counts every lookup as the events report it, with a listener or without', async () => {
    const kek = memoryProvider({ keyRef: 'k' });
    const writer = createEnvelope({ kek });
    const tokens = await writer.encryptMany(['a', 'b'], { context: ctx });
    const { events, onEvent } = listen();
    const heard = createEnvelope({ kek, onEvent });
    const silent = createEnvelope({ kek });
    for (const env of [heard, silent]) {
      await env.decryptMany(tokens, { context: ctx }); // DEK miss (one unwrap)
      await env.decrypt(tokens[0]!, { context: ctx }); // DEK hit, value-key hit
      await env.decryptMany(tokens, { context: ctx }); // one DEK hit, two value-key hits
      await env.decrypt(tokens[0]!, { context: { field: 'users.phone' } }).catch(() => undefined);
    }
    const lookups = (cache: string, type: string) =>
      events.filter((e) => e.type === type && 'cache' in e && e.cache === cache).length;
    const expected = [
      { cache: 'encrypt', size: 0, hits: 0, misses: 0 },
      { cache: 'decrypt', size: 1, hits: 3, misses: 1 },
      // The wrong context misses (and then fails to open).
      { cache: 'value-key', size: 2, hits: 3, misses: 1 },
    ];
    expect(heard.stats().caches).toEqual(expected);
    expect(silent.stats().caches).toEqual(expected);
    expect([lookups('decrypt', 'cache-hit'), lookups('decrypt', 'cache-miss')]).toEqual([3, 1]);
    expect([lookups('value-key', 'cache-hit'), lookups('value-key', 'cache-miss')]).toEqual([3, 1]);
  });

  it('the write side: a miss per new DEK, a hit per lease (the one after a miss too), size 1 while a DEK is cached', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    expect(env.stats().caches[0]).toEqual({ cache: 'encrypt', size: 0, hits: 0, misses: 0 });
    await env.encrypt('a');
    await env.encryptMany(['b', 'c']);
    expect(env.stats().caches[0]).toEqual({ cache: 'encrypt', size: 1, hits: 2, misses: 1 });
  });
});
