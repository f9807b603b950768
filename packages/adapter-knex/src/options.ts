/** The options of `withCmek` and their validation. */
import {
  type BlindIndexer,
  type BlindIndexOptions,
  blindIndexesOption,
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  type FieldOptions,
  fieldOptionEntries,
  indexerOption,
  maxPlaintextBytesOption,
  validateContext,
  warnDeprecatedOption,
} from '@cmek/core';
import { foldName, type Identifiers } from './identifiers';

export interface CmekTableOptions {
  /**
   * The encrypted columns, named as your queries or as the database name them (with an
   * identifier mapper such as `knexSnakeCaseMappers`, either side's names match): a list, or the
   * columns mapped to their options (core's `FieldOptions`): `context` (default
   * `{ field: '<table>.<column>' }`; pin the old one before renaming a table or a column, or old
   * values stop decrypting), `maxPlaintextBytes` (the longest plaintext, for `checkColumns`) and
   * `blindIndex` (`{ column, normalize?, mode?, key? }`, or a list of them during a rotation: the
   * column of a keyed hash of the plaintext, written with the value, so that `where(col, value)`
   * and `whereIn(col, values)` can be answered; needs `indexer`).
   */
  readonly columns: readonly string[] | Readonly<Record<string, FieldOptions>>;
  /**
   * The column holding each row's tenant id (such as `workspace_id`), for an `envelope` from
   * `createTenantEnvelope`: every value of the row is encrypted and decrypted under that tenant's
   * KEK (the tenant id in its context, under the envelope's `tenantKey`). Required on every table
   * of a tenant envelope; the column is not encrypted. A write whose tenant is unknown is refused.
   */
  readonly tenantColumn?: string;
  /** The primary key, used by `rowStore(table)`. Default `id`. */
  readonly primaryKey?: string;
  /** @deprecated Use `columns: { [column]: { context } }`, the same contexts. */
  readonly context?: Readonly<Record<string, EncryptionContext>>;
}

export interface WithCmekOptions {
  /** The envelope that encrypts and decrypts (from `createEnvelope`). */
  readonly envelope: Envelope;
  /** The tables with encrypted columns, by table name (either side's, with an identifier mapper). */
  readonly tables: Readonly<Record<string, CmekTableOptions>>;
  /**
   * The blind indexer (`loadBlindIndexes` of `@cmek/core`) that computes the index of each column
   * configured with a `blindIndex`; required when one is.
   */
  readonly indexer?: BlindIndexer;
}

/** One configured table, normalised. */
export interface TableConfig {
  /** The key of `tables`, as configured: it labels the default contexts. */
  readonly name: string;
  readonly primaryKey: string;
  /** The column holding each row's tenant id (`tenantColumn`), for a tenant envelope. */
  readonly tenantColumn: string | undefined;
  /** The context key of the tenant id (the tenant envelope's `tenantKey`); undefined without one. */
  readonly tenantKey: string | undefined;
  /** The encrypted columns, as configured. */
  readonly columns: ReadonlySet<string>;
  /**
   * Each spelling of each configured column (`Identifiers.of`: folded, and folded as mapped to
   * the database) → the configured column. Look names up with `encryptedColumn` (lookup.ts).
   */
  readonly spellings: ReadonlyMap<string, string>;
  readonly contexts: ReadonlyMap<string, EncryptionContext>;
  /** The configured `maxPlaintextBytes` of the columns that have one. */
  readonly maxPlaintextBytes: ReadonlyMap<string, number>;
  /**
   * The blind-index columns of each configured column that has any (`blindIndexesOption`: the
   * first is the one lookups use).
   */
  readonly indexes: ReadonlyMap<string, readonly BlindIndexOptions[]>;
  /** Each spelling of each index column → the configured column it is the index of. */
  readonly indexSpellings: ReadonlyMap<string, string>;
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
  /** The indexer of the blind indexes; defined when a column has one. */
  readonly indexer: BlindIndexer | undefined;
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

/**
 * Each spelling of each index column of a table → its configured column. An index column may not
 * be an encrypted column, the primary key, or the index of two columns.
 */
function indexSpellingsOf(
  name: string,
  primaryKey: string,
  spellings: ReadonlyMap<string, string>,
  indexes: ReadonlyMap<string, readonly BlindIndexOptions[]>,
  identifiers: Identifiers,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [column, list] of indexes) {
    for (const { column: index } of list) {
      const where = `tables.${name}.columns.${column}.blindIndex`;
      const of = identifiers.of(index);
      if (of.some((spelling) => spellings.has(spelling))) {
        throw new CmekConfigError(`${where}: ${index} is an encrypted column, not an index column`);
      }
      if (identifiers.of(primaryKey).some((spelling) => of.includes(spelling))) {
        throw new CmekConfigError(`${where}: ${index} is the primary key`);
      }
      for (const spelling of of) {
        const previous = out.get(spelling);
        if (previous !== undefined) {
          throw new CmekConfigError(
            `${where}: ${index} is already the index column of ${name}.${previous}`,
          );
        }
        out.set(spelling, column);
      }
    }
  }
  return out;
}

