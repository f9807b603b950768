/** Strict RFC 4648 §5 base64url, as the wire format requires. */
import { CmekFormatError } from './errors';

export function encodeB64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function encodeB64urlPadded(bytes: Uint8Array): string {
  const text = encodeB64url(bytes);
  return text + '='.repeat((4 - (text.length % 4)) % 4);
}

/** The value of each base64url character (for the unused-bits check); -1 for anything else. */
const VALUE = new Int8Array(128).fill(-1);
for (const [i, c] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
].entries()) {
  VALUE[c.charCodeAt(0)] = i;
}

/**
 * A character beyond Latin-1. V8 answers this at once for a string it stores one byte per
 * character (every token read from a database, in practice), and scans only the others.
 */
const WIDE = /[\u0100-\uffff]/;

/**
 * Decodes `data` (the text without its padding) when it is canonical base64url, else `undefined`.
 * Node's decoder is lenient: it reads a character outside Latin-1 by its low byte (`'\u2B57'` as
 * `W`), skips the Latin-1 it does not know (whitespace, `=`, `.`, `é`) and takes `+` and `/` as
 * `-` and `_`. So: no character beyond Latin-1 (`WIDE`); no `+` or `/`; exactly as many bytes as
 * `data.length` characters encode (any skipped character makes fewer); and zero unused bits in the
 * last character (so each byte string has exactly one encoding). The same outcome as comparing
 * the text with the re-encoding of its bytes, without encoding 88 KB again for a 64 KiB value.
 */
function decodeCanonical(text: string, dataLength: number): Buffer | undefined {
  const rest = dataLength % 4;
  if (rest === 1 || text.indexOf('+') >= 0 || text.indexOf('/') >= 0) return undefined;
  if (WIDE.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== ((dataLength - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1))
    return undefined;
  if (rest !== 0) {
    const last = VALUE[text.charCodeAt(dataLength - 1)] ?? -1;
    // 2 characters carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
    if (last < 0 || (last & (rest === 2 ? 0b1111 : 0b11)) !== 0) return undefined;
  }
  return bytes;
}

/**
 * Decodes unpadded base64url, rejecting padding, `+`, `/`, whitespace, any other character, an
 * impossible length, and non-zero trailing bits (so each byte string has exactly one encoding).
 * Returns `undefined` on any violation; callers pick the error class.
 */
export function tryDecodeB64url(text: string): Buffer | undefined {
  return decodeCanonical(text, text.length);
}

/** Decodes padded base64url (the Fernet part): padding to a multiple of 4, only where needed. */
export function tryDecodeB64urlPadded(text: string): Buffer | undefined {
  const length = text.length;
  if (length % 4 !== 0) return undefined;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const data = length - pad;
  // One '=' after 3 characters, two after 2; none after 4 (a multiple of 3 bytes).
  if (pad !== 0 && data % 4 !== 4 - pad) return undefined;
  return decodeCanonical(text, data);
}

export function decodeB64url(text: string, what: string): Buffer {
  const bytes = tryDecodeB64url(text);
  if (bytes === undefined) throw new CmekFormatError(`${what} is not valid unpadded base64url`);
  return bytes;
}
