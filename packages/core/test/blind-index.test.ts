import { describe, expect, it } from 'vitest';
import {
  BLIND_INDEX_MAX_LENGTH,
  blindIndexCells,
  blindIndexesOption,
  blindIndexLabel,
  CmekClosedError,
  CmekConfigError,
  CmekDecryptionError,
  type CmekEvent,
  CmekInvalidInputError,
  createBlindIndexKey,
  createKeyring,
  INDEX_KEY_PREFIX,
  indexLookupValues,
  inspectBlindIndex,
  isBlindIndexValue,
  loadBlindIndexes,
} from '../src/index';
import { memoryProvider } from './support/memory-provider';

const kinds = (events: CmekEvent[]) =>
  events.map((e) => (e.type === 'kek-call' ? e.operation : e.type));

describe('index keys', () => {
  it('createBlindIndexKey makes one generateDataKey call and a storable string without the key', async () => {
    const provider = memoryProvider();
    const events: CmekEvent[] = [];
    const stored = await createBlindIndexKey(provider, { onEvent: (e) => events.push(e) });
    expect(kinds(events)).toEqual(['generateDataKey']);
    expect(stored).toMatch(/^cmek:bik1:[0-9a-f]{16}:[A-Za-z0-9_-]+$/);
    expect(stored.startsWith(INDEX_KEY_PREFIX)).toBe(true);
    expect(provider.calls.generateDataKey).toBe(1);
    const other = await createBlindIndexKey(provider);
    expect(other.slice(0, 27)).not.toBe(stored.slice(0, 27));
  });

  it('loadBlindIndexes unwraps each key once; compute costs no KEK call', async () => {
    const provider = memoryProvider();
    const [a, b] = [await createBlindIndexKey(provider), await createBlindIndexKey(provider)];
    const events: CmekEvent[] = [];
    const indexer = await loadBlindIndexes({
      keys: [a, b],
      kek: provider,
      onEvent: (e) => events.push(e),
    });
    expect(provider.calls.unwrap).toBe(2);
    expect(kinds(events)).toEqual(['unwrap', 'unwrap']);
    expect(indexer.keyIds).toEqual([a.slice(10, 26), b.slice(10, 26)]);
    for (let i = 0; i < 100; i++) indexer.compute('users.email', `v${i}`);
    expect(provider.calls.unwrap).toBe(2);
    // deterministic, and bound to the field label
    expect(indexer.compute('users.email', 'x')).toBe(indexer.compute('users.email', 'x'));
    expect(indexer.compute('users.email', 'x')).not.toBe(indexer.compute('users.phone', 'x'));
    expect(indexer.compute('users.email', 'x', { key: indexer.keyIds[1]! })).toBe(
      indexer.candidates('users.email', 'x')[1],
    );
  });

  it('routes a key through a keyring by its provider id and key reference', async () => {
    const old = memoryProvider({ keyRef: 'old' });
    const stored = await createBlindIndexKey(old);
    const keyring = createKeyring({
      primary: memoryProvider({ keyRef: 'new' }),
      decryptOnly: [old],
    });
    const indexer = await loadBlindIndexes({ keys: [stored], kek: keyring });
    expect(old.calls.unwrap).toBe(1);
    expect(inspectBlindIndex(indexer.compute('f', 'v')).keyId).toBe(indexer.currentKeyId);
    await expect(
      loadBlindIndexes({ keys: [stored], kek: memoryProvider({ keyRef: 'old' }) }),
    ).rejects.toThrow(CmekDecryptionError);
  });

  it('refuses bad options with CmekConfigError', async () => {
    const provider = memoryProvider();
    const key = await createBlindIndexKey(provider);
    await expect(loadBlindIndexes({ keys: [], kek: provider })).rejects.toThrow(CmekConfigError);
    await expect(loadBlindIndexes({ keys: [key, key], kek: provider })).rejects.toThrow(
      CmekConfigError,
    );
    const three = [key, await createBlindIndexKey(provider), await createBlindIndexKey(provider)];
    await expect(loadBlindIndexes({ keys: three, kek: provider })).rejects.toThrow(CmekConfigError);
    await expect(loadBlindIndexes({ keys: [key], kek: provider, slowCost: 9 })).rejects.toThrow(
      CmekConfigError,
    );
    await expect(loadBlindIndexes({ keys: [key], kek: provider, slowCost: 21 })).rejects.toThrow(
      CmekConfigError,
    );
    const indexer = await loadBlindIndexes({ keys: [key], kek: provider });
    expect(() => indexer.compute('f', 'v', { key: '0123456789abcdef' })).toThrow(CmekConfigError);
    expect(() => indexer.compute('f', 'v', { mode: 'fast' as 'hmac' })).toThrow(CmekConfigError);
    expect(() => indexer.compute('f', 'v', { normalize: 'upper' as 'trim' })).toThrow(
      CmekConfigError,
    );
    expect(() => indexer.compute('', 'v')).toThrow(CmekInvalidInputError);
    expect(() => indexer.compute('f', 'lone \ud800')).toThrow(CmekInvalidInputError);
    expect(() => indexer.compute('f', new Uint8Array([0xff]))).toThrow(CmekInvalidInputError);
    expect(() => indexer.compute('f', null as unknown as string)).toThrow(CmekInvalidInputError);
  });

  it('close zeroes the keys: compute then throws CmekClosedError', async () => {
    const provider = memoryProvider();
    const indexer = await loadBlindIndexes({
      keys: [await createBlindIndexKey(provider)],
      kek: provider,
    });
    indexer.compute('f', 'v');
    indexer.close();
    indexer.close();
    expect(() => indexer.compute('f', 'v')).toThrow(CmekClosedError);
    await expect(indexer.computeAsync('f', 'v')).rejects.toThrow(CmekClosedError);
  });

  it('slow mode is visible in the value, differs from hmac, and sync and async agree', async () => {
    const provider = memoryProvider();
    const indexer = await loadBlindIndexes({
      keys: [await createBlindIndexKey(provider)],
      kek: provider,
      slowCost: 10,
    });
    const slow = indexer.compute('users.email', 'a@b.c', { mode: 'slow' });
    expect(slow.startsWith('cmek:bi1:s10:')).toBe(true);
    expect(await indexer.computeAsync('users.email', 'a@b.c', { mode: 'slow' })).toBe(slow);
    expect(slow.slice(-43)).not.toBe(indexer.compute('users.email', 'a@b.c').slice(-43));
    expect(slow.length).toBeLessThanOrEqual(BLIND_INDEX_MAX_LENGTH);
    expect(isBlindIndexValue(slow)).toBe(true);
    expect(isBlindIndexValue('cmek:v1:x')).toBe(false);
  });
});

