/**
 * Blind indexes on every write path. Before a statement is built, each value written to an
 * encrypted column with a `blindIndex` gets a `Param` for each index column beside it, in the
 * same row (`insert().values()`), `set()` or conflict `set`; the wrapper fills those after the
 * values are encrypted, from their plaintexts, with one `blindIndexCells` call per write. A value
 * given for an index column by the application is refused: the index follows the value.
 */
import { blindIndexCells, CmekQueryError } from '@cmek/core';
import { type Column, is, Param, SQL } from 'drizzle-orm';
import { columnIdentity, isColumn } from './columns';
import type { CmekConfig, FieldConfig, IndexColumn } from './options';
import { encryptedField } from './options';
import { bindsValues, walkSql } from './sql-walk';
import type { EncryptedParam, Sealed } from './write';

/** An index `Param` and the value `Param` it is the index of. */
interface IndexLink {
  readonly field: FieldConfig;
  readonly index: IndexColumn;
  readonly source: Param;
  /**
   * The application gave the index beside a token of `$cmek.encryptRow` (a synchronous write):
   * kept as given when the statement runs synchronously, recomputed when it is awaited.
   */
  readonly given: boolean;
}

const links = new WeakMap<Param, IndexLink>();

/** A SQL expression or a column given as a value (a copy, checked by `refuseSqlValues`). */
function isSql(value: unknown): boolean {
  return is(value, SQL) || is(value, SQL.Aliased) || isColumn(value);
}

function directWrite(field: FieldConfig, index: IndexColumn, where: string): CmekQueryError {
  return new CmekQueryError(
    field.label,
    `${where} writes ${index.column.name}, the blind index of ${field.label}: the index is written with the value; write ${field.label} instead`,
  );
}

/**
 * Adds the index `Param`s of the indexed encrypted values in `values` (a row of
 * `insert().values()` or a `set()`, keyed as the table definition), in place. `raw`: the values
 * are the application's (a conflict `set`, mapped by Drizzle afterwards), so the value and its
 * index are passed as SQL holding the `Param`s. Refuses a value given for an index column.
 */
export function addIndexParams(
  config: CmekConfig,
  columns: Record<string, Column>,
  values: Record<string, unknown>,
  where: string,
  raw = false,
): void {
  if (config.indexColumns.size === 0) return;
  const handled = new Set<string>();
  for (const [key, value] of Object.entries(values)) {
    const column = columns[key];
    const field = column && encryptedField(config, column);
    if (!field || field.indexes.length === 0) continue;
    if (value === undefined || (is(value, Param) && value.value === undefined)) continue;
    if (isSql(value)) {
      // a copy (`excluded.col`, `values(col)`): its index columns must be copied beside it
      for (const index of field.indexes) {
        const copy = values[index.key];
        if (!isSql(copy) || bindsValues(copy)) {
          throw new CmekQueryError(
            field.label,
            `${where} writes ${field.label} with a SQL expression, whose blind index the wrapper cannot compute; copy its index column beside it (${index.column.name}: the same expression over ${index.column.name}), or write the value itself`,
          );
        }
        handled.add(index.key);
      }
      continue;
    }
    const source = is(value, Param) ? value : new Param(value, column);
    if (raw) values[key] = new SQL([source]);
    const token = typeof source.value === 'string' && config.envelope.isEncrypted(source.value);
    for (const index of field.indexes) {
      handled.add(index.key);
      const given = values[index.key];
      const own = is(given, Param) ? links.get(given) : undefined;
      if (own !== undefined && own.source === source) continue; // prepared by an earlier run
      if (given !== undefined && (!token || isSql(given))) throw directWrite(field, index, where);
      const param = is(given, Param) ? given : new Param(given ?? null, index.column);
      links.set(param, { field, index, source, given: given !== undefined });
      values[index.key] = raw ? new SQL([param]) : param;
    }
  }
  for (const key of Object.keys(values)) {
    const column = columns[key];
    const field = column && !handled.has(key) ? indexedBy(config, column) : undefined;
    if (field && values[key] !== undefined) {
      const index = field.indexes.find((i) => columnIdentity(i.column) === columnIdentity(column!));
      throw directWrite(field, index!, where);
    }
  }
}

function indexedBy(config: CmekConfig, column: Column): FieldConfig | undefined {
  return config.indexColumns.get(columnIdentity(column));
}

/** The index `Param`s of a built statement. */
export interface IndexParams {
  readonly params: readonly Param[];
  /** A value of an indexed column that has no index `Param` beside it, if any. */
  readonly unindexed: FieldConfig | undefined;
}

/** Finds the index `Param`s of `statement`, and an indexed value that has none. */
export function indexParams(statement: unknown, encrypted: readonly EncryptedParam[]): IndexParams {
  const params: Param[] = [];
  const sources = new Set<Param>();
  walkSql(statement, {
    param(param) {
      const link = param && links.get(param);
      if (!link) return;
      params.push(param);
      sources.add(link.source);
    },
  });
  const unindexed = encrypted.find(
    ({ field, param }) => field.indexes.length > 0 && !sources.has(param),
  )?.field;
  return { params, unindexed };
}

/** An index `Param` that a synchronous run would leave unfilled (its value is not yet indexed). */
export function unfilledIndex(params: readonly Param[]): FieldConfig | undefined {
  for (const param of params) {
    const link = links.get(param)!;
    if (!link.given && link.source.value !== null && link.source.value !== undefined) {
      return link.field;
    }
  }
  return undefined;
}

/**
 * Fills the index `Param`s from the plaintexts `sealParams` returned (one `blindIndexCells` call
 * for the write); returns the index values, to scrub from errors too.
 */
export async function fillIndexParams(
  config: CmekConfig,
  params: readonly Param[],
  sealed: Sealed,
): Promise<string[]> {
  if (params.length === 0 || config.indexer === undefined) return [];
  const byField = new Map<FieldConfig, Param[]>();
  for (const param of params) {
    const { field, source } = links.get(param)!;
    const sources = byField.get(field) ?? [];
    if (!sources.includes(source)) sources.push(source);
    byField.set(field, sources);
  }
  const groups = [...byField];
  const computed = await blindIndexCells(
    config.indexer,
    groups.map(([field, sources]) => ({
      label: field.indexLabel,
      context: field.context,
      indexes: field.indexes.map((i) => i.spec),
      plaintexts: sources.map((s) => sealed.plaintexts.get(s) ?? null),
    })),
  );
  const out: string[] = [];
  for (const param of params) {
    const { field, index, source } = links.get(param)!;
    const g = groups.findIndex(([f]) => f === field);
    const value = computed[g]![field.indexes.indexOf(index)]!.values[groups[g]![1].indexOf(source)];
    (param as { value: unknown }).value = value ?? null;
    if (typeof value === 'string') out.push(value);
  }
  return out;
}
