/**
 * `memoryKekProvider()`: a KEK provider for tests. AES-256-GCM under a 32-byte KEK held in
 * memory (random unless given), with call counters, a failure switch and a delay. The KEK dies
 * with the process, and with it every value encrypted under it: never use it outside tests.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import {
  CmekClosedError,
  CmekConfigError,
  CmekDecryptionError,
  CmekInvalidInputError,
  CmekUnknownKekError,
  type KekProvider,
  type WrappedDataKey,
} from '@cmek/core';
import type { ProviderFeatures } from './provider-conformance';

export interface MemoryKekProviderOptions {
  /** `[a-z0-9-]{1,32}`. Default `'memory'`. */
  readonly providerId?: string;
  /**
   * The KEK's reference: a non-empty string of at most 1024 bytes. Default: derived from the
   * KEK (`mem-` and 16 hex digits), so two providers over one KEK share it.
   */
  readonly keyRef?: string;
  /**
   * The 32-byte KEK (copied). Default: 32 random bytes. Pass the same bytes to several providers
   * to model one KEK opened twice (a restart); never a real key.
   */
  readonly kek?: Uint8Array;
  /** Which optional methods the provider has: `unwrapMany` and `wrap` default `true`, `rewrap` `false`. */
  readonly features?: Pick<ProviderFeatures, 'unwrapMany' | 'rewrap' | 'wrap'>;
}

/** How many times each method was called (failed calls included). */
export interface MemoryKekCalls {
  generateDataKey: number;
  unwrap: number;
  unwrapMany: number;
  rewrap: number;
  wrap: number;
  close: number;
}

export interface MemoryKekProvider extends KekProvider {
  /** The optional methods it has, in the form `providerConformanceSuite`'s `features` takes. */
  readonly features: Readonly<Required<ProviderFeatures>>;
  /** Calls per method since creation (or the last `resetCalls()`), failed ones included. */
  readonly calls: Readonly<MemoryKekCalls>;
  /** Sets every counter of `calls` back to 0. */
  resetCalls(): void;
  /**
   * While set, every call (`close` excepted) rejects with this error, after the delay; set it
   * back to `undefined` to recover. The core maps a non-`CmekError` to `CmekProviderError`.
   */
  failWith: Error | undefined;
  /** Every call (`close` excepted) waits this many milliseconds first. Default 0. */
  delayMs: number;
  close(): Promise<void>;
}

const PROVIDER_ID = /^[a-z0-9-]{1,32}$/;
const KEK_LENGTH = 32;
const DEK_LENGTH = 32;
const NONCE = 12;
const TAG = 16;
const WRAPPED_LENGTH = NONCE + DEK_LENGTH + TAG;

/**
 * A KEK provider for tests: AES-256-GCM under a KEK held in memory, the providerId and keyRef
 * bound as associated data. For tests only: the KEK dies with the process.
 *
 * ```ts
 * const kek = memoryKekProvider();
 * const envelope = createEnvelope({ kek });
 * await envelope.encrypt('secret');
 * kek.calls.generateDataKey; // 1
 * ```
 */
