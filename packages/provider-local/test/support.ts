import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { CmekError } from '@cmek/core';

export function makeTempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cmek-local-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every printable form of an error, to check that none holds a secret. */
export function renderings(error: unknown): string[] {
  const e = error as Error;
  return [e.message, String(e), inspect(e, { depth: 5 }), JSON.stringify(e)];
}

/** The textual forms a leaked key could take. */
export function secretForms(secret: Uint8Array): string[] {
  const b = Buffer.from(secret);
  return [b.toString('hex'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')];
}

export function assertNoSecret(error: unknown, secret: Uint8Array, extra: string[] = []): void {
  for (const text of renderings(error)) {
    // A form of a few characters (the content of a 1-byte file) matches ordinary text by chance.
    for (const form of [...secretForms(secret), ...extra].filter((f) => f.length >= 6)) {
      assert.equal(text.includes(form), false, `error output leaks a secret: ${form.slice(0, 6)}…`);
    }
  }
}

/** Awaits a rejection and returns the error, failing if the promise resolves. */
export async function rejection(promise: Promise<unknown>): Promise<CmekError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(CmekError.isInstance(error), `expected a CmekError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}
