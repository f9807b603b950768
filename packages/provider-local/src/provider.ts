/** The `local` KEK provider: a 32-byte KEK held in memory, DEKs wrapped with AES-256-GCM. */
import { randomBytes } from 'node:crypto';
import {
  CmekClosedError,
  CmekConfigError,
  CmekInvalidInputError,
  CmekUnknownKekError,
  type GeneratedDataKey,
  type KekProvider,
} from '@cmek/core';
import { readKekFile } from './key-file';
import { localKeyRef } from './key-ref';
import { DEK_LENGTH, KEK_LENGTH, NONCE_LENGTH, unwrapDek, wrapDekWithNonce } from './wrap';

export const LOCAL_PROVIDER_ID = 'local';

export interface LocalKekProviderOptions {
  /** The KEK file: 32 raw bytes, or their base64 / base64url text. Mode 0600, owned by this user. */
  path: string;
}

/** A `KekProvider` whose `providerId` is `local` and whose `keyRef` names its KEK. */
export interface LocalKekProvider extends KekProvider {
  readonly providerId: 'local';
  /** Wraps an existing 32-byte DEK under this KEK (moving a DEK here from another KEK). */
  wrap(dek: Uint8Array): Promise<{ readonly wrapped: Uint8Array }>;
  /** Zeroes the KEK held in memory; every later call throws `CmekClosedError`. */
  close(): Promise<void>;
}

function closedError(): CmekClosedError {
  return new CmekClosedError('this local KEK provider has been closed');
}

/**
 * A provider over a KEK given as bytes (tests, test vectors, tools that already hold the key).
 * The bytes are copied; the caller may zero its own copy.
 */
export function createLocalKekProviderFromKey(key: Uint8Array): LocalKekProvider {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEK_LENGTH) {
    throw new CmekInvalidInputError(`a local KEK must be a Uint8Array of ${KEK_LENGTH} bytes`);
  }
  const kek = Buffer.alloc(KEK_LENGTH);
  kek.set(key);
  const keyRef = localKeyRef(kek);
  let closed = false;

  return {
    specificationVersion: 'v1',
    providerId: LOCAL_PROVIDER_ID,
    keyRef,
    async generateDataKey(): Promise<GeneratedDataKey> {
      if (closed) throw closedError();
      const plaintext = randomBytes(DEK_LENGTH);
      const wrapped = wrapDekWithNonce(kek, keyRef, plaintext, randomBytes(NONCE_LENGTH));
      return { plaintext, wrapped };
    },
    async unwrap(wrapped: Uint8Array, ref: string): Promise<Uint8Array> {
      if (closed) throw closedError();
      if (!(wrapped instanceof Uint8Array) || typeof ref !== 'string') {
        throw new CmekInvalidInputError(
          'unwrap needs the wrapped DEK as a Uint8Array and its key reference as a string',
        );
      }
      if (ref !== keyRef) throw new CmekUnknownKekError(LOCAL_PROVIDER_ID, ref);
      return unwrapDek(kek, keyRef, wrapped);
    },
    async wrap(dek: Uint8Array): Promise<{ readonly wrapped: Uint8Array }> {
      if (closed) throw closedError();
      if (!(dek instanceof Uint8Array) || dek.byteLength !== DEK_LENGTH) {
        throw new CmekInvalidInputError(`wrap needs a DEK of ${DEK_LENGTH} bytes as a Uint8Array`);
      }
      return { wrapped: wrapDekWithNonce(kek, keyRef, dek, randomBytes(NONCE_LENGTH)) };
    },
    async close(): Promise<void> {
      closed = true;
      kek.fill(0);
    },
  };
}

/** Loads the KEK file (with its permission checks) and returns the `local` provider over it. */
export async function createLocalKekProvider(
  options: LocalKekProviderOptions,
): Promise<LocalKekProvider> {
  if (typeof options !== 'object' || options === null) {
    throw new CmekConfigError('createLocalKekProvider needs { path }');
  }
  const { path } = options;
  if (typeof path !== 'string' || path.length === 0) {
    throw new CmekConfigError('createLocalKekProvider: path must be a non-empty string');
  }
  const key = await readKekFile(path);
  try {
    return createLocalKekProviderFromKey(key);
  } finally {
    key.fill(0);
  }
}
