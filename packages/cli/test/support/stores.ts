/**
 * Row stores for the integration tests besides the knex adapter's: one written directly on
 * better-sqlite3 (prepared statements, `compareAndSetMany` in one transaction), and a batched
 * compare-and-set for PostgreSQL over the adapter's store (one UPDATE ... FROM unnest per call),
 * the shape proposed for the adapters' `compareAndSetMany`.
 */
import type { CasWrite, Cursor, Row, RowStore } from '@cmek/core';
import Database from 'better-sqlite3';
import type { Knex } from 'knex';

export function sqliteRowStore(
  file: string,
  table: string,
  columns: readonly string[],
): RowStore & { close(): void } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  const list = columns.join(', ');
  const first = db.prepare(`SELECT id, ${list} FROM ${table} ORDER BY id LIMIT ?`);
  const after = db.prepare(`SELECT id, ${list} FROM ${table} WHERE id > ? ORDER BY id LIMIT ?`);
  const cas = new Map(
    columns.map((c) => [c, db.prepare(`UPDATE ${table} SET ${c} = ? WHERE id = ? AND ${c} = ?`)]),
  );
  const casOne = (w: CasWrite): boolean =>
    cas.get(w.field)!.run(w.next, w.id, w.expected).changes === 1;
  const casMany = db.transaction((writes: readonly CasWrite[]) => writes.map(casOne));
  return {
    name: table,
    fields: columns,
    contextFor: (field) => ({ field: `${table}.${field}` }),
    async scan(cursor: Cursor | undefined, limit: number): Promise<Row[]> {
      const rows = (cursor === undefined ? first.all(limit) : after.all(cursor, limit)) as Record<
        string,
        unknown
      >[];
      return rows.map((r) => ({
        id: r.id as number,
        values: Object.fromEntries(columns.map((c) => [c, (r[c] as string | null) ?? null])),
      }));
    },
    async compareAndSet(id, field, expected, next) {
      return casOne({ id, field, expected, next });
    },
    async compareAndSetMany(writes) {
      return casMany(writes);
    },
    close: () => db.close(),
  };
}

/** Adds a one-statement `compareAndSetMany` to a PostgreSQL table store with integer ids. */
export function withPgBatchedCas(store: RowStore, knex: Knex, table: string): RowStore {
  return {
    name: store.name,
    fields: store.fields,
    contextFor: (field) => store.contextFor(field),
    scan: (cursor, limit) => store.scan(cursor, limit),
    compareAndSet: (id, field, expected, next) => store.compareAndSet(id, field, expected, next),
    async compareAndSetMany(writes) {
      const byField = new Map<string, number[]>();
      for (const [i, w] of writes.entries())
        byField.set(w.field, [...(byField.get(w.field) ?? []), i]);
      const results = writes.map(() => false);
      for (const [field, indexes] of byField) {
        const ids = indexes.map((i) => Number(writes[i]!.id));
        const { rows } = (await knex.raw(
          `UPDATE ?? AS t SET ?? = v.next
             FROM (SELECT unnest(?::bigint[]) AS id, unnest(?::text[]) AS expected, unnest(?::text[]) AS next) AS v
            WHERE t.id = v.id AND t.?? = v.expected
        RETURNING t.id`,
          [
            table,
            field,
            ids,
            indexes.map((i) => writes[i]!.expected),
            indexes.map((i) => writes[i]!.next),
            field,
          ],
        )) as { rows: { id: string | number }[] };
        const done = new Set(rows.map((r) => Number(r.id)));
        for (const i of indexes) results[i] = done.has(Number(writes[i]!.id));
      }
      return results;
    },
  };
}

/**
 * A RowStore over a MongoDB collection with numeric `_id`s, on the `mongodb` driver (for FerretDB
 * until the mongoose adapter's `mongooseRowStore` lands): `updateOne({ _id, field: expected })`
 * is the compare-and-set.
 */
export function mongoRowStore(
  collection: import('mongodb').Collection<{ _id: number } & Record<string, unknown>>,
  columns: readonly string[],
): RowStore {
  const name = collection.collectionName;
  return {
    name,
    fields: columns,
    contextFor: (field) => ({ field: `${name}.${field}` }),
    async scan(cursor, limit) {
      const docs = await collection
        .find(cursor === undefined ? {} : { _id: { $gt: Number(cursor) } })
        .sort({ _id: 1 })
        .limit(limit)
        .project(Object.fromEntries(columns.map((c) => [c, 1])))
        .toArray();
      return docs.map((d) => ({
        id: d._id as number,
        values: Object.fromEntries(
          columns.map((c) => [c, (d[c] as string | null | undefined) ?? null]),
        ),
      }));
    },
    async compareAndSet(id, field, expected, next) {
      const result = await collection.updateOne(
        { _id: Number(id), [field]: expected },
        { $set: { [field]: next } },
      );
      return result.modifiedCount === 1;
    },
  };
}

/**
 * Every compare-and-set of `store` conflicts: `change` writes another value to the row first (as
 * an application writing all the time would), so the engine's write finds it changed.
 */
export function conflictingStore(
  store: RowStore,
  change: (id: Cursor, field: string, value: string) => Promise<unknown>,
): RowStore {
  let n = 0;
  return {
    name: store.name,
    fields: store.fields,
    contextFor: (field) => store.contextFor(field),
    scan: (cursor, limit) => store.scan(cursor, limit),
    async compareAndSet(id, field, expected, next) {
      await change(id, field, `changed-${n++}`);
      return store.compareAndSet(id, field, expected, next);
    },
  };
}

/**
 * Before each compare-and-set of `store`, `insert` stores the value about to be written in
 * another row: with a unique index on the field, the database itself refuses the write.
 */
export function duplicatingStore(
  store: RowStore,
  insert: (field: string, value: string) => Promise<unknown>,
): RowStore {
  return {
    name: store.name,
    fields: store.fields,
    contextFor: (field) => store.contextFor(field),
    scan: (cursor, limit) => store.scan(cursor, limit),
    async compareAndSet(id, field, expected, next) {
      await insert(field, next);
      return store.compareAndSet(id, field, expected, next);
    },
  };
}

/** Each write fails with an error that quotes its values (a message no driver is known to write). */
export function leakyStore(store: RowStore): RowStore {
  return {
    name: store.name,
    fields: store.fields,
    contextFor: (field) => store.contextFor(field),
    scan: (cursor, limit) => store.scan(cursor, limit),
    async compareAndSet(id, _field, expected, next) {
      const error = new Error(`row ${String(id)} rejected: had <${expected}>, got <${next}>`);
      throw new Error('the write failed', { cause: error });
    },
  };
}

/** Waits `ms` before each scan (a run long enough for progress lines); keeps `count()`. */
export function slowStore(store: RowStore, ms: number): RowStore {
  const count = store.count;
  return {
    name: store.name,
    fields: store.fields,
    contextFor: (field) => store.contextFor(field),
    async scan(cursor, limit) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return store.scan(cursor, limit);
    },
    compareAndSet: (id, field, expected, next) => store.compareAndSet(id, field, expected, next),
    ...(count === undefined ? {} : { count: () => count.call(store) }),
  };
}
