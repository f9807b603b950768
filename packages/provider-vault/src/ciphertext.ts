/**
 * The wrapped DEK of the `vault` provider: the ASCII bytes of Transit's ciphertext string,
 * `vault:v<key version>:<base64>` (SPEC §5).
 */
import { CmekDecryptionError } from '@cmek/core';

const CIPHERTEXT = /^vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}$/;

export interface TransitCiphertext {
  /** The string Transit returned and accepts back. */
  readonly text: string;
  /** The key version it was written under (the `N` of `vault:vN:`). */
  readonly version: number;
}

/** Reads the wrapped bytes as a Transit ciphertext; anything else cannot be a DEK of this provider. */
export function parseCiphertext(wrapped: Uint8Array, what = 'the wrapped DEK'): TransitCiphertext {
  const text = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength).toString(
    'latin1',
  );
  const match = CIPHERTEXT.exec(text);
  if (match === null) {
    throw new CmekDecryptionError(
      `${what} is not a Vault Transit ciphertext (vault:vN:<base64>): it was altered, or it was not written by the vault provider`,
    );
  }
  return { text, version: Number(match[1]) };
}

/** The wrapped bytes of a ciphertext Transit returned, if it has the expected shape. */
export function encodeCiphertext(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !CIPHERTEXT.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

/** Decodes a base64 DEK into a fresh (unpooled) array; `undefined` unless it is 32 bytes. */
export function decodeDek(base64: unknown): Uint8Array | undefined {
  if (typeof base64 !== 'string') return undefined;
  const decoded = Buffer.from(base64, 'base64');
  try {
    if (decoded.byteLength !== 32) return undefined;
    const dek = new Uint8Array(32);
    dek.set(decoded);
    return dek;
  } finally {
    decoded.fill(0);
  }
}
