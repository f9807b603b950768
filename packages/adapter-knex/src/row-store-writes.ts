/**
 * The row store's compare-and-set statements. Each write changes a row only where its stored value
 * still is the expected one; each reports whether it did. Values are bound, never in the SQL text.
 *
 * - one write: `UPDATE t SET col = ? WHERE pk = ? AND col = ?` (its count of changed rows);
 * - a batch on PostgreSQL and SQLite: one `UPDATE t SET col = CASE pk WHEN ? THEN ? … END
 *   WHERE pk IN (…) AND col = CASE pk WHEN ? THEN ? … END RETURNING CASE pk WHEN ? THEN 0 … END`
 *   per field and per 160 writes: the rows it returns are the writes done,
 *   told apart by the database's own comparison of the primary key;
 * - a batch on MySQL / MariaDB (no `UPDATE … RETURNING`): a `SELECT … FOR UPDATE` with the same
 *   guard, which finds and locks the rows that still hold their expected value, then one `UPDATE`
 *   of those rows only;
 * - a batch on another dialect: one statement per write, as for one write.
 *
 * A write with blind-index values (`CasWrite.indexes`) sets its index columns in the same statement,
 * by the same `CASE` over the ids; only the value is compared. Writes with different index columns
 * (a rewrap gives none) go in different statements.
 *
 * Comparisons on MySQL / MariaDB are `BINARY`: the usual collations ignore letter case and
 * trailing spaces, and a compare-and-set must not mistake `Secret` for `secret`. Writes to one id
 * in one batch go in separate statements, in order, so each compares with what the one before left.
 */
import type { CasWrite, Cursor } from '@cmek/core';
import type { Knex } from 'knex';

/** How a batch is written on a dialect (see above). */
export type BatchStrategy = 'returning' | 'locking' | 'each';

export function batchStrategy(knex: Knex): BatchStrategy {
  const dialect = (knex.client as { dialect?: unknown }).dialect;
  if (dialect === 'postgresql' || dialect === 'sqlite3') return 'returning';
  if (dialect === 'mysql') return 'locking';
  return 'each';
}

/**
 * The writes of one statement at most: 6 bound values each, under SQLite's historic limit of 999
 * a statement; and each `CASE` is evaluated for every row, so its cost grows with the square of
 * the writes (on PostgreSQL 160 a statement wrote a batch of 1,000 faster than 1,000 or 50 did).
 * Each index column adds 2 bound values a write: fewer writes a statement, as many values.
 */
const STATEMENT_WRITES = 160;

function statementWrites(indexColumns: number): number {
  return Math.floor((STATEMENT_WRITES * 6) / (6 + 2 * indexColumns));
}

