/** `createEnvelope`: encrypt and decrypt field values as `cmek:v1:` tokens. */
import { isUtf8 } from 'node:buffer';
import type { EnvelopeStats } from './cache-events';
import { canonicalContextOf, isWellFormed } from './context';
import { type DecryptBatch, decryptBatch, decryptOne } from './decrypt-batch';
import { emitterOf } from './emitter';
import { encryptBatch } from './encrypt-batch';
import {
  DEFAULT_DECRYPT_CACHE,
  dekCacheOf,
  limitsOf,
  policyOf,
  positive,
} from './envelope-options';
import type {
  CryptOptions,
  DecryptOptions,
  Encryptable,
  Envelope,
  EnvelopeOptions,
  TokenInfo,
} from './envelope-types';
import { CmekClosedError, CmekConfigError, CmekInvalidInputError } from './errors';
import { checkHealth, type HealthOptions } from './health';
import { kekCallHookOf } from './kek-call-hook';
import type { KekChannel } from './kek-calls';
import { createKeyring, isKeyring, type Keyring } from './keyring';
import { ReadDekCache } from './read-dek-cache';
import { inspectToken } from './token';
import { isTokenLike } from './token-shape';
import { countValues, emitValues } from './values-event';
import { WriteDekCache } from './write-dek-cache';

export { DEFAULT_DECRYPT_CACHE, DEFAULT_DEK_CACHE } from './envelope-options';

function bytesOf(value: Encryptable): Buffer {
  if (typeof value === 'string') {
    if (!isWellFormed(value)) {
      throw new CmekInvalidInputError(
        'the string holds a lone surrogate, which UTF-8 cannot store: it would decrypt changed',
      );
    }
    return Buffer.from(value, 'utf8');
  }
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    // A value decrypts to a string (or to these bytes through decryptBytes): bytes that are not
    // UTF-8 would come back from decrypt changed (U+FFFD), so they are refused, like a lone
    // surrogate in a string.
    if (!isUtf8(bytes)) {
      throw new CmekInvalidInputError(
        'the bytes are not valid UTF-8: decrypt would return them changed; encode binary values (base64) before encrypting',
      );
    }
    return bytes;
  }
  throw new CmekInvalidInputError(
    `only strings and Uint8Array values can be encrypted, not ${typeof value}`,
  );
}

