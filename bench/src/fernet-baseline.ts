/**
 * The baseline: plain Fernet (version 0x80) on Node's crypto with one fixed key, as an application
 * would write it without cmek: a fresh `randomBytes(16)` IV, AES-128-CBC, HMAC-SHA256, base64url
 * with padding; decryption checks the HMAC in constant time before decrypting.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

export interface Fernet {
  encrypt(plaintext: Buffer): string;
  decrypt(token: string): Buffer;
}

export function plainFernet(key: Buffer = randomBytes(32)): Fernet {
  const signing = key.subarray(0, 16);
  const encryption = key.subarray(16, 32);
  return {
    encrypt(plaintext) {
      const iv = randomBytes(16);
      const cipher = createCipheriv('aes-128-cbc', encryption, iv);
      const header = Buffer.allocUnsafe(25);
      header[0] = 0x80;
      header.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)), 1);
      iv.copy(header, 9);
      const signed = Buffer.concat([header, cipher.update(plaintext), cipher.final()]);
      const mac = createHmac('sha256', signing).update(signed).digest();
      const text = Buffer.concat([signed, mac]).toString('base64url');
      return text + '='.repeat((4 - (text.length % 4)) % 4);
    },
    decrypt(token) {
      const raw = Buffer.from(token, 'base64url');
      if (raw.length < 73 || raw[0] !== 0x80) throw new Error('invalid token');
      const signed = raw.subarray(0, raw.length - 32);
      const mac = createHmac('sha256', signing).update(signed).digest();
      if (!timingSafeEqual(mac, raw.subarray(raw.length - 32))) throw new Error('invalid token');
      const decipher = createDecipheriv('aes-128-cbc', encryption, signed.subarray(9, 25));
      return Buffer.concat([decipher.update(signed.subarray(25)), decipher.final()]);
    },
  };
}
