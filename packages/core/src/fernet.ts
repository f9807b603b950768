/**
 * Fernet (version 0x80) on Node's crypto, with the per-value key of SPEC §3:
 * vk = HKDF-SHA256(DEK, salt, "cmek:v1" 0x00 canon(context), 32); signing = vk[0..16), encryption = vk[16..32).
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { encodeB64urlPadded, tryDecodeB64urlPadded } from './base64url';
import { CmekDecryptionError } from './errors';

const VERSION = 0x80;
const HEADER = 1 + 8 + 16;
const HMAC_LEN = 32;
const INFO_PREFIX = Buffer.from('cmek:v1\0', 'latin1');

export const SALT_LENGTH = 16;
export const DEK_LENGTH = 32;

const BLOCK_1 = Buffer.from([1]);

/**
 * HKDF-SHA256 (RFC 5869) for L = 32, which is one expand block: PRK = HMAC(salt, DEK),
 * vk = HMAC(PRK, info || 0x01). Written with two HMACs because `hkdfSync` costs about three times
 * as much per call; the test vectors (computed by Python's `cryptography`) pin the result.
 */
export function deriveValueKey(dek: Uint8Array, salt: Uint8Array, canonContext: Buffer): Buffer {
  const prk = createHmac('sha256', salt).update(dek).digest();
  const vk = createHmac('sha256', prk)
    .update(INFO_PREFIX)
    .update(canonContext)
    .update(BLOCK_1)
    .digest();
  prk.fill(0);
  return vk;
}

/** A value key with its two halves cut once (a cached key is used for many values). */
export interface FernetKey {
  /** The whole key: zeroing it zeroes both halves. */
  readonly vk: Buffer;
  readonly signing: Buffer;
  readonly encryption: Buffer;
}

export function fernetKey(vk: Buffer): FernetKey {
  return { vk, signing: vk.subarray(0, 16), encryption: vk.subarray(16, 32) };
}

/** Seals a plaintext under a value key with an explicit IV and timestamp (seconds). */
export function sealFernet(
  vk: Buffer,
  plaintext: Uint8Array,
  iv: Uint8Array,
  timestampSeconds: number,
): string {
  return sealFernetWith(fernetKey(vk), plaintext, iv, timestampSeconds);
}

export function sealFernetWith(
  key: FernetKey,
  plaintext: Uint8Array,
  iv: Uint8Array,
  timestampSeconds: number,
): string {
  const cipher = createCipheriv('aes-128-cbc', key.encryption, iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const header = Buffer.allocUnsafe(HEADER);
  header[0] = VERSION;
  header.writeUInt32BE(Math.floor(timestampSeconds / 2 ** 32), 1);
  header.writeUInt32BE(timestampSeconds >>> 0, 5);
  Buffer.from(iv.buffer, iv.byteOffset, iv.byteLength).copy(header, 9);
  const signed = Buffer.concat([header, body]);
  const mac = createHmac('sha256', key.signing).update(signed).digest();
  return encodeB64urlPadded(Buffer.concat([signed, mac]));
}

export interface OpenedFernet {
  readonly plaintext: Buffer;
  readonly timestampSeconds: number;
}

/**
 * Opens a Fernet token. The HMAC is checked in constant time before anything is decrypted; every
 * failure (base64, length, version, HMAC, padding, age) is the same `CmekDecryptionError`.
 */
export function openFernet(vk: Buffer, token: string, maxAgeMs?: number): OpenedFernet {
  return openFernetWith(fernetKey(vk), token, maxAgeMs);
}

export function openFernetWith(key: FernetKey, token: string, maxAgeMs?: number): OpenedFernet {
  const raw = tryDecodeB64urlPadded(token);
  if (
    raw === undefined ||
    raw.length < HEADER + 16 + HMAC_LEN ||
    (raw.length - HEADER - HMAC_LEN) % 16 !== 0 ||
    raw[0] !== VERSION
  ) {
    throw new CmekDecryptionError();
  }
  const signed = raw.subarray(0, raw.length - HMAC_LEN);
  const expected = createHmac('sha256', key.signing).update(signed).digest();
  if (!timingSafeEqual(expected, raw.subarray(raw.length - HMAC_LEN)))
    throw new CmekDecryptionError();
  // Read as two 32-bit halves: a BigInt per call costs more than the rest of this check.
  const timestampSeconds = raw.readUInt32BE(1) * 2 ** 32 + raw.readUInt32BE(5);
  if (maxAgeMs !== undefined && timestampSeconds * 1000 + maxAgeMs < Date.now()) {
    throw new CmekDecryptionError('the value is older than the configured maxTokenAgeMs');
  }
  try {
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, signed.subarray(9, HEADER));
    const plaintext = Buffer.concat([decipher.update(signed.subarray(HEADER)), decipher.final()]);
    return { plaintext, timestampSeconds };
  } catch {
    throw new CmekDecryptionError();
  }
}
