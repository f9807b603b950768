/**
 * Encryption on every write path: the values an insert / update / upsert / merge is about to
 * send (and `encryptRow`'s row), by encrypted column, through core's `sealCells`; and beside each
 * value of a column with a blind index, its index columns (core's `blindIndexCells`, from the
 * plaintexts). A value given for an index column itself is refused: the index follows the value.
 */
import {
  assertFieldValue,
  type BlindIndexer,
  blindIndexCells,
  CmekInvalidInputError,
  CmekQueryError,
  type Encryptable,
  type Envelope,
  groupByTenant,
  sealCells,
} from '@cmek/core';
import {
  type BuilderState,
  isBuilder,
  isPlainRow,
  isRaw,
  isRef,
  objectUpdatesOf,
  type RowObject,
} from './internals';
import { encryptedColumn, indexedColumn } from './lookup';
import { lastPart } from './names';
import type { TableConfig } from './options';
import type { WriteTargets } from './plan';
import { type ColumnTarget, cellsOf, columnLabel } from './target';
import {
  refuseMove,
  refuseSqlTenant,
  tenantKeyIn,
  tenantMissing,
  tenantOfFilter,
  tenantOfRow,
} from './tenant';

function notEncryptable(target: ColumnTarget | undefined, what: string): CmekQueryError {
  const name = target ? columnLabel(target) : 'an encrypted column';
  return new CmekQueryError(
    target?.column ?? '(write)',
    `${what} for ${name} cannot be encrypted: pass the plaintext value itself`,
  );
}

/** What a value Knex would write as SQL rather than bind is, for the refusal's message. */
function sqlValueType(value: unknown): string | undefined {
  if (isRef(value)) return 'a knex.ref() reference';
  if (isRaw(value)) return 'a knex.raw() SQL fragment';
  if (isBuilder(value) || typeof value === 'function') return 'a subquery';
  return undefined;
}

/**
 * Refuses, before Knex or the driver sees it, a value an encrypted column cannot take: SQL
 * (raw, ref, subquery) and every non-string (numbers, booleans, objects, arrays, Dates, …).
 * The message names the column and the type, never the value.
 */
function assertColumnValue(target: ColumnTarget, value: unknown): void {
  const label = columnLabel(target);
  const sql = sqlValueType(value);
  if (sql !== undefined) {
    throw new CmekInvalidInputError(
      `${label} is encrypted and takes a string or null, not ${sql}: pass the plaintext value itself`,
    );
  }
  assertFieldValue(value, label);
}

/** What the keys of a written row are. */
export interface WriteKeys {
  /** The encrypted column a written key names, if any. */
  targetOf(key: string): ColumnTarget | undefined;
  /** The encrypted column whose blind-index column a written key names, if any (refused). */
  indexOf(key: string): ColumnTarget | undefined;
}

/** The write targets of one configured table (for `encryptRow`), in any letter case. */
export function tableTargets(table: TableConfig): WriteKeys {
  const of = (column: string | undefined) => (column === undefined ? undefined : { table, column });
  return {
    targetOf: (key) => of(encryptedColumn(table, key)),
    indexOf: (key) => of(indexedColumn(table, key)),
  };
}

/** The refusal of a value written to a blind-index column. */
export function indexWrite(target: ColumnTarget, key: string): CmekQueryError {
  return new CmekQueryError(
    target.column,
    `a write sets ${key}, the blind index of ${columnLabel(target)}: the index is computed from the value and written with it; write ${target.column} instead`,
  );
}

/** The key of an index column beside a written key: `t.token_hash` → `t.token_hash_bidx`. */
function besideKey(key: string, column: string): string {
  const dot = key.lastIndexOf('.');
  return dot === -1 ? column : `${key.slice(0, dot + 1)}${column}`;
}

/**
 * Copies of `rows` with every value of an encrypted column encrypted (null stays null), and the
 * blind-index columns of the indexed ones set beside them (null for a null value).
 */