describe('adapter helpers', () => {
  it('blindIndexesOption validates and freezes one or two columns', () => {
    expect(blindIndexesOption(undefined, 'w')).toEqual([]);
    const one = blindIndexesOption({ column: 'email_bidx', normalize: ['trim', 'lowercase'] }, 'w');
    expect(one).toEqual([{ column: 'email_bidx', normalize: ['trim', 'lowercase'] }]);
    expect(Object.isFrozen(one) && Object.isFrozen(one[0])).toBe(true);
    const bad: [unknown, string][] = [
      [[], 'w must not be an empty array'],
      [null, 'w must be an object'],
      [{ column: '' }, 'w.column'],
      [[{ column: 'a' }, { column: 'a' }], 'w[1].column a is given twice'],
      [{ column: 'a', normalize: 'upper' }, 'w.normalize'],
      [{ column: 'a', mode: 'scrypt' }, 'w.mode'],
      [{ column: 'a', key: 'ABC' }, 'w.key'],
    ];
    for (const [value, message] of bad) {
      expect(() => blindIndexesOption(value, 'w')).toThrow(CmekConfigError);
      expect(() => blindIndexesOption(value, 'w')).toThrow(message);
    }
  });

  it('blindIndexCells gives one column of values per index, null for null', async () => {
    const provider = memoryProvider();
    const [k1, k2] = [await createBlindIndexKey(provider), await createBlindIndexKey(provider)];
    const indexer = await loadBlindIndexes({ keys: [k1, k2], kek: provider, slowCost: 10 });
    const context = { field: 'users.email' };
    const indexes = blindIndexesOption(
      [
        { column: 'email_bidx', normalize: 'lowercase' },
        {
          column: 'email_bidx_next',
          normalize: 'lowercase',
          key: indexer.keyIds[1]!,
          mode: 'slow',
        },
      ],
      'w',
    );
    const [columns] = await blindIndexCells(indexer, [
      { label: 'users.email', context, indexes, plaintexts: ['A@x', null, 'a@x'] },
    ]);
    const [first, second] = columns!;
    expect(first!.column).toBe('email_bidx');
    expect(first!.values[0]).toBe(indexer.compute('users.email', 'a@x'));
    expect(first!.values[1]).toBeNull();
    expect(first!.values[2]).toBe(first!.values[0]);
    expect(second!.column).toBe('email_bidx_next');
    expect(inspectBlindIndex(second!.values[0]!)).toEqual({
      version: 'bi1',
      mode: 'slow',
      cost: 10,
      keyId: indexer.keyIds[1],
    });
  });

  it('indexLookupValues: every loaded key unless the column is pinned to one; distinct values', async () => {
    const provider = memoryProvider();
    const indexer = await loadBlindIndexes({
      keys: [await createBlindIndexKey(provider), await createBlindIndexKey(provider)],
      kek: provider,
    });
    const lookup = {
      label: 'User.email',
      context: { field: 'users.email' },
      index: { column: 'c' },
    };
    const values = indexLookupValues(indexer, lookup, ['x', 'y', 'x']);
    expect(values).toEqual([
      ...indexer.candidates('users.email', 'x'),
      ...indexer.candidates('users.email', 'y'),
    ]);
    const pinned = indexLookupValues(
      indexer,
      { ...lookup, index: { column: 'c', key: indexer.keyIds[1]! } },
      ['x'],
    );
    expect(pinned).toEqual([indexer.candidates('users.email', 'x')[1]]);
    expect(() => indexLookupValues(indexer, lookup, [null])).toThrow(CmekInvalidInputError);
    expect(blindIndexLabel({}, 'User.email')).toBe('User.email');
    expect(blindIndexLabel({ field: 'users.email' }, 'User.email')).toBe('users.email');
  });
});
