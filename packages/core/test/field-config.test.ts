/** The field configuration adapters share: contexts validated as the envelope validates them. */
import { describe, expect, it, vi } from 'vitest';
import {
  CmekConfigError,
  createEnvelope,
  defaultContext,
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
