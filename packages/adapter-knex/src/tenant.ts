/**
 * The tenant of each value, for a tenant envelope (`createTenantEnvelope`): every value of a
 * table with a `tenantColumn` is encrypted and decrypted under its field's context plus the
 * tenant id of its row, under the envelope's `tenantKey`. A value whose row has no tenant id is
 * passed on without one: the envelope refuses it (`CMEK_UNKNOWN_TENANT`), never the default KEK.
 */
import { CmekQueryError, type EncryptionContext, tenantContext, tenantIdOf } from '@cmek/core';
import { type BuilderState, isBuilder, isRaw, isRef, type RowObject } from './internals';
import { lastPart, parseColumn } from './names';
import type { TableConfig } from './options';
import { type ColumnTarget, columnLabel } from './target';

/** The context of a value of `target` in a row of `tenant`. */
export function tenantContextOf(
  target: ColumnTarget,
  tenant: string | undefined,
): EncryptionContext {
  return tenantContext(target.table.contexts.get(target.column)!, target.table.tenantKey, tenant);
}

/** The key of `row` that holds `table`'s tenant column (as written, or spelled like it). */
export function tenantKeyIn(table: TableConfig, row: RowObject): string | undefined {
  const column = table.tenantColumn;
  if (column === undefined) return undefined;
  if (Object.hasOwn(row, column)) return column;
  return Object.keys(row).find((key) => table.identifiers.same(lastPart(key), column));
}

/** Refuses a tenant column written as SQL: the tenant must be known before the statement runs. */
export function refuseSqlTenant(table: TableConfig, value: unknown, where: string): void {
  if (isRaw(value) || isRef(value) || isBuilder(value) || typeof value === 'function') {
    throw new CmekQueryError(
      `${table.name}.${table.tenantColumn}`,
      `${where} writes ${table.name}.${table.tenantColumn}, the tenant column, as SQL: the tenant of the row's encrypted values must be known before the statement runs; write the tenant id itself`,
    );
  }
}

/**
 * A write that sets the tenant column (an update, a merge) must write every encrypted column of
 * the row with it: the others would stay under the old tenant's context.
 */
export function refuseMove(table: TableConfig, written: readonly string[], where: string): void {
  const missing = [...table.columns].filter(
    (column) => !written.some((key) => table.identifiers.same(lastPart(key), column)),
  );
  if (missing.length > 0) {
    throw new CmekQueryError(
      `${table.name}.${missing[0]}`,
      `${where} writes ${table.name}.${table.tenantColumn}, the tenant column, without ${missing.join(', ')}: a value stays under its old tenant's context and would not decrypt under the new one; write every encrypted column of the row with the tenant`,
    );
  }
}

/** The refusal of a write of an encrypted column that does not write the tenant column. */
export function tenantMissing(target: ColumnTarget, where: string): CmekQueryError {
  const { table } = target;
  return new CmekQueryError(
    columnLabel(target),
    `${where} writes ${columnLabel(target)} without ${table.name}.${table.tenantColumn}, the tenant column: the row it updates may be another tenant's; write the tenant id with every encrypted column`,
  );
}

/**
 * The single tenant an update's filter pins with `where(tenantColumn, id)` (or `where({ ... })`),
 * only when every condition is joined with `and`; undefined otherwise.
 */
export function tenantOfFilter(builder: BuilderState, table: TableConfig): string | undefined {
  const column = table.tenantColumn;
  if (column === undefined) return undefined;
  const found = new Set<string>();
  for (const s of builder._statements) {
    if (s.grouping !== 'where') continue;
    if (s.bool === 'or') return undefined;
    if (
      s.type === 'whereBasic' &&
      s.not !== true &&
      s.operator === '=' &&
      s.asColumn !== true &&
      typeof s.column === 'string' &&
      table.identifiers.same(parseColumn(s.column).column, column)
    ) {
      const id = tenantIdOf(s.value);
      if (id !== undefined) found.add(id);
    }
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/** The tenant id a row holds for `table` (undefined: none, or the table has no tenant column). */
export function tenantOfRow(table: TableConfig, row: RowObject): string | undefined {
  const key = tenantKeyIn(table, row);
  return key === undefined ? undefined : tenantIdOf(row[key]);
}

/**
 * A write's `returning` of an encrypted column under tenants must return the tenant column too
 * (or `*`): refused before the statement runs, not after it has written.
 */
export function checkReturning(read: ReadonlyMap<string, ColumnTarget>, returning: unknown): void {
  const names = (Array.isArray(returning) ? returning : [returning]).filter(
    (r): r is string => typeof r === 'string',
  );
  for (const target of read.values()) {
    const { table } = target;
    if (table.tenantColumn === undefined) continue;
    const listed = names.some((name) => {
      const { column } = parseColumn(name);
      return column === '*' || table.identifiers.same(column, table.tenantColumn!);
    });
    if (!listed) {
      throw new CmekQueryError(
        columnLabel(target),
        `returning() of ${columnLabel(target)} without ${table.name}.${table.tenantColumn}, the tenant column: return the tenant column with it`,
      );
    }
  }
}
