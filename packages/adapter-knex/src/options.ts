/** The options of `withCmek` and their validation. */
import { CmekConfigError, type EncryptionContext, type Envelope } from '@cmek/core';

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
  readonly name: string;
  readonly primaryKey: string;
  readonly columns: ReadonlySet<string>;
  readonly contexts: ReadonlyMap<string, EncryptionContext>;
}

export type TableConfigs = ReadonlyMap<string, TableConfig>;

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
    if (columns.includes(primaryKey)) {
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
    out.set(name, { name, primaryKey, columns: new Set(columns as string[]), contexts });
  }
  if (out.size === 0) throw new CmekConfigError('withCmek needs at least one table in `tables`');
  return out;
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
