/** `createEnvelope`: encrypt and decrypt field values as `cmek:v1:` tokens. */
import { isUtf8 } from 'node:buffer';
import { canonicalContextOf, isWellFormed } from './context';
import { type DecryptBatch, decryptBatch, decryptOne } from './decrypt-batch';
import { encryptBatch } from './encrypt-batch';
import type {
  CryptOptions,
  DecryptCacheOptions,
  DecryptOptions,
  DekCacheOptions,
  Encryptable,
  Envelope,
  EnvelopeOptions,
  PlaintextPolicy,
  TokenInfo,
} from './envelope-types';
import { CmekClosedError, CmekConfigError, CmekInvalidInputError } from './errors';
import type { CmekEvent } from './events';
import type { Emit } from './kek-calls';
import { createKeyring, isKeyring, type Keyring } from './keyring';
import { ReadDekCache } from './read-dek-cache';
import { inspectToken } from './token';
import { isTokenLike } from './token-shape';
import { WriteDekCache } from './write-dek-cache';

export const DEFAULT_DEK_CACHE: Required<DekCacheOptions> = {
  maxUses: 10_000,
  maxAgeMs: 10 * 60_000,
  maxContexts: 256,
  saltPerValue: false,
};
const { saltPerValue: _default, ...DEFAULT_DEK_LIMITS } = DEFAULT_DEK_CACHE;
export const DEFAULT_DECRYPT_CACHE: Required<DecryptCacheOptions> = {
  maxEntries: 1_000,
  maxAgeMs: 10 * 60_000,
};
const POLICIES: readonly PlaintextPolicy[] = ['allow', 'warn', 'reject'];

function positive(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new CmekConfigError(`${name} must be a positive number`);
  }
  return value;
}

function limitsOf<T extends object>(
  value: Partial<T> | false | undefined,
  defaults: Required<T>,
  name: string,
): Required<T> | false {
  if (value === false) return false;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new CmekConfigError(`${name} must be an options object or false`);
  }
  const merged = { ...defaults, ...value } as Required<T>;
  for (const [key, v] of Object.entries(merged)) positive(v, `${name}.${key}`);
  return merged;
}

function dekCacheOf(value: DekCacheOptions | false | undefined) {
  if (value === false || value === undefined || typeof value !== 'object' || value === null) {
    // `limitsOf` accepts `false` and `undefined` and refuses anything else that is not an object.
    return { limits: limitsOf(value, DEFAULT_DEK_LIMITS, 'dekCache'), saltPerValue: false };
  }
  const saltPerValue = value.saltPerValue;
  if (saltPerValue !== undefined && typeof saltPerValue !== 'boolean') {
    throw new CmekConfigError('dekCache.saltPerValue must be true or false');
  }
  const { saltPerValue: _, ...limits } = value;
  return {
    limits: limitsOf(limits, DEFAULT_DEK_LIMITS, 'dekCache'),
    saltPerValue: saltPerValue ?? DEFAULT_DEK_CACHE.saltPerValue,
  };
}

function policyOf(value: unknown, name: string): PlaintextPolicy {
  if (!POLICIES.includes(value as PlaintextPolicy)) {
    throw new CmekConfigError(`${name} must be one of ${POLICIES.join(', ')}`);
  }
  return value as PlaintextPolicy;
}

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
  const listener = options.onEvent;
  if (listener !== undefined && typeof listener !== 'function') {
    throw new CmekConfigError('onEvent must be a function');
  }
  const reporting = listener !== undefined;
  const emit: Emit = listener
    ? (event: CmekEvent) => {
        try {
          listener(event);
        } catch {
          // A failing metrics hook must not break encryption.
        }
      }
    : () => undefined;
  const defaultPolicy = policyOf(options.plaintextPolicy ?? 'allow', 'plaintextPolicy');
  const maxAgeMs =
    options.maxTokenAgeMs === undefined
      ? undefined
      : positive(options.maxTokenAgeMs, 'maxTokenAgeMs');
  const readCache = new ReadDekCache(
    keyring,
    emit,
    limitsOf(options.decryptCache, DEFAULT_DECRYPT_CACHE, 'decryptCache'),
    reporting,
  );
  const dekCache = dekCacheOf(options.dekCache);
  // A value read back right after it was written costs no unwrap and no HKDF.
  const writeCache = new WriteDekCache(
    keyring.primary,
    emit,
    dekCache.limits,
    {
      onDek: (kekText, dek, record) => readCache.store(kekText, dek, record),
      onValueKey: (kekText, saltText, canonKey, vk) =>
        readCache.storeValueKey(kekText, saltText, canonKey, vk),
    },
    reporting,
  );
  let closed = false;

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
      reporting,
      ensureOpen,
    };
  }

  const envelope = {
    keyring,
    async encrypt(value: Encryptable | null | undefined, options?: CryptOptions) {
      const tokens = encryptAll([value], options?.context);
      return ((tokens instanceof Promise ? await tokens : tokens)[0] ?? null) as string;
    },
    async decrypt(token: string | null | undefined, options?: DecryptOptions) {
      const one = decryptOne(token, batchOf(options));
      const bytes = one instanceof Promise ? await one : one;
      return bytes === null ? null : bytes.toString('utf8');
    },
    async decryptBytes(token: string, options?: DecryptOptions): Promise<Uint8Array> {
      if (typeof token !== 'string')
        throw new CmekInvalidInputError('decryptBytes needs a token string');
      const one = decryptOne(token, batchOf(options));
      return new Uint8Array((one instanceof Promise ? await one : one)!);
    },
    async encryptMany(values: readonly (Encryptable | null | undefined)[], options?: CryptOptions) {
      if (!Array.isArray(values)) throw new CmekInvalidInputError('encryptMany needs an array');
      const tokens = encryptAll(values, options?.context);
      return tokens instanceof Promise ? await tokens : tokens;
    },
    async decryptMany(tokens: readonly (string | null | undefined)[], options?: DecryptOptions) {
      if (!Array.isArray(tokens)) throw new CmekInvalidInputError('decryptMany needs an array');
      const all = decryptAll(tokens, options);
      return (all instanceof Promise ? await all : all).map((bytes) =>
        bytes === null ? null : bytes.toString('utf8'),
      );
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
  return envelope as Envelope;
}
