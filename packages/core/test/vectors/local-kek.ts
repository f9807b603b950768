/**
 * The `local` provider of SPEC §5, written here from the SPEC with node:crypto so that the core's
 * vectors do not depend on another package (`@cmek/provider-local` depends on the core; it replays
 * the same vectors against its own implementation).
 *
 *   keyRef  = hex(SHA-256("cmek:v1:local-kek" || KEK)[0..8))
 *   wrapped = nonce(12) || AES-256-GCM(KEK, nonce, DEK, aad = "cmek:v1:local:" || keyRef) || tag(16)
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { CmekDecryptionError, CmekUnknownKekError, type KekProvider } from '../../src/index';

export function localKeyRef(kek: Uint8Array): string {
  return createHash('sha256')
    .update('cmek:v1:local-kek', 'ascii')
    .update(kek)
    .digest()
    .subarray(0, 8)
    .toString('hex');
}

export function localWrap(kek: Uint8Array, keyRef: string, dek: Uint8Array, nonce: Uint8Array) {
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(`cmek:v1:local:${keyRef}`, 'utf8'));
  const body = Buffer.concat([cipher.update(dek), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export interface VectorKekOptions {
  kek: Uint8Array;
  /** Answer for this key reference instead of the KEK's own (a provider holding the wrong KEK). */
  keyRef?: string;
  /** What `generateDataKey` returns: a fixed DEK wrapped with a fixed nonce (to pin a token). */
  fixed?: { dek: Uint8Array; nonce: Uint8Array };
}

export function vectorKek(options: VectorKekOptions): KekProvider {
  const kek = Buffer.from(options.kek);
  const keyRef = options.keyRef ?? localKeyRef(kek);
  return {
    specificationVersion: 'v1',
    providerId: 'local',
    keyRef,
    async generateDataKey() {
      const dek = Buffer.from(options.fixed?.dek ?? randomBytes(32));
      const nonce = options.fixed?.nonce ?? randomBytes(12);
      return { plaintext: dek, wrapped: localWrap(kek, keyRef, dek, nonce) };
    },
    async unwrap(wrapped, ref) {
      if (ref !== keyRef) throw new CmekUnknownKekError('local', ref);
      if (wrapped.byteLength !== 60) throw new CmekDecryptionError();
      const bytes = Buffer.from(wrapped);
      try {
        const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, 12));
        decipher.setAAD(Buffer.from(`cmek:v1:local:${ref}`, 'utf8'));
        decipher.setAuthTag(bytes.subarray(44));
        return Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
      } catch {
        throw new CmekDecryptionError();
      }
    },
  };
}
