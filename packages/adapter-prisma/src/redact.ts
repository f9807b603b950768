/**
 * Prisma writes a query's arguments into some of its errors (a `PrismaClientValidationError`
 * renders the whole call). For the queries the extension encrypted, the error is scrubbed in place
 * before it reaches the caller: every cmek token in its message, stack and string fields becomes
 * `[cmek token]`. The plaintexts never reach Prisma, so they cannot be in its errors.
 */
import { CmekError } from '@cmek/core';

const TOKEN = /cmek:v\d+:[^\s'"`,;)]*/g;
const KEPT = new Set(['code', 'name', 'clientVersion', 'errorCode']);

function scrub(text: string): string {
  return text.replace(TOKEN, '[cmek token]');
}

/** Scrubs `error` in place (its own string fields, its stack, its `meta` and `cause`); returns it. */
export function scrubTokens<E>(error: E, depth = 3): E {
  if (typeof error !== 'object' || error === null || CmekError.isInstance(error)) return error;
  const record = error as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(error)) {
    if (KEPT.has(key)) continue;
    const value = record[key];
    if (typeof value === 'string') {
      const clean = scrub(value);
      if (clean !== value) {
        Object.defineProperty(error, key, { value: clean, configurable: true, writable: true });
      }
    } else if (depth > 0 && value !== error && typeof value === 'object' && value !== null) {
      scrubTokens(value, depth - 1);
    }
  }
  if (!Object.getOwnPropertyNames(error).includes('stack') && typeof record.stack === 'string') {
    Object.defineProperty(error, 'stack', {
      value: scrub(record.stack),
      configurable: true,
      writable: true,
      enumerable: false,
    });
  }
  return error;
}
