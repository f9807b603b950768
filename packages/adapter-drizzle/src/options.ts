/** The options of `withCmek` and their validation. */
import {
  CmekConfigError,
  defaultContext,
  type EncryptionContext,
  type Envelope,
  type FieldOptions,
  maxPlaintextBytesOption,
  validateContext,
} from '@cmek/core';
import { type Column, getTableName, isTable, type Table } from 'drizzle-orm';
import { columnIdentity, tableColumns, tableIdentity } from './columns';

export interface CmekTableOptions<T extends Table = Table> {
  /** The Drizzle table (`pgTable(...)`, `sqliteTable(...)`, `mysqlTable(...)`). */
  readonly table: T;
  /**
   * The encrypted columns, by their key in the table definition (or their database name): a
   * list, or the columns mapped to core's `FieldOptions`: `context` (default
   * `{ field: '<table>.<column>' }` with the database names; pin the old one before renaming a
   * table or a column, or old values stop decrypting) and `maxPlaintextBytes` (the longest
   * plaintext, for `checkColumns`).
   */
  readonly columns: readonly string[] | Readonly<Record<string, FieldOptions>>;
}

export interface WithCmekOptions {
  /** The envelope that encrypts and decrypts (from `createEnvelope`). */
  readonly envelope: Envelope;
  /** The tables with encrypted columns. */
  readonly tables: readonly CmekTableOptions[];
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
}

export interface CmekConfig {
  readonly envelope: Envelope;
  /** `columnIdentity` → the encrypted column. */
  readonly fields: ReadonlyMap<string, FieldConfig>;
  /** `tableIdentity` of each table with encrypted columns. */
  readonly tables: ReadonlySet<string>;
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

function columnEntries(name: string, columns: unknown): [string, FieldOptions][] {
  const where = `tables[${name}].columns`;
  const entries: [string, unknown][] = Array.isArray(columns)
    ? columns.map((c) => [c as string, {}])
    : typeof columns === 'object' && columns !== null
      ? Object.entries(columns)
      : [];
  if (entries.length === 0 || entries.some(([c]) => typeof c !== 'string' || c.length === 0)) {
    throw new CmekConfigError(
      `${where} must be a non-empty array of column names, or an object of column name to options`,
    );
  }
  for (const [column, options] of entries) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new CmekConfigError(
        `${where}.${column} must be an object ({ context?, maxPlaintextBytes? })`,
      );
    }
  }
  return entries as [string, FieldOptions][];
}

/** The column of `table` named `name`: its key in the definition, else its database name. */
function findColumn(table: Table, name: string): [string, Column] | undefined {
  const columns = tableColumns(table);
  if (Object.hasOwn(columns, name)) return [name, columns[name]!];
  return Object.entries(columns).find(([, c]) => c.name === name);
}

export function normaliseOptions(options: unknown): CmekConfig {
  const o = (options ?? {}) as Partial<WithCmekOptions>;
  assertEnvelope(o.envelope);
  if (!Array.isArray(o.tables) || o.tables.length === 0) {
    throw new CmekConfigError(
      'withCmek needs `tables`: a non-empty array of { table, columns } (the Drizzle table and its encrypted columns)',
    );
  }
  const fields = new Map<string, FieldConfig>();
  const tables = new Set<string>();
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
    for (const [given, fieldOptions] of columnEntries(name, (entry as CmekTableOptions).columns)) {
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
      fields.set(columnIdentity(column), {
        label,
        key,
        column,
        context:
          fieldOptions.context === undefined
            ? defaultContext(name, column.name)
            : validateContext(fieldOptions.context, `${where}.context`),
        maxPlaintextBytes: maxPlaintextBytesOption(
          fieldOptions.maxPlaintextBytes,
          `${where}.maxPlaintextBytes`,
        ),
      });
    }
  }
  return { envelope: o.envelope, fields, tables };
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
