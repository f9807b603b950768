/**
 * A small correct KEK provider (AES-256-GCM, the keyRef bound as aad) for testing the suite
 * itself without depending on a provider package (provider-local depends on this package).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import {
  CmekClosedError,
  CmekDecryptionError,
  CmekUnknownKekError,
  type KekProvider,
} from '@cmek/core';

export function wrapWith(kek: Uint8Array, keyRef: string, dek: Uint8Array): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(keyRef));
  const body = Buffer.concat([cipher.update(dek), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export function referenceProvider(key: Uint8Array): KekProvider & { close(): Promise<void> } {
  const kek = Buffer.from(key);
  const keyRef = createHash('sha256').update(kek).digest('hex').slice(0, 16);
  let closed = false;
  return {
    specificationVersion: 'v1',
    providerId: 'reference',
    keyRef,
    async generateDataKey() {
      if (closed) throw new CmekClosedError();
      const plaintext = randomBytes(32);
      return { plaintext, wrapped: wrapWith(kek, keyRef, plaintext) };
    },
    async unwrap(wrapped, ref) {
      if (closed) throw new CmekClosedError();
      if (ref !== keyRef) throw new CmekUnknownKekError('reference', ref);
      if (wrapped.byteLength !== 60) throw new CmekDecryptionError();
      const bytes = Buffer.from(wrapped);
      try {
        const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, 12));
        decipher.setAAD(Buffer.from(keyRef));
        decipher.setAuthTag(bytes.subarray(44));
        return Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
      } catch {
        throw new CmekDecryptionError();
      }
    },
    async close() {
      closed = true;
      kek.fill(0);
    },
  };
}
