/** Assertions on what the database really holds. */
import { CmekQueryError, type EncryptionContext } from '@cmek/core';
import { expect } from 'vitest';
import type { TestDatabase } from './db';

/** `stored` is a cmek token that decrypts to `plaintext` under `context` (and does not show it). */
export async function expectSealed(
  t: TestDatabase,
  stored: unknown,
  plaintext: string,
  context: EncryptionContext,
): Promise<void> {
  expect(typeof stored).toBe('string');
  const token = stored as string;
  expect(token.startsWith('cmek:v1:')).toBe(true);
  // a short plaintext may appear in a random token by chance
  if (plaintext.length >= 6) expect(token).not.toContain(plaintext);
  expect(await t.envelope.decrypt(token, { context })).toBe(plaintext);
}

export const USER_TOKEN = { field: 'User.slackToken' };
export const USER_NOTE = { field: 'User.note' };
export const POST_SECRET = { field: 'Post.secret' };
export const PROFILE_PIN = { field: 'profiles.pin' };

/** `run` rejects with a `CmekQueryError` naming `field`, whose message does not hold `needle`. */
export async function expectQueryRefused(
  run: () => PromiseLike<unknown>,
  field: string,
  needle: string,
): Promise<void> {
  const error = await Promise.resolve()
    .then(run)
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  expect(CmekQueryError.isInstance(error), String(error)).toBe(true);
  expect((error as CmekQueryError).code).toBe('CMEK_QUERY');
  expect((error as CmekQueryError).field).toBe(field);
  expect((error as Error).message).not.toContain(needle);
}
