/** Decryption of every result set: the selected encrypted columns, one batch per column. */
import { CmekQueryError, groupByTenant, openCells } from '@cmek/core';
import { getTableUniqueName, is, SQL, Subquery, Table } from 'drizzle-orm';
import { columnIdentity, isColumn, tableColumns } from './columns';
import { type CmekConfig, encryptedField, type FieldConfig } from './options';
import { type RelationalSchema, type RelationalTable, refuseEncrypted } from './query-rules';
import { tenantId, tenantKeyFor } from './tenant';

/** Where an encrypted column lands in each result row. */
export interface ReadCell {
  readonly path: readonly string[];
  readonly field: FieldConfig;
  /** Where the row's tenant id lands (a table with a `tenantColumn`). */
  readonly tenant?: readonly string[];
}

/** A column of the selection: where it lands, and its identity. */
export interface SelectedColumn {
  readonly path: readonly string[];
  readonly identity: string;
}

/**
 * The cells with the path of their row's tenant id: the tenant column of the same table beside
 * the value (in the same object of the result), else the only one selected. A selection of an
 * encrypted column without its tenant column is refused: its values could not be decrypted.
 */
export function withTenants(
  cells: readonly ReadCell[],
  selected: readonly SelectedColumn[],
): ReadCell[] {
  return cells.map((cell) => {
    const tenant = cell.field.tenant;
    if (tenant === undefined) return cell;
    const identity = columnIdentity(tenant.column);
    const candidates = selected.filter((s) => s.identity === identity);
    const prefix = cell.path.slice(0, -1).join('\u0000');
    const found =
      candidates.find((s) => s.path.slice(0, -1).join('\u0000') === prefix) ??
      (candidates.length === 1 ? candidates[0] : undefined);
    if (found === undefined) {
      throw new CmekQueryError(
        cell.field.label,
        `a selection of ${cell.field.label} needs ${tenant.label}, its tenant column, beside it: each value is decrypted under its row's tenant; select the tenant column too`,
      );
    }
    return { ...cell, tenant: found.path };
  });
}

/**
 * The encrypted columns of a selection (`select({...})`, a table's columns, `returning(...)`),
 * by result path; a SQL expression over an encrypted column (`count(token)`, `lower(token)`)
 * is refused: the database would compute it on ciphertext.
 */
export function selectionPlan(config: CmekConfig, fields: unknown): ReadCell[] {
  const selected: SelectedColumn[] = [];
  return withTenants(collect(config, fields, [], selected), selected);
}

function collect(
  config: CmekConfig,
  fields: unknown,
  prefix: readonly string[],
  selected: SelectedColumn[],
): ReadCell[] {
  const out: ReadCell[] = [];
  if (typeof fields !== 'object' || fields === null) return out;
  for (const [name, field] of Object.entries(fields)) {
    const path = [...prefix, name];
    if (isColumn(field)) {
      selected.push({ path, identity: columnIdentity(field) });
      const encrypted = encryptedField(config, field);
      if (encrypted) out.push({ path, field: encrypted });
    } else if (is(field, SQL) || is(field, SQL.Aliased)) {
      refuseEncrypted(config, field, 'compute on');
    } else if (is(field, Subquery)) {
      // a scalar subquery as a field: its own selection was planned when it was built
    } else if (is(field, Table)) {
      out.push(...collect(config, tableColumns(field), path, selected));
    } else {
      out.push(...collect(config, field, path, selected));
    }
  }
  return out;
}

type Holder = Record<string, unknown>;

/** One stored value to decrypt: where it is, its column and its row's tenant. */
interface Cell {
  readonly field: FieldConfig;
  readonly tenant: string | undefined;
  readonly item: [Holder, string];
}

/** Decrypts the cells (one `decryptMany` per column and tenant), writes the plaintext back. */
async function openHolders(config: CmekConfig, cells: readonly Cell[]): Promise<void> {
  const groups = groupByTenant(cells, tenantKeyFor(config));
  if (groups.length === 0) return;
  const opened = await openCells(
    config.envelope,
    groups.map(({ field, context, items }) => ({
      label: field.label,
      context,
      values: items.map(([holder, key]) => holder[key] as string | null | undefined),
    })),
  );
  for (const [g, { items }] of groups.entries()) {
    for (const [i, [holder, key]] of items.entries()) holder[key] = opened[g]![i];
  }
}

function at(row: unknown, path: readonly string[]): unknown {
  let value: unknown = row;
  for (const key of path) value = (value as Holder | null | undefined)?.[key];
  return value;
}

/** Decrypts the planned cells of `rows` in place; returns `rows`. */
export async function decryptRows<T>(
  config: CmekConfig,
  rows: T,
  plan: readonly ReadCell[],
): Promise<T> {
  if (plan.length === 0 || !Array.isArray(rows)) return rows;
  const cells: Cell[] = [];
  for (const row of rows) {
    for (const { path, field, tenant } of plan) {
      const holder = at(row, path.slice(0, -1));
      const key = path[path.length - 1]!;
      if (typeof holder === 'object' && holder !== null && Object.hasOwn(holder, key)) {
        cells.push({
          field,
          tenant: tenant === undefined ? undefined : tenantId(at(row, tenant)),
          item: [holder as Holder, key],
        });
      }
    }
  }
  await openHolders(config, cells);
  return rows;
}

/** The table a relation of `table` points to, in Drizzle's relational schema. */
export function relatedTableOf(schema: RelationalSchema) {
  return (table: RelationalTable, relation: string): RelationalTable | undefined => {
    const target = table.relations[relation]?.referencedTable;
    if (target === undefined) return undefined;
    const name = schema.tableNamesMap[getTableUniqueName(target as Table)];
    return name === undefined ? undefined : schema.schema[name];
  };
}

/** Decrypts a relational query's result (`findMany` / `findFirst`, with `with`) in place. */
export async function decryptRelational<T>(
  config: CmekConfig,
  result: T,
  table: RelationalTable,
  schema: RelationalSchema,
): Promise<T> {
  const cells: Cell[] = [];
  const related = relatedTableOf(schema);
  const visit = (value: unknown, at: RelationalTable) => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, at);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const row = value as Holder;
    for (const [key, column] of Object.entries(at.columns)) {
      const field = encryptedField(config, column);
      if (!field || !Object.hasOwn(row, key)) continue;
      const tenant = field.tenant;
      if (tenant !== undefined && !Object.hasOwn(row, tenant.key) && row[key] != null) {
        throw new CmekQueryError(
          field.label,
          `a relational query selects ${field.label} without ${tenant.label}, its tenant column: each value is decrypted under its row's tenant; select the tenant column too (columns: { ${tenant.key}: true })`,
        );
      }
      cells.push({
        field,
        tenant: tenant === undefined ? undefined : tenantId(row[tenant.key]),
        item: [row, key],
      });
    }
    for (const name of Object.keys(at.relations)) {
      const target = related(at, name);
      if (target && Object.hasOwn(row, name)) visit(row[name], target);
    }
  };
  visit(result, table);
  await openHolders(config, cells);
  return result;
}
