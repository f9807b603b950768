/** The application side of the tests: an envelope over local key files, and checks of stored rows. */
import { createEnvelope, createKeyring, type Envelope } from '@cmek/core';
import { createLocalKekProvider } from '@cmek/provider-local';
import { expect } from 'vitest';
import type { StoredRow } from './sqlite';

export async function appEnvelope(primary: string, decryptOnly: string[] = []): Promise<Envelope> {
  return createEnvelope({
    kek: createKeyring({
      primary: await createLocalKekProvider({ path: primary }),
      decryptOnly: await Promise.all(decryptOnly.map((path) => createLocalKekProvider({ path }))),
    }),
  });
}

/**
 * Decrypts the `secret` of every row as the application does (context `<table>.secret`) and
 * checks it against `expected(id)`. With `encrypted`, a plaintext value fails the check.
 */
export async function expectSecrets(
  envelope: Envelope,
  table: string,
  rows: readonly StoredRow[],
  expected: (id: number) => string,
  options: { encrypted: boolean },
): Promise<void> {
  const context = { field: `${table}.secret` };
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = rows.slice(i, i + 5000);
    const values = await envelope.decryptMany(
      chunk.map((r) => r.secret),
      { context, plaintextPolicy: options.encrypted ? 'reject' : 'allow' },
    );
    const wrong = chunk.filter((r, k) => values[k] !== expected(r.id)).map((r) => r.id);
    expect(wrong).toEqual([]);
  }
}
