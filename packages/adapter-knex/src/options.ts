/** The options of `withCmek` and their validation. */
import {
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  validateContext,
} from '@cmek/core';
import { foldName } from './fold';
import type { Identifiers } from './identifiers';

export interface CmekTableOptions {
  /**
   * The encrypted columns, named as your queries or as the database name them (with an
   * identifier mapper such as `knexSnakeCaseMappers`, either side's names match).
   */
  readonly columns: readonly string[];
  /** The primary key, used by `rowStore(table)`. Default `id`. */
  readonly primaryKey?: string;
  /**
   * A fixed encryption context per column, replacing the default `{ field: '<table>.<column>' }`.
   * Pin the old label here before renaming a table or a column, or old values stop decrypting.
   */
  readonly context?: Readonly<Record<string, EncryptionContext>>;
}

export interface WithCmekOptions {
  /** The envelope that encrypts and decrypts (from `createEnvelope`). */
  readonly envelope: Envelope;
  /** The tables with encrypted columns, by table name (either side's, with an identifier mapper). */
  readonly tables: Readonly<Record<string, CmekTableOptions>>;
}

/** One configured table, normalised. */
export interface TableConfig {
  /** The key of `tables`, as configured: it labels the default contexts. */
  readonly name: string;
  readonly primaryKey: string;
  /** The encrypted columns, as configured. */
  readonly columns: ReadonlySet<string>;
  /**
   * Each spelling of each configured column (`Identifiers.of`: folded, and folded as mapped to
   * the database) → the configured column. Look names up with `encryptedColumn` (lookup.ts).
   */
  readonly spellings: ReadonlyMap<string, string>;
  readonly contexts: ReadonlyMap<string, EncryptionContext>;
  /** How the wrapped Knex's identifiers are spelled. */
  readonly identifiers: Identifiers;
}

/** The configured tables: look them up with `lookupTable` (lookup.ts). */
export interface TableConfigs {
  /** In the order configured. */
  readonly list: readonly TableConfig[];
  /** Each spelling of each configured table name → the table. */
  readonly spellings: ReadonlyMap<string, TableConfig>;
  /** How the wrapped Knex's identifiers are spelled (its config's `wrapIdentifier`). */
  readonly identifiers: Identifiers;
}

/**
 * Each spelling of each name → the first name given with it; throws when two names share a
 * spelling (they differ only in letter case, or the identifier mapping sends them to one
 * database name).
 */
function spelledNames(
  names: readonly string[],
  what: string,
  identifiers: Identifiers,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of names) {
    for (const spelling of identifiers.of(name)) {
      const previous = out.get(spelling);
      if (previous !== undefined && previous !== name) {
        throw new CmekConfigError(
          foldName(previous) === foldName(name)
            ? `${what} names '${previous}' and '${name}', which differ only in letter case: SQLite and MySQL / MariaDB treat them as one identifier and the adapter matches identifiers case-insensitively; configure it once`
            : `${what} names '${previous}' and '${name}', which the Knex config's wrapIdentifier sends to one database identifier ('${spelling}'); configure it once`,
        );
      }
      out.set(spelling, previous ?? name);
    }
  }
  return out;
}

function contextOf(table: string, column: string, given: unknown): EncryptionContext {
  if (given === undefined) return defaultContext(table, column);
  return validateContext(given, `tables.${table}.context.${column}`);
}

export function normaliseTables(tables: unknown, identifiers: Identifiers): TableConfigs {
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) {
    throw new CmekConfigError('withCmek needs `tables`: an object of table name to { columns }');
  }
  const out = new Map<string, TableConfig>();
  for (const [name, raw] of Object.entries(tables as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null) {
      throw new CmekConfigError(`tables.${name} must be an object with \`columns\``);
    }
    const options = raw as Partial<CmekTableOptions>;
    const columns = options.columns;
    if (
      !Array.isArray(columns) ||
      columns.length === 0 ||
      columns.some((c) => typeof c !== 'string' || c.length === 0)
    ) {
      throw new CmekConfigError(`tables.${name}.columns must be a non-empty array of column names`);
    }
    const primaryKey = options.primaryKey ?? 'id';
    if (typeof primaryKey !== 'string' || primaryKey.length === 0) {
      throw new CmekConfigError(`tables.${name}.primaryKey must be a column name`);
    }
    const spellings = spelledNames(columns as string[], `tables.${name}.columns`, identifiers);
    if (identifiers.of(primaryKey).some((spelling) => spellings.has(spelling))) {
      throw new CmekConfigError(`tables.${name}: the primary key cannot be an encrypted column`);
    }
    const given = (options.context ?? {}) as Record<string, unknown>;
    if (typeof given !== 'object' || given === null) {
      throw new CmekConfigError(`tables.${name}.context must be an object keyed by column`);
    }
    for (const key of Object.keys(given)) {
      if (!columns.includes(key)) {
        throw new CmekConfigError(`tables.${name}.context names '${key}', which is not in columns`);
      }
    }
    const contexts = new Map<string, EncryptionContext>();
    for (const column of columns as string[]) {
      contexts.set(column, contextOf(name, column, given[column]));
    }
    out.set(name, {
      name,
      primaryKey,
      columns: new Set(spellings.values()),
      spellings,
      contexts,
      identifiers,
    });
  }
  const names = spelledNames([...out.keys()], '`tables`', identifiers);
  if (out.size === 0) throw new CmekConfigError('withCmek needs at least one table in `tables`');
  return {
    list: [...out.values()],
    spellings: new Map([...names].map(([spelling, name]) => [spelling, out.get(name)!])),
    identifiers,
  };
}

export function assertEnvelope(envelope: unknown): asserts envelope is Envelope {
  const e = envelope as Partial<Envelope> | null;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.encryptMany !== 'function' ||
    typeof e.decryptMany !== 'function'
  ) {
    throw new CmekConfigError('withCmek needs `envelope`: the result of createEnvelope()');
  }
}
