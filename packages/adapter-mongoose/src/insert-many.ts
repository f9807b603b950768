/**
 * `insertMany` returns documents built from the encrypted copies the middleware made, so they
 * hold tokens. The plaintext of each token is known from the encryption, so the returned
 * documents get it back without a decryption: the model's `insertMany` runs in a scope (an
 * `AsyncLocalStorage` store, one per call, dropped when the call ends) where the `insertMany`
 * hooks keep `token → plaintext`. A token found there is replaced by its plaintext; only what is
 * not (an `insertMany` reached without the wrapper) is decrypted.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Saved } from './crypt';
import { wrapMethodOnce } from './objects';

const calls = new AsyncLocalStorage<Map<string, string>>();
const WRAPPED = Symbol.for('cmek.adapter-mongoose.insert-many');

/** Keeps the plaintext of the tokens just written, for the current `insertMany` call. */
export function rememberInserted(saved: readonly Saved[]): void {
  const record = calls.getStore();
  if (record === undefined) return;
  for (const { after, plaintext } of saved)
    if (typeof after === 'string') record.set(after, plaintext);
}

/** The plaintexts kept for the current `insertMany` call (empty outside one). */
export function insertedPlaintexts(): ReadonlyMap<string, string> {
  return calls.getStore() ?? new Map();
}

/** Runs each `Model.insertMany` call of a model in its own scope (a no-op once done). */
export function scopeInsertMany(model: unknown): void {
  if (typeof model !== 'function') return;
  wrapMethodOnce(
    model,
    'insertMany',
    WRAPPED,
    (call) =>
      function (this: unknown, ...args: unknown[]) {
        return calls.run(new Map(), () => call.apply(this, args));
      },
  );
}
