/** The encrypted copy of updates, checked without a server (the positional operators included). */
import { randomBytes } from 'node:crypto';
import { CmekQueryError, createEnvelope } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { describe, expect, it } from 'vitest';
import type { FieldPath } from '../src/paths';
import { encryptUpdate } from '../src/update';

const envelope = createEnvelope({ kek: createLocalKekProviderFromKey(randomBytes(32)) });
const fields: FieldPath[] = [
  { path: 'token', segments: ['token'], inArray: false },
  { path: 'hooks.secret', segments: ['hooks', 'secret'], inArray: true },
];
const contextOf = () => (f: FieldPath) => ({ field: `M.${f.path}` });
const open = (token: unknown, path: string) =>
  envelope.decrypt(token as string, { context: { field: `M.${path}` } });

describe('encryptUpdate', () => {
  it('encrypts positional keys of array elements and leaves the input alone', async () => {
    const input = {
      $set: { 'hooks.$.secret': 'one', 'hooks.$[].secret': 'all', 'hooks.$[h].secret': 'f' },
      $setOnInsert: { token: 'ins' },
      name: 'plain',
    };
    const copy = JSON.parse(JSON.stringify(input));
    const out = (await encryptUpdate({ envelope }, input, fields, contextOf)) as typeof input;
    expect(input).toEqual(copy);
    expect(out.name).toBe('plain');
    expect(await open(out.$set['hooks.$.secret'], 'hooks.secret')).toBe('one');
    expect(await open(out.$set['hooks.$[].secret'], 'hooks.secret')).toBe('all');
    expect(await open(out.$set['hooks.$[h].secret'], 'hooks.secret')).toBe('f');
    expect(await open(out.$setOnInsert.token, 'token')).toBe('ins');
  });

  it('refuses an update pipeline that writes an encrypted path, and one it cannot check', async () => {
    await expect(
      encryptUpdate({ envelope }, [{ $set: { token: 'x' } }], fields, contextOf),
    ).rejects.toSatisfy((e) => CmekQueryError.isInstance(e));
    await expect(
      encryptUpdate({ envelope }, [{ $replaceWith: { token: 'x' } }], fields, contextOf),
    ).rejects.toSatisfy((e) => CmekQueryError.isInstance(e));
    await expect(
      encryptUpdate({ envelope }, [{ $set: { other: '$token' } }], fields, contextOf),
    ).rejects.toSatisfy((e) => CmekQueryError.isInstance(e));
    const fine = [{ $set: { other: 'x' } }];
    expect(await encryptUpdate({ envelope }, fine, fields, contextOf)).toBe(fine);
  });

  it('refuses a non-string value for an encrypted path, naming the path only', async () => {
    await expect(
      encryptUpdate({ envelope }, { $set: { token: 12345 } }, fields, contextOf),
    ).rejects.toThrow(/'token' is encrypted and takes a string or null, not a number/);
  });
});
