/**
 * The less travelled public paths of Drizzle, on each real database: CTEs (`db.$with` with a
 * query-builder callback, `db.with`), subqueries built outside the wrapped database, SQL
 * expressions and columns given as the value of an encrypted or index column, `$defaultFn` /
 * `$onUpdateFn` of an encrypted column, nested savepoints, `onConflictDoNothing`, `prepare()` of
 * a write, `DISTINCT ON`, set operators, aliased tables. Each one either stores a token (read back
 * around Drizzle) and finds the right rows, or is refused before it runs: none stores a plaintext
 * or filters on ciphertext.
 */
import {
  type BlindIndexer,
  CmekQueryError,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { eq, sql } from 'drizzle-orm';
import * as my from 'drizzle-orm/mysql-core';
import * as pgc from 'drizzle-orm/pg-core';
import * as lite from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekDatabase, withCmek } from '../src/index';
import {
  type AnyDb,
  type AnyTable,
  type Connection,
  createTables,
  databases,
  dropTables,
  itWhen,
  type Tables,
  uniquePrefix,
} from './support/databases';
import { countingProvider } from './support/provider';

/** A table whose encrypted column has a `$defaultFn` and an `$onUpdateFn`. */
function defaultsTable(dialect: string, name: string): AnyTable {
  if (dialect === 'sqlite') {
    return lite.sqliteTable(name, {
      id: lite.integer('id').primaryKey({ autoIncrement: true }),
      label: lite.text('label'),
      secret: lite
        .text('secret')
        .$defaultFn(() => 'default-secret')
        .$onUpdateFn(() => 'updated-secret'),
    });
  }
  if (dialect === 'postgres') {
    return pgc.pgTable(name, {
      id: pgc.serial('id').primaryKey(),
      label: pgc.text('label'),
      secret: pgc
        .text('secret')
        .$defaultFn(() => 'default-secret')
        .$onUpdateFn(() => 'updated-secret'),
    });
  }
  return my.mysqlTable(name, {
    id: my.serial('id').primaryKey(),
    label: my.text('label'),
    secret: my
      .text('secret')
      .$defaultFn(() => 'default-secret')
      .$onUpdateFn(() => 'updated-secret'),
  });
}

