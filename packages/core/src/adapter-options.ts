/**
 * The option checks every adapter makes at setup, with one wording: the envelope, the blind-index
 * indexer, and the encrypted fields given as a list of names or as an object of name to
 * `FieldOptions`.
 */
import type { BlindIndexer } from './blind-index-keys';
import type { Envelope } from './envelope-types';
import { CmekConfigError } from './errors';
import type { FieldOptions } from './field-config';

/**
 * `envelope` as an `Envelope` (anything with `encryptMany` and `decryptMany`: a tenant envelope
 * too), or a `CmekConfigError` naming `where` (the adapter's entry point, e.g. `withCmek`).
 */
export function envelopeOption(envelope: unknown, where: string): Envelope {
  const e = envelope as Partial<Envelope> | null | undefined;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.encryptMany !== 'function' ||
    typeof e.decryptMany !== 'function'
  ) {
    throw new CmekConfigError(`${where} needs \`envelope\`: the result of createEnvelope()`);
  }
  return envelope as Envelope;
}

/**
 * The `indexer` option: `undefined`, or the result of `loadBlindIndexes`; anything else is a
 * `CmekConfigError` naming `where`.
 */
export function indexerOption(indexer: unknown, where: string): BlindIndexer | undefined {
  if (indexer === undefined) return undefined;
  const i = indexer as Partial<BlindIndexer> | null;
  if (
    typeof i !== 'object' ||
    i === null ||
    typeof i.compute !== 'function' ||
    typeof i.computeAsync !== 'function' ||
    typeof i.candidates !== 'function'
  ) {
    throw new CmekConfigError(`${where}: \`indexer\` must be the result of loadBlindIndexes()`);
  }
  return indexer as BlindIndexer;
}

/**
 * The encrypted fields of one model or table, from either form an adapter accepts: a list of
 * names (each with no options) or an object of name to `FieldOptions`. `where` names the option in
 * errors (`tables.users.columns`), `noun` what the names are (`column`, `field`, `path`).
 * Refuses, with `CmekConfigError`, an empty list, a name that is not a non-empty string, and
 * options that are not an object; the options themselves are checked by the caller.
 */
export function fieldOptionEntries(
  fields: unknown,
  where: string,
  noun: string,
): [string, FieldOptions][] {
  const entries: [string, unknown][] = Array.isArray(fields)
    ? fields.map((name) => [name as string, {}])
    : typeof fields === 'object' && fields !== null
      ? Object.entries(fields)
      : [];
  if (entries.length === 0 || entries.some(([name]) => typeof name !== 'string' || name === '')) {
    throw new CmekConfigError(
      `${where} must be a non-empty array of ${noun} names, or an object of ${noun} name to options`,
    );
  }
  for (const [name, options] of entries) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new CmekConfigError(
        `${where}.${name} must be an object ({ context?, maxPlaintextBytes?, blindIndex? })`,
      );
    }
  }
  return entries as [string, FieldOptions][];
}
