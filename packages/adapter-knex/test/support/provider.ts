/** A KEK provider for these tests: AES-256-GCM under a random in-memory KEK, counting its calls. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CmekDecryptionError, CmekUnknownKekError, type KekProvider } from '@cmek/core';

export interface CountingProvider extends KekProvider {
  readonly calls: { generateDataKey: number; unwrap: number };
}

export function countingProvider(): CountingProvider {
  const kek = randomBytes(32);
  const keyRef = randomBytes(8).toString('hex');
  const calls = { generateDataKey: 0, unwrap: 0 };
  return {
    specificationVersion: 'v1',
    providerId: 'test-memory',
    keyRef,
    calls,
    async generateDataKey() {
      calls.generateDataKey++;
      const dek = randomBytes(32);
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', kek, nonce);
      const body = Buffer.concat([cipher.update(dek), cipher.final()]);
      return { plaintext: dek, wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]) };
    },
    async unwrap(wrapped, ref) {
      calls.unwrap++;
      if (ref !== keyRef) throw new CmekUnknownKekError('test-memory', ref);
      const bytes = Buffer.from(wrapped);
      try {
        const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, 12));
        decipher.setAuthTag(bytes.subarray(44));
        return Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
      } catch {
        throw new CmekDecryptionError();
      }
    },
  };
}
