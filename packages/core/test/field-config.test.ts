/** The field configuration adapters share: contexts validated as the envelope validates them. */
import { describe, expect, it, vi } from 'vitest';
import {
  CmekConfigError,
  createBlindIndexKey,
  createEnvelope,
  defaultContext,
  envelopeOption,
  fieldOptionEntries,
  indexerOption,
  loadBlindIndexes,
  maxPlaintextBytesOption,
  measureTokenLength,
  validateContext,
  warnDeprecatedOption,
} from '../src/index';
import { memoryProvider } from './support/memory-provider';

describe('field configuration', () => {
  it('the default context is { field: owner.field }, frozen', () => {
    const context = defaultContext('Integration', 'slackToken');
    expect(context).toEqual({ field: 'Integration.slackToken' });
    expect(Object.isFrozen(context)).toBe(true);
  });

  it('validateContext accepts what the envelope accepts, as a frozen copy', () => {
    const given = { field: 'x', tenant: '' };
    const context = validateContext(given, 'tables.t.context.c');
    expect(context).toEqual(given);
    expect(context).not.toBe(given);
    expect(Object.isFrozen(context)).toBe(true);
  });

  it.each([
    ['a string', 'users.token'],
    ['null', null],
    ['an array', ['a']],
    ['an empty key', { '': 'x' }],
    ['a number value', { field: 7 }],
    ['a lone surrogate', { field: '\uD800' }],
    ['a value over 65,535 bytes', { field: 'é'.repeat(40_000) }],
  ])('validateContext refuses %s with CmekConfigError naming the option', (_what, context) => {
    expect(() => validateContext(context, 'fields.token.context')).toThrow(CmekConfigError);
    expect(() => validateContext(context, 'fields.token.context')).toThrow(
      /^fields\.token\.context/,
    );
  });

  it('measureTokenLength measures a real token once per envelope and length', async () => {
    const kek = memoryProvider();
    const envelope = createEnvelope({ kek });
    const length = await measureTokenLength(envelope, 100);
    const token = await envelope.encrypt('x'.repeat(100), { context: { field: 'a.b' } });
    expect(length).toBe(token.length);
    expect(await measureTokenLength(envelope, 100)).toBe(length);
    expect(await measureTokenLength(envelope, 1000)).toBeGreaterThan(length);
    expect(kek.calls.generateDataKey).toBe(1);
  });

  it('maxPlaintextBytesOption takes a positive integer or nothing', () => {
    expect(maxPlaintextBytesOption(undefined, 'x')).toBeUndefined();
    expect(maxPlaintextBytesOption(200, 'x')).toBe(200);
    for (const bad of [0, -1, 1.5, '3', Number.NaN]) {
      expect(() => maxPlaintextBytesOption(bad, 'fields.a.maxPlaintextBytes')).toThrow(
        /^fields\.a\.maxPlaintextBytes must be a positive integer/,
      );
    }
  });

  it('warnDeprecatedOption warns once per code', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    warnDeprecatedOption('CMEK_DEP_TEST_A', 'use b');
    warnDeprecatedOption('CMEK_DEP_TEST_A', 'use b');
    warnDeprecatedOption('CMEK_DEP_TEST_C', 'use d');
    expect(warn.mock.calls).toEqual([
      ['use b', { type: 'DeprecationWarning', code: 'CMEK_DEP_TEST_A' }],
      ['use d', { type: 'DeprecationWarning', code: 'CMEK_DEP_TEST_C' }],
    ]);
    warn.mockRestore();
  });
});

describe('the option checks adapters share', () => {
  const kek = memoryProvider();

  it('envelopeOption returns an envelope and refuses anything else, naming the entry point', () => {
    const envelope = createEnvelope({ kek });
    expect(envelopeOption(envelope, 'withCmek')).toBe(envelope);
    for (const bad of [undefined, null, {}, { encryptMany: () => [] }, 'envelope']) {
      expect(() => envelopeOption(bad, 'withCmek')).toThrow(CmekConfigError);
      expect(() => envelopeOption(bad, 'withCmek')).toThrow(/^withCmek needs `envelope`/);
    }
  });

  it('indexerOption passes undefined and an indexer, refuses anything else', async () => {
    expect(indexerOption(undefined, 'cmekPlugin')).toBeUndefined();
    const stored = await createBlindIndexKey(kek);
    const indexer = await loadBlindIndexes({ keys: [stored], kek });
    expect(indexerOption(indexer, 'cmekPlugin')).toBe(indexer);
    for (const bad of [null, {}, { compute: () => '' }, 'indexer']) {
      expect(() => indexerOption(bad, 'cmekPlugin')).toThrow(
        /^cmekPlugin: `indexer` must be the result of loadBlindIndexes\(\)$/,
      );
    }
    indexer.close();
  });

  it('fieldOptionEntries reads the list and the object form', () => {
    expect(fieldOptionEntries(['a', 'b'], 'tables.t.columns', 'column')).toEqual([
      ['a', {}],
      ['b', {}],
    ]);
    const options = { context: { field: 'x' } };
    expect(fieldOptionEntries({ a: options }, 'tables.t.columns', 'column')).toEqual([
      ['a', options],
    ]);
  });

  it.each([
    ['an empty list', []],
    ['an empty object', {}],
    ['a string', 'a'],
    ['a list with an empty name', ['a', '']],
    ['a list with a number', ['a', 1]],
  ])('fieldOptionEntries refuses %s', (_what, fields) => {
    expect(() => fieldOptionEntries(fields, 'tables.t.columns', 'column')).toThrow(
      'tables.t.columns must be a non-empty array of column names, or an object of column name to options',
    );
  });

  it('fieldOptionEntries refuses options that are not an object, naming the field', () => {
    for (const bad of [null, 'x', ['context']]) {
      expect(() => fieldOptionEntries({ token: bad }, 'models.User.fields', 'field')).toThrow(
        /^models\.User\.fields\.token must be an object/,
      );
    }
  });
});
