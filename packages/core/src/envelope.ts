/** `createEnvelope`: encrypt and decrypt field values as `cmek:v1:` tokens. */
import { canonicalContext, isWellFormed } from './context';
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
import {
  CmekClosedError,
  CmekConfigError,
  CmekError,
  CmekInvalidInputError,
  CmekPlaintextRejectedError,
} from './errors';
import type { CmekEvent } from './events';
import { deriveValueKey, openFernet, SALT_LENGTH, sealFernet } from './fernet';
import type { Emit } from './kek-calls';
import { createKeyring, isKeyring, type Keyring } from './keyring';
import { randomBytesFromPool } from './random-pool';
import { ReadDekCache } from './read-dek-cache';
import type { DekRecord } from './record';
import { formatToken, inspectToken, isCmekString, type ParsedToken, parseToken } from './token';
import { WriteDekCache } from './write-dek-cache';

export const DEFAULT_DEK_CACHE: Required<DekCacheOptions> = {
  maxUses: 10_000,
  maxAgeMs: 10 * 60_000,
};
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
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
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
  );
  // A value read back right after it was written (an ORM reload) costs no unwrap.
  const writeCache = new WriteDekCache(
    keyring.primary,
    emit,
    limitsOf(options.dekCache, DEFAULT_DEK_CACHE, 'dekCache'),
    (kekText, dek) => readCache.store(kekText, dek),
  );
  let closed = false;

  const ensureOpen = (): void => {
    if (closed) throw new CmekClosedError();
  };

  async function encryptAll(
    values: readonly (Encryptable | null | undefined)[],
    context: CryptOptions['context'],
  ): Promise<(string | null)[]> {
    ensureOpen();
    const canon = canonicalContext(context);
    const plaintexts = values.map((v) => (v === null || v === undefined ? null : bytesOf(v)));
    const out: (string | null)[] = plaintexts.map(() => null);
    const todo = plaintexts.flatMap((p, i) => (p === null ? [] : [i]));
    let next = 0;
    while (next < todo.length) {
      const lease =
        writeCache.tryLease(todo.length - next) ?? (await writeCache.lease(todo.length - next));
      try {
        ensureOpen();
        const now = Math.floor(Date.now() / 1000);
        for (let n = 0; n < lease.uses && next < todo.length; n++, next++) {
          const index = todo[next]!;
          const random = randomBytesFromPool(SALT_LENGTH + 16);
          const salt = random.subarray(0, SALT_LENGTH);
          const vk = deriveValueKey(lease.dek, salt, canon);
          out[index] = formatToken(
            lease.kekText,
            salt,
            sealFernet(vk, plaintexts[index]!, random.subarray(SALT_LENGTH), now),
          );
          vk.fill(0);
        }
      } finally {
        lease.dek.fill(0);
      }
    }
    return out;
  }

  function fieldOf(options: CryptOptions | undefined): string | undefined {
    return options?.context?.field;
  }

  function fail(error: unknown, options: CryptOptions | undefined, record?: DekRecord): never {
    if (CmekError.isInstance(error)) {
      const field = fieldOf(options);
      emit({
        type: 'decrypt-failed',
        errorCode: error.code,
        ...(record ? { providerId: record.providerId, keyRef: record.keyRef } : {}),
        ...(field === undefined ? {} : { field }),
      });
    }
    throw error;
  }

  /** Decrypts a batch to bytes; legacy plaintext follows the policy; null stays null. */
  async function decryptAll(
    tokens: readonly (string | null | undefined)[],
    options: DecryptOptions | undefined,
  ): Promise<(Buffer | null)[]> {
    ensureOpen();
    const policy =
      options?.plaintextPolicy === undefined
        ? defaultPolicy
        : policyOf(options.plaintextPolicy, 'plaintextPolicy');
    const canon = canonicalContext(options?.context);
    const out: (Buffer | null)[] = tokens.map(() => null);
    const parsed: [number, ParsedToken][] = [];
    const records = new Map<string, DekRecord>();
    for (const [i, token] of tokens.entries()) {
      if (token === null || token === undefined) continue;
      if (typeof token !== 'string') {
        throw new CmekInvalidInputError(`only strings can be decrypted, not ${typeof token}`);
      }
      if (!isCmekString(token)) {
        if (policy === 'reject') {
          const field = fieldOf(options);
          fail(
            new CmekPlaintextRejectedError(
              `a stored value${field ? ` of ${field}` : ''} is not encrypted and the plaintext policy is 'reject'; run the backfill`,
              field,
            ),
            options,
          );
        }
        const field = fieldOf(options);
        emit({ type: 'plaintext-read', policy, ...(field === undefined ? {} : { field }) });
        out[i] = Buffer.from(token, 'utf8');
        continue;
      }
      let parsedToken: ParsedToken;
      try {
        parsedToken = parseToken(token, records);
      } catch (error) {
        fail(error, options);
      }
      parsed.push([i, parsedToken]);
      records.set(parsedToken.kekText, parsedToken.record);
    }
    if (parsed.length === 0) return out;
    let deks = readCache.cached(records);
    if (deks === undefined) {
      try {
        deks = await readCache.resolve(records);
      } catch (error) {
        const first = records.values().next().value;
        fail(error, options, records.size === 1 ? first : undefined);
      }
    }
    try {
      ensureOpen();
      for (const [i, token] of parsed) {
        const vk = deriveValueKey(deks.get(token.kekText)!, token.salt, canon);
        try {
          out[i] = openFernet(vk, token.fernet, maxAgeMs).plaintext;
        } catch (error) {
          fail(error, options, token.record);
        } finally {
          vk.fill(0);
        }
      }
    } finally {
      for (const dek of deks.values()) dek.fill(0);
    }
    return out;
  }

  const envelope = {
    keyring,
    async encrypt(value: Encryptable | null | undefined, options?: CryptOptions) {
      return (await encryptAll([value], options?.context))[0] ?? null;
    },
    async decrypt(token: string | null | undefined, options?: DecryptOptions) {
      const [bytes] = await decryptAll([token], options);
      return bytes === null || bytes === undefined ? null : bytes.toString('utf8');
    },
    async decryptBytes(token: string, options?: DecryptOptions): Promise<Uint8Array> {
      if (typeof token !== 'string')
        throw new CmekInvalidInputError('decryptBytes needs a token string');
      const [bytes] = await decryptAll([token], options);
      return new Uint8Array(bytes!);
    },
    async encryptMany(values: readonly (Encryptable | null | undefined)[], options?: CryptOptions) {
      if (!Array.isArray(values)) throw new CmekInvalidInputError('encryptMany needs an array');
      return encryptAll(values, options?.context);
    },
    async decryptMany(tokens: readonly (string | null | undefined)[], options?: DecryptOptions) {
      if (!Array.isArray(tokens)) throw new CmekInvalidInputError('decryptMany needs an array');
      const all = await decryptAll(tokens, options);
      return all.map((bytes) => (bytes === null ? null : bytes.toString('utf8')));
    },
    isEncrypted: (value: unknown): value is string => isCmekString(value),
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
