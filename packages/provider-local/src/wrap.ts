/**
 * The `local` wrapped DEK of SPEC §5:
 * `nonce(12) || AES-256-GCM(KEK, nonce, DEK, aad = "cmek:v1:local:" || keyRef) || tag(16)`.
 *
 * Internal: the package index does not export this module. `wrapDekWithNonce` takes an explicit
 * nonce so that test vectors can be cross-checked; production code always uses a random nonce.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CmekDecryptionError, CmekInvalidInputError } from '@cmek/core';

export const KEK_LENGTH = 32;
export const DEK_LENGTH = 32;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
/** 12 + 32 + 16. */
export const WRAPPED_LENGTH = NONCE_LENGTH + DEK_LENGTH + TAG_LENGTH;

/** The additional authenticated data: binds the wrapped DEK to the KEK's key reference. */
export function localAad(keyRef: string): Buffer {
  return Buffer.from(`cmek:v1:local:${keyRef}`, 'ascii');
}

/** Wraps `dek` under `kek` with the given 12-byte `nonce`. Never reuse a nonce with one KEK. */
export function wrapDekWithNonce(
  kek: Uint8Array,
  keyRef: string,
  dek: Uint8Array,
  nonce: Uint8Array,
): Buffer {
  if (kek.byteLength !== KEK_LENGTH || dek.byteLength !== DEK_LENGTH) {
    throw new CmekInvalidInputError('the KEK and the DEK must be 32 bytes');
  }
  if (nonce.byteLength !== NONCE_LENGTH)
    throw new CmekInvalidInputError('the nonce must be 12 bytes');
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(localAad(keyRef));
  const body = Buffer.concat([cipher.update(dek), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Opens a wrapped DEK; any failure (length, tag) is the one `CmekDecryptionError`. */
export function unwrapDek(kek: Uint8Array, keyRef: string, wrapped: Uint8Array): Buffer {
  if (wrapped.byteLength !== WRAPPED_LENGTH) throw new CmekDecryptionError();
  const bytes = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  const nonce = bytes.subarray(0, NONCE_LENGTH);
  const body = bytes.subarray(NONCE_LENGTH, NONCE_LENGTH + DEK_LENGTH);
  const tag = bytes.subarray(NONCE_LENGTH + DEK_LENGTH);
  let opened: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_LENGTH });
    decipher.setAAD(localAad(keyRef));
    decipher.setAuthTag(tag);
    opened = decipher.update(body);
    // GCM emits nothing in final(); it only verifies the tag (and throws if it does not match).
    decipher.final();
    return opened;
  } catch {
    // The tag check failed: the bytes were altered or wrapped under another KEK. The unverified
    // output is wiped, never returned.
    opened?.fill(0);
    throw new CmekDecryptionError();
  }
}
