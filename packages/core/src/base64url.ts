/** Strict RFC 4648 §5 base64url, as the wire format requires. */
import { CmekFormatError } from './errors';

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
 * Node's decoder is lenient (it skips what it does not know), so the check is the round trip:
 * only the canonical encoding of the decoded bytes is accepted. Returns `undefined` on any
 * violation; callers pick the error class.
 */
export function tryDecodeB64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return encodeB64url(bytes) === text ? bytes : undefined;
}

/** Decodes padded base64url (the Fernet part), by the same canonical round trip. */
export function tryDecodeB64urlPadded(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return encodeB64urlPadded(bytes) === text ? bytes : undefined;
}

export function decodeB64url(text: string, what: string): Buffer {
  const bytes = tryDecodeB64url(text);
  if (bytes === undefined) throw new CmekFormatError(`${what} is not valid unpadded base64url`);
  return bytes;
}
