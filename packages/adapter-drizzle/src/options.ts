/** The options of `withCmek` and their validation. */
import {
  BLIND_INDEX_MAX_LENGTH,
  type BlindIndexer,
  type BlindIndexOptions,
  blindIndexesOption,
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  envelopeOption,
  type FieldOptions,
  fieldOptionEntries,
  indexerOption,
  isTenantEnvelope,
  maxPlaintextBytesOption,
  validateContext,
} from '@cmek/core';
import { type Column, getTableName, isTable, type Table } from 'drizzle-orm';
import { declaredLength } from './column-check';
import { columnIdentity, tableColumns, tableIdentity } from './columns';

export interface CmekTableOptions<T extends Table = Table> {
  /** The Drizzle table (`pgTable(...)`, `sqliteTable(...)`, `mysqlTable(...)`). */
  readonly table: T;
  /**
   * The encrypted columns, by their key in the table definition (or their database name): a
   * list, or the columns mapped to core's `FieldOptions`: `context` (default
   * `{ field: '<table>.<column>' }` with the database names; pin the old one before renaming a
   * table or a column, or old values stop decrypting) and `maxPlaintextBytes` (the longest
   * plaintext, for `checkColumns`) and `blindIndex` (`{ column, normalize?, mode?, key? }`: the
   * column of the table that holds the value's blind index, so that `eq` / `inArray` on the
   * encrypted column can be answered; needs `indexer`).
   */
  readonly columns: readonly string[] | Readonly<Record<string, FieldOptions>>;
  /**
   * The column holding each row's tenant id (by its key in the table definition or its database
   * name), for an `envelope` from `createTenantEnvelope`: every value of the row is encrypted and
   * decrypted under that tenant's KEK (the tenant id in its context, under the envelope's
   * `tenantKey`). Required on every table of a tenant envelope; the column is not encrypted.
   */
  readonly tenantColumn?: string;
}

export interface WithCmekOptions {
  /** The envelope that encrypts and decrypts (from `createEnvelope`). */
  readonly envelope: Envelope;
  /** The tables with encrypted columns. */
  readonly tables: readonly CmekTableOptions[];
  /**
   * The blind indexer (`loadBlindIndexes` of `@cmek/core`) that computes the index of each column
   * configured with a `blindIndex`; required when one is.
   */
  readonly indexer?: BlindIndexer;
}

/** One blind-index column of an encrypted column. */
export interface IndexColumn {
  /** The validated option (`column` as given: the key or the database name). */
  readonly spec: BlindIndexOptions;
  /** The index column's key in the table definition. */
  readonly key: string;
  readonly column: Column;
}

/** The tenant column of a table (`tenantColumn`). */
export interface TenantColumn {
  /** The column's key in the table definition. */
  readonly key: string;
  readonly column: Column;
  /** `<table>.<column>` with the database names. */
  readonly label: string;
}

/** One encrypted column, normalised. */
export interface FieldConfig {
  /** `<table>.<column>` with the database names: how errors name the column. */
  readonly label: string;
  readonly context: EncryptionContext;
  readonly column: Column;
  /** The column's key in the table definition. */
  readonly key: string;
  readonly maxPlaintextBytes: number | undefined;
  /** The blind-index columns (empty when the column has none); the first is the lookup column. */
  readonly indexes: readonly IndexColumn[];
  /**
   * The label the index values are derived under when the context has no `field`:
   * `<table>.<key>`, as the row store's engine names it.
   */
  readonly indexLabel: string;
  /** The table's tenant column, for a tenant envelope. */
  readonly tenant: TenantColumn | undefined;
}

export interface CmekConfig {
  readonly envelope: Envelope;
  /** `columnIdentity` → the encrypted column. */
  readonly fields: ReadonlyMap<string, FieldConfig>;
  /** `tableIdentity` of each table with encrypted columns. */
  readonly tables: ReadonlySet<string>;
  /** `columnIdentity` of each blind-index column → the encrypted column it indexes. */
  readonly indexColumns: ReadonlyMap<string, FieldConfig>;
  readonly indexer: BlindIndexer | undefined;
  /** The context key of the tenant id: the tenant envelope's `tenantKey`; undefined for a plain envelope. */
  readonly tenantKey: string | undefined;
}

