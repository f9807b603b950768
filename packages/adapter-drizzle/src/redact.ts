/**
 * Errors without the statement's bound values. Drizzle writes a failed statement's parameters
 * into its error (`Failed query: … params: cmek:v1:…,alice`, and a `params` array), and drivers
 * put values in their own messages (MySQL's `Duplicate entry '…'`, pg's `detail`). A bound value
 * of an encrypted column is a token, and in the row store's compare-and-set the old plaintext.
 * This scrubs every string of the error and its causes of them, in place, keeping the error's
 * class, `code` and the rest.
 */
import { CmekError } from '@cmek/core';

const REDACTED = '?';
const TOKEN = /cmek:v\d+:[^\s'"`,;)\]]*/g;
/** A secret shorter than this is replaced only where it stands quoted or as a whole value. */
const SHORT = 4;
/** Error fields that name, never hold, values. */
const KEPT = new Set(['name', 'code', 'errno', 'sqlState', 'severity', 'routine', 'file']);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text.replace(TOKEN, REDACTED);
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    if (secret.length >= SHORT) out = out.split(secret).join(REDACTED);
    else {
      out = out.replace(
        new RegExp(
          `(['"\`])${escapeRegExp(secret)}\\1|(params: (?:.*,)?)${escapeRegExp(secret)}(?=,|$)`,
          'gm',
        ),
        (_m, quote: string | undefined, prefix: string | undefined) =>
          quote ? `${quote}${REDACTED}${quote}` : `${prefix ?? ''}${REDACTED}`,
      );
    }
  }
  return out;
}

function scrubValue(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') {
    return secrets.includes(value) || TOKEN.test(value) ? REDACTED : scrub(value, secrets);
  }
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, secrets, depth));
  if (typeof value === 'object' && value !== null && depth < 4) {
    redactError(value, secrets, depth + 1);
  }
  return value;
}

/** Scrubs `error` (and its `cause` chain) of `secrets` and of any cmek token, in place. */
export function redactError(error: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof error !== 'object' || error === null || CmekError.isInstance(error)) return error;
  const sorted = [...new Set(secrets)].sort((a, b) => b.length - a.length);
  const target = error as Record<string, unknown>;
  for (const key of [...Object.getOwnPropertyNames(error), 'message', 'stack']) {
    if (KEPT.has(key)) continue;
    const value = target[key];
    if (value === undefined || typeof value === 'function') continue;
    if (typeof value !== 'string' && typeof value !== 'object') continue;
    TOKEN.lastIndex = 0;
    const next = scrubValue(value, sorted, depth);
    if (next !== value) {
      try {
        Object.defineProperty(error, key, {
          value: next,
          writable: true,
          configurable: true,
          enumerable: Object.prototype.propertyIsEnumerable.call(error, key),
        });
      } catch {
        // a frozen error keeps its field
      }
    }
  }
  return error;
}
