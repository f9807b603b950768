/** `knexRowStore`: the RowStore the backfill / rewrap / verify engine drives, over a plain Knex. */
import {
  type BlindIndexOptions,
  blindIndexesOption,
  type CasWrite,
  CmekConfigError,
  CmekError,
  CmekInvalidInputError,
  CmekQueryError,
  type Cursor,
  type EncryptionContext,
  type IndexValues,
  type Row,
  type RowCounter,
  type RowStore,
  type ScanOptions,
  storeWriteError,
} from '@cmek/core';
import type { Knex } from 'knex';
import { identifiersOf } from './identifiers';
import { type CompilableBuilder, redactInPlace, type Secrets, secretsOf } from './redact';
import {
  batchStrategy,
  type CasTable,
  compareAndSetBatch,
  compareAndSetRow,
} from './row-store-writes';

export interface KnexRowStoreOptions {
  /** A plain Knex instance (not the one `withCmek` returns): the store handles stored values. */
  readonly knex: Knex;
  readonly table: string;
  /** A column of unique, ordered values. Default `id`. */
  readonly primaryKey?: string;
  /**
   * The encrypted columns, as given to `withCmek` (either side's names under an identifier
   * mapper: the scan reads each back under the key the instance's `postProcessResponse` gives it).
   */
  readonly columns: readonly string[];
  /** Per-column context overrides; must match the ones given to `withCmek`. */
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
   * The column holding each row's tenant id, as given to `withCmek`, for a tenant envelope:
   * scanned into `Row.tenant`, filtered on by a run scoped to one tenant (`scan` / `count` with
   * `{ tenant }`), and put in each context under `tenantKey`.
   */
  readonly tenantColumn?: string;
  /** The context key of the tenant id: the tenant envelope's `tenantKey`. Default `tenant`. */
  readonly tenantKey?: string;
}

function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value);
}

/** The index values of a write, to scrub from its errors. */
function indexValuesOf(w: CasWrite): string[] {
  return Object.values(w.indexes ?? {}).filter((v): v is string => typeof v === 'string');
}

function asCursor(value: unknown): Cursor {
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  throw new CmekInvalidInputError('the primary key must be a number or a string');
}

/**
 * The engine's `RowStore` over one table (plus the optional `count`: an exact `SELECT count(*)`
 * of the table, asked once per run for the progress total).
 */