/** The encrypted column a Drizzle column is, if any. */
const identities = new WeakMap<Column, string>();

export function encryptedField(config: CmekConfig, column: Column): FieldConfig | undefined {
  let identity = identities.get(column);
  if (identity === undefined) {
    identity = columnIdentity(column);
    identities.set(column, identity);
  }
  return config.fields.get(identity);
}

/** The column of `table` named `name`: its key in the definition, else its database name. */
export function findColumn(table: Table, name: string): [string, Column] | undefined {
  const columns = tableColumns(table);
  if (Object.hasOwn(columns, name)) return [name, columns[name]!];
  return Object.entries(columns).find(([, c]) => c.name === name);
}

export function normaliseOptions(options: unknown): CmekConfig {
  const o = (options ?? {}) as Partial<WithCmekOptions>;
  const envelope = envelopeOption(o.envelope, 'withCmek');
  if (!Array.isArray(o.tables) || o.tables.length === 0) {
    throw new CmekConfigError(
      'withCmek needs `tables`: a non-empty array of { table, columns } (the Drizzle table and its encrypted columns)',
    );
  }
  const indexer = indexerOption(o.indexer, 'withCmek');
  const fields = new Map<string, FieldConfig>();
  const tables = new Set<string>();
  const indexColumns = new Map<string, FieldConfig>();
  const tenantKey = isTenantEnvelope(envelope) ? envelope.tenantKey : undefined;
  for (const [i, entry] of (o.tables as unknown[]).entries()) {
    const table = (entry as Partial<CmekTableOptions> | null)?.table;
    if (!isTable(table)) {
      throw new CmekConfigError(`tables[${i}].table must be a Drizzle table`);
    }
    const name = getTableName(table);
    if (tables.has(tableIdentity(table))) {
      throw new CmekConfigError(`tables names the table ${name} twice; configure it once`);
    }
    tables.add(tableIdentity(table));
    const tenant = tenantOption(table, (entry as CmekTableOptions).tenantColumn, tenantKey);
    for (const [given, fieldOptions] of fieldOptionEntries(
      (entry as CmekTableOptions).columns,
      `tables[${name}].columns`,
      'column',
    )) {
      const found = findColumn(table, given);
      if (found === undefined) {
        throw new CmekConfigError(
          `tables[${name}].columns names '${given}', which ${name} has not`,
        );
      }
      const [key, column] = found;
      const label = `${name}.${column.name}`;
      if (column.primary) {
        throw new CmekConfigError(`${label}: the primary key cannot be an encrypted column`);
      }
      if (column.dataType !== 'string') {
        throw new CmekConfigError(
          `${label} is a ${column.columnType} column; an encrypted column holds text (text, varchar, char)`,
        );
      }
      if (fields.has(columnIdentity(column))) {
        throw new CmekConfigError(`tables[${name}].columns names ${label} twice`);
      }
      const where = `tables[${name}].columns.${given}`;
      const field: FieldConfig = {
        label,
        key,
        column,
        indexLabel: `${name}.${key}`,
        tenant,
        indexes: indexColumnsOf(
          table,
          blindIndexesOption(fieldOptions.blindIndex, `${where}.blindIndex`),
          where,
        ),
        context:
          fieldOptions.context === undefined
            ? defaultContext(name, column.name)
            : validateContext(fieldOptions.context, `${where}.context`),
        maxPlaintextBytes: maxPlaintextBytesOption(
          fieldOptions.maxPlaintextBytes,
          `${where}.maxPlaintextBytes`,
        ),
      };
      if (tenantKey !== undefined && tenant === undefined && !(tenantKey in field.context)) {
        throw new CmekConfigError(
          `${where}: the envelope is a tenant envelope (createTenantEnvelope), so ${name} needs \`tenantColumn\`: the column holding each row's tenant id`,
        );
      }
      if (tenant !== undefined && columnIdentity(tenant.column) === columnIdentity(column)) {
        throw new CmekConfigError(
          `${label} is the tenantColumn of ${name}; the tenant column cannot be encrypted`,
        );
      }
      if (field.indexes.length > 0 && indexer === undefined) {
        throw new CmekConfigError(
          `${where}.blindIndex needs withCmek's \`indexer\` (loadBlindIndexes of @cmek/core)`,
        );
      }
      fields.set(columnIdentity(column), field);
      for (const index of field.indexes) {
        const identity = columnIdentity(index.column);
        if (indexColumns.has(identity)) {
          throw new CmekConfigError(
            `${where}.blindIndex: ${name}.${index.column.name} is already the index column of ${indexColumns.get(identity)!.label}`,
          );
        }
        indexColumns.set(identity, field);
      }
    }
  }
  for (const [identity, field] of indexColumns) {
    if (field.tenant !== undefined && columnIdentity(field.tenant.column) === identity) {
      throw new CmekConfigError(
        `${field.tenant.label} is the tenantColumn of its table; it cannot be a blind-index column`,
      );
    }
    if (fields.has(identity)) {
      throw new CmekConfigError(
        `${field.label}: its blind-index column is itself an encrypted column; an index column holds the index in the clear`,
      );
    }
  }
  return { envelope, fields, tables, indexColumns, indexer, tenantKey };
}