export function createEnvelope(options: EnvelopeOptions): Envelope {
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('createEnvelope needs an options object with a kek');
  }
  const keyring: Keyring = isKeyring(options.kek)
    ? options.kek
    : createKeyring({ primary: options.kek });
  // A failing metrics hook must not break encryption: `emitterOf` ignores its throws.
  const emit = emitterOf(options.onEvent);
  const reporting = options.onEvent !== undefined;
  const kek: KekChannel = {
    emit,
    hook: kekCallHookOf(options.kekCallHook),
    failed(code, providerId, keyRef) {
      // A KEK that refuses access to a key reference: none of its cached DEKs is used again.
      if (code !== 'CMEK_KEK_ACCESS_DENIED') return;
      readCache.evictKek(providerId, keyRef, 'access-denied');
      writeCache.evictKek(providerId, keyRef, 'access-denied');
    },
  };
  const defaultPolicy = policyOf(options.plaintextPolicy ?? 'allow', 'plaintextPolicy');
  const maxAgeMs =
    options.maxTokenAgeMs === undefined
      ? undefined
      : positive(options.maxTokenAgeMs, 'maxTokenAgeMs');
  const readCache = new ReadDekCache(
    keyring,
    kek,
    limitsOf(options.decryptCache, DEFAULT_DECRYPT_CACHE, 'decryptCache'),
    reporting,
  );
  const dekCache = dekCacheOf(options.dekCache);
  // A value read back right after it was written costs no unwrap and no HKDF.
  const writeCache = new WriteDekCache(
    keyring.primary,
    kek,
    dekCache.limits,
    {
      onDek: (kekText, dek, record) => readCache.store(kekText, dek, record),
      onValueKey: (kekText, saltText, canonKey, vk) =>
        readCache.storeValueKey(kekText, saltText, canonKey, vk),
    },
    reporting,
  );
  let closed = false;
  const caches = {
    serving: () => writeCache.serving() || readCache.serving(),
    stats: () => envelope.stats().caches,
  };

  const ensureOpen = (): void => {
    if (closed) throw new CmekClosedError();
  };

  function encryptAll(
    values: readonly (Encryptable | null | undefined)[],
    context: CryptOptions['context'],
  ): (string | null)[] | Promise<(string | null)[]> {
    ensureOpen();
    const canon = canonicalContextOf(context);
    return encryptBatch({
      cache: writeCache,
      canon,
      plaintexts: values.map((v) => (v === null || v === undefined ? null : bytesOf(v))),
      saltPerValue: dekCache.saltPerValue,
      ensureOpen,
    });
  }

  /** Decrypts a batch to bytes; legacy plaintext follows the policy; null stays null. */
  function decryptAll(
    tokens: readonly (string | null | undefined)[],
    options: DecryptOptions | undefined,
  ): (Buffer | null)[] | Promise<(Buffer | null)[]> {
    return decryptBatch(tokens, batchOf(options));
  }

  function batchOf(options: DecryptOptions | undefined): DecryptBatch {
    ensureOpen();
    const policy =
      options?.plaintextPolicy === undefined
        ? defaultPolicy
        : policyOf(options.plaintextPolicy, 'plaintextPolicy');
    const field = options?.context?.field;
    return {
      cache: readCache,
      canon: canonicalContextOf(options?.context),
      policy,
      maxAgeMs,
      field,
      emit,
      ensureOpen,
    };
  }

  /** The `values` event of a call that succeeded (only built when someone listens). */
  const values = (
    operation: 'encrypt' | 'decrypt',
    count: number,
    options: CryptOptions | undefined,
  ): void => {
    if (reporting) emitValues(emit, operation, count, options?.context?.field);
  };

  const envelope = {
    keyring,
    async encrypt(value: Encryptable | null | undefined, options?: CryptOptions) {
      const tokens = encryptAll([value], options?.context);
      const token = (tokens instanceof Promise ? await tokens : tokens)[0] ?? null;
      values('encrypt', token === null ? 0 : 1, options);
      return token as string;
    },
    async decrypt(token: string | null | undefined, options?: DecryptOptions) {
      const one = decryptOne(token, batchOf(options));
      const bytes = one instanceof Promise ? await one : one;
      values('decrypt', bytes === null ? 0 : 1, options);
      return bytes === null ? null : bytes.toString('utf8');
    },
    async decryptBytes(token: string, options?: DecryptOptions): Promise<Uint8Array> {
      if (typeof token !== 'string')
        throw new CmekInvalidInputError('decryptBytes needs a token string');
      const one = decryptOne(token, batchOf(options));
      const bytes = new Uint8Array((one instanceof Promise ? await one : one)!);
      values('decrypt', 1, options);
      return bytes;
    },
    async encryptMany(plain: readonly (Encryptable | null | undefined)[], options?: CryptOptions) {
      if (!Array.isArray(plain)) throw new CmekInvalidInputError('encryptMany needs an array');
      const tokens = encryptAll(plain, options?.context);
      const out = tokens instanceof Promise ? await tokens : tokens;
      if (reporting) values('encrypt', countValues(out), options);
      return out;
    },
    async decryptMany(tokens: readonly (string | null | undefined)[], options?: DecryptOptions) {
      if (!Array.isArray(tokens)) throw new CmekInvalidInputError('decryptMany needs an array');
      const all = decryptAll(tokens, options);
      const opened = all instanceof Promise ? await all : all;
      if (reporting) values('decrypt', countValues(opened), options);
      return opened.map((bytes) => (bytes === null ? null : bytes.toString('utf8')));
    },
    stats(): EnvelopeStats {
      ensureOpen();
      return { caches: [writeCache.stats(), ...readCache.stats()] };
    },
    async health(options?: HealthOptions) {
      ensureOpen();
      return checkHealth(kek, keyring.primary, caches, options);
    },
    isEncrypted: (value: unknown): value is string => isTokenLike(value),
    inspect: (token: string): TokenInfo => inspectToken(token),
    async close() {
      if (closed) return;
      closed = true;
      writeCache.close();
      readCache.close();
      await keyring.close();
    },
  };
  Object.defineProperty(envelope, SERVING, { value: caches.serving });
  return envelope as Envelope;
}

const SERVING = Symbol('cmek.serving');

/**
 * Whether some cached DEK of an envelope made by `createEnvelope` can still encrypt or decrypt
 * (internal: the health of a tenant envelope asks its inner envelopes).
 */
export function servingOf(envelope: Envelope): boolean {
  const serving = (envelope as unknown as Record<symbol, (() => boolean) | undefined>)[SERVING];
  return serving?.() === true;
}
