/** Decryption of every result set: the selected encrypted columns, one batch per column. */
import { openCells } from '@cmek/core';
import { getTableUniqueName, is, SQL, Subquery, Table } from 'drizzle-orm';
import { isColumn, tableColumns } from './columns';
import { type CmekConfig, encryptedField, type FieldConfig } from './options';
import { type RelationalSchema, type RelationalTable, refuseEncrypted } from './query-rules';

/** Where an encrypted column lands in each result row. */
export interface ReadCell {
  readonly path: readonly string[];
  readonly field: FieldConfig;
}

/**
 * The encrypted columns of a selection (`select({...})`, a table's columns, `returning(...)`),
 * by result path; a SQL expression over an encrypted column (`count(token)`, `lower(token)`)
 * is refused: the database would compute it on ciphertext.
 */
export function selectionPlan(
  config: CmekConfig,
  fields: unknown,
  prefix: readonly string[] = [],
): ReadCell[] {
  const out: ReadCell[] = [];
  if (typeof fields !== 'object' || fields === null) return out;
  for (const [name, field] of Object.entries(fields)) {
    const path = [...prefix, name];
    if (isColumn(field)) {
      const encrypted = encryptedField(config, field);
      if (encrypted) out.push({ path, field: encrypted });
    } else if (is(field, SQL) || is(field, SQL.Aliased)) {
      refuseEncrypted(config, field, 'compute on');
    } else if (is(field, Subquery)) {
      // a scalar subquery as a field: its own selection was planned when it was built
    } else if (is(field, Table)) {
      out.push(...selectionPlan(config, tableColumns(field), path));
    } else {
      out.push(...selectionPlan(config, field, path));
    }
  }
  return out;
}

type Holder = Record<string, unknown>;

/** Gathers the stored values, decrypts them (one `decryptMany` per column), writes plaintext back. */
async function openHolders(
  config: CmekConfig,
  cells: Map<FieldConfig, [Holder, string][]>,
): Promise<void> {
  const groups = [...cells].filter(([, list]) => list.length > 0);
  if (groups.length === 0) return;
  const opened = await openCells(
    config.envelope,
    groups.map(([field, list]) => ({
      label: field.label,
      context: field.context,
      values: list.map(([holder, key]) => holder[key] as string | null | undefined),
    })),
  );
  for (const [g, [, list]] of groups.entries()) {
    for (const [i, [holder, key]] of list.entries()) holder[key] = opened[g]![i];
  }
}

function add(
  cells: Map<FieldConfig, [Holder, string][]>,
  field: FieldConfig,
  cell: [Holder, string],
) {
  const list = cells.get(field) ?? [];
  list.push(cell);
  cells.set(field, list);
}

/** Decrypts the planned cells of `rows` in place; returns `rows`. */
export async function decryptRows<T>(
  config: CmekConfig,
  rows: T,
  plan: readonly ReadCell[],
): Promise<T> {
  if (plan.length === 0 || !Array.isArray(rows)) return rows;
  const cells = new Map<FieldConfig, [Holder, string][]>();
  for (const row of rows) {
    for (const { path, field } of plan) {
      let holder: unknown = row;
      for (const key of path.slice(0, -1)) {
        holder = (holder as Holder | null | undefined)?.[key];
      }
      const key = path[path.length - 1]!;
      if (typeof holder === 'object' && holder !== null && Object.hasOwn(holder, key)) {
        add(cells, field, [holder as Holder, key]);
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
  const cells = new Map<FieldConfig, [Holder, string][]>();
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
      if (field && Object.hasOwn(row, key)) add(cells, field, [row, key]);
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
