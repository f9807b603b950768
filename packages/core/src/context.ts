/** The encryption context: validation and the canonical encoding of SPEC §3. */

import type { EncryptionContext } from './envelope-types';
import { CmekInvalidInputError } from './errors';

const EMPTY = Buffer.alloc(0);
/** With the `u` flag this matches only unpaired surrogates, which UTF-8 cannot encode. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * `true` for a string UTF-8 can hold as it is. A lone surrogate would be replaced by U+FFFD on
 * encoding: a plaintext would come back changed, and distinct contexts would share their bytes.
 */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
const MAX_PART = 0xffff;

function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/**
 * `canon(context)`: entries sorted by the key's UTF-8 bytes, each `u16be(len) key u16be(len) value`.
 * Throws `CmekInvalidInputError` for a context that is not a map of non-empty keys to strings.
 */
export function canonicalContext(context: EncryptionContext | undefined): Buffer {
  if (context === undefined) return EMPTY;
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new CmekInvalidInputError('the encryption context must be an object of string values');
  }
  const entries: [Buffer, Buffer][] = [];
  for (const [key, value] of Object.entries(context)) {
    if (key.length === 0)
      throw new CmekInvalidInputError('encryption context keys must be non-empty');
    if (typeof value !== 'string') {
      throw new CmekInvalidInputError(`encryption context value for '${key}' must be a string`);
    }
    if (!isWellFormed(key) || !isWellFormed(value)) {
      throw new CmekInvalidInputError(
        'encryption context keys and values must be well-formed Unicode (a lone surrogate was found)',
      );
    }
    const k = Buffer.from(key, 'utf8');
    const v = Buffer.from(value, 'utf8');
    if (k.length > MAX_PART || v.length > MAX_PART) {
      throw new CmekInvalidInputError(
        `encryption context entry '${key.slice(0, 64)}' exceeds 65535 bytes`,
      );
    }
    entries.push([k, v]);
  }
  if (entries.length === 0) return EMPTY;
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Buffer[] = [];
  for (const [k, v] of entries) parts.push(u16(k.length), k, u16(v.length), v);
  return Buffer.concat(parts);
}

/** `canon(context)` with a string form of the same bytes, the cache key of the value keys. */
export interface CanonicalContext {
  readonly bytes: Buffer;
  /** The bytes as latin1 text: one character per byte, so equal keys mean equal bytes. */
  readonly key: string;
}

const EMPTY_CANON: CanonicalContext = { bytes: EMPTY, key: '' };
const FIELD_CACHE_SIZE = 1024;
/** The `{ field }` contexts adapters pass on every call, by their field label. */
const byField = new Map<string, CanonicalContext>();

function canonOf(context: EncryptionContext | undefined): CanonicalContext {
  const bytes = canonicalContext(context);
  return bytes.length === 0 ? EMPTY_CANON : { bytes, key: bytes.toString('latin1') };
}

/**
 * `canonicalContext` plus its key, memoized for the one-key `{ field }` context (the adapters'
 * default): the canonical bytes depend on the label alone, so the cache is keyed by it, never by
 * the (mutable) object. Any other context is encoded afresh.
 */
export function canonicalContextOf(context: EncryptionContext | undefined): CanonicalContext {
  if (context === undefined) return EMPTY_CANON;
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    return canonOf(context);
  }
  const keys = Object.keys(context);
  const field = context.field;
  if (keys.length !== 1 || keys[0] !== 'field' || typeof field !== 'string') {
    return canonOf(context);
  }
  let canon = byField.get(field);
  if (canon === undefined) {
    canon = canonOf({ field });
    if (byField.size >= FIELD_CACHE_SIZE) byField.clear();
    byField.set(field, canon);
  }
  return canon;
}
