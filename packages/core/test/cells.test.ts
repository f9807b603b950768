/** sealCells / openCells: one envelope call per field, checks before any KEK call. */
import { describe, expect, it, vi } from 'vitest';
import { CmekInvalidInputError, createEnvelope, openCells, sealCells } from '../src/index';
import { memoryProvider } from './support/memory-provider';

const a = { label: 'users.token', context: { field: 'users.token' } };
const b = { label: 'users.note', context: { field: 'users.note' } };

describe('sealCells / openCells', () => {
  it('encrypts each field under its own context and opens it back, one call per field', async () => {
    const kek = memoryProvider();
    const envelope = createEnvelope({ kek });
    const encryptMany = vi.spyOn(envelope, 'encryptMany');
    const decryptMany = vi.spyOn(envelope, 'decryptMany');
    const [ta, tb] = await sealCells(envelope, [
      { ...a, values: ['t1', null, 't3'] },
      { ...b, values: ['n1', 'n2'] },
    ]);
    expect(encryptMany).toHaveBeenCalledTimes(2);
    expect(kek.calls.generateDataKey).toBe(1);
    expect(ta!.stored[1]).toBeNull();
    expect(ta!.plaintexts).toEqual(['t1', null, 't3']);
    const opened = await openCells(envelope, [
      { ...a, values: ta!.stored },
      { ...b, values: tb!.stored },
    ]);
    expect(opened).toEqual([
      ['t1', null, 't3'],
      ['n1', 'n2'],
    ]);
    expect(decryptMany).toHaveBeenCalledTimes(2);
    // bound to the field: a token of one field does not open as the other
    await expect(openCells(envelope, [{ ...b, values: [ta!.stored[0]!] }])).rejects.toMatchObject({
      code: 'CMEK_DECRYPTION',
    });
  });

  it('keeps a token of the field as it is and refuses one of another field', async () => {
    const envelope = createEnvelope({ kek: memoryProvider() });
    const [first] = await sealCells(envelope, [{ ...a, values: ['t1'] }]);
    const token = first!.stored[0]!;
    const [again] = await sealCells(envelope, [{ ...a, values: [token] }]);
    expect(again!.stored[0]).toBe(token);
    expect(again!.plaintexts[0]).toBe('t1');
    await expect(sealCells(envelope, [{ ...b, values: [token] }])).rejects.toBeInstanceOf(
      CmekInvalidInputError,
    );
  });

  it('refuses a value of the wrong type in any field before any KEK call, naming field and type only', async () => {
    const kek = memoryProvider();
    const envelope = createEnvelope({ kek });
    const error = await sealCells(envelope, [
      { ...a, values: ['fine'] },
      { ...b, values: [{ secret: 'x-4711' }] },
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmekInvalidInputError);
    expect((error as Error).message).toContain('users.note');
    expect((error as Error).message).toContain('an object');
    expect((error as Error).message).not.toContain('x-4711');
    expect(kek.calls.generateDataKey).toBe(0);
  });

  it('follows the plaintext policy given, and makes no call for a field without values', async () => {
    const envelope = createEnvelope({ kek: memoryProvider() });
    const decryptMany = vi.spyOn(envelope, 'decryptMany');
    expect(
      await openCells(envelope, [
        { ...a, values: ['legacy'] },
        { ...b, values: [] },
      ]),
    ).toEqual([['legacy'], []]);
    expect(decryptMany).toHaveBeenCalledTimes(1);
    await expect(
      openCells(envelope, [{ ...a, values: ['legacy'] }], { plaintextPolicy: 'reject' }),
    ).rejects.toMatchObject({ code: 'CMEK_PLAINTEXT_REJECTED' });
  });
});
