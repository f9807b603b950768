/** Strict RFC 4648 §5 base64url, as the wire format requires. */
import { CmekFormatError } from './errors';

const UNPADDED = /^[A-Za-z0-9_-]*$/;
const PADDED = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;

export function encodeB64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function encodeB64urlPadded(bytes: Uint8Array): string {
  const text = encodeB64url(bytes);
  return text + '='.repeat((4 - (text.length % 4)) % 4);
}

/**
 * Decodes unpadded base64url, rejecting padding, `+`, `/`, whitespace, any other character, an
 * impossible length, and non-zero trailing bits (so each byte string has exactly one encoding).
 * Returns `undefined` on any violation; callers pick the error class.
 */
export function tryDecodeB64url(text: string): Buffer | undefined {
  if (!UNPADDED.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return encodeB64url(bytes) === text ? bytes : undefined;
}

/** Decodes padded base64url (the Fernet part): length a multiple of 4, `=` only at the end. */
export function tryDecodeB64urlPadded(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !PADDED.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return encodeB64urlPadded(bytes) === text ? bytes : undefined;
}

export function decodeB64url(text: string, what: string): Buffer {
  const bytes = tryDecodeB64url(text);
  if (bytes === undefined) throw new CmekFormatError(`${what} is not valid unpadded base64url`);
  return bytes;
}