export function normaliseTables(
  tables: unknown,
  identifiers: Identifiers,
  indexerGiven?: unknown,
  tenantKey?: string,
): TableConfigs {
  const indexer = indexerOption(indexerGiven, 'withCmek');
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) {
    throw new CmekConfigError('withCmek needs `tables`: an object of table name to { columns }');
  }
  const out = new Map<string, TableConfig>();
  for (const [name, raw] of Object.entries(tables as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null) {
      throw new CmekConfigError(`tables.${name} must be an object with \`columns\``);
    }
    const options = raw as Partial<CmekTableOptions>;
    const entries = fieldOptionEntries(options.columns, `tables.${name}.columns`, 'column');
    const columns = entries.map(([column]) => column);
    const primaryKey = options.primaryKey ?? 'id';
    if (typeof primaryKey !== 'string' || primaryKey.length === 0) {
      throw new CmekConfigError(`tables.${name}.primaryKey must be a column name`);
    }
    const spellings = spelledNames(columns, `tables.${name}.columns`, identifiers);
    if (identifiers.of(primaryKey).some((spelling) => spellings.has(spelling))) {
      throw new CmekConfigError(`tables.${name}: the primary key cannot be an encrypted column`);
    }
    const tenantColumn = tenantOption(name, options.tenantColumn, tenantKey, identifiers);
    if (tenantColumn !== undefined) {
      if (identifiers.of(tenantColumn).some((spelling) => spellings.has(spelling))) {
        throw new CmekConfigError(
          `tables.${name}.tenantColumn: ${tenantColumn} is an encrypted column; the tenant column cannot be encrypted`,
        );
      }
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
    const maxPlaintextBytes = new Map<string, number>();
    const indexes = new Map<string, readonly BlindIndexOptions[]>();
    for (const [column, fieldOptions] of entries) {
      const where = `tables.${name}.columns.${column}`;
      if (fieldOptions.context !== undefined && given[column] !== undefined) {
        throw new CmekConfigError(
          `${where}: a context here and in the deprecated tables.${name}.context`,
        );
      }
      const context = fieldOptions.context ?? given[column];
      if (
        tenantKey !== undefined &&
        tenantColumn === undefined &&
        !(typeof context === 'object' && context !== null && tenantKey in context)
      ) {
        throw new CmekConfigError(
          `${where}: the envelope is a tenant envelope (createTenantEnvelope), so tables.${name} needs \`tenantColumn\`: the column holding each row's tenant id`,
        );
      }
      contexts.set(
        column,
        context === undefined
          ? defaultContext(name, column)
          : validateContext(
              context,
              fieldOptions.context === undefined
                ? `tables.${name}.context.${column}`
                : `${where}.context`,
            ),
      );
      const max = maxPlaintextBytesOption(
        fieldOptions.maxPlaintextBytes,
        `${where}.maxPlaintextBytes`,
      );
      if (max !== undefined) maxPlaintextBytes.set(column, max);
      const list = blindIndexesOption(fieldOptions.blindIndex, `${where}.blindIndex`);
      if (list.length > 0) {
        if (indexer === undefined) {
          throw new CmekConfigError(
            `${where}.blindIndex needs withCmek's \`indexer\` (loadBlindIndexes of @cmek/core)`,
          );
        }
        indexes.set(column, list);
      }
    }
    if (options.context !== undefined) {
      // warned once the configuration is known to be valid: it is used as it is
      warnDeprecatedOption(
        'CMEK_DEP_KNEX_TABLE_CONTEXT',
        '@cmek/adapter-knex: `tables.<table>.context` is deprecated; give each column its context in `columns: { <column>: { context } }`',
      );
    }
    if (tenantColumn !== undefined) {
      for (const list of indexes.values()) {
        for (const { column } of list) {
          if (identifiers.same(column, tenantColumn)) {
            throw new CmekConfigError(
              `tables.${name}.tenantColumn: ${tenantColumn} is a blind-index column; it cannot be one`,
            );
          }
        }
      }
    }
    out.set(name, {
      name,
      primaryKey,
      tenantColumn,
      tenantKey: tenantColumn === undefined ? undefined : tenantKey,
      columns: new Set(spellings.values()),
      spellings,
      contexts,
      maxPlaintextBytes,
      indexes,
      indexSpellings: indexSpellingsOf(name, primaryKey, spellings, indexes, identifiers),
      identifiers,
    });
  }
  const names = spelledNames([...out.keys()], '`tables`', identifiers);
  if (out.size === 0) throw new CmekConfigError('withCmek needs at least one table in `tables`');
  return {
    list: [...out.values()],
    spellings: new Map([...names].map(([spelling, name]) => [spelling, out.get(name)!])),
    identifiers,
    indexer,
  };
}

/** The validated `tenantColumn` of a table: a column name, and the envelope is a tenant envelope. */
function tenantOption(
  name: string,
  given: unknown,
  tenantKey: string | undefined,
  identifiers: Identifiers,
): string | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== 'string' || given.length === 0) {
    throw new CmekConfigError(`tables.${name}.tenantColumn must be a column name`);
  }
  if (tenantKey === undefined) {
    throw new CmekConfigError(
      `tables.${name}.tenantColumn needs a tenant envelope (createTenantEnvelope of @cmek/core): a plain envelope would encrypt every tenant's values under one KEK`,
    );
  }
  if (identifiers.of(given).length === 0) {
    throw new CmekConfigError(`tables.${name}.tenantColumn must be a column name`);
  }
  return given;
}