export async function encryptRows(
  envelope: Envelope,
  indexer: BlindIndexer | undefined,
  keysOf: WriteKeys,
  rows: readonly RowObject[],
  options: { readonly tenant?: string | undefined } = {},
): Promise<RowObject[]> {
  const { targetOf } = keysOf;
  const out = rows.map((row) => {
    if (!isPlainRow(row)) {
      throw new CmekInvalidInputError('a row written to an encrypted table must be a plain object');
    }
    return { ...row };
  });
  const keys = new Map<string, ColumnTarget>();
  for (const row of out) {
    for (const key in row) {
      if (keys.has(key)) continue;
      const target = targetOf(key);
      if (target) keys.set(key, target);
      else {
        const indexed = keysOf.indexOf(key);
        if (indexed) throw indexWrite(indexed, key);
      }
    }
  }
  // the tenant of each row, per table with a tenant column (a tenant written as SQL is refused)
  const tenants = new Map<TableConfig, (string | undefined)[]>();
  for (const target of keys.values()) {
    const { table } = target;
    if (table.tenantColumn === undefined || tenants.has(table)) continue;
    tenants.set(
      table,
      out.map((row) => {
        const key = tenantKeyIn(table, row);
        if (key === undefined || row[key] === undefined) return options.tenant;
        refuseSqlTenant(table, row[key], 'a write');
        return tenantOfRow(table, row);
      }),
    );
  }
  // every value checked before any is encrypted: a refused value costs no KEK call
  const columns = [...keys].map(([key, target]) => {
    const at: number[] = [];
    const values: (string | Uint8Array | null | undefined)[] = [];
    for (const [i, row] of out.entries()) {
      // an undefined value is left out by Knex (an update keeps the column, an insert its
      // default): it stays undefined, and so does its index
      if (!Object.hasOwn(row, key) || row[key] === undefined) continue;
      const value = row[key];
      assertColumnValue(target, value);
      at.push(i);
      values.push(value as string | Uint8Array | null | undefined);
    }
    return { key, target, at, values };
  });
  // one call per column and tenant, every column at once; a token of the column is stored as it is
  const groups = columns.map(({ target, at }) => {
    const rowTenants = tenants.get(target.table);
    const field = { target, context: target.table.contexts.get(target.column)! };
    return groupByTenant(
      at.map((i, n) => ({ field, tenant: rowTenants?.[i], item: n })),
      (f) => f.target.table.tenantKey,
    );
  });
  const flat = groups.flatMap((list, c) => list.map((group) => ({ c, group })));
  const sealedFlat = await sealCells(
    envelope,
    flat.map(({ c, group }) => ({
      ...cellsOf(
        columns[c]!.target,
        group.items.map((n) => columns[c]!.values[n]),
      ),
      context: group.context,
    })),
  );
  const sealed = columns.map(({ values }) => ({
    stored: new Array<string | null>(values.length).fill(null),
    plaintexts: new Array<Encryptable | null>(values.length).fill(null),
  }));
  for (const [f, { c, group }] of flat.entries()) {
    const result = sealedFlat[f]!;
    for (const [m, n] of group.items.entries()) {
      sealed[c]!.stored[n] = result.stored[m] ?? null;
      sealed[c]!.plaintexts[n] = result.plaintexts[m] ?? null;
    }
  }
  for (const [c, { key, at }] of columns.entries()) {
    const tokens = sealed[c]!.stored;
    for (const [n, i] of at.entries()) out[i]![key] = tokens[n] ?? null;
  }
  // one blindIndexCells call for the write, from the plaintexts (a token passed in is indexed
  // by its plaintext, not by itself)
  const indexed = [...columns.entries()].filter(
    ([, { target }]) => (target.table.indexes.get(target.column)?.length ?? 0) > 0,
  );
  if (indexed.length === 0 || indexer === undefined) return out;
  const computed = await blindIndexCells(
    indexer,
    indexed.map(([c, { target }]) => ({
      ...cellsOf(target, []),
      indexes: target.table.indexes.get(target.column)!,
      plaintexts: sealed[c]!.plaintexts,
    })),
  );
  for (const [n, [, { key, at }]] of indexed.entries()) {
    for (const { column, values } of computed[n]!) {
      const beside = besideKey(key, column);
      for (const [v, i] of at.entries()) out[i]![beside] = values[v] ?? null;
    }
  }
  return out;
}

/**
 * Encrypts the values an insert / update / upsert / merge is about to send, in place on the
 * builder; returns the function that puts the caller's values back once the query has run.
 */
