/**
 * What an adapter needs for blind indexes, beside `sealCells`: the per-field option validated at
 * setup (`blindIndexesOption`), the index values of a write, one call per write
 * (`blindIndexCells`), and the values an equality or `IN` filter on the field is rewritten to
 * (`indexLookupValues`).
 */
import { isKeyId, normalizerOf } from './blind-index';
import type { BlindIndexComputeOptions, BlindIndexer } from './blind-index-keys';
import type { Encryptable, EncryptionContext } from './envelope-types';
import { CmekConfigError, CmekInvalidInputError } from './errors';

/** One blind-index column of an encrypted field (the `blindIndex` field option). */
export interface BlindIndexOptions extends BlindIndexComputeOptions {
  /** The column (or document path) the index values are stored in, e.g. `token_hash_bidx`. */
  readonly column: string;
}

/** One field's plaintexts in a write, with its index columns. */
export interface IndexCells {
  /** How the field is named in an error, e.g. `ApiToken.tokenHash`. */
  readonly label: string;
  /** The field's encryption context: its `field` value is the index label (else `label`). */
  readonly context: EncryptionContext;
  /** The field's index columns, from `blindIndexesOption`. */
  readonly indexes: readonly BlindIndexOptions[];
  /** The plaintext of each value written (`sealCells`' `plaintexts`); null gives a null index. */
  readonly plaintexts: readonly (Encryptable | null | undefined)[];
}

/** The values of one index column for the values of a write, in order. */
export interface IndexColumnValues {
  readonly column: string;
  readonly values: (string | null)[];
}

/**
 * The `blindIndex` option of a field, validated: `undefined` gives `[]`; one object or an array
 * of them (two during a two-column rotation of the index key: the first is the one lookups use)
 * gives a frozen array. Throws `CmekConfigError` naming `where` for a missing column, two entries
 * with one column, an unknown normaliser or mode, or a key that is not a key id.
 */
export function blindIndexesOption(value: unknown, where: string): readonly BlindIndexOptions[] {
  if (value === undefined) return Object.freeze([]);
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new CmekConfigError(`${where} must not be an empty array`);
  const columns = new Set<string>();
  return Object.freeze(
    list.map((entry, i) => {
      const at = Array.isArray(value) ? `${where}[${i}]` : where;
      if (typeof entry !== 'object' || entry === null) {
        throw new CmekConfigError(`${at} must be an object: { column, normalize?, mode?, key? }`);
      }
      const { column, normalize, mode, key } = entry as BlindIndexOptions;
      if (typeof column !== 'string' || column.length === 0) {
        throw new CmekConfigError(`${at}.column must be a non-empty string`);
      }
      if (columns.has(column)) throw new CmekConfigError(`${at}.column ${column} is given twice`);
      columns.add(column);
      normalizerOf(normalize, `${at}.normalize`);
      if (mode !== undefined && mode !== 'hmac' && mode !== 'slow') {
        throw new CmekConfigError(`${at}.mode must be 'hmac' or 'slow'`);
      }
      if (key !== undefined && !isKeyId(key)) {
        throw new CmekConfigError(
          `${at}.key must be an index key id (16 lowercase hex characters)`,
        );
      }
      return Object.freeze({
        column,
        ...(normalize === undefined ? {} : { normalize }),
        ...(mode === undefined ? {} : { mode }),
        ...(key === undefined ? {} : { key }),
      });
    }),
  );
}

/** The label a field's index is derived under: the context's `field` value, else `label`. */
export function blindIndexLabel(context: EncryptionContext | undefined, label: string): string {
  const field = context?.field;
  return typeof field === 'string' && field.length > 0 ? field : label;
}

/**
 * The index values of a write: `result[i][j]` is column `fields[i].indexes[j]` for every value of
 * `fields[i]` (null for a null value). HMAC mode is computed at once; slow mode runs scrypt on
 * libuv's thread pool, every value in parallel. Call it with `sealCells`' `plaintexts`, so a token
 * passed in is indexed by its plaintext.
 */
export async function blindIndexCells(
  indexer: BlindIndexer,
  fields: readonly IndexCells[],
): Promise<IndexColumnValues[][]> {
  return Promise.all(
    fields.map(({ label, context, indexes, plaintexts }) => {
      const name = blindIndexLabel(context, label);
      return Promise.all(
        indexes.map(async (spec) => ({
          column: spec.column,
          values: await Promise.all(
            plaintexts.map((value) =>
              value === null || value === undefined
                ? null
                : spec.mode === 'slow'
                  ? indexer.computeAsync(name, value, spec)
                  : indexer.compute(name, value, spec),
            ),
          ),
        })),
      );
    }),
  );
}

/** One field's lookup: its label and context, and the index column the lookup goes to. */
export interface IndexLookup {
  readonly label: string;
  readonly context: EncryptionContext;
  /** The index column to filter on: the first of the field's `blindIndexesOption`. */
  readonly index: BlindIndexOptions;
}

/**
 * What a filter `field = v` or `field IN (v1, v2)` becomes on the index column: `column IN
 * (result)`. A column pinned to one key (`index.key`) gets that key's values; otherwise each value
 * gives one per loaded key (two during a rotation inside one column). Distinct, in order.
 * Synchronous, for query builders; in slow mode each value costs a scrypt on this thread. A value
 * that is not a string or UTF-8 bytes (null included: filter the value column with `IS NULL`) is
 * a `CmekInvalidInputError` naming the field.
 */
export function indexLookupValues(
  indexer: BlindIndexer,
  lookup: IndexLookup,
  values: readonly unknown[],
): string[] {
  const name = blindIndexLabel(lookup.context, lookup.label);
  const out = new Set<string>();
  for (const value of values) {
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new CmekInvalidInputError(
        `an equality filter on ${lookup.label} takes strings (not ${value === null ? 'null' : typeof value}); filter a null with IS NULL on the field itself`,
      );
    }
    const found =
      lookup.index.key === undefined
        ? indexer.candidates(name, value, lookup.index)
        : [indexer.compute(name, value, lookup.index)];
    for (const v of found) out.add(v);
  }
  return [...out];
}
