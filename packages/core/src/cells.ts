/**
 * Batch crypto for adapters: the values of a write or a result set, grouped by field ("cells"),
 * encrypted or decrypted with the fewest calls into the envelope (one per field) and one policy
 * for parallelism: every field of the batch at once (a cold DEK is still one KEK call: the
 * envelope's caches are single-flight). Every value of every field is checked before anything is
 * encrypted, so a refused value costs no KEK call.
 */
import type { DecryptOptions, Encryptable, EncryptionContext, Envelope } from './envelope-types';
import { assertFieldValue, encryptFieldValues, type SealedFieldValues } from './field-values';

/** One field's values in a batch. */
export interface FieldCells<V> {
  /** How the field is named in an error, e.g. `Integration.slackToken`. */
  readonly label: string;
  /** The field's encryption context. */
  readonly context: EncryptionContext;
  readonly values: readonly V[];
}

/**
 * Encrypts each field's values as `encryptFieldValues` does (a token of the field is kept, a
 * token of another field or key refused); `result[i]` is for `fields[i]`. Values that are not
 * strings, valid UTF-8 bytes or null are refused with `CmekInvalidInputError` naming the field
 * and the type, before any KEK call.
 */
export async function sealCells(
  envelope: Envelope,
  fields: readonly FieldCells<unknown>[],
): Promise<SealedFieldValues[]> {
  for (const { label, values } of fields)
    for (const value of values) assertFieldValue(value, label);
  return Promise.all(
    fields.map(({ label, context, values }) =>
      encryptFieldValues(envelope, values as readonly (Encryptable | null | undefined)[], {
        context,
        label,
      }),
    ),
  );
}

/**
 * Decrypts each field's stored values, one `decryptMany` per field; `result[i]` is for
 * `fields[i]`. Legacy plaintext follows the envelope's (or `options`') plaintext policy; null
 * and undefined come back as null.
 */
export async function openCells(
  envelope: Envelope,
  fields: readonly FieldCells<string | null | undefined>[],
  options: Pick<DecryptOptions, 'plaintextPolicy'> = {},
): Promise<(string | null)[][]> {
  return Promise.all(
    fields.map(({ context, values }) =>
      values.length === 0 ? [] : envelope.decryptMany(values, { ...options, context }),
    ),
  );
}