export async function encryptPending(
  envelope: Envelope,
  indexer: BlindIndexer | undefined,
  write: WriteTargets,
  builder: BuilderState,
): Promise<() => void> {
  const single = builder._single;
  const saved: [string, unknown][] = [];
  const replace = (key: string, value: unknown): void => {
    saved.push([key, single[key]]);
    single[key] = value;
  };
  const some = write.table
    ? { table: write.table, column: write.table.columns.values().next().value as string }
    : undefined;
  const { targetOf } = write;
  // increment() / decrement() of an index column would leave it no index of the value
  for (const key of Object.keys((single.counter as object | null | undefined) ?? {})) {
    const indexed = write.indexOf(key);
    if (indexed) throw indexWrite(indexed, key);
  }
  const encrypt = (rows: RowObject[], tenant?: string) =>
    encryptRows(envelope, indexer, write, rows, { tenant });
  const tenantTable = write.table?.tenantColumn === undefined ? undefined : write.table;
  for (const key of ['insert', 'upsert'] as const) {
    const pending = single[key];
    if (pending === undefined || pending === null) continue;
    if (Array.isArray(pending)) replace(key, await encrypt(pending));
    else if (isPlainRow(pending)) replace(key, (await encrypt([pending]))[0]);
    else if (some) throw notEncryptable(some, `an ${key} from a subquery or raw SQL`);
  }
  const update = single.update;
  for (const [column, json] of objectUpdatesOf(builder) ?? []) {
    const target = targetOf(column);
    // still the JSON text Knex made of the object: refused as the object it was
    if (target && isPlainRow(update) && update[column] === json) assertColumnValue(target, {});
  }
  if (isPlainRow(update)) {
    let tenant: string | undefined;
    if (tenantTable) {
      if (tenantKeyIn(tenantTable, update) !== undefined) {
        refuseMove(tenantTable, Object.keys(update), 'update()');
      } else tenant = tenantOfFilter(builder, tenantTable);
    }
    replace('update', (await encrypt([update], tenant))[0]);
  }
  const merge = single.merge as { updates?: unknown } | undefined;
  if (merge && isPlainRow(merge.updates)) {
    if (tenantTable) tenantMerge(write, tenantTable, Object.keys(merge.updates));
    replace('merge', { ...merge, updates: (await encrypt([merge.updates]))[0] });
  } else if (merge && Array.isArray(merge.updates)) {
    if (tenantTable) {
      tenantMerge(
        write,
        tenantTable,
        merge.updates.filter((k): k is string => typeof k === 'string'),
      );
    }
    const updates = mergedColumns(write, merge.updates);
    if (updates !== merge.updates) replace('merge', { ...merge, updates });
  } else if (merge && some && (isRaw(merge.updates) || isBuilder(merge.updates))) {
    throw notEncryptable(some, 'a raw merge');
  }
  return () => {
    for (const [key, value] of saved.reverse()) single[key] = value;
  };
}

/**
 * `merge(['col', …])`: an indexed encrypted column merged from the inserted row brings its index
 * columns with it (they are in the inserted row too). An index column merged without its value
 * would hold the index of a value the row does not hold: refused.
 */
function mergedColumns(write: WriteTargets, columns: readonly unknown[]): readonly unknown[] {
  const out = [...columns];
  for (const key of columns) {
    if (typeof key !== 'string') continue;
    const indexed = write.indexOf(key);
    if (
      indexed &&
      !columns.some((k) => typeof k === 'string' && write.targetOf(k)?.column === indexed.column)
    ) {
      throw indexWrite(indexed, key);
    }
    const target = write.targetOf(key);
    for (const { column } of target ? (target.table.indexes.get(target.column) ?? []) : []) {
      const listed = out.some(
        (k) => typeof k === 'string' && target!.table.identifiers.same(lastPart(k), column),
      );
      if (!listed) out.push(besideKey(key, column));
    }
  }
  return out.length === columns.length ? columns : out;
}

/**
 * A conflict merge that writes an encrypted column must write the tenant column and every
 * encrypted column: the row it updates may be another tenant's.
 */
function tenantMerge(write: WriteTargets, table: TableConfig, keys: readonly string[]): void {
  const encrypted = keys.map((key) => write.targetOf(key)).find((t) => t !== undefined);
  if (encrypted === undefined) return;
  if (!keys.some((key) => table.identifiers.same(lastPart(key), table.tenantColumn!))) {
    throw tenantMissing(encrypted, 'merge()');
  }
  refuseMove(table, keys, 'merge()');
}
