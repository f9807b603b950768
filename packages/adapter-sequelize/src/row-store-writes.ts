/**
 * The row store's compare-and-set statements, with bound values only (no value in the SQL text):
 *
 * - PostgreSQL, SQLite: one `UPDATE … SET col = CASE pk WHEN ? THEN ? … END WHERE (pk = ? AND
 *   col = ?) OR … RETURNING pk` per batch and field: one round trip, and the rows it returns are
 *   the ones written;
 * - MariaDB / MySQL (no `UPDATE … RETURNING`): one transaction per batch and field that locks
 *   the rows (`SELECT … FOR UPDATE`), keeps those whose value still is the expected one, byte for
 *   byte, and updates them with the same guarded `UPDATE`; a single compare-and-set is one
 *   `UPDATE`. Comparisons are `BINARY`: the usual collations ignore letter case and trailing
 *   spaces, and a compare-and-set must not mistake `Secret` for `secret`.
 *
 * A write with blind-index values (`CasWrite.indexes`) sets its index columns in the same `UPDATE`,
 * by the same `CASE` over the ids; only the value is compared. The writes of one statement set the
 * same index columns (a rewrap sets none).
 */
import type { CasWrite, Cursor } from '@cmek/core';
import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import { textOf } from './values';

export interface CasTarget {
  readonly sequelize: Sequelize;
  /** The quoted table (with its schema). */
  readonly table: string;
  readonly pk: string;
  /** The quoted primary-key column. */
  readonly pkColumn: string;
  /** The quoted column of each blind-index attribute (the keys of `CasWrite.indexes`). */
  readonly indexColumns: ReadonlyMap<string, string>;
}

const sameId = (a: unknown, b: Cursor): boolean => a === b || String(a) === String(b);

function isMysql(sequelize: Sequelize): boolean {
  const dialect = sequelize.getDialect();
  return dialect === 'mariadb' || dialect === 'mysql';
}

/** Bound parameters as Sequelize's `bind` numbers them (`$1`, `$2`, …). */
class Binds {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The rows an `UPDATE` matched, from what `sequelize.query` returns on MySQL / MariaDB. */
function affectedRows(result: unknown): number {
  for (const meta of Array.isArray(result) ? [result[1], result[0]] : [result]) {
    if (typeof meta === 'number') return meta;
    const found = (meta as { affectedRows?: unknown } | null)?.affectedRows;
    if (typeof found === 'number') return found;
  }
  return 0;
}

/** `UPDATE` of `writes` (distinct ids, one column), each guarded by its expected value. */
function guardedUpdate(
  target: CasTarget,
  column: string,
  writes: readonly CasWrite[],
  binary: boolean,
): { sql: string; bind: unknown[] } {
  const binds = new Binds();
  const ids = writes.map((w) => binds.add(w.id));
  const set = (quoted: string, value: (w: CasWrite) => string | null): string => {
    const cases = writes.map((w, i) => `WHEN ${ids[i]} THEN ${binds.add(value(w))}`).join(' ');
    return `${quoted} = CASE ${target.pkColumn} ${cases} ELSE ${quoted} END`;
  };
  const sets = [
    set(column, (w) => w.next),
    ...Object.keys(writes[0]?.indexes ?? {}).map((key) =>
      set(target.indexColumns.get(key)!, (w) => w.indexes?.[key] ?? null),
    ),
  ];
  const equal = binary
    ? (e: string) => `BINARY ${column} = BINARY ${e}`
    : (e: string) => `${column} = ${e}`;
  const guards = writes
    .map((w, i) => `(${target.pkColumn} = ${ids[i]} AND ${equal(binds.add(w.expected))})`)
    .join(' OR ');
  return {
    sql: `UPDATE ${target.table} SET ${sets.join(', ')} WHERE ${guards}`,
    bind: binds.values,
  };
}

async function returningCas(
  target: CasTarget,
  column: string,
  writes: readonly CasWrite[],
): Promise<boolean[]> {
  const { sql, bind } = guardedUpdate(target, column, writes, false);
  const rows = await target.sequelize.query<Record<string, unknown>>(
    `${sql} RETURNING ${target.pkColumn} AS ${target.sequelize.getQueryInterface().quoteIdentifier(target.pk)}`,
    { bind, type: QueryTypes.SELECT },
  );
  const written = rows.map((row) => row[target.pk]);
  return writes.map((w) => written.some((id) => sameId(id, w.id)));
}

async function lockingCas(
  target: CasTarget,
  column: string,
  writes: readonly CasWrite[],
): Promise<boolean[]> {
  const { sequelize } = target;
  return sequelize.transaction(async (transaction: Transaction) => {
    const binds = new Binds();
    const list = writes.map((w) => binds.add(w.id)).join(', ');
    const rows = await sequelize.query<Record<string, unknown>>(
      `SELECT ${target.pkColumn} AS pk, ${column} AS value FROM ${target.table} WHERE ${target.pkColumn} IN (${list}) FOR UPDATE`,
      { bind: binds.values, type: QueryTypes.SELECT, transaction },
    );
    const holds = (w: CasWrite): boolean =>
      rows.some((row) => sameId(row.pk, w.id) && storedText(row.value) === w.expected);
    const results = writes.map(holds);
    const due = writes.filter((_, i) => results[i]);
    if (due.length > 0) {
      const { sql, bind } = guardedUpdate(target, column, due, true);
      await sequelize.query(sql, { bind, transaction });
    }
    return results;
  });
}

/** A stored value as text: a string as it is, bytes decoded as UTF-8; anything else none. */
function storedText(value: unknown): string | undefined {
  return typeof value === 'string' || value instanceof Uint8Array ? textOf(value) : undefined;
}

/** One compare-and-set: whether the row held `expected` and now holds `next`. */
export async function compareAndSetOne(
  target: CasTarget,
  column: string,
  write: CasWrite,
): Promise<boolean> {
  if (!isMysql(target.sequelize)) return (await returningCas(target, column, [write]))[0]!;
  const { sql, bind } = guardedUpdate(target, column, [write], true);
  return affectedRows(await target.sequelize.query(sql, { bind })) === 1;
}

/**
 * Compare-and-sets of one column, setting the same index columns (or none): `result[i]` is
 * whether `writes[i]` was written. Writes to the same id go in separate statements, in order, so
 * each is compared with what the one before left.
 */
export async function compareAndSetColumn(
  target: CasTarget,
  column: string,
  writes: readonly CasWrite[],
): Promise<boolean[]> {
  const results: boolean[] = new Array(writes.length).fill(false);
  let pending = writes.map((write, at) => ({ write, at }));
  while (pending.length > 0) {
    const round: typeof pending = [];
    const later: typeof pending = [];
    const ids = new Set<string>();
    for (const item of pending) {
      const key = String(item.write.id);
      if (ids.has(key)) later.push(item);
      else {
        ids.add(key);
        round.push(item);
      }
    }
    const batch = round.map((item) => item.write);
    const done = isMysql(target.sequelize)
      ? await lockingCas(target, column, batch)
      : await returningCas(target, column, batch);
    for (const [i, item] of round.entries()) results[item.at] = done[i]!;
    pending = later;
  }
  return results;
}
