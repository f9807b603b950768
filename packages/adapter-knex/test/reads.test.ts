/**
 * Every read path of the wrapped Knex on each real database: the rows are written encrypted
 * (checked through a plain Knex) and come back as plaintext; queries the database cannot answer
 * on ciphertext are refused before they run.
 */
import {
  CmekDecryptionError,
  CmekPlaintextRejectedError,
  CmekQueryError,
  createEnvelope,
  type Envelope,
} from '@cmek/core';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CmekKnex, withCmek } from '../src/index';
import { databases, itWhen, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';
import { createTables, dropTables, type Tables } from './support/schema';

for (const db of databases) {
  describe.skipIf(!db.available)(`reads on ${db.name}`, () => {
    let plain: Knex;
    let wrappedBase: Knex;
    let app: CmekKnex;
    let envelope: Envelope;
    let t: Tables;
    let ownerId: number;

    beforeAll(async () => {
      plain = db.connect();
      wrappedBase = db.connect();
      t = await createTables(plain, uniquePrefix('r'));
      envelope = createEnvelope({ kek: countingProvider() });
      app = withCmek(wrappedBase, {
        envelope,
        tables: { [t.secrets]: { columns: ['token', 'note'] }, [t.owners]: { columns: ['token'] } },
      });
      await app(t.owners).insert({ name: 'ada', token: 'owner-token' });
      ownerId = Number((await plain(t.owners).first('id')).id);
      await app(t.secrets).insert([
        { name: 'a', token: 'tok-a', note: 'note-a', owner_id: ownerId },
        { name: 'b', token: 'tok-b', note: null, owner_id: ownerId },
        { name: 'c', token: null, note: 'note-c', owner_id: null },
      ]);
      await app(t.plain).insert({ name: 'p', token: 'plain-token' });
      // the stored values are ciphertext
      const raw = await plain(t.secrets).orderBy('name');
      expect(raw.map((r) => r.token)).toEqual([
        expect.stringMatching(/^cmek:v1:/),
        expect.stringMatching(/^cmek:v1:/),
        null,
      ]);
    });
    afterAll(async () => {
      await dropTables(plain, t);
      await Promise.all([plain.destroy(), wrappedBase.destroy()]);
    });

    it('select() of every column decrypts', async () => {
      const rows = await app(t.secrets).select().orderBy('name');
      expect(rows.map((r) => [r.name, r.token, r.note])).toEqual([
        ['a', 'tok-a', 'note-a'],
        ['b', 'tok-b', null],
        ['c', null, 'note-c'],
      ]);
    });

    it('select of named, qualified and aliased columns decrypts under the right context', async () => {
      const rows = await app
        .select('name', `${t.secrets}.token`, 'note as n', { tk: 'token' })
        .from(t.secrets)
        .orderBy('name');
      expect(rows[0]).toEqual({ name: 'a', token: 'tok-a', n: 'note-a', tk: 'tok-a' });
    });

    it('a table alias resolves (secrets as s, s.token)', async () => {
      const rows = await app(`${t.secrets} as s`)
        .select('s.name', 's.token as secret')
        .where('s.name', 'a');
      expect(rows).toEqual([{ name: 'a', secret: 'tok-a' }]);
    });

    it('first() decrypts one row, and is undefined when nothing matches', async () => {
      expect(await app(t.secrets).where({ name: 'b' }).first('token', 'note')).toEqual({
        token: 'tok-b',
        note: null,
      });
      expect(await app(t.secrets).where({ name: 'none' }).first()).toBeUndefined();
    });

    it('first() and select() without columns are SELECT *: every encrypted column decrypts', async () => {
      expect(await app(t.secrets).where({ name: 'a' }).first()).toMatchObject({
        name: 'a',
        token: 'tok-a',
      });
      expect(await app(t.secrets).select().where({ name: 'b' })).toEqual([
        expect.objectContaining({ name: 'b', token: 'tok-b' }),
      ]);
    });

    it('pluck() of an encrypted column decrypts; of a plain column is unchanged', async () => {
      expect(await app(t.secrets).orderBy('name').pluck('token')).toEqual(['tok-a', 'tok-b', null]);
      expect(await app(t.secrets).orderBy('name').pluck('name')).toEqual(['a', 'b', 'c']);
    });

    it('reads inside transaction(callback) and a transaction handle decrypt', async () => {
      const inCallback = await app.transaction(async (trx) =>
        trx(t.secrets).where({ name: 'a' }).first('token'),
      );
      expect(inCallback).toEqual({ token: 'tok-a' });
      const trx = await app.transaction();
      try {
        expect(await trx.select('note').from(t.secrets).where({ name: 'c' })).toEqual([
          { note: 'note-c' },
        ]);
        expect(await trx(t.secrets).where({ name: 'a' }).pluck('token')).toEqual(['tok-a']);
      } finally {
        await trx.commit();
      }
    });

    it('whereNull / whereNotNull on an encrypted column work (null is stored as null)', async () => {
      expect(await app(t.secrets).whereNull('token').pluck('name')).toEqual(['c']);
      expect(await app(t.secrets).whereNotNull('note').orderBy('name').pluck('name')).toEqual([
        'a',
        'c',
      ]);
    });

    it('a join decrypts qualified columns of both tables under their own contexts', async () => {
      const rows = await app(t.secrets)
        .join(t.owners, `${t.owners}.id`, `${t.secrets}.owner_id`)
        .select(`${t.secrets}.name`, `${t.secrets}.token as secret`, `${t.owners}.token as owner`)
        .orderBy(`${t.secrets}.name`);
      expect(rows).toEqual([
        { name: 'a', secret: 'tok-a', owner: 'owner-token' },
        { name: 'b', secret: 'tok-b', owner: 'owner-token' },
      ]);
    });

    it('a join decrypts a bare column name that only one joined table encrypts, and t.*', async () => {
      const rows = await app(`${t.secrets} as s`)
        .join(`${t.owners} as o`, 'o.id', 's.owner_id')
        .select('s.name', 'note', 'o.*')
        .where('s.name', 'a');
      expect(rows).toEqual([{ name: 'ada', note: 'note-a', id: ownerId, token: 'owner-token' }]);
    });

    it('a join whose selected column cannot be attributed is refused before running', async () => {
      const star = app(t.secrets).join(t.owners, `${t.owners}.id`, `${t.secrets}.owner_id`);
      await expect(star.clone().select('*')).rejects.toThrow(CmekQueryError);
      await expect(star.clone().select('*')).rejects.toMatchObject({ field: 'token' });
      await expect(star.clone().select('token')).rejects.toMatchObject({
        code: 'CMEK_QUERY',
        field: 'token',
      });
      // same key from two tables
      await expect(
        star.clone().select(`${t.secrets}.token`, `${t.owners}.token`),
      ).rejects.toMatchObject({ code: 'CMEK_QUERY' });
    });

    it('a join with a table that is not configured decrypts the configured side', async () => {
      const rows = await app(t.plain)
        .join(t.secrets, `${t.secrets}.name`, app.raw('?', ['a']))
        .select(`${t.plain}.token as plainToken`, `${t.secrets}.token as secret`);
      expect(rows).toEqual([{ plainToken: 'plain-token', secret: 'tok-a' }]);
    });

    it('filters, sorts and groups on an encrypted column throw CmekQueryError naming it', async () => {
      const cases: [string, () => PromiseLike<unknown>][] = [
        ['where', () => app(t.secrets).where('token', 'tok-a')],
        ['where object', () => app(t.secrets).where({ note: 'note-a' })],
        ['whereIn', () => app(t.secrets).whereIn('token', ['tok-a'])],
        ['whereNot', () => app(t.secrets).whereNot('token', 'x')],
        ['orWhere', () => app(t.secrets).where('name', 'a').orWhere('token', 'x')],
        ['whereLike', () => app(t.secrets).whereLike('token', '%a%')],
        ['whereBetween', () => app(t.secrets).whereBetween('token', ['a', 'b'])],
        ['nested where', () => app(t.secrets).where((q) => q.where('note', 'x'))],
        ['orderBy', () => app(t.secrets).orderBy('token')],
        ['orderBy qualified', () => app(`${t.secrets} as s`).orderBy('s.note', 'desc')],
        ['groupBy', () => app(t.secrets).select('token').count({ n: '*' }).groupBy('token')],
        ['having', () => app(t.secrets).select('name').groupBy('name').having('note', '=', 'x')],
        ['max', () => app(t.secrets).max('token')],
        ['distinct', () => app(t.secrets).distinct('token')],
        ['join on', () => app(t.secrets).join(t.owners, `${t.owners}.token`, `${t.secrets}.token`)],
        ['update where', () => app(t.secrets).where('token', 'x').update({ name: 'z' })],
        ['delete where', () => app(t.secrets).where('note', 'x').del()],
        ['first where', () => app(t.secrets).where('token', 'x').first()],
        ['trx where', () => app.transaction((trx) => trx(t.secrets).where('token', 'x'))],
        ['subquery where', () => app(t.plain).whereIn('name', app(t.secrets).select('token'))],
        [
          'subquery column',
          () => app(t.plain).select(app(t.secrets).select('token').limit(1).as('x')),
        ],
      ];
      for (const [name, query] of cases) {
        const error = await Promise.resolve()
          .then(query)
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error, name).toBeInstanceOf(CmekQueryError);
        expect((error as CmekQueryError).field, name).toMatch(/^(token|note)$/);
        expect((error as Error).message, name).not.toContain('tok-');
      }
    });

    it('count() of an encrypted column and counts under an encrypted table still work', async () => {
      const [row] = await app(t.secrets).count({ n: 'token' });
      expect(Number(row!.n)).toBe(2);
    });

    it('ciphertext reaching the result through raw SQL is refused, never returned as data', async () => {
      await expect(
        app(t.secrets).select(app.raw('token as hidden')).where({ name: 'a' }),
      ).rejects.toMatchObject({ code: 'CMEK_QUERY', field: 'hidden' });
    });

    itWhen(db.name === 'postgres')(
      'rows in array mode (pg rowMode) are refused rather than returned encrypted',
      async () => {
        await expect(
          app(t.secrets).select('name', 'token').options({ rowMode: 'array' }),
        ).rejects.toMatchObject({ code: 'CMEK_QUERY' });
      },
    );

    itWhen(db.name === 'mariadb')(
      'nestTables rows (mysql) are refused rather than returned encrypted',
      async () => {
        await expect(
          app(t.secrets).select('name', 'token').options({ nestTables: true }),
        ).rejects.toMatchObject({ code: 'CMEK_QUERY' });
      },
    );

    it('knex.raw is not intercepted; decryptRows decrypts its rows', async () => {
      const result = await app.raw(`select name, token, note from ${t.secrets} where name = ?`, [
        'a',
      ]);
      const rows: Record<string, unknown>[] =
        db.name === 'postgres' ? result.rows : db.name === 'mariadb' ? result[0] : result;
      expect(rows[0]!.token).toMatch(/^cmek:v1:/);
      await app.decryptRows(t.secrets, rows);
      expect(rows[0]).toEqual({ name: 'a', token: 'tok-a', note: 'note-a' });
    });

    it('a ciphertext copied into another column does not decrypt there (context binding)', async () => {
      const { token } = await plain(t.secrets).where({ name: 'a' }).first('token');
      await plain(t.secrets).where({ name: 'c' }).update({ note: token });
      try {
        await expect(app(t.secrets).where({ name: 'c' }).first('note')).rejects.toThrow(
          CmekDecryptionError,
        );
      } finally {
        await app(t.secrets).where({ name: 'c' }).update({ note: 'note-c' });
      }
    });

    // Knex streams PostgreSQL results only with the optional pg-query-stream package.
    itWhen(db.name !== 'postgres')('stream() decrypts each row', async () => {
      const rows: Record<string, unknown>[] = [];
      for await (const row of app(t.secrets).select('name', 'token').orderBy('name').stream()) {
        rows.push(row as Record<string, unknown>);
      }
      expect(rows.map((r) => r.token)).toEqual(['tok-a', 'tok-b', null]);
    });

    it('a builder started on a table that is not configured still decrypts a configured join', async () => {
      const rows = await app(`${t.plain} as p`)
        .join(`${t.secrets} as s`, 's.name', app.raw('?', ['b']))
        .select('p.name', 's.token as secret');
      expect(rows).toEqual([{ name: 'p', secret: 'tok-b' }]);
    });

    it('clone(), transactionProvider() and withUserParams() keep the wrapping', async () => {
      const base = app(t.secrets).where({ name: 'a' });
      expect(await base.clone().first('token')).toEqual({ token: 'tok-a' });
      const provider = app.transactionProvider();
      const trx = await provider();
      try {
        expect(await trx(t.secrets).where({ name: 'a' }).pluck('token')).toEqual(['tok-a']);
      } finally {
        await trx.commit();
      }
      const withParams = app.withUserParams({ tenant: 'x' });
      expect(await withParams(t.secrets).where({ name: 'b' }).first('token')).toEqual({
        token: 'tok-b',
      });
    });

    it('a CTE or union selecting an encrypted column is refused', async () => {
      await expect(
        app.with('x', app(t.secrets).select('token')).select('*').from('x'),
      ).rejects.toMatchObject({ code: 'CMEK_QUERY', field: 'token' });
      await expect(
        app(t.plain).select('token').union(app(t.secrets).select('token')),
      ).rejects.toMatchObject({ code: 'CMEK_QUERY', field: 'token' });
    });

    it('legacy plaintext rows follow the envelope plaintext policy', async () => {
      await plain(t.secrets).insert({ name: 'legacy', token: 'legacy-plain' });
      try {
        expect(await app(t.secrets).where({ name: 'legacy' }).first('token')).toEqual({
          token: 'legacy-plain',
        });
        const strict = withCmek(wrappedBase, {
          envelope: createEnvelope({ kek: countingProvider(), plaintextPolicy: 'reject' }),
          tables: { [t.secrets]: { columns: ['token', 'note'] } },
        });
        await expect(strict(t.secrets).where({ name: 'legacy' }).first('token')).rejects.toThrow(
          CmekPlaintextRejectedError,
        );
      } finally {
        await plain(t.secrets).where({ name: 'legacy' }).del();
      }
    });

    it('queries on tables that are not configured run unchanged', async () => {
      expect(await app(t.plain).where('token', 'plain-token').first('name')).toEqual({ name: 'p' });
      expect(await app(t.plain).orderBy('token').pluck('token')).toEqual(['plain-token']);
    });
  });
}
