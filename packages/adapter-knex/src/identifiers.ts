/**
 * The spellings an identifier is matched by: its folded name (`foldName`) and, when the Knex
 * config has a `wrapIdentifier` (objection's `knexSnakeCaseMappers`, or any other identifier
 * mapper), the folded name it sends to the database.
 *
 * With a mapper, `insert({ accessToken })` writes the column `access_token`. A configuration
 * that names `access_token` while the query says `accessToken` (or the other way round) must
 * still see one column, or the value is written as plaintext; so two names match when any of
 * their spellings do. The mapping is called with an identity `origImpl` (to get the name, not
 * its quoted form; a mapping that quotes the name itself is read inside its quotes) and without
 * a `queryContext`, which the adapter does not know for every name it compares (configured
 * names have none): a mapping that depends on it is called as if the query had none.
 */
import { CmekConfigError } from '@cmek/core';

/**
 * The folded form of an identifier: Unicode upper case, then lower case, so that names equal
 * under either mapping (`ſ` and `s`, `ß` and `SS`) fold alike.
 *
 * Identifiers are compared case-insensitively, whatever the database. SQLite matches table and
 * column names case-insensitively; MySQL / MariaDB match column names (and, with
 * `lower_case_table_names`, table names) so too. A name the adapter matched exactly while the
 * database matched it loosely would be a silent plaintext write, so every table, alias and
 * column name is folded before it is compared. On PostgreSQL, where Knex quotes identifiers and
 * `"Token"` is not `"token"`, folding can only make the adapter treat one more name as encrypted
 * (an extra encryption, or a refusal), never one fewer.
 */
export function foldName(name: string): string {
  return name.toUpperCase().toLowerCase();
}

/** Knex's `config.wrapIdentifier`. */
type WrapIdentifier = (
  value: string,
  origImpl: (value: string) => string,
  queryContext: unknown,
) => unknown;

export interface Identifiers {
  /**
   * The folded spellings of an identifier (`t`, `schema.t`, a column, an alias or a result key):
   * as written, then as mapped to the database (each dotted part on its own, as Knex maps it)
   * when that differs. Throws `CmekConfigError` when the mapping cannot map it.
   */
  of(name: string): readonly string[];
  /** Whether two identifiers may name the same database identifier: a spelling in common. */
  same(a: string, b: string): boolean;
}

/** Whether two lists of spellings (a few entries each) share one. */
export function overlaps(a: readonly string[], b: readonly string[]): boolean {
  return a.some((spelling) => b.includes(spelling));
}

/** Spellings kept before the cache starts over (identifiers are few; this bounds odd cases). */
const CACHE_LIMIT = 10_000;

function identity(value: string): string {
  return value;
}

const CLOSING: Readonly<Record<string, string>> = { '"': '"', '`': '`', '[': ']' };

/** The name inside the quotes of a mapping that quotes it itself (not through `origImpl`). */
function unquoted(name: string): string {
  const close = CLOSING[name.charAt(0)];
  if (close === undefined || name.length < 2 || !name.endsWith(close)) return name;
  return name.slice(1, -1).replaceAll(`${close}${close}`, close);
}

function mapPart(wrap: WrapIdentifier, part: string): string {
  let mapped: unknown;
  try {
    mapped = wrap(part, identity, undefined);
  } catch (cause) {
    throw new CmekConfigError(
      `the Knex config's wrapIdentifier threw on the identifier '${part}': cmek calls it without a queryContext (and with an identity origImpl) to learn the database-side name of every identifier it matches to encrypted columns; make it map names without a queryContext`,
      { cause },
    );
  }
  if (typeof mapped !== 'string') {
    throw new CmekConfigError(
      `the Knex config's wrapIdentifier returned a ${typeof mapped} for the identifier '${part}' when called with an identity origImpl and no queryContext; cmek needs the database-side name as a string to match encrypted columns`,
    );
  }
  return unquoted(mapped);
}

/** The identifiers of a Knex instance, per its config's `wrapIdentifier` (if any). */
export function identifiersOf(knex: unknown): Identifiers {
  const client = (knex as { client?: { config?: { wrapIdentifier?: unknown } } } | null)?.client;
  const wrap = client?.config?.wrapIdentifier;
  const cache = new Map<string, readonly string[]>();
  const of = (name: string): readonly string[] => {
    let spellings = cache.get(name);
    if (spellings === undefined) {
      const folded = foldName(name);
      if (typeof wrap !== 'function') spellings = [folded];
      else {
        const mapped = foldName(
          name
            .split('.')
            .map((part) => mapPart(wrap as WrapIdentifier, part))
            .join('.'),
        );
        spellings = mapped === folded ? [folded] : [folded, mapped];
      }
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(name, spellings);
    }
    return spellings;
  };
  return { of, same: (a, b) => overlaps(of(a), of(b)) };
}