/** The validated `tenantColumn` of a table: it exists, and the envelope is a tenant envelope. */
function tenantOption(
  table: Table,
  given: unknown,
  tenantKey: string | undefined,
): TenantColumn | undefined {
  if (given === undefined) return undefined;
  const name = getTableName(table);
  if (typeof given !== 'string' || given.length === 0) {
    throw new CmekConfigError(`tables[${name}].tenantColumn must be a column name`);
  }
  if (tenantKey === undefined) {
    throw new CmekConfigError(
      `tables[${name}].tenantColumn needs a tenant envelope (createTenantEnvelope of @cmek/core): a plain envelope would encrypt every tenant's values under one KEK`,
    );
  }
  const found = findColumn(table, given);
  if (found === undefined) {
    throw new CmekConfigError(
      `tables[${name}].tenantColumn names '${given}', which ${name} has not`,
    );
  }
  const [key, column] = found;
  return { key, column, label: `${name}.${column.name}` };
}

/**
 * The index columns of a field, found in its table: each must exist, hold text and be able to
 * hold `BLIND_INDEX_MAX_LENGTH` characters when its length is declared.
 */
export function indexColumnsOf(
  table: Table,
  specs: readonly BlindIndexOptions[],
  where: string,
): IndexColumn[] {
  const name = getTableName(table);
  return specs.map((spec) => {
    const found = findColumn(table, spec.column);
    if (found === undefined) {
      throw new CmekConfigError(
        `${where}.blindIndex names the column '${spec.column}', which ${name} has not: add it to the table (varchar(${BLIND_INDEX_MAX_LENGTH}) or longer, with a unique index if the values are unique)`,
      );
    }
    const [key, column] = found;
    const label = `${name}.${column.name}`;
    if (column.primary || column.dataType !== 'string') {
      throw new CmekConfigError(
        `${where}.blindIndex: ${label} must be a text column (varchar(${BLIND_INDEX_MAX_LENGTH}) or longer), not ${column.primary ? 'the primary key' : `a ${column.columnType} column`}`,
      );
    }
    const declared = declaredLength(column as never);
    if (declared !== undefined && declared < BLIND_INDEX_MAX_LENGTH) {
      throw new CmekConfigError(
        `${where}.blindIndex: ${label} holds ${declared} characters; a blind index needs ${BLIND_INDEX_MAX_LENGTH}`,
      );
    }
    return { spec, key, column };
  });
}
