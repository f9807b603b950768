/**
 * Assertions on the blind-indexed model of the tests, `ApiToken`: `tokenHash` (its index in the
 * unique `tokenHashBidx`) and `email` (in `emailBidx`, normalised with trim and lowercase). The
 * expected index values come from a second indexer, loaded from the same wrapped index key as the
 * extension's, not from the extension.
 */
import { type BlindIndexer, loadBlindIndexes } from '@cmek/core';
import { expect } from 'vitest';
import type { TestDatabase } from './db';
import { expectSealed } from './expect';

export const TOKEN_HASH = { field: 'ApiToken.tokenHash' };
export const EMAIL = { field: 'ApiToken.email' };

const COLUMNS = { tokenHash: 'tokenHashBidx', email: 'emailBidx' } as const;

export type IndexedField = keyof typeof COLUMNS;

/** A second indexer over the database's index key (close it after the tests). */
export function checkingIndexer(t: TestDatabase): Promise<BlindIndexer> {
  return loadBlindIndexes({ keys: [t.indexKey], kek: t.kek });
}

/**
 * The index of `plaintext` in `field`, computed by `check`; `email`'s after trimming and
 * lowercasing it here (so the extension's normaliser option is checked too).
 */
export function expectedIndex(check: BlindIndexer, field: IndexedField, plaintext: string): string {
  return field === 'email'
    ? check.compute(EMAIL.field, plaintext.trim().toLowerCase())
    : check.compute(TOKEN_HASH.field, plaintext);
}

/**
 * The stored `ApiToken` row `id` holds, for `field`, a token of `plaintext` and its index (both
 * `null` for `null`), and neither column holds the plaintext.
 */
export async function expectIndexed(
  t: TestDatabase,
  check: BlindIndexer,
  id: number,
  field: IndexedField,
  plaintext: string | null,
): Promise<void> {
  const row = await t.row('prisma_api_tokens', id);
  const index = row[COLUMNS[field]];
  if (plaintext === null) {
    expect(row[field]).toBeNull();
    expect(index).toBeNull();
    return;
  }
  await expectSealed(t, row[field], plaintext, field === 'email' ? EMAIL : TOKEN_HASH);
  expect(index).toBe(expectedIndex(check, field, plaintext));
  expect(index).not.toContain(plaintext);
}
