import { describe, expect, it } from 'vitest';
import {
  assertFieldValue,
  CmekInvalidInputError,
  CmekKekUnavailableError,
  createEnvelope,
  describeValueType,
  encryptFieldValues,
} from '../src/index';
import { memoryProvider } from './support/memory-provider';

const field = { context: { field: 'T.secret' }, label: 'T.secret' };

describe('encryptFieldValues', () => {
  it('encrypts plaintext, keeps nulls, and keeps a token of the same field as it is', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    const existing = await env.encrypt('old', { context: field.context });
    const { stored, plaintexts } = await encryptFieldValues(
      env,
      ['new', null, existing, undefined],
      field,
    );
    expect(stored[2]).toBe(existing);
    expect(stored[1]).toBeNull();
    expect(stored[3]).toBeNull();
    expect(await env.decrypt(stored[0]!, { context: field.context })).toBe('new');
    expect(plaintexts).toEqual(['new', null, 'old', null]);
  });

  it('refuses a token of another field, a damaged token and a future version', async () => {
    const env = createEnvelope({ kek: memoryProvider() });
    const other = await env.encrypt('x', { context: { field: 'T.other' } });
    // A damaged prefix is a token too (issue 19): refused, not encrypted as if it were a value.
    for (const bad of [
      other,
      `${other.slice(0, -8)}AAAAAA==`,
      'cmek:v2:abc',
      `#${other.slice(1)}`,
    ]) {
      const error = await encryptFieldValues(env, ['a', bad], field).catch((e: unknown) => e);
      expect(CmekInvalidInputError.isInstance(error)).toBe(true);
      expect((error as Error).message).toContain('T.secret');
    }
  });

  it('passes a KEK outage through unchanged (retryable), not as bad input', async () => {
    const kek = memoryProvider();
    const token = await createEnvelope({ kek }).encrypt('x', { context: field.context });
    kek.failWith = new CmekKekUnavailableError('down');
    const error = await encryptFieldValues(createEnvelope({ kek }), [token], field).catch(
      (e: unknown) => e,
    );
    expect(CmekKekUnavailableError.isInstance(error)).toBe(true);
  });
});

describe('assertFieldValue (issue 19)', () => {
  // Values whose text would be recognisable in a message: none of it may appear there.
  const secrets: [unknown, string][] = [
    [4111111111111111, 'a number'],
    [{ apiKey: 'sk_live_SECRET_0001' }, 'an object'],
    [['sk_live_SECRET_0002'], 'an array'],
    [true, 'a boolean'],
    [98765432109876543210n, 'a bigint'],
  ];

  it.each(secrets)(
    'refuses %s with the field label and the type, never the value',
    (value, type) => {
      let error: unknown;
      try {
        assertFieldValue(value, 'Payment.cardNumber');
      } catch (e) {
        error = e;
      }
      expect(CmekInvalidInputError.isInstance(error)).toBe(true);
      expect((error as CmekInvalidInputError).code).toBe('CMEK_INVALID_INPUT');
      const message = (error as Error).message;
      expect(message).toContain('Payment.cardNumber');
      expect(message).toContain(type);
      expect(describeValueType(value)).toBe(type);
      for (const text of ['4111111111111111', 'sk_live_SECRET', '98765432109876543210', 'true']) {
        expect(message).not.toContain(text);
      }
    },
  );

  it('passes strings, bytes, null and undefined; encryptFieldValues refuses the rest before any KEK call', async () => {
    for (const value of ['s', new Uint8Array([104]), null, undefined]) {
      expect(() => assertFieldValue(value, 'T.secret')).not.toThrow();
    }
    const kek = memoryProvider();
    const env = createEnvelope({ kek });
    const error = await encryptFieldValues(env, ['ok', 42] as unknown as string[], field).catch(
      (e: unknown) => e,
    );
    expect(CmekInvalidInputError.isInstance(error)).toBe(true);
    expect((error as Error).message).not.toContain('42');
    expect(kek.calls.generateDataKey).toBe(0);
  });
});
