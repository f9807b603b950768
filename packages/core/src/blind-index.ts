/**
 * The blind-index construction (docs/wire-format.md, "Blind indexes"): a keyed hash of a field's
 * (normalised) plaintext, stored beside the ciphertext so that an equality filter can find a row
 * without decrypting. Pure functions over an index key; the keys themselves are in
 * `blind-index-keys.ts`.
 *
 *   field key = HKDF-SHA256(ikm = index key, salt = none, info = "cmek:bi1" 0x00 mode 0x00 label, L = 32)
 *   m         = UTF-8(normalise(plaintext))
 *   hmac mode : digest = HMAC-SHA256(field key, m)
 *   slow mode : digest = scrypt(P = HMAC-SHA256(field key, m), S = field key, N = 2^cost, r = 8, p = 1, L = 32)
 *   stored    = "cmek:bi1:" mode ":" key id ":" b64url(digest)          (mode: "h", or "s" cost)
 */

import { isUtf8 } from 'node:buffer';
import { createHmac, hkdfSync, scrypt, scryptSync } from 'node:crypto';
import { encodeB64url, tryDecodeB64url } from './base64url';
import { isWellFormed } from './context';
import { CmekConfigError, CmekFormatError, CmekInvalidInputError } from './errors';

/** The prefix of every blind-index value. */
export const BLIND_INDEX_PREFIX = 'cmek:bi1:';
/** The longest blind-index value (slow mode with a two-digit cost): size the column to it. */
export const BLIND_INDEX_MAX_LENGTH = 73;
/** The scrypt cost (log2 of N) of slow mode unless `slowCost` says otherwise: N = 16384, 16 MiB. */
export const DEFAULT_SLOW_COST = 14;
export const MIN_SLOW_COST = 10;
export const MAX_SLOW_COST = 20;

export const INDEX_KEY_LENGTH = 32;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const KEY_ID = /^[0-9a-f]{16}$/;
const VALUE = /^cmek:bi1:(h|s([1-9][0-9]?)):([0-9a-f]{16}):([A-Za-z0-9_-]{43})$/;

/** `hmac`: one HMAC per value. `slow`: scrypt on top, for low-entropy values (emails, phones). */
export type BlindIndexMode = 'hmac' | 'slow';

/** A built-in normaliser: `trim` (ECMAScript `String.prototype.trim`), `lowercase`, `nfc`, `nfkc`. */
export type BlindIndexNormalizerName = 'trim' | 'lowercase' | 'nfc' | 'nfkc';

/** A normaliser: a built-in's name or a function from string to string. */
export type BlindIndexNormalizer = BlindIndexNormalizerName | ((value: string) => string);

const BUILT_IN: Readonly<Record<BlindIndexNormalizerName, (value: string) => string>> = {
  trim: (value) => value.trim(),
  lowercase: (value) => value.toLowerCase(),
  nfc: (value) => value.normalize('NFC'),
  nfkc: (value) => value.normalize('NFKC'),
};

export const NORMALIZER_NAMES = Object.keys(BUILT_IN) as BlindIndexNormalizerName[];

/** What a blind-index value says about itself (nothing secret). */
export interface BlindIndexInfo {
  readonly version: 'bi1';
  readonly mode: BlindIndexMode;
  /** Slow mode only: the scrypt cost, log2 of N. */
  readonly cost?: number;
  /** The index key the value was computed with: 16 lowercase hex characters. */
  readonly keyId: string;
}

/** The mode tag of the stored value and of the HKDF info: `h`, or `s` and the cost (`s14`). */
export function modeTag(mode: BlindIndexMode, cost: number): string {
  return mode === 'hmac' ? 'h' : `s${cost}`;
}

export function checkSlowCost(cost: unknown, where: string): number {
  if (
    typeof cost !== 'number' ||
    !Number.isInteger(cost) ||
    cost < MIN_SLOW_COST ||
    cost > MAX_SLOW_COST
  ) {
    throw new CmekConfigError(
      `${where} must be an integer from ${MIN_SLOW_COST} to ${MAX_SLOW_COST} (log2 of scrypt's N)`,
    );
  }
  return cost;
}

export function isKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID.test(value);
}

/** The key id of an index key: hex(HKDF-SHA256(ikm = key, salt = none, info = "cmek:bi1:key-id", L = 8)). */
export function indexKeyId(key: Uint8Array): string {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'cmek:bi1:key-id', 8)).toString(
    'hex',
  );
}

/** The per-field key: HKDF-SHA256(ikm = key, salt = none, info = "cmek:bi1" 0x00 tag 0x00 label, L = 32). */
export function deriveFieldKey(key: Uint8Array, tag: string, label: string): Buffer {
  const info = Buffer.concat([
    Buffer.from('cmek:bi1\u0000', 'ascii'),
    Buffer.from(tag, 'ascii'),
    Buffer.from([0]),
    Buffer.from(label, 'utf8'),
  ]);
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, INDEX_KEY_LENGTH));
}

