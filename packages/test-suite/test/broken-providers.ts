/**
 * Providers that each break one rule of the KEK provider contract, built around a correct
 * reference provider, to show that the conformance suite notices.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { CmekClosedError, CmekDecryptionError, type KekProvider } from '@cmek/core';
import { referenceProvider, wrapWith } from './reference-provider';

export const keyA = randomBytes(32);
export const keyB = randomBytes(32);

export function good(key: Uint8Array): KekProvider {
  return referenceProvider(key);
}

/** "Wraps" a DEK by storing it next to a marker. */
export function clearWrap(key: Uint8Array): KekProvider {
  const base = good(key);
  return {
    ...base,
    async generateDataKey() {
      const plaintext = randomBytes(32);
      return { plaintext, wrapped: Buffer.concat([Buffer.from('v1'), plaintext]) };
    },
    async unwrap(wrapped) {
      return Buffer.from(wrapped.subarray(2));
    },
  };
}

/** AES-CTR with no authentication and no keyRef check: wrong keys and tampering give bytes. */
export function unauthenticated(key: Uint8Array): KekProvider {
  const keyRef = createHash('sha256').update(key).digest('hex').slice(0, 16);
  let closed = false;
  const ctr = (iv: Uint8Array, data: Uint8Array) => {
    const cipher = createCipheriv('aes-256-ctr', key, iv);
    return Buffer.concat([cipher.update(data), cipher.final()]);
  };
  return {
    specificationVersion: 'v1',
    providerId: 'ctr',
    keyRef,
    async generateDataKey() {
      if (closed) throw new CmekClosedError();
      const plaintext = randomBytes(32);
      const iv = randomBytes(16);
      return { plaintext, wrapped: Buffer.concat([iv, ctr(iv, plaintext)]) };
    },
    async unwrap(wrapped) {
      if (closed) throw new CmekClosedError();
      if (wrapped.length !== 48) throw new CmekDecryptionError();
      return ctr(wrapped.subarray(0, 16), wrapped.subarray(16));
    },
    async close() {
      closed = true;
    },
  };
}

/** Hands out the same DEK every time (each freshly wrapped). */
export function repeatingDek(key: Uint8Array): KekProvider {
  const base = good(key);
  const fixed = randomBytes(32);
  return {
    ...base,
    async generateDataKey() {
      return { plaintext: Buffer.from(fixed), wrapped: wrapWith(key, base.keyRef, fixed) };
    },
  };
}

/** Returns one shared buffer per wrapped DEK: the caller zeroing it breaks later calls. */
export function sharedBuffer(key: Uint8Array): KekProvider {
  const base = good(key);
  const cache = new Map<string, Uint8Array>();
  return {
    ...base,
    async unwrap(wrapped, keyRef) {
      const id = Buffer.from(wrapped).toString('hex');
      let dek = cache.get(id);
      if (dek === undefined) {
        dek = await base.unwrap(wrapped, keyRef);
        cache.set(id, dek);
      }
      return dek;
    },
  };
}

/** Fails with a bare Error instead of a CmekError. */
export function plainErrors(key: Uint8Array): KekProvider {
  const base = good(key);
  return {
    ...base,
    async unwrap(wrapped, keyRef) {
      try {
        return await base.unwrap(wrapped, keyRef);
      } catch {
        throw new Error('bad decrypt');
      }
    },
  };
}

/** Puts the wrapped bytes' plaintext (here: the DEK it knows) into its error message. */
export function leakyErrors(key: Uint8Array): KekProvider {
  const base = good(key);
  const known = new Map<string, Buffer>();
  return {
    ...base,
    async generateDataKey() {
      const result = await base.generateDataKey();
      known.set(
        Buffer.from(result.wrapped).subarray(0, 12).toString('hex'),
        Buffer.from(result.plaintext),
      );
      return result;
    },
    async unwrap(wrapped, keyRef) {
      try {
        return await base.unwrap(wrapped, keyRef);
      } catch {
        const dek = known.get(Buffer.from(wrapped).subarray(0, 12).toString('hex'));
        throw new CmekDecryptionError(`cannot open the DEK ${dek?.toString('hex') ?? ''}`);
      }
    },
  };
}

/** unwrapMany that drops duplicates. */
export function dedupingUnwrapMany(key: Uint8Array): KekProvider {
  const base = good(key);
  return {
    ...base,
    async unwrapMany(items) {
      const seen = new Map<string, (typeof items)[number]>();
      for (const item of items) seen.set(Buffer.from(item.wrapped).toString('hex'), item);
      return Promise.all([...seen.values()].map((i) => base.unwrap(i.wrapped, i.keyRef)));
    },
  };
}

/** A correct unwrapMany, to check the suite passes it. */
export function withUnwrapMany(key: Uint8Array): KekProvider {
  const base = good(key);
  return {
    ...base,
    async unwrapMany(items) {
      return Promise.all(items.map((i) => base.unwrap(i.wrapped, i.keyRef)));
    },
  };
}

/** Throws on the second close. */
export function fragileClose(key: Uint8Array): KekProvider {
  const base = good(key);
  let closed = false;
  return {
    ...base,
    async close() {
      if (closed) throw new CmekClosedError('already closed');
      closed = true;
      await base.close?.();
    },
  };
}

/** close does nothing: the provider keeps working. */
export function closeIsANoop(key: Uint8Array): KekProvider {
  return { ...good(key), async close() {} };
}

/** A correct wrap, to check the suite passes it. */
export function withWrap(key: Uint8Array): KekProvider {
  const base = good(key);
  return {
    ...base,
    async wrap(dek) {
      if (dek.byteLength !== 32) throw new CmekDecryptionError('not a DEK');
      return { wrapped: wrapWith(key, base.keyRef, dek) };
    },
  };
}

/** wrap that ignores the DEK it is given and wraps a fresh one. */
export function wrapIgnoresDek(key: Uint8Array): KekProvider {
  const base = good(key);
  return {
    ...base,
    async wrap() {
      return { wrapped: wrapWith(key, base.keyRef, randomBytes(32)) };
    },
  };
}
