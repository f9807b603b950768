/**
 * Refusal of what the database would apply to ciphertext: a filter, a sort, a group, a join
 * condition or a computed selection on an encrypted column. Each is a `CmekQueryError` naming
 * the column, never the value compared.
 */
import { CmekQueryError } from '@cmek/core';
import { type Column, getOperators, getOrderByOperators, is, SQL, sql } from 'drizzle-orm';
import { columnIdentity, isColumn } from './columns';
import { type CmekConfig, encryptedField, type FieldConfig } from './options';
import { columnsIn, copiesItself } from './sql-walk';

export function refused(field: FieldConfig, what: string): CmekQueryError {
  return new CmekQueryError(
    field.label,
    `cannot ${what} the encrypted column ${field.label}: the database only holds its ciphertext, which is random; filter, sort or group on another column, or in the application after reading`,
  );
}

/** Throws when `node` names an encrypted column. */
export function refuseEncrypted(config: CmekConfig, node: unknown, what: string): void {
  for (const column of columnsIn(node)) {
    const field = encryptedField(config, column);
    if (field) throw refused(field, what);
  }
}

/** The parts of a builder's config the database evaluates: none may name an encrypted column. */
interface BuilderConfig {
  readonly where?: unknown;
  readonly having?: unknown;
  readonly orderBy?: unknown;
  readonly groupBy?: unknown;
  readonly joins?: readonly { readonly on?: unknown }[];
  /** `selectDistinctOn([...])` (PostgreSQL): `{ on: [...] }`. */
  readonly distinct?: unknown;
  /** `union(...)`, `intersect(...)`…: a sort after one is kept on the last of them. */
  readonly setOperators?: readonly { readonly orderBy?: unknown }[];
}

export function refuseFilters(config: CmekConfig, builder: BuilderConfig | undefined): void {
  if (!builder) return;
  refuseEncrypted(config, builder.where, 'filter on');
  refuseEncrypted(config, builder.having, 'filter on');
  refuseEncrypted(config, builder.orderBy, 'sort on');
  refuseEncrypted(config, builder.groupBy, 'group on');
  for (const join of builder.joins ?? []) refuseEncrypted(config, join.on, 'join on');
  const distinct = builder.distinct as { on?: unknown } | undefined;
  if (typeof distinct === 'object' && distinct !== null) {
    refuseEncrypted(config, distinct.on, 'deduplicate on');
  }
  for (const op of builder.setOperators ?? []) refuseEncrypted(config, op.orderBy, 'sort on');
}

/**
 * `onConflictDoUpdate` / `onDuplicateKeyUpdate`: its `where`s must not name an encrypted column,
 * and a SQL expression written to an encrypted column may copy (`excluded.col`,
 * `values(col)`) but not bind a value, which could not be encrypted.
 */
export function refuseConflictConfig(
  config: CmekConfig,
  table: Record<string, Column>,
  conflict: Record<string, unknown> | undefined,
): void {
  if (!conflict) return;
  for (const key of ['where', 'targetWhere', 'setWhere'] as const) {
    refuseEncrypted(config, conflict[key], 'filter on');
  }
  refuseSqlValues(config, table, conflict.set as Record<string, unknown> | undefined, 'set');
}

/**
 * A SQL expression or a column given as the value of an encrypted column or of a blind-index
 * column (`values({ token: sql`...` })`, `set(...)`, a conflict `set`): allowed when it only
 * copies that very column (`excluded.token`, `values(token)`, the column itself) or is `NULL`,
 * refused otherwise: a bound value, a literal (`sql`'abc'``) or another column (`excluded.name`)
 * would reach the column as it is, never encrypted.
 */
export function refuseSqlValues(
  config: CmekConfig,
  table: Record<string, Column>,
  values: Record<string, unknown> | undefined,
  where: string,
): void {
  if (!values) return;
  for (const [key, value] of Object.entries(values)) {
    const column = table[key];
    if (!column) continue;
    const field = encryptedField(config, column) ?? config.indexColumns.get(columnIdentity(column));
    if (!field) continue;
    const expression = is(value, SQL) || is(value, SQL.Aliased) || isColumn(value);
    if (expression && !copiesItself(value, column)) {
      throw new CmekQueryError(
        field.label,
        `a SQL expression or a column was given as ${column.name} (of ${field.label}) in ${where}; it would be stored unencrypted: pass the value itself, or copy the column itself (excluded.${column.name}, values(${column.name}))`,
      );
    }
  }
}

/** A relational query's config (`findMany` / `findFirst`), as far as the rules read it. */
interface RelationalConfig {
  readonly where?: unknown;
  readonly orderBy?: unknown;
  readonly extras?: unknown;
  readonly with?: Record<string, unknown>;
}

/** The table of a relational query, as Drizzle describes it (`db._.schema[name]`). */
export interface RelationalTable {
  readonly tsName: string;
  readonly columns: Record<string, Column>;
  readonly relations: Record<string, { readonly referencedTable: unknown }>;
}

export interface RelationalSchema {
  readonly schema: Record<string, RelationalTable>;
  readonly tableNamesMap: Record<string, string>;
}

/** Refuses a `where` / `orderBy` / `extras` on an encrypted column, at every level of `with`. */
export function refuseRelational(
  config: CmekConfig,
  table: RelationalTable,
  query: RelationalConfig | undefined,
  relatedTable: (table: RelationalTable, relation: string) => RelationalTable | undefined,
): void {
  if (!query || typeof query !== 'object') return;
  const where =
    typeof query.where === 'function'
      ? (query.where as (f: unknown, o: unknown) => unknown)(table.columns, getOperators())
      : query.where;
  refuseEncrypted(config, where, 'filter on');
  const orderBy =
    typeof query.orderBy === 'function'
      ? (query.orderBy as (f: unknown, o: unknown) => unknown)(table.columns, getOrderByOperators())
      : query.orderBy;
  refuseEncrypted(config, orderBy, 'sort on');
  if (query.extras !== undefined) {
    const extras =
      typeof query.extras === 'function'
        ? (query.extras as (f: unknown, o: unknown) => unknown)(table.columns, { sql })
        : query.extras;
    refuseEncrypted(config, Object.values((extras ?? {}) as object), 'compute on');
  }
  for (const [name, nested] of Object.entries(query.with ?? {})) {
    if (typeof nested !== 'object' || nested === null) continue;
    const target = relatedTable(table, name);
    if (target) refuseRelational(config, target, nested as RelationalConfig, relatedTable);
  }
}