/**
 * The normalisers of a field as one function (applied in order); `undefined`: none. Throws
 * `CmekConfigError` naming `where` for an unknown name or a non-function.
 */
export function normalizerOf(
  normalize: BlindIndexNormalizer | readonly BlindIndexNormalizer[] | undefined,
  where: string,
): ((value: string) => string) | undefined {
  if (normalize === undefined) return undefined;
  const list = Array.isArray(normalize) ? normalize : [normalize];
  const steps = list.map((step: unknown) => {
    if (typeof step === 'function') return step as (value: string) => string;
    if (typeof step === 'string' && Object.hasOwn(BUILT_IN, step)) {
      return BUILT_IN[step as BlindIndexNormalizerName];
    }
    throw new CmekConfigError(
      `${where} must be a function or one of ${NORMALIZER_NAMES.join(', ')} (or an array of them)`,
    );
  });
  if (steps.length === 0) return undefined;
  return (value) => {
    let out = value;
    for (const step of steps) {
      out = step(out);
      if (typeof out !== 'string') {
        throw new CmekConfigError(
          'a blind-index normaliser returned something that is not a string',
        );
      }
    }
    return out;
  };
}

/** `m`: the UTF-8 bytes of the normalised plaintext. Bytes are taken as they are (no normaliser). */
export function messageOf(
  plaintext: string | Uint8Array,
  normalize: ((value: string) => string) | undefined,
  label: string,
): Buffer {
  if (typeof plaintext === 'string') {
    const text = normalize === undefined ? plaintext : normalize(plaintext);
    if (!isWellFormed(text)) {
      throw new CmekInvalidInputError(
        `a value of ${label} holds a lone surrogate, which UTF-8 cannot hold: it has no blind index`,
      );
    }
    return Buffer.from(text, 'utf8');
  }
  if (plaintext instanceof Uint8Array) {
    const bytes = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    if (!isUtf8(bytes)) {
      throw new CmekInvalidInputError(
        `a value of ${label} is bytes that are not UTF-8: no blind index`,
      );
    }
    return normalize === undefined ? bytes : messageOf(bytes.toString('utf8'), normalize, label);
  }
  throw new CmekInvalidInputError(
    `a blind index of ${label} needs a string or UTF-8 bytes, not ${plaintext === null ? 'null' : typeof plaintext}`,
  );
}

export function hmacDigest(fieldKey: Uint8Array, message: Uint8Array): Buffer {
  return createHmac('sha256', fieldKey).update(message).digest();
}

const scryptOptions = (cost: number) => ({
  N: 2 ** cost,
  r: SCRYPT_R,
  p: SCRYPT_P,
  // 128 * N * r bytes, plus room for Node's own bookkeeping.
  maxmem: 2 * 128 * 2 ** cost * SCRYPT_R,
});

export function slowDigestSync(fieldKey: Uint8Array, message: Uint8Array, cost: number): Buffer {
  const inner = hmacDigest(fieldKey, message);
  try {
    return scryptSync(inner, fieldKey, INDEX_KEY_LENGTH, scryptOptions(cost));
  } finally {
    inner.fill(0);
  }
}

export function slowDigest(
  fieldKey: Uint8Array,
  message: Uint8Array,
  cost: number,
): Promise<Buffer> {
  const inner = hmacDigest(fieldKey, message);
  return new Promise((resolve, reject) => {
    scrypt(inner, fieldKey, INDEX_KEY_LENGTH, scryptOptions(cost), (error, digest) => {
      inner.fill(0);
      if (error) reject(new CmekConfigError('scrypt failed (see cause)', { cause: error }));
      else resolve(digest);
    });
  });
}

export function formatBlindIndex(tag: string, keyId: string, digest: Uint8Array): string {
  return `${BLIND_INDEX_PREFIX}${tag}:${keyId}:${encodeB64url(digest)}`;
}

/** `true` for a string with the blind-index prefix (well formed or not). */
export function isBlindIndexValue(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(BLIND_INDEX_PREFIX);
}

/**
 * The mode, cost and key id of a blind-index value, without any key; throws `CmekFormatError` for
 * a string that is not one (the message holds no part of it).
 */
export function inspectBlindIndex(value: string): BlindIndexInfo {
  const match = typeof value === 'string' ? VALUE.exec(value) : null;
  if (match === null || tryDecodeB64url(match[4]!)?.length !== INDEX_KEY_LENGTH) {
    throw new CmekFormatError(
      'not a blind-index value: expected cmek:bi1:<h | s<cost>>:<16 hex key id>:<43 base64url characters>',
    );
  }
  const keyId = match[3]!;
  if (match[1] === 'h') return { version: 'bi1', mode: 'hmac', keyId };
  const cost = Number(match[2]);
  if (cost < MIN_SLOW_COST || cost > MAX_SLOW_COST) {
    throw new CmekFormatError(
      `a slow blind index has a scrypt cost outside ${MIN_SLOW_COST}..${MAX_SLOW_COST}`,
    );
  }
  return { version: 'bi1', mode: 'slow', cost, keyId };
}
