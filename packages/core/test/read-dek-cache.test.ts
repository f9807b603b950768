import { describe, expect, it } from 'vitest';
import { createKeyring } from '../src/index';
import { ReadDekCache } from '../src/read-dek-cache';
import { memoryProvider } from './support/memory-provider';

const keyring = () => createKeyring({ primary: memoryProvider() });
const dek = (fill: number) => Buffer.alloc(32, fill);
const record = { providerId: 'memory', keyRef: 'k', wrapped: Buffer.from([1]) };

describe('ReadDekCache zeroing', () => {
  it('zeroes a DEK when it is evicted beyond maxEntries', () => {
    const cache = new ReadDekCache(
      keyring(),
      { emit: () => undefined },
      { maxEntries: 2, maxAgeMs: 60_000 },
    );
    const first = dek(1);
    cache.store('a', first, record);
    cache.store('b', dek(2), record);
    expect(first.every((b) => b === 1)).toBe(true);
    cache.store('c', dek(3), record);
    expect(first.every((b) => b === 0)).toBe(true);
  });

  it('zeroes every DEK on close, and anything stored after close at once', () => {
    const cache = new ReadDekCache(
      keyring(),
      { emit: () => undefined },
      {
        maxEntries: 10,
        maxAgeMs: 60_000,
      },
    );
    const kept = [dek(1), dek(2)];
    cache.store('a', kept[0]!, record);
    cache.store('b', kept[1]!, record);
    cache.close();
    expect(kept.every((d) => d.every((b) => b === 0))).toBe(true);
    const late = dek(9);
    cache.store('c', late, record);
    expect(late.every((b) => b === 0)).toBe(true);
  });

  it('zeroes a DEK replaced under the same key, and keeps nothing when caching is off', () => {
    const cache = new ReadDekCache(
      keyring(),
      { emit: () => undefined },
      {
        maxEntries: 10,
        maxAgeMs: 60_000,
      },
    );
    const old = dek(4);
    cache.store('a', old, record);
    cache.store('a', dek(5), record);
    expect(old.every((b) => b === 0)).toBe(true);
    const off = new ReadDekCache(keyring(), { emit: () => undefined }, false);
    const passed = dek(6);
    off.store('a', passed, record);
    expect(passed.every((b) => b === 0)).toBe(true);
  });
});