export function knexRowStore(options: KnexRowStoreOptions): RowStore & RowCounter {
  const { knex, table } = options;
  const primaryKey = options.primaryKey ?? 'id';
  const columns = [...(options.columns ?? [])];
  if (typeof knex !== 'function') throw new CmekConfigError('knexRowStore needs `knex`');
  if (typeof table !== 'string' || table.length === 0) {
    throw new CmekConfigError('knexRowStore needs `table`');
  }
  if (columns.length === 0 || columns.some((c) => typeof c !== 'string' || c.length === 0)) {
    throw new CmekConfigError('knexRowStore needs `columns`: a non-empty array of column names');
  }
  const contexts = new Map<string, Record<string, string>>(
    columns.map((c) => [c, { ...(options.context?.[c] ?? { field: `${table}.${c}` }) }]),
  );
  const dialect = String((knex.client as { config?: { client?: unknown } }).config?.client ?? '');
  // MySQL / MariaDB compare strings case- and trailing-space-insensitively under the usual
  // collations; a compare-and-set must compare bytes.
  const binary = /mysql|maria/i.test(dialect);
  const identifiers = identifiersOf(knex);
  const blindIndexes: Record<string, readonly BlindIndexOptions[]> = {};
  const indexColumns: string[] = [];
  for (const [field, option] of Object.entries(options.blindIndexes ?? {})) {
    if (!columns.includes(field)) {
      throw new CmekConfigError(
        `knexRowStore: blindIndexes names '${field}', which is not in columns`,
      );
    }
    const specs = blindIndexesOption(option, `knexRowStore: blindIndexes.${field}`);
    if (specs.length === 0) continue;
    for (const { column } of specs) {
      if ([primaryKey, ...columns, ...indexColumns].some((c) => identifiers.same(c, column))) {
        throw new CmekConfigError(
          `knexRowStore: the index column ${column} is the primary key, an encrypted column or given twice`,
        );
      }
      indexColumns.push(column);
    }
    blindIndexes[field] = specs;
  }
  const tenantColumn = options.tenantColumn;
  if (tenantColumn !== undefined) {
    if (typeof tenantColumn !== 'string' || tenantColumn.length === 0) {
      throw new CmekConfigError('knexRowStore: tenantColumn must be a column name');
    }
    if ([...columns, ...indexColumns].some((c) => identifiers.same(c, tenantColumn))) {
      throw new CmekConfigError(
        `knexRowStore: the tenantColumn ${tenantColumn} cannot be an encrypted or blind-index column`,
      );
    }
  }
  const tenantKey = options.tenantKey ?? 'tenant';
  if (typeof tenantKey !== 'string' || tenantKey.length === 0) {
    throw new CmekConfigError('knexRowStore: tenantKey must be a non-empty string');
  }
  /** The rows of the run: one tenant's when the engine scopes it to one. */
  const scoped = (query: Knex.QueryBuilder, tenant: string | undefined): Knex.QueryBuilder => {
    if (tenant === undefined) return query;
    if (tenantColumn === undefined) {
      throw new CmekConfigError(
        `knexRowStore: a run scoped to tenant '${tenant}' needs tenantColumn on ${table}`,
      );
    }
    return query.where(tenantColumn, tenant);
  };
  const cas: CasTable = {
    table,
    primaryKey,
    binary,
    strategy: batchStrategy(knex),
    indexColumns: new Map(
      Object.entries(blindIndexes).map(([field, specs]) => [
        field,
        new Set(specs.map((s) => s.column)),
      ]),
    ),
  };

  /**
   * The value of a selected column in a scanned row: under its own key, or (renamed by the
   * instance's `postProcessResponse`, `access_token` → `accessToken`) under the key spelled like
   * it. A column missing from the row is an error, never a null the engine would skip.
   */
  const columnValue = (row: Record<string, unknown>, column: string): unknown => {
    if (Object.hasOwn(row, column)) return row[column];
    const key = Object.keys(row).find((k) => identifiers.same(k, column));
    if (key === undefined) {
      throw new CmekConfigError(
        `the scan of ${table} returned no key for the column '${column}' (a postProcessResponse that renames result keys beyond its identifier mapping?)`,
      );
    }
    return row[key];
  };

  const fieldOf = (field: string, indexes?: IndexValues): string => {
    if (!contexts.has(field)) {
      throw new CmekInvalidInputError(`'${field}' is not an encrypted column of ${table}`);
    }
    for (const column of Object.keys(indexes ?? {})) {
      if (!cas.indexColumns.get(field)?.has(column)) {
        throw new CmekInvalidInputError(
          `'${column}' is not a blind-index column of ${table}.${field}`,
        );
      }
    }
    return field;
  };

  return {
    name: options.name ?? table,
    fields: Object.freeze([...columns]),
    ...(indexColumns.length === 0 ? {} : { blindIndexes: Object.freeze(blindIndexes) }),
    ...(tenantColumn === undefined ? {} : { tenantColumn }),
    contextFor(field, tenant) {
      return {
        ...contexts.get(fieldOf(field))!,
        ...(tenantColumn === undefined || tenant === undefined ? {} : { [tenantKey]: tenant }),
      };
    },
    async scan(after, limit, scanOptions) {
      if (!Number.isInteger(limit) || limit <= 0) {
        throw new CmekInvalidInputError('scan needs a positive integer limit');
      }
      // each column aliased to itself: SQLite names a result column as the table declares it
      // (`select token` comes back as `Token`), and the store reads the keys it was given
      const selected = [primaryKey, ...columns, ...indexColumns];
      const select = Object.fromEntries(selected.map((c) => [c, c]));
      if (tenantColumn !== undefined) select.__tenant = tenantColumn;
      const query = scoped(
        knex(table).select(select).orderBy(primaryKey, 'asc').limit(limit),
        scanOptions?.tenant,
      );
      if (after !== undefined) query.where(primaryKey, '>', after);
      const rows = (await query) as Record<string, unknown>[];
      return rows.map(
        (row): Row => ({
          id: asCursor(columnValue(row, primaryKey)),
          values: Object.fromEntries(columns.map((c) => [c, asText(columnValue(row, c))])),
          ...(tenantColumn === undefined ? {} : { tenant: asText(columnValue(row, '__tenant')) }),
          ...(indexColumns.length === 0
            ? {}
            : {
                indexes: Object.fromEntries(
                  indexColumns.map((c) => [c, asText(columnValue(row, c))]),
                ),
              }),
        }),
      );
    },
    async count(countOptions?: ScanOptions) {
      // an exact count (the scan reads every row of the table); PostgreSQL returns it as a string
      const rows = (await scoped(knex(table).count({ n: '*' }), countOptions?.tenant)) as {
        n?: unknown;
      }[];
      const n = Number(rows[0]?.n ?? 0);
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new CmekQueryError('(count)', `the row count of ${table} is not a number`);
      }
      return n;
    },
    async compareAndSet(id, field, expected, next, indexes) {
      fieldOf(field, indexes);
      return compareAndSetRow(knex, cas, run, {
        id,
        field,
        expected,
        next,
        ...(indexes === undefined ? {} : { indexes }),
      });
    },
    async compareAndSetMany(writes: readonly CasWrite[]) {
      for (const w of writes) fieldOf(w.field, w.indexes);
      if (writes.length === 0) return [];
      // one transaction: one connection and one commit for the whole batch
      try {
        return await knex.transaction((trx) => compareAndSetBatch(trx, cas, run, writes));
      } catch (error) {
        // BEGIN / COMMIT failing (a lost connection) carry no bound value; the writes' own
        // errors are already CmekQueryErrors
        throw casError(error, 'compareAndSetMany', undefined, {
          statements: [],
          values: writes
            .flatMap((w) => [w.expected, w.next, ...indexValuesOf(w)])
            .sort((a, b) => b.length - a.length),
        });
      }
    },
  };

  /** Runs a compare-and-set statement; its driver error holds none of its bound values. */
  async function run<T>(field: string, query: Knex.QueryBuilder): Promise<T> {
    try {
      return (await query) as T;
    } catch (error) {
      // the old values (often the legacy plaintext) and the new tokens are bound values
      throw casError(error, 'compareAndSet', field, secretsOf(query as CompilableBuilder));
    }
  }

  /**
   * A driver error of a compare-and-set as a `CmekQueryError` whose message holds no bound
   * value; the driver error, scrubbed of them too, is its (non-enumerable) `cause`.
   */
  function casError(
    error: unknown,
    what: string,
    field: string | undefined,
    secrets: Secrets,
  ): unknown {
    if (CmekError.isInstance(error)) return error;
    redactInPlace(error, secrets);
    return storeWriteError(
      error,
      field ?? '(batch)',
      `${what} on ${field ? `${table}.${field}` : table}`,
    );
  }
}
