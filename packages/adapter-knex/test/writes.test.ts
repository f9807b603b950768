/**
 * Every write path of the wrapped Knex, on each real database: the stored value is read back
 * through a separate, plain Knex instance and must be a cmek token that decrypts, under the
 * column's context, to what the application wrote.
 */
import { createEnvelope, type Envelope } from '@cmek/core';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekKnex, withCmek } from '../src/index';
import { databases, itWhen, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';
import { createTables, dropTables, type Tables } from './support/schema';

for (const db of databases) {
  describe.skipIf(!db.available)(`writes on ${db.name}`, () => {
    let plain: Knex;
    let wrappedBase: Knex;
    let app: CmekKnex;
    let envelope: Envelope;
    let t: Tables;

    beforeAll(async () => {
      plain = db.connect();
      wrappedBase = db.connect();
      t = await createTables(plain, uniquePrefix('w'));
      envelope = createEnvelope({ kek: countingProvider() });
      app = withCmek(wrappedBase, {
        envelope,
        tables: { [t.secrets]: { columns: ['token', 'note'] }, [t.owners]: { columns: ['token'] } },
      });
    });
    afterAll(async () => {
      await dropTables(plain, t);
      await Promise.all([plain.destroy(), wrappedBase.destroy()]);
    });
    beforeEach(async () => {
      await plain(t.secrets).del();
      await plain(t.owners).del();
      await plain(t.plain).del();
    });

    // MySQL / MariaDB take no conflict target (ON DUPLICATE KEY UPDATE).
    const onConflict = (query: Knex.QueryBuilder) =>
      db.name === 'mariadb' ? query.onConflict() : query.onConflict('name');

    /** The stored row, read around the adapter. */
    const storedRow = async (name: string): Promise<Record<string, unknown>> => {
      const row = (await plain(t.secrets).where({ name }).first()) as Record<string, unknown>;
      expect(row).toBeDefined();
      return row;
    };
    /** Asserts the stored column holds a token that opens to `expected` under its context. */
    const expectStored = async (name: string, column: string, expected: string | null) => {
      const value = (await storedRow(name))[column];
      if (expected === null) {
        expect(value).toBeNull();
        return;
      }
      expect(typeof value).toBe('string');
      expect(value as string).toMatch(/^cmek:v1:/);
      expect(value).not.toBe(expected);
      const opened = await envelope.decrypt(value as string, {
        context: { field: `${t.secrets}.${column}` },
      });
      expect(opened).toBe(expected);
    };

    it('insert of one row encrypts the configured columns only', async () => {
      const row = { name: 'one', token: 'tok-one', note: 'note-one', owner_id: 7 };
      await app(t.secrets).insert(row);
      await expectStored('one', 'token', 'tok-one');
      await expectStored('one', 'note', 'note-one');
      const stored = await storedRow('one');
      expect(stored.name).toBe('one');
      expect(Number(stored.owner_id)).toBe(7);
      // the caller's object still holds its plaintext
      expect(row.token).toBe('tok-one');
    });

    it('insert of an array encrypts each row; null stays null and the empty string is encrypted', async () => {
      await app(t.secrets).insert([
        { name: 'a', token: 'tok-a', note: null },
        { name: 'b', token: '', note: 'note-b' },
        { name: 'c' },
      ]);
      await expectStored('a', 'token', 'tok-a');
      await expectStored('a', 'note', null);
      await expectStored('b', 'token', '');
      await expectStored('b', 'note', 'note-b');
      await expectStored('c', 'token', null);
    });

    it('insert started from knex.insert().into() and from knex.table() is encrypted', async () => {
      await app.insert({ name: 'into', token: 'tok-into' }).into(t.secrets);
      await app.table(t.secrets).insert({ name: 'table', token: 'tok-table' });
      await app.queryBuilder().from(t.secrets).insert({ name: 'qb', token: 'tok-qb' });
      await expectStored('into', 'token', 'tok-into');
      await expectStored('table', 'token', 'tok-table');
      await expectStored('qb', 'token', 'tok-qb');
    });

    it('update in object form and in update(column, value) form is encrypted', async () => {
      await app(t.secrets).insert([
        { name: 'u1', token: 'old' },
        { name: 'u2', token: 'old' },
      ]);
      const n1 = await app(t.secrets).where({ name: 'u1' }).update({ token: 'new-1', note: 'n' });
      const n2 = await app(t.secrets).where('name', 'u2').update('token', 'new-2');
      expect(n1).toBe(1);
      expect(n2).toBe(1);
      await expectStored('u1', 'token', 'new-1');
      await expectStored('u1', 'note', 'n');
      await expectStored('u2', 'token', 'new-2');
    });

    it('onConflict().merge() reuses the encrypted insert values', async () => {
      await app(t.secrets).insert({ name: 'm', token: 'first' });
      await onConflict(
        app(t.secrets).insert({ name: 'm', token: 'second', note: 'merged' }),
      ).merge();
      await expectStored('m', 'token', 'second');
      await expectStored('m', 'note', 'merged');
    });

    it('onConflict().merge([columns]) merges only the listed, encrypted columns', async () => {
      await app(t.secrets).insert({ name: 'ml', token: 'first', note: 'keep' });
      await onConflict(
        app(t.secrets).insert({ name: 'ml', token: 'second', note: 'ignored' }),
      ).merge(['token']);
      await expectStored('ml', 'token', 'second');
      await expectStored('ml', 'note', 'keep');
    });

    it('onConflict().merge({ column: value }) encrypts the merge values', async () => {
      await app(t.secrets).insert({ name: 'mo', token: 'first' });
      await onConflict(app(t.secrets).insert({ name: 'mo', token: 'not-this' })).merge({
        token: 'merged-value',
      });
      await expectStored('mo', 'token', 'merged-value');
    });

    itWhen(db.name === 'mariadb')('upsert (REPLACE INTO on MySQL) is encrypted', async () => {
      await app(t.secrets).insert({ name: 'up', token: 'first' });
      const id = (await storedRow('up')).id;
      await (app(t.secrets) as unknown as { upsert(v: object): Promise<unknown> }).upsert({
        id,
        name: 'up',
        token: 'replaced',
      });
      await expectStored('up', 'token', 'replaced');
    });

    itWhen(db.name === 'mariadb')(
      'an update join (MySQL) encrypts a qualified column of the joined table',
      async () => {
        await app(t.secrets).insert({ name: 'uj', token: 'old' });
        await app(t.plain).insert({ name: 'uj' });
        await app(t.plain)
          .join(t.secrets, `${t.secrets}.name`, `${t.plain}.name`)
          .where(`${t.plain}.name`, 'uj')
          .update({ [`${t.secrets}.note`]: 'joined-note', [`${t.plain}.token`]: 'plain-side' });
        await expectStored('uj', 'note', 'joined-note');
        expect((await plain(t.plain).where({ name: 'uj' }).first()).token).toBe('plain-side');
      },
    );

    it('inserts through transaction(callback) and a transaction handle are encrypted', async () => {
      await app.transaction(async (trx) => {
        await trx(t.secrets).insert({ name: 'tx-cb', token: 'tok-cb' });
        await trx(t.secrets).where({ name: 'tx-cb' }).update({ note: 'note-cb' });
      });
      const trx = await app.transaction();
      await trx.insert({ name: 'tx-handle', token: 'tok-handle' }).into(t.secrets);
      await trx.commit();
      await expectStored('tx-cb', 'token', 'tok-cb');
      await expectStored('tx-cb', 'note', 'note-cb');
      await expectStored('tx-handle', 'token', 'tok-handle');
    });

    it('a builder from the wrapped knex is encrypted inside a plain transaction (transacting)', async () => {
      await plain.transaction(async (trx) => {
        await app(t.secrets).insert({ name: 'transacting', token: 'tok-t' }).transacting(trx);
      });
      await expectStored('transacting', 'token', 'tok-t');
    });

    it('savepoints (nested transactions) are wrapped too', async () => {
      await app.transaction(async (trx) => {
        await trx.transaction(async (inner) => {
          await inner(t.secrets).insert({ name: 'nested', token: 'tok-nested' });
        });
      });
      await expectStored('nested', 'token', 'tok-nested');
    });

    it('batchInsert encrypts every chunk', async () => {
      const rows = Array.from({ length: 25 }, (_, i) => ({
        name: `batch-${i}`,
        token: `tok-${i}`,
      }));
      await app.batchInsert(t.secrets, rows, 10);
      await expectStored('batch-0', 'token', 'tok-0');
      await expectStored('batch-24', 'token', 'tok-24');
      expect((await plain(t.secrets).count({ n: '*' }))[0]!.n).toEqual(
        db.name === 'postgres' ? '25' : 25,
      );
    });

    it('a token of the column is stored as it is; a token of another column is refused', async () => {
      await app(t.secrets).insert({ name: 'copy-src', token: 'original' });
      const stored = (await storedRow('copy-src')).token as string;
      await app(t.secrets).insert({ name: 'copy-dst', token: stored });
      expect((await storedRow('copy-dst')).token).toBe(stored);
      await expectStored('copy-dst', 'token', 'original');
      // the token of `token` written to `note`: it would never decrypt there
      await expect(
        app(t.secrets).where({ name: 'copy-dst' }).update({ note: stored }),
      ).rejects.toMatchObject({ code: 'CMEK_INVALID_INPUT' });
      await expectStored('copy-dst', 'note', null);
    });

    it('a rejected write (raw value for an encrypted column) writes nothing', async () => {
      // a value Knex would write as SQL is no string: refused as invalid input, naming the column
      await expect(
        app(t.secrets).insert({ name: 'raw', token: app.raw("'leak'") }),
      ).rejects.toMatchObject({
        code: 'CMEK_INVALID_INPUT',
        message: expect.stringContaining(`${t.secrets}.token`),
      });
      await expect(
        app(t.secrets)
          .where({ name: 'x' })
          .update({ token: app.ref('name') }),
      ).rejects.toMatchObject({
        code: 'CMEK_INVALID_INPUT',
        message: expect.stringContaining(`${t.secrets}.token`),
      });
      await expect(app(t.secrets).where({ name: 'x' }).increment('token', 1)).rejects.toMatchObject(
        { code: 'CMEK_QUERY', field: 'token' },
      );
      expect(await plain(t.secrets).where({ name: 'raw' })).toHaveLength(0);
    });

    it('an insert from a subquery into a configured table is refused', async () => {
      await expect(
        app(t.secrets).insert(app(t.plain).select('name', 'token')),
      ).rejects.toMatchObject({ code: 'CMEK_QUERY' });
    });

    it('encryptRow covers knex.raw writes, which are not intercepted', async () => {
      const row = await app.encryptRow(t.secrets, { name: 'raw-write', token: 'tok-raw' });
      await app.raw(`insert into ${t.secrets} (name, token) values (?, ?)`, [
        row.name as string,
        row.token as string,
      ]);
      await expectStored('raw-write', 'token', 'tok-raw');
      // and raw SQL itself is not intercepted: a raw plaintext write stays plaintext
      await app.raw(`insert into ${t.secrets} (name, token) values (?, ?)`, ['raw-plain', 'p']);
      expect((await storedRow('raw-plain')).token).toBe('p');
    });

    itWhen(db.returning)('insert / update ... returning decrypts the returned rows', async () => {
      const inserted = await app(t.secrets)
        .insert({ name: 'ret', token: 'tok-ret', note: 'note-ret' })
        .returning(['id', 'token', 'note as n']);
      expect(inserted).toEqual([{ id: expect.anything(), token: 'tok-ret', n: 'note-ret' }]);
      const updated = await app(t.secrets)
        .where({ name: 'ret' })
        .update({ token: 'tok-ret-2' })
        .returning('*');
      expect(updated[0]).toMatchObject({ name: 'ret', token: 'tok-ret-2', note: 'note-ret' });
      await expectStored('ret', 'token', 'tok-ret-2');
      if (db.name === 'postgres') {
        const deleted = await app(t.secrets).where({ name: 'ret' }).del(['token']);
        expect(deleted).toEqual([{ token: 'tok-ret-2' }]);
      }
    });

    it('tables that are not configured are written as they are', async () => {
      await app(t.plain).insert({ name: 'p', token: 'plain-token' });
      const row = await plain(t.plain).where({ name: 'p' }).first();
      expect(row.token).toBe('plain-token');
    });
  });
}