export interface CasTable {
  readonly table: string;
  readonly primaryKey: string;
  /** Compare bytes (`BINARY`), for MySQL / MariaDB. */
  readonly binary: boolean;
  readonly strategy: BatchStrategy;
  /** The blind-index columns of each indexed field. */
  readonly indexColumns: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * Runs a statement of the writes to `field`; a driver error comes out as the row store's
 * `CmekQueryError`, scrubbed of the statement's bound values.
 */
export type RunStatement = <T>(field: string, query: Knex.QueryBuilder) => Promise<T>;

/** One compare-and-set: whether the row held `expected` and now holds `next`. */
export async function compareAndSetRow(
  db: Knex,
  t: CasTable,
  run: RunStatement,
  write: CasWrite,
): Promise<boolean> {
  const query = db(t.table).where(t.primaryKey, write.id);
  if (t.binary) query.whereRaw('BINARY ?? = BINARY ?', [write.field, write.expected]);
  else query.where(write.field, write.expected);
  const changed = await run<unknown>(
    write.field,
    query.update({ [write.field]: write.next, ...write.indexes }),
  );
  return changed === 1;
}

/**
 * What a `CASE` over the writes' ids gives a row that is none of them: `NULL`, the column itself
 * (an `UPDATE` leaves it as it is), or a NULL of the column's type (`NULLIF(col, col)`).
 */
const ELSE = {
  null: ['ELSE NULL', 0],
  column: ['ELSE ??', 1],
  typedNull: ['ELSE NULLIF(??, ??)', 2],
} as const;

/** `CASE pk WHEN ? THEN ? … ELSE … END` over the writes' ids. */
function byId(
  db: Knex,
  t: CasTable,
  field: string,
  writes: readonly CasWrite[],
  value: (w: CasWrite) => string | null,
  otherwise: keyof typeof ELSE,
): Knex.Raw {
  const [sql, columns] = ELSE[otherwise];
  const whens = writes.map(() => 'WHEN ? THEN ?').join(' ');
  return db.raw(`CASE ?? ${whens} ${sql} END`, [
    t.primaryKey,
    ...writes.flatMap((w) => [w.id, value(w)]),
    ...new Array<string>(columns).fill(field),
  ]);
}

/** `CASE pk WHEN ? THEN 0 WHEN ? THEN 1 … END`: which write a row is, by the database's `=`. */
function indexOf(db: Knex, t: CasTable, writes: readonly CasWrite[]): Knex.Raw {
  const whens = writes.map((_, i) => `WHEN ? THEN ${i}`).join(' ');
  return db.raw(`CASE ?? ${whens} END AS ??`, [
    t.primaryKey,
    ...writes.map((w) => w.id),
    'cmek_write',
  ]);
}

/**
 * The guard: the row's value equals its write's expected one. On PostgreSQL the `CASE` takes the
 * column's type through its `ELSE` (`NULLIF(col, col)`, a NULL that matches nothing), so each
 * expected value is read as a value of the column, as in `col = ?`.
 */
function guarded(
  db: Knex,
  t: CasTable,
  query: Knex.QueryBuilder,
  field: string,
  writes: readonly CasWrite[],
) {
  query.whereIn(
    t.primaryKey,
    writes.map((w) => w.id),
  );
  if (t.binary) {
    query.whereRaw('BINARY ?? = BINARY (?)', [
      field,
      byId(db, t, field, writes, (w) => w.expected, 'null'),
    ]);
  } else {
    query.where(
      field,
      byId(db, t, field, writes, (w) => w.expected, 'typedNull'),
    );
  }
  return query;
}

/** The index columns the writes of one statement set (the same for each of them). */
function indexColumnsOf(writes: readonly CasWrite[]): string[] {
  return Object.keys(writes[0]?.indexes ?? {});
}

/**
 * `UPDATE` of the writes' rows that pass the guard, each to its own next value (and its own index
 * values).
 */
function update(db: Knex, t: CasTable, field: string, writes: readonly CasWrite[]) {
  const indexes = Object.fromEntries(
    indexColumnsOf(writes).map((column) => [
      column,
      byId(db, t, column, writes, (w) => w.indexes?.[column] ?? null, 'column'),
    ]),
  );
  return guarded(db, t, db(t.table), field, writes).update({
    [field]: byId(db, t, field, writes, (w) => w.next, 'column'),
    ...indexes,
  });
}

/** The indexes (into `writes`) a result's rows name, each row holding one. */
function indexes(rows: unknown): Set<number> {
  const out = new Set<number>();
  for (const row of Array.isArray(rows) ? rows : []) {
    const value = Object.values(row as Record<string, unknown>)[0];
    if (value !== null && value !== undefined) out.add(Number(value));
  }
  return out;
}

/** One statement's writes (distinct ids, one field): `result[i]` is whether `writes[i]` was done. */
async function statement(
  db: Knex,
  t: CasTable,
  run: RunStatement,
  field: string,
  writes: readonly CasWrite[],
): Promise<boolean[]> {
  if (t.strategy === 'returning') {
    const query = update(db, t, field, writes).returning(
      indexOf(db, t, writes) as unknown as string,
    );
    const done = indexes(await run<unknown>(field, query));
    return writes.map((_, i) => done.has(i));
  }
  // MySQL / MariaDB: lock the rows that still hold their expected value, then write them
  const locked = guarded(
    db,
    t,
    db(t.table).select(indexOf(db, t, writes)),
    field,
    writes,
  ).forUpdate();
  const found = indexes(await run<unknown>(field, locked));
  const due = writes.filter((_, i) => found.has(i));
  if (due.length > 0) await run<unknown>(field, update(db, t, field, due));
  return writes.map((_, i) => found.has(i));
}

/**
 * Compare-and-sets of one batch, inside the caller's transaction: `result[i]` is whether
 * `writes[i]` was written.
 */
export async function compareAndSetBatch(
  db: Knex,
  t: CasTable,
  run: RunStatement,
  writes: readonly CasWrite[],
): Promise<boolean[]> {
  const results: boolean[] = new Array(writes.length).fill(false);
  if (t.strategy === 'each') {
    for (const [i, w] of writes.entries()) results[i] = await compareAndSetRow(db, t, run, w);
    return results;
  }
  // one statement sets one field and the same index columns for each of its writes
  const byField = new Map<string, { field: string; at: number[]; size: number }>();
  for (const [i, w] of writes.entries()) {
    const indexColumns = Object.keys(w.indexes ?? {}).sort();
    const key = JSON.stringify([w.field, ...indexColumns]);
    const group = byField.get(key);
    if (group) group.at.push(i);
    else byField.set(key, { field: w.field, at: [i], size: statementWrites(indexColumns.length) });
  }
  for (const { field, at, size } of byField.values()) {
    for (const round of rounds(at, writes)) {
      for (let start = 0; start < round.length; start += size) {
        const part = round.slice(start, start + size);
        const done = await statement(
          db,
          t,
          run,
          field,
          part.map((i) => writes[i]!),
        );
        for (const [n, i] of part.entries()) results[i] = done[n]!;
      }
    }
  }
  return results;
}

/** The indexes `at` in rounds of distinct ids, each id's writes in their order across rounds. */
function rounds(at: readonly number[], writes: readonly CasWrite[]): number[][] {
  const out: number[][] = [];
  let pending = at;
  while (pending.length > 0) {
    const round: number[] = [];
    const later: number[] = [];
    const ids = new Set<string>();
    for (const i of pending) {
      const key = idKey(writes[i]!.id);
      if (ids.has(key)) later.push(i);
      else {
        ids.add(key);
        round.push(i);
      }
    }
    out.push(round);
    pending = later;
  }
  return out;
}

/**
 * An id as rounds tell ids apart: loosely (letter case, outer spaces), so that two ids a
 * collation may take for one row never share a statement.
 */
function idKey(id: Cursor): string {
  return String(id).trim().toLowerCase();
}