for (const d of databases) {
  describe.skipIf(!d.available)(`other public paths on ${d.name}`, () => {
    let raw: Connection;
    let base: Connection;
    let app: CmekDatabase<AnyDb>;
    let envelope: Envelope;
    let indexer: BlindIndexer;
    let t: Tables;
    let defaults: AnyTable;
    let defaultsName: string;

    beforeAll(async () => {
      t = d.tables(uniquePrefix('p'));
      defaultsName = `${t.prefix}defaults`;
      defaults = defaultsTable(d.name, defaultsName);
      raw = d.connect(t);
      base = d.connect(t);
      await createTables(raw, d, t);
      await raw.raw(`drop table if exists ${defaultsName}`);
      const id = d.name === 'sqlite' ? 'integer primary key autoincrement' : 'serial primary key';
      await raw.raw(`create table ${defaultsName} (id ${id}, label text, secret text)`);
      const kek = countingProvider();
      envelope = createEnvelope({ kek });
      indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
      app = withCmek(base.db, {
        envelope,
        indexer,
        tables: [
          {
            table: t.secrets,
            columns: { token: {}, tokenHash: { blindIndex: { column: 'token_hash_bidx' } } },
          },
          { table: t.owners, columns: ['token'] },
          { table: defaults, columns: ['secret'] },
        ],
      });
    });
    afterAll(async () => {
      indexer.close();
      await raw.raw(`drop table if exists ${defaultsName}`);
      await dropTables(raw, t);
      await Promise.all([raw.close(), base.close()]);
    });
    beforeEach(async () => {
      await raw.raw(`delete from ${t.names.secrets}`);
      await raw.raw(`delete from ${t.names.owners}`);
      await raw.raw(`delete from ${defaultsName}`);
    });

    const s = () => t.secrets;
    /** The raw stored row of `name`. */
    const stored = async (name: string) => {
      const [row] = await raw.raw(`select * from ${t.names.secrets} where name = ?`, [name]);
      return row;
    };
    /** The stored value is a token of `plaintext` under the column's context. */
    const expectToken = async (value: unknown, column: string, plaintext: string) => {
      expect(typeof value).toBe('string');
      expect(value as string).toMatch(/^cmek:v1:/);
      expect(await envelope.decrypt(value as string, { context: { field: column } })).toBe(
        plaintext,
      );
    };
    const seed = () =>
      app.insert(s()).values([
        { name: 'a', token: 'tok-a', tokenHash: 'hash-a' },
        { name: 'b', token: 'tok-b', tokenHash: 'hash-b' },
      ]);
    const refusedWith = (label: string) =>
      expect.objectContaining({ name: 'CmekQueryError', field: label });

    it('db.$with(…).as(qb => …) refuses a filter on an encrypted column inside the CTE', async () => {
      await seed();
      expect(() =>
        app.$with('cte').as((qb: AnyDb) => qb.select().from(s()).where(eq(s().token, 'tok-a'))),
      ).toThrow(refusedWith(`${t.names.secrets}.token`));
    });

    it('db.$with(…).as(qb => …) with a lookup on an indexed column finds the row', async () => {
      await seed();
      const cte = app
        .$with('cte')
        .as((qb: AnyDb) =>
          qb
            .select({ name: s().name, token: s().token })
            .from(s())
            .where(eq(s().tokenHash, 'hash-b')),
        );
      expect(await app.with(cte).select().from(cte)).toEqual([{ name: 'b', token: 'tok-b' }]);
    });

    it('a subquery built outside the wrapped database refuses a filter on an encrypted column', async () => {
      await seed();
      const qb: AnyDb =
        d.name === 'sqlite'
          ? new lite.QueryBuilder()
          : d.name === 'postgres'
            ? new pgc.QueryBuilder()
            : new my.QueryBuilder();
      const sq = qb.select({ name: s().name }).from(s()).where(eq(s().token, 'tok-a')).as('sq');
      await expect(app.select().from(sq)).rejects.toThrow(CmekQueryError);
      await expect(app.select().from(s()).innerJoin(sq, eq(sq.name, s().name))).rejects.toThrow(
        CmekQueryError,
      );
      expect(() =>
        app.$with('cte').as(qb.select().from(s()).where(eq(s().token, 'tok-a'))),
      ).toThrow(CmekQueryError);
      // a CTE made by the standalone builder's own $with is refused when it runs
      const cte = qb.$with('cte').as(qb.select().from(s()).where(eq(s().token, 'tok-a')));
      await expect(app.with(cte).select().from(cte)).rejects.toThrow(CmekQueryError);
      // one that does not name an encrypted column runs
      const plain = qb.select({ name: s().name }).from(s()).where(eq(s().name, 'a')).as('plain');
      expect(await app.select().from(plain)).toEqual([{ name: 'a' }]);
    });

    itWhen(d.name === 'postgres')(
      'a data-modifying CTE (db.$with(…).as(db.insert(…).returning())) stores ciphertext and its index',
      async () => {
        const ins = app
          .$with('ins')
          .as(
            app.insert(s()).values({ name: 'c', token: 'tok-c', tokenHash: 'hash-c' }).returning(),
          );
        const rows = await app.with(ins).select({ token: ins.token }).from(ins);
        expect(rows).toEqual([{ token: 'tok-c' }]);
        const row = await stored('c');
        await expectToken(row?.token, `${t.names.secrets}.token`, 'tok-c');
        await expectToken(row?.token_hash, `${t.names.secrets}.token_hash`, 'hash-c');
        const [found] = await app
          .select({ name: s().name })
          .from(s())
          .where(eq(s().tokenHash, 'hash-c'));
        expect(found).toEqual({ name: 'c' });
      },
    );

    it('refuses a SQL literal or a plain column as the value of an encrypted column', async () => {
      await seed();
      const label = `${t.names.secrets}.token`;
      await expect(
        app.insert(s()).values({ name: 'lit', token: sql`'plain-literal'` }),
      ).rejects.toEqual(refusedWith(label));
      await expect(app.update(s()).set({ token: sql.raw("'plain-literal'") })).rejects.toEqual(
        refusedWith(label),
      );
      await expect(app.update(s()).set({ token: s().name })).rejects.toEqual(refusedWith(label));
      await expect(app.update(s()).set({ token: sql`${s().name}` })).rejects.toEqual(
        refusedWith(label),
      );
      const rows = await raw.raw(`select token from ${t.names.secrets} order by name`);
      for (const row of rows) expect(row.token as string).toMatch(/^cmek:v1:/);
      // sql`NULL` and a copy of the column itself are still sent
      await app.update(s()).set({ token: s().token }).where(eq(s().name, 'a'));
      await expectToken((await stored('a'))?.token, label, 'tok-a');
      await app.update(s()).set({ token: sql`NULL` }).where(eq(s().name, 'a'));
      expect((await stored('a'))?.token).toBeNull();
    });

    itWhen(d.name !== 'mysql')(
      'onConflictDoUpdate refuses a copy of another column (excluded.name) into an encrypted or index column',
      async () => {
        await seed();
        const conflict = (set: Record<string, unknown>) =>
          app
            .insert(s())
            .values({ name: 'a', token: 'tok-new', tokenHash: 'hash-new' })
            .onConflictDoUpdate({ target: s().name, set });
        expect(() => conflict({ token: sql.raw('excluded.name') })).toThrow(
          refusedWith(`${t.names.secrets}.token`),
        );
        expect(() =>
          conflict({
            tokenHash: sql.raw('excluded.token_hash'),
            tokenHashBidx: sql.raw('excluded.name'),
          }),
        ).toThrow(CmekQueryError);
        await expectToken((await stored('a'))?.token, `${t.names.secrets}.token`, 'tok-a');
        // the copy of the inserted column itself still runs
        await conflict({
          token: sql.raw('excluded.token'),
          tokenHash: sql.raw('excluded."token_hash"'),
          tokenHashBidx: sql.raw('excluded.token_hash_bidx'),
        });
        await expectToken((await stored('a'))?.token, `${t.names.secrets}.token`, 'tok-new');
      },
    );

    itWhen(d.name === 'mysql')(
      'onDuplicateKeyUpdate refuses a copy of another column (values(name)) into an encrypted column',
      async () => {
        await seed();
        const insert = () =>
          app.insert(s()).values({ name: 'a', token: 'tok-new', tokenHash: 'hash-new' });
        expect(() =>
          insert().onDuplicateKeyUpdate({ set: { token: sql`values(${s().name})` } }),
        ).toThrow(refusedWith(`${t.names.secrets}.token`));
        await expectToken((await stored('a'))?.token, `${t.names.secrets}.token`, 'tok-a');
      },
    );

    it('$defaultFn and $onUpdateFn of an encrypted column store ciphertext', async () => {
      await app.insert(defaults).values({ label: 'x' });
      const [row] = await raw.raw(`select secret from ${defaultsName}`);
      await expectToken(row?.secret, `${defaultsName}.secret`, 'default-secret');
      await app.update(defaults).set({ label: 'y' });
      const [updated] = await raw.raw(`select secret from ${defaultsName}`);
      await expectToken(updated?.secret, `${defaultsName}.secret`, 'updated-secret');
      expect(await app.select({ secret: defaults.secret }).from(defaults)).toEqual([
        { secret: 'updated-secret' },
      ]);
    });

    itWhen(d.name !== 'sqlite')(
      'writes in a nested transaction (a savepoint) store ciphertext and their index',
      async () => {
        await app.transaction(async (tx: AnyDb) => {
          await tx.transaction(async (inner: AnyDb) => {
            await inner.insert(s()).values({ name: 'n', token: 'tok-n', tokenHash: 'hash-n' });
          });
        });
        const row = await stored('n');
        await expectToken(row?.token, `${t.names.secrets}.token`, 'tok-n');
        const [found] = await app
          .select({ token: s().token })
          .from(s())
          .where(eq(s().tokenHash, 'hash-n'));
        expect(found).toEqual({ token: 'tok-n' });
      },
    );

    itWhen(d.name !== 'mysql')('onConflictDoNothing stores ciphertext', async () => {
      await app
        .insert(s())
        .values({ name: 'c', token: 'tok-c', tokenHash: 'hash-c' })
        .onConflictDoNothing();
      const row = await stored('c');
      await expectToken(row?.token, `${t.names.secrets}.token`, 'tok-c');
      await expectToken(row?.token_hash, `${t.names.secrets}.token_hash`, 'hash-c');
    });

    it('prepare() of a write of a plaintext is refused', () => {
      expect(() =>
        app.insert(s()).values({ name: 'p', token: 'tok-p' }).prepare('cmek_probe_insert'),
      ).toThrow(CmekQueryError);
      expect(() => app.update(s()).set({ token: 'tok-p' }).prepare('cmek_probe_update')).toThrow(
        CmekQueryError,
      );
    });

    itWhen(d.name === 'postgres')('selectDistinctOn an encrypted column is refused', async () => {
      await seed();
      await expect(app.selectDistinctOn([s().token]).from(s())).rejects.toEqual(
        refusedWith(`${t.names.secrets}.token`),
      );
    });

    it('union, intersect and except of selections holding an encrypted column are refused; unionAll decrypts', async () => {
      await seed();
      const left = () => app.select({ token: s().token }).from(s()).where(eq(s().name, 'a'));
      const right = () => app.select({ token: s().token }).from(s()).where(eq(s().name, 'a'));
      const label = `${t.names.secrets}.token`;
      await expect(left().union(right())).rejects.toEqual(refusedWith(label));
      if (d.name !== 'mysql') {
        await expect(left().intersect(right())).rejects.toEqual(refusedWith(label));
        await expect(left().except(right())).rejects.toEqual(refusedWith(label));
      }
      expect(await left().unionAll(right())).toEqual([{ token: 'tok-a' }, { token: 'tok-a' }]);
    });

    itWhen(d.name === 'postgres')(
      'a filter through alias() of a table is refused, and a lookup through it finds the row',
      async () => {
        await seed();
        const a = pgc.alias(s(), 'a');
        expect(() => app.select().from(a).where(eq(a.token, 'tok-a'))).toThrow(CmekQueryError);
        expect(
          await app.select({ token: a.token }).from(a).where(eq(a.tokenHash, 'hash-b')),
        ).toEqual([{ token: 'tok-b' }]);
      },
    );
  });
}
