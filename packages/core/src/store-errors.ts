/** How a row store reports a write the database refused, in every adapter. */
import { CmekError, CmekQueryError } from './errors';

/**
 * A database failure of a row store's write (`compareAndSet`, `compareAndSetMany`) as a
 * `CmekQueryError` on `field`: "`<action>` failed in the database (`<code>`): `<message>`". The
 * caller has already taken the call's values (the old value, often a legacy plaintext, and the new
 * token) out of `error`, which becomes the error's non-enumerable `cause`. A cmek error is
 * returned as it is.
 */
export function storeWriteError(error: unknown, field: string, action: string): unknown {
  if (CmekError.isInstance(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : 'a non-Error value';
  const named = typeof code === 'string' || typeof code === 'number' ? ` (${code})` : '';
  return new CmekQueryError(field, `${action} failed in the database${named}: ${message}`, {
    cause: error,
  });
}
