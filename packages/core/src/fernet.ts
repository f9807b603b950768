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

/** Seals a plaintext under a value key with an explicit IV and timestamp (seconds). */
export function sealFernet(
  vk: Buffer,
  plaintext: Uint8Array,
  iv: Uint8Array,
  timestampSeconds: number,
): string {
  const cipher = createCipheriv('aes-128-cbc', vk.subarray(16, 32), iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const header = Buffer.allocUnsafe(HEADER);
  header[0] = VERSION;
  header.writeBigUInt64BE(BigInt(timestampSeconds), 1);
  Buffer.from(iv.buffer, iv.byteOffset, iv.byteLength).copy(header, 9);
  const signed = Buffer.concat([header, body]);
  const mac = createHmac('sha256', vk.subarray(0, 16)).update(signed).digest();
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
  const expected = createHmac('sha256', vk.subarray(0, 16)).update(signed).digest();
  if (!timingSafeEqual(expected, raw.subarray(raw.length - HMAC_LEN)))
    throw new CmekDecryptionError();
  const timestampSeconds = Number(raw.readBigUInt64BE(1));
  if (maxAgeMs !== undefined && timestampSeconds * 1000 + maxAgeMs < Date.now()) {
    throw new CmekDecryptionError('the value is older than the configured maxTokenAgeMs');
  }
  try {
    const decipher = createDecipheriv(
      'aes-128-cbc',
      vk.subarray(16, 32),
      signed.subarray(9, HEADER),
    );
    const plaintext = Buffer.concat([decipher.update(signed.subarray(HEADER)), decipher.final()]);
    return { plaintext, timestampSeconds };
  } catch {
    throw new CmekDecryptionError();
  }
}
