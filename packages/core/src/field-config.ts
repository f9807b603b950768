/**
 * The per-field configuration every adapter shares, validated here so that an adapter accepts
 * exactly what the envelope will accept at the first write: the default context of SPEC §7, a
 * fixed context given in the options, and the longest token a column must hold.
 */
import type { BlindIndexOptions } from './blind-index-cells';
import { canonicalContext } from './context';
import type { EncryptionContext, Envelope } from './envelope-types';
import { CmekConfigError, CmekError } from './errors';

/** The options of one encrypted field, in every adapter. */
export interface FieldOptions {
  /**
   * The encryption context the field's values are bound to. Default
   * `{ field: '<model or table>.<field>' }` (SPEC §7): renaming the model or table then needs the
   * old name pinned here, `{ field: 'Integration.slackToken' }`, or old values stop decrypting.
   */
  readonly context?: EncryptionContext;
  /**
   * The longest plaintext the field holds, in UTF-8 bytes: the adapter checks at setup that the
   * column can hold its token.
   */
  readonly maxPlaintextBytes?: number;
  /**
   * The field's blind index: the column holding a keyed hash of the plaintext, so that an equality
   * filter on the field can be answered (`blindIndexesOption` validates it). Two entries during a
   * two-column rotation of the index key; the first is the one lookups use.
   */
  readonly blindIndex?: BlindIndexOptions | readonly BlindIndexOptions[];
}

/** SPEC §7's default context: `{ field: '<owner>.<field>' }` (owner: the model or table). */
export function defaultContext(owner: string, field: string): EncryptionContext {
  return Object.freeze({ field: `${owner}.${field}` });
}

/**
 * A context given in an adapter's options, checked as the envelope will check it (an object of
 * non-empty keys to well-formed strings, each at most 65,535 UTF-8 bytes), as a frozen copy.
 * Throws `CmekConfigError` naming `where` (the option, e.g. `tables.users.context.token`).
 */
export function validateContext(context: unknown, where: string): EncryptionContext {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new CmekConfigError(`${where} must be an object of strings`);
  }
  for (const [key, value] of Object.entries(context)) {
    if (key.length === 0 || typeof value !== 'string') {
      throw new CmekConfigError(`${where} must map non-empty keys to strings`);
    }
  }
  try {
    canonicalContext(context as EncryptionContext);
  } catch (error) {
    if (CmekError.isInstance(error)) {
      throw new CmekConfigError(`${where}: ${error.message}`, { cause: error });
    }
    throw error;
  }
  return Object.freeze({ ...(context as EncryptionContext) });
}

const warned = new Set<string>();

/**
 * Warns once per process (a `DeprecationWarning` with `code`) that an option an adapter still
 * honours is deprecated; `message` says what to use instead.
 */
export function warnDeprecatedOption(code: string, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { type: 'DeprecationWarning', code });
}

/**
 * A `maxPlaintextBytes` option: `undefined` when not given, else a positive integer; anything else
 * is a `CmekConfigError` naming `where`.
 */
export function maxPlaintextBytesOption(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new CmekConfigError(`${where} must be a positive integer (bytes)`);
  }
  return value;
}

const measured = new WeakMap<Envelope, Map<string, Promise<number>>>();

/**
 * The length of a token of a `plaintextBytes`-byte value under the envelope's primary KEK,
 * measured on a real token (one encryption, so a KEK call on a cold cache; one per envelope,
 * length and context). The length depends only on the plaintext's length and the KEK record, not
 * on the bytes; `context` is what the value is encrypted under: a tenant envelope's needs the
 * tenant id (under its `tenantKey`), whose KEK the token is measured under.
 */
export function measureTokenLength(
  envelope: Envelope,
  plaintextBytes: number,
  context?: EncryptionContext,
): Promise<number> {
  let lengths = measured.get(envelope);
  if (lengths === undefined) {
    lengths = new Map();
    measured.set(envelope, lengths);
  }
  let key = String(plaintextBytes);
  if (context !== undefined) {
    try {
      key += `:${canonicalContext(context).toString('base64')}`;
    } catch (error) {
      return Promise.reject(error); // a context the envelope would refuse, as it would refuse it
    }
  }
  let length = lengths.get(key);
  if (length === undefined) {
    length = envelope
      .encrypt(new Uint8Array(plaintextBytes), context === undefined ? undefined : { context })
      .then((token) => token.length);
    // a failed measurement (a KEK outage at setup) is not remembered
    length.catch(() => lengths.delete(key));
    lengths.set(key, length);
  }
  return length;
}
