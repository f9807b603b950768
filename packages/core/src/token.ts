/** The `cmek:v1:` token of SPEC §1: `cmek:v1:` kek `|` salt `|` fernet. */
import { createHash } from 'node:crypto';
import { decodeB64url, encodeB64url } from './base64url';
import type { TokenInfo } from './envelope-types';
import { CmekFormatError, CmekInvalidInputError } from './errors';
import { SALT_LENGTH } from './fernet';
import { type DekRecord, decodeRecord } from './record';

export const TOKEN_PREFIX = 'cmek:v1:';
export const CMEK_PREFIX = 'cmek:';

export interface ParsedToken {
  /** The `kek` part as written: the cache key of its DEK. */
  readonly kekText: string;
  readonly record: DekRecord;
  /** The salt part as written (22 characters). */
  readonly saltText: string;
  readonly salt: Buffer;
  /** The Fernet part, still encoded: its errors are decryption errors (SPEC §4). */
  readonly fernet: string;
}

export function formatToken(kekText: string, salt: Uint8Array, fernet: string): string {
  return `${TOKEN_PREFIX}${kekText}|${encodeB64url(salt)}|${fernet}`;
}

/**
 * Splits and validates a token. `known` maps kek parts already decoded (in one batch most values
 * share a DEK) to their records, so each distinct record is decoded once.
 */
export function parseToken(token: string, known?: ReadonlyMap<string, DekRecord>): ParsedToken {
  if (typeof token !== 'string') throw new CmekInvalidInputError('a token must be a string');
  if (!token.startsWith(TOKEN_PREFIX)) {
    if (token.startsWith(CMEK_PREFIX)) {
      // Name the version only if it looks like one; never echo the rest of the value.
      const version = /^cmek:(v[0-9]{1,4}):/.exec(token)?.[1];
      throw new CmekFormatError(
        version
          ? `unsupported cmek token version '${version}'; this release reads cmek:v1`
          : 'malformed cmek token: expected the prefix cmek:v1:',
      );
    }
    throw new CmekFormatError('not a cmek token: it does not start with cmek:v1:');
  }
  const parts = token.slice(TOKEN_PREFIX.length).split('|');
  if (parts.length !== 3) {
    throw new CmekFormatError(
      `malformed cmek token: expected 3 parts separated by '|', found ${parts.length}`,
    );
  }
  const [kekText, saltText, fernet] = parts as [string, string, string];
  const record = known?.get(kekText) ?? decodeRecord(decodeB64url(kekText, 'the kek part'));
  const salt = decodeSalt(saltText);
  return { kekText, record, saltText, salt, fernet };
}

/** The salt part: canonical unpadded base64url of 16 bytes, else `CmekFormatError`. */
export function decodeSalt(saltText: string): Buffer {
  const salt = decodeB64url(saltText, 'the salt part');
  if (salt.length !== SALT_LENGTH) throw new CmekFormatError('the salt must be 16 bytes');
  return salt;
}

/** A short non-secret fingerprint of a wrapped-DEK record (equal for values that share a DEK). */
export function dekIdOf(kekText: string): string {
  return createHash('sha256').update(kekText).digest('hex').slice(0, 16);
}

export function inspectToken(token: string): TokenInfo {
  const { kekText, record } = parseToken(token);
  return {
    version: 'v1',
    providerId: record.providerId,
    keyRef: record.keyRef,
    dekId: dekIdOf(kekText),
  };
}
