import { describe, expect, it } from 'vitest';
import {
  CmekInvalidInputError,
  CmekKekUnavailableError,
  createEnvelope,
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
    for (const bad of [other, `${other.slice(0, -8)}AAAAAA==`, 'cmek:v2:abc']) {
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
