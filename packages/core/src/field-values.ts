/**
 * What every adapter does with the values written to one encrypted field: plaintext is
 * encrypted; a value that already is a token is kept as it is only when it decrypts under the
 * field's context (a token read from this field, or made for it), so nothing is encrypted twice
 * and no token of another field, another KEK or a damaged one is stored where it cannot be read.
 */
import type { Encryptable, EncryptionContext, Envelope } from './envelope-types';
import { CmekError, CmekInvalidInputError } from './errors';

/** The failures that mean "this token does not belong here", as opposed to a KEK outage. */
const FOREIGN_TOKEN_CODES = new Set(['CMEK_DECRYPTION', 'CMEK_FORMAT', 'CMEK_UNKNOWN_KEK']);

export interface FieldValuesOptions {
  /** The field's encryption context. */
  readonly context: EncryptionContext;
  /** How the field is named in an error, e.g. `Integration.slackToken`. */
  readonly label: string;
}

export interface SealedFieldValues {
  /** What to store: a token for each value, `null` where the value was null or undefined. */
  readonly stored: (string | null)[];
  /** The plaintext of each stored token (for tokens passed in: their decrypted value). */
  readonly plaintexts: (Encryptable | null)[];
}

export async function encryptFieldValues(
  envelope: Envelope,
  values: readonly (Encryptable | null | undefined)[],
  options: FieldValuesOptions,
): Promise<SealedFieldValues> {
  const { context, label } = options;
  for (const v of values) assertFieldValue(v, label);
  const tokenAt: number[] = [];
  for (const [i, v] of values.entries()) if (envelope.isEncrypted(v)) tokenAt.push(i);
  const plaintexts: (Encryptable | null)[] = values.map((v) => v ?? null);
  if (tokenAt.length > 0) {
    let opened: (string | null)[];
    try {
      opened = await envelope.decryptMany(
        tokenAt.map((i) => values[i] as string),
        { context },
      );
    } catch (error) {
      if (CmekError.isInstance(error) && FOREIGN_TOKEN_CODES.has(error.code)) {
        throw new CmekInvalidInputError(
          `a value written to ${label} is a cmek token that does not decrypt as ${label} (a token of another field or key, or a damaged one); write the plaintext instead`,
          { cause: error },
        );
      }
      throw error;
    }
    for (const [n, i] of tokenAt.entries()) plaintexts[i] = opened[n] ?? null;
  }
  const isToken = new Set(tokenAt);
  const stored = await envelope.encryptMany(
    values.map((v, i) => (isToken.has(i) ? null : v)),
    { context },
  );
  for (const i of tokenAt) stored[i] = values[i] as string;
  return { stored, plaintexts };
}

/** What a value is, for an error message that must not show the value itself. */
export function describeValueType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Date) return 'a Date';
  const type = typeof value;
  if (type === 'object') return 'an object';
  return type === 'undefined' ? 'undefined' : `a ${type}`;
}

/**
 * Refuses, before any ORM sees it, a value an encrypted field cannot take: anything but a
 * string, a Uint8Array (valid UTF-8, checked by the envelope), `null` or `undefined`. The error
 * names the field and the value's type, never the value, so an ORM's cast or validation error
 * can never carry a secret written to the wrong type.
 */
export function assertFieldValue(
  value: unknown,
  label: string,
): asserts value is Encryptable | null | undefined {
  if (value === null || value === undefined) return;
  if (typeof value === 'string' || value instanceof Uint8Array) return;
  throw new CmekInvalidInputError(
    `${label} is encrypted and takes a string or null, not ${describeValueType(value)}`,
  );
}
