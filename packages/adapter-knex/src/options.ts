/** The options of `withCmek` and their validation. */
import { CmekConfigError, type EncryptionContext, type Envelope } from '@cmek/core';
import { foldName } from './fold';

export interface CmekTableOptions {
  /** The encrypted columns, named as your queries name them. */
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
  /** The tables with encrypted columns, by table name. */
  readonly tables: Readonly<Record<string, CmekTableOptions>>;
}

/** One configured table, normalised. */
export interface TableConfig {
  /** The key of `tables`, as configured: it labels the default contexts. */
  readonly name: string;
  readonly primaryKey: string;
  /** The encrypted columns, as configured. */
  readonly columns: ReadonlySet<string>;
  /** Folded column name (`foldName`) → the configured column. */
  readonly folded: ReadonlyMap<string, string>;
  readonly contexts: ReadonlyMap<string, EncryptionContext>;
}

/** The configured tables, by folded name (`foldName`): look them up with `lookupTable` (lookup.ts). */
export type TableConfigs = ReadonlyMap<string, TableConfig>;

/** Folded name → the first spelling given; throws when two spellings differ only in case. */
function foldedNames(names: readonly string[], what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of names) {
    const folded = foldName(name);
    const previous = out.get(folded);
    if (previous !== undefined && previous !== name) {
      throw new CmekConfigError(
        `${what} names '${previous}' and '${name}', which differ only in letter case: SQLite and MySQL / MariaDB treat them as one identifier and the adapter matches identifiers case-insensitively; configure it once`,
      );
    }
    out.set(folded, previous ?? name);
  }
  return out;
}

function contextOf(table: string, column: string, given: unknown): EncryptionContext {
  if (given === undefined) return { field: `${table}.${column}` };
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new CmekConfigError(`tables.${table}.context.${column} must be an object of strings`);
  }
  for (const [key, value] of Object.entries(given)) {
    if (key.length === 0 || typeof value !== 'string') {
      throw new CmekConfigError(
        `tables.${table}.context.${column} must map non-empty keys to strings`,
      );
    }
  }
  return Object.freeze({ ...(given as EncryptionContext) });
}

export function normaliseTables(tables: unknown): TableConfigs {
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
    const folded = foldedNames(columns as string[], `tables.${name}.columns`);
    if (folded.has(foldName(primaryKey))) {
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
      columns: new Set(folded.values()),
      folded,
      contexts,
    });
  }
  foldedNames([...out.keys()], '`tables`');
  if (out.size === 0) throw new CmekConfigError('withCmek needs at least one table in `tables`');
  return new Map([...out.values()].map((table) => [foldName(table.name), table]));
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
