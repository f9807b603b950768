/** `drizzleRowStore`: the RowStore the backfill / rewrap / verify engine drives, over a plain Drizzle. */
import {
  type BlindIndexOptions,
  blindIndexesOption,
  type CasWrite,
  CmekConfigError,
  CmekInvalidInputError,
  CmekQueryError,
  type Cursor,
  defaultContext,
  type EncryptionContext,
  type IndexValues,
  type Row,
  type RowCounter,
  type RowStore,
  type ScanOptions,
  storeWriteError,
  validateContext,
} from '@cmek/core';
import {
  and,
  asc,
  type Column,
  count,
  eq,
  getTableName,
  gt,
  isTable,
  type SQL,
  sql,
  type Table,
} from 'drizzle-orm';
import { tableColumns } from './columns';
import { dialectOf, isSyncSqlite } from './dialect';
import { redactError } from './redact';

export interface DrizzleRowStoreOptions {
  /** A plain Drizzle database (not the one `withCmek` returns): the store handles stored values. */
  readonly db: object;
  readonly table: Table;
  /** The encrypted columns, by key in the table definition (or database name), as given to `withCmek`. */
  readonly columns: readonly string[];
  /** A column of unique, ordered values, by key or name. Default: the table's primary key. */
  readonly primaryKey?: string;
  /** Per-column contexts (by the names in `columns`); must match the ones given to `withCmek`. */
  readonly context?: Readonly<Record<string, EncryptionContext>>;
  /** The store's name in reports. Default: the table name. */
  readonly name?: string;
  /**
   * The blind-index columns of the indexed columns (by the names in `columns`), as given to
   * `withCmek` (`{ column, normalize?, mode?, key? }`, or a list of them): scanned with the rows
   * and written with the value by backfill (with core's engine `indexer`), checked by verify.
   */
  readonly blindIndexes?: Readonly<
    Record<string, BlindIndexOptions | readonly BlindIndexOptions[]>
  >;
  /**
   * The column holding each row's tenant id (by key or name), as given to `withCmek`, for a
   * tenant envelope: scanned into `Row.tenant`, filtered on by a run scoped to one tenant
   * (`scan` / `count` with `{ tenant }`), and put in each context under `tenantKey`.
   */
  readonly tenantColumn?: string;
  /** The context key of the tenant id: the tenant envelope's `tenantKey`. Default `tenant`. */
  readonly tenantKey?: string;
}

/** The part of a Drizzle database the store uses, the same in every dialect. */
interface Builder extends PromiseLike<unknown> {
  where(condition: SQL | undefined): Builder;
  orderBy(...columns: SQL[]): Builder;
  limit(n: number): Builder;
  run?(): unknown;
}
interface StoreDb {
  select(fields: Record<string, Column | SQL>): { from(table: Table): Builder };
  update(table: Table): { set(values: Record<string, unknown>): Builder };
  transaction(run: (tx: StoreDb) => unknown): unknown;
}

function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value);
}

function asCursor(value: unknown): Cursor {
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  throw new CmekInvalidInputError('the primary key must be a number or a string');
}

/** Rows an UPDATE changed, from each driver's result shape. */
function affected(result: unknown): number {
  const r = (Array.isArray(result) ? result[0] : result) as Record<string, unknown> | undefined;
  const n = r?.rowCount ?? r?.changes ?? r?.affectedRows ?? r?.rowsAffected;
  return Number(n ?? 0);
}

function column(table: Table, name: string, what: string): [string, Column] {
  const columns = tableColumns(table);
  if (Object.hasOwn(columns, name)) return [name, columns[name]!];
  const found = Object.entries(columns).find(([, c]) => c.name === name);
  if (!found) {
    throw new CmekConfigError(
      `drizzleRowStore: ${what} '${name}' is not a column of ${getTableName(table)}`,
    );
  }
  return found;
}

/**
 * The engine's `RowStore` over one table (plus `count`: an exact `count(*)` of the table, asked
 * once per run for the progress total). Values are read and written around the adapter.
 */