export function memoryKekProvider(options: MemoryKekProviderOptions = {}): MemoryKekProvider {
  const providerId = options.providerId ?? 'memory';
  if (typeof providerId !== 'string' || !PROVIDER_ID.test(providerId)) {
    throw new CmekConfigError('memoryKekProvider: providerId must match [a-z0-9-]{1,32}');
  }
  if (
    options.kek !== undefined &&
    (!(options.kek instanceof Uint8Array) || options.kek.byteLength !== KEK_LENGTH)
  ) {
    throw new CmekConfigError(`memoryKekProvider: kek must be ${KEK_LENGTH} bytes`);
  }
  const kek = Buffer.alloc(KEK_LENGTH);
  kek.set(options.kek ?? randomBytes(KEK_LENGTH));
  const keyRef =
    options.keyRef ?? `mem-${createHash('sha256').update(kek).digest('hex').slice(0, 16)}`;
  if (typeof keyRef !== 'string' || keyRef.length === 0 || Buffer.byteLength(keyRef) > 1024) {
    throw new CmekConfigError('memoryKekProvider: keyRef must be a string of 1 to 1024 bytes');
  }
  const features: Readonly<Required<ProviderFeatures>> = Object.freeze({
    unwrapMany: options.features?.unwrapMany ?? true,
    rewrap: options.features?.rewrap ?? false,
    wrap: options.features?.wrap ?? true,
    close: true,
  });
  const aad = Buffer.from(`cmek-memory-kek\0${providerId}\0${keyRef}`);
  const calls: MemoryKekCalls = {
    generateDataKey: 0,
    unwrap: 0,
    unwrapMany: 0,
    rewrap: 0,
    wrap: 0,
    close: 0,
  };
  let closed = false;

  const seal = (dek: Uint8Array): Buffer => {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', kek, nonce);
    cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(dek), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]);
  };

  const open = (wrapped: Uint8Array, ref: string): Buffer => {
    if (ref !== keyRef) throw new CmekUnknownKekError(providerId, ref);
    if (!(wrapped instanceof Uint8Array) || wrapped.byteLength !== WRAPPED_LENGTH) {
      throw new CmekDecryptionError();
    }
    const bytes = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
    try {
      const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, NONCE));
      decipher.setAAD(aad);
      decipher.setAuthTag(bytes.subarray(NONCE + DEK_LENGTH));
      return Buffer.concat([
        decipher.update(bytes.subarray(NONCE, NONCE + DEK_LENGTH)),
        decipher.final(),
      ]);
    } catch {
      throw new CmekDecryptionError();
    }
  };

  /** Counts the call, then waits, then fails as the switches say. */
  const enter = async (method: Exclude<keyof MemoryKekCalls, 'close'>): Promise<void> => {
    calls[method]++;
    if (closed) throw new CmekClosedError(`the memory KEK provider '${keyRef}' is closed`);
    if (provider.delayMs > 0) await new Promise((done) => setTimeout(done, provider.delayMs));
    if (closed) throw new CmekClosedError(`the memory KEK provider '${keyRef}' is closed`);
    if (provider.failWith !== undefined) throw provider.failWith;
  };

  const provider: MemoryKekProvider = {
    specificationVersion: 'v1',
    providerId,
    keyRef,
    features,
    calls,
    failWith: undefined,
    delayMs: 0,
    resetCalls() {
      for (const key of Object.keys(calls) as (keyof MemoryKekCalls)[]) calls[key] = 0;
    },
    async generateDataKey() {
      await enter('generateDataKey');
      const plaintext = randomBytes(DEK_LENGTH);
      return { plaintext, wrapped: seal(plaintext) };
    },
    async unwrap(wrapped, ref) {
      await enter('unwrap');
      return open(wrapped, ref);
    },
    async close() {
      calls.close++;
      if (closed) return;
      closed = true;
      kek.fill(0);
    },
  };
  if (features.unwrapMany) {
    provider.unwrapMany = async (items: readonly WrappedDataKey[]) => {
      await enter('unwrapMany');
      // All or nothing: a failing item fails the call, and no DEK opened before it is returned.
      const deks: Buffer[] = [];
      try {
        for (const item of items) deks.push(open(item.wrapped, item.keyRef));
      } catch (error) {
        for (const dek of deks) dek.fill(0);
        throw error;
      }
      return deks;
    };
  }
  if (features.rewrap) {
    provider.rewrap = async (wrapped: Uint8Array, ref: string) => {
      await enter('rewrap');
      const dek = open(wrapped, ref);
      try {
        return { wrapped: seal(dek), keyRef };
      } finally {
        dek.fill(0);
      }
    };
  }
  if (features.wrap) {
    provider.wrap = async (dek: Uint8Array) => {
      await enter('wrap');
      if (!(dek instanceof Uint8Array) || dek.byteLength !== DEK_LENGTH) {
        throw new CmekInvalidInputError(`a DEK to wrap must be ${DEK_LENGTH} bytes`);
      }
      return { wrapped: seal(dek) };
    };
  }
  return provider;
}
