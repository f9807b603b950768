/**
 * Which stored strings are tokens. SPEC §1 and §6: a string starting with `cmek:` is a token
 * (possibly malformed or of another version), anything else legacy plaintext. This module is
 * stricter on purpose (issue 19): a token whose prefix was damaged must not come back as
 * "plaintext" under `plaintextPolicy: 'allow'`, so a value that still has the shape of a token
 * is one, and decrypting it is a `CmekFormatError`:
 *
 * 1. `cmek:` in any ASCII letter case, after at most 8 ASCII whitespace characters (`CMEK:V1:…`,
 *    ` cmek:v1:…`);
 * 2. exactly `cmek` in any ASCII letter case (a token truncated to 4 characters);
 * 3. a damaged or missing prefix of at most 12 characters (of any kind, `|` included), then what
 *    is unmistakably the rest of a token: `<kek>|<salt>|<fernet>` where `kek` is canonical base64url of a well-formed
 *    wrapped-DEK record (SPEC §2), `salt` 22 base64url characters and `fernet` starts `gAAAAA`
 *    (version 0x80 and a timestamp below 2^40).
 *
 * Shorter truncations (`cme`, `cm`, `c`) cannot be told from a plaintext and read as one.
 */
import { tryDecodeB64url } from './base64url';
import { decodeRecord } from './record';
import { CMEK_PREFIX } from './token';

// ASCII only: no Unicode case folding (U+212A KELVIN SIGN is not a 'k') or Unicode whitespace.
const CASED_PREFIX = /^[ \t\n\r\f\v]{0,8}[cC][mM][eE][kK]:/;
const TRUNCATED = /^[cC][mM][eE][kK]$/;
const SALT_TEXT = /^[A-Za-z0-9_-]{22}$/;
const FERNET_START = 'gAAAAA';
const MAX_DAMAGED_PREFIX = 12;

/** `true` for a string that is not `cmek:…` but still has the shape of a token (rules above). */
export function isDamagedToken(value: string): boolean {
  if (CASED_PREFIX.test(value) || TRUNCATED.test(value)) return true;
  // From the right: a damaged prefix may hold anything, a '|' too.
  const second = value.lastIndexOf('|');
  if (second < 1 || !value.startsWith(FERNET_START, second + 1)) return false;
  const first = value.lastIndexOf('|', second - 1);
  if (first < 0 || !SALT_TEXT.test(value.slice(first + 1, second))) return false;
  const head = value.slice(0, first);
  for (let skip = 0; skip <= MAX_DAMAGED_PREFIX && skip < head.length; skip++) {
    if (isRecordText(head.slice(skip))) return true;
  }
  return false;
}

function isRecordText(text: string): boolean {
  const bytes = tryDecodeB64url(text);
  if (bytes === undefined) return false;
  try {
    decodeRecord(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A token, of any version, or a damaged one: never legacy plaintext. */
export function isTokenLike(value: unknown): value is string {
  return typeof value === 'string' && (value.startsWith(CMEK_PREFIX) || isDamagedToken(value));
}