export function drizzleRowStore(options: DrizzleRowStoreOptions): RowStore & RowCounter {
  const db = options.db as StoreDb;
  const { table } = options;
  const dialect = dialectOf(db);
  if (dialect === undefined) {
    throw new CmekConfigError(
      'drizzleRowStore needs `db`: a Drizzle database (PostgreSQL, MySQL or SQLite)',
    );
  }
  if (!isTable(table)) throw new CmekConfigError('drizzleRowStore needs `table`: a Drizzle table');
  const tableName = getTableName(table);
  const names = [...(options.columns ?? [])];
  if (names.length === 0 || names.some((c) => typeof c !== 'string' || c.length === 0)) {
    throw new CmekConfigError('drizzleRowStore needs `columns`: a non-empty array of column names');
  }
  const primary =
    options.primaryKey ??
    Object.entries(tableColumns(table)).find(([, c]) => c.primary)?.[0] ??
    'id';
  const [, pk] = column(table, primary, 'primaryKey');
  const fields = new Map(names.map((name) => [name, column(table, name, 'column')[1]]));
  const fieldOf = (field: string): Column => {
    const c = fields.get(field);
    if (!c)
      throw new CmekInvalidInputError(`'${field}' is not an encrypted column of ${tableName}`);
    return c;
  };
  const contexts = new Map<string, EncryptionContext>(
    names.map((name) => {
      const given = options.context?.[name];
      return [
        name,
        given === undefined
          ? defaultContext(tableName, fields.get(name)!.name)
          : validateContext(given, `drizzleRowStore: context.${name}`),
      ];
    }),
  );
  // MySQL / MariaDB compare strings case- and trailing-space-insensitively under the usual
  // collations; a compare-and-set must compare bytes.
  const binary = dialect === 'mysql';
  const blindIndexes: Record<string, readonly BlindIndexOptions[]> = {};
  /** Index column (as named in the options) → its key in the table definition, per field. */
  const indexKeys = new Map<string, Map<string, string>>();
  const indexColumns: [string, Column][] = [];
  for (const [field, option] of Object.entries(options.blindIndexes ?? {})) {
    fieldOf(field);
    const specs = blindIndexesOption(option, `drizzleRowStore: blindIndexes.${field}`);
    if (specs.length === 0) continue;
    blindIndexes[field] = specs;
    const keys = new Map<string, string>();
    for (const spec of specs) {
      const [key, c] = column(table, spec.column, 'blind-index column');
      if (indexColumns.some(([name]) => name === spec.column)) {
        throw new CmekConfigError(
          `drizzleRowStore: the index column ${spec.column} is given twice`,
        );
      }
      keys.set(spec.column, key);
      indexColumns.push([spec.column, c]);
    }
    indexKeys.set(field, keys);
  }

  /** The `set` of a write's index values, by key in the table definition. */
  const indexSet = (field: string, indexes: IndexValues | undefined): Record<string, unknown> => {
    if (indexes === undefined) return {};
    const keys = indexKeys.get(field);
    return Object.fromEntries(
      Object.entries(indexes).map(([name, value]) => {
        const key = keys?.get(name);
        if (key === undefined) {
          throw new CmekInvalidInputError(
            `'${name}' is not a blind-index column of ${tableName}.${field}`,
          );
        }
        return [key, value];
      }),
    );
  };

  const tenant =
    options.tenantColumn === undefined
      ? undefined
      : column(table, options.tenantColumn, 'tenantColumn')[1];
  const tenantKey = options.tenantKey ?? 'tenant';
  if (typeof tenantKey !== 'string' || tenantKey.length === 0) {
    throw new CmekConfigError('drizzleRowStore: tenantKey must be a non-empty string');
  }
  if (tenant !== undefined && [...fields.values()].includes(tenant)) {
    throw new CmekConfigError(
      `drizzleRowStore: the tenantColumn ${tenant.name} cannot be an encrypted column`,
    );
  }
  /** The rows of the run: one tenant's when the engine scopes it to one. */
  const scope = (scanOptions: ScanOptions | undefined): SQL | undefined => {
    if (scanOptions?.tenant === undefined) return undefined;
    if (tenant === undefined) {
      throw new CmekConfigError(
        `drizzleRowStore: a run scoped to tenant '${scanOptions.tenant}' needs tenantColumn on ${tableName}`,
      );
    }
    return eq(tenant, scanOptions.tenant);
  };

  const casQuery = (on: StoreDb, w: CasWrite): Builder => {
    const c = fieldOf(w.field);
    const same = binary ? sql`binary ${c} = binary ${w.expected}` : eq(c, w.expected);
    const key = Object.entries(tableColumns(table)).find(([, col]) => col === c)![0];
    return on
      .update(table)
      .set({ [key]: w.next, ...indexSet(w.field, w.indexes) })
      .where(and(eq(pk, w.id), same));
  };

  const casError = (error: unknown, writes: readonly CasWrite[], what: string) => {
    redactError(
      error,
      writes.flatMap((w) => [
        w.expected,
        w.next,
        ...Object.values(w.indexes ?? {}).filter((v): v is string => v !== null),
      ]),
    );
    const field = writes.length === 1 ? writes[0]!.field : '(batch)';
    return storeWriteError(
      error,
      field,
      `${what} on ${writes.length === 1 ? `${tableName}.${field}` : tableName}`,
    );
  };

  return {
    name: options.name ?? tableName,
    fields: Object.freeze([...names]),
    ...(indexColumns.length === 0 ? {} : { blindIndexes: Object.freeze(blindIndexes) }),
    ...(tenant === undefined ? {} : { tenantColumn: tenant.name }),
    contextFor(field, tenantId) {
      fieldOf(field);
      return {
        ...contexts.get(field)!,
        ...(tenant === undefined || tenantId === undefined ? {} : { [tenantKey]: tenantId }),
      };
    },
    async scan(after, limit, scanOptions) {
      if (!Number.isInteger(limit) || limit <= 0) {
        throw new CmekInvalidInputError('scan needs a positive integer limit');
      }
      const selection: Record<string, Column> = { __id: pk };
      for (const [i, name] of names.entries()) selection[`c${i}`] = fields.get(name)!;
      for (const [i, [, c]] of indexColumns.entries()) selection[`i${i}`] = c;
      if (tenant !== undefined) selection.__tenant = tenant;
      const rows = (await db
        .select(selection)
        .from(table)
        .where(and(after === undefined ? undefined : gt(pk, after), scope(scanOptions)))
        .orderBy(asc(pk))
        .limit(limit)) as Record<string, unknown>[];
      return rows.map(
        (row): Row => ({
          id: asCursor(row.__id),
          values: Object.fromEntries(names.map((name, i) => [name, asText(row[`c${i}`])])),
          ...(indexColumns.length === 0
            ? {}
            : {
                indexes: Object.fromEntries(
                  indexColumns.map(([name], i) => [name, asText(row[`i${i}`])]),
                ),
              }),
          ...(tenant === undefined ? {} : { tenant: asText(row.__tenant) }),
        }),
      );
    },
    async count(scanOptions?: ScanOptions) {
      const rows = (await db.select({ n: count() }).from(table).where(scope(scanOptions))) as {
        n?: unknown;
      }[];
      const n = Number(rows[0]?.n ?? 0);
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new CmekQueryError('(count)', `the row count of ${tableName} is not a number`);
      }
      return n;
    },
    async compareAndSet(id, field, expected, next, indexes) {
      const write = { id, field, expected, next, ...(indexes === undefined ? {} : { indexes }) };
      const query = casQuery(db, write);
      try {
        return affected(await query) === 1;
      } catch (error) {
        throw casError(error, [write], 'compareAndSet');
      }
    },
    async compareAndSetMany(writes: readonly CasWrite[]) {
      for (const w of writes) {
        fieldOf(w.field);
        indexSet(w.field, w.indexes);
      }
      if (writes.length === 0) return [];
      try {
        if (isSyncSqlite(db)) {
          // better-sqlite3's transactions run synchronously: no await inside
          return db.transaction((tx) =>
            writes.map((w) => affected(casQuery(tx, w).run!()) === 1),
          ) as boolean[];
        }
        // one transaction: one connection and one commit for the whole batch
        return (await db.transaction(async (tx) => {
          const results: boolean[] = [];
          for (const w of writes) results.push(affected(await casQuery(tx, w)) === 1);
          return results;
        })) as boolean[];
      } catch (error) {
        throw casError(error, writes, 'compareAndSetMany');
      }
    },
  };
}
