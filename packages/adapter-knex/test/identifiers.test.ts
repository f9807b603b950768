/**
 * How table, alias and column names are matched to the configuration, on each real database:
 * in another letter case than configured (SQLite matches identifiers case-insensitively, and
 * MySQL / MariaDB column names, and table names with `lower_case_table_names`), and with or
 * without a schema. A name the adapter did not recognise would be stored as plaintext: every
 * write is read back around the adapter, through a plain Knex.
 */
import { CmekConfigError, CmekQueryError, createEnvelope, type Envelope } from '@cmek/core';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CmekKnex, withCmek } from '../src/index';
import { databases, itWhen, uniquePrefix } from './support/databases';
import { type CaseTables, createCaseTables, dropCaseTables } from './support/identifier-tables';
import { knexFactory } from './support/knex';
import { countingProvider } from './support/provider';

describe('configured names that differ only in letter case', () => {
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: ':memory:' },
    useNullAsDefault: true,
  });
  const envelope = createEnvelope({ kek: countingProvider() });
  afterAll(() => knex.destroy());

  it('configured names that differ only in letter case are a CmekConfigError', () => {
    const cases = [
      { t: { columns: ['token', 'Token'] } },
      { t: { columns: ['access_token', 'ACCESS_TOKEN'] } },
      { integrations: { columns: ['a'] }, Integrations: { columns: ['b'] } },
      { t: { columns: ['id'], primaryKey: 'ID' } },
    ];
    for (const tables of cases) {
      expect(() => withCmek(knex, { envelope, tables }), JSON.stringify(tables)).toThrow(
        CmekConfigError,
      );
    }
    // the same spelling twice is not an error
    expect(() =>
      withCmek(knex, { envelope, tables: { t: { columns: ['a', 'a'] } } }),
    ).not.toThrow();
  });

  it('a table named without its schema that two schema.table keys configure is refused', async () => {
    const app = withCmek(knex, {
      envelope,
      tables: { 'one.shared': { columns: ['secret'] }, 'two.shared': { columns: ['secret'] } },
    });
    await expect(app('SHARED').insert({ secret: 'needle' })).rejects.toMatchObject({
      code: 'CMEK_QUERY',
    });
    await expect(app.encryptRow('shared', { secret: 'needle' })).rejects.toMatchObject({
      code: 'CMEK_QUERY',
    });
    // named with a schema, each is its own table
    const row = await app.encryptRow('two.shared', { secret: 'value' });
    expect(
      await envelope.decrypt(row.secret as string, { context: { field: 'two.shared.secret' } }),
    ).toBe('value');
  });
});

for (const db of databases) {
  describe.skipIf(!db.available)(`identifier case on ${db.name}`, () => {
    let plain: Knex;
    let wrappedBase: Knex;
    let app: CmekKnex;
    let envelope: Envelope;
    let t: CaseTables;
    let schema: string;

    beforeAll(async () => {
      plain = db.connect();
      wrappedBase = db.connect();
      t = await createCaseTables(plain, uniquePrefix('i'), db.name === 'postgres');
      envelope = createEnvelope({ kek: countingProvider() });
      app = withCmek(wrappedBase, {
        envelope,
        tables: {
          [t.secrets]: { columns: ['token', 'note'] },
          [t.owners]: { columns: ['token'] },
          [t.declared]: { columns: ['secret_value'] },
        },
      });
      if (db.name === 'sqlite') schema = 'main';
      else if (db.name === 'postgres') schema = 'public';
      else {
        const [rows] = (await plain.raw('select database() as d')) as [{ d: string }[]];
        schema = rows[0]!.d;
      }
    });
    afterAll(async () => {
      await dropCaseTables(plain, t);
      await Promise.all([plain.destroy(), wrappedBase.destroy()]);
    });

    // MySQL / MariaDB take no conflict target (ON DUPLICATE KEY UPDATE).
    const onConflict = (query: Knex.QueryBuilder) =>
      db.name === 'mariadb' ? query.onConflict() : query.onConflict('name');

    /**
     * Asserts the stored `column` of row `name` in `table` (as spelled, read through the plain
     * Knex) is a token that opens to `expected` under the context of `configured`.
     */
    const expectStored = async (
      table: string,
      name: string,
      column: string,
      expected: string,
      configured: string,
    ): Promise<void> => {
      const row = (await plain(table).where({ name }).first()) as Record<string, unknown>;
      expect(row, `${table} ${name}`).toBeDefined();
      const value = row[column];
      expect(typeof value, `${table}.${column}`).toBe('string');
      expect(value as string).toMatch(/^cmek:v1:/);
      expect(await envelope.decrypt(value as string, { context: { field: configured } })).toBe(
        expected,
      );
    };

    it('a table named in another letter case is encrypted on insert, update and merge', async () => {
      const S = t.upper.secrets;
      const context = `${t.secrets}.token`;
      await app(S).insert({ name: 'tc-insert', token: 'tc-token-1' });
      await expectStored(S, 'tc-insert', 'token', 'tc-token-1', context);

      await app(S).where({ name: 'tc-insert' }).update({ token: 'tc-token-2', note: 'tc-note' });
      await expectStored(S, 'tc-insert', 'token', 'tc-token-2', context);
      await expectStored(S, 'tc-insert', 'note', 'tc-note', `${t.secrets}.note`);

      await onConflict(app(S).insert({ name: 'tc-insert', token: 'tc-token-3' })).merge();
      await expectStored(S, 'tc-insert', 'token', 'tc-token-3', context);

      await app.insert({ name: 'tc-into', token: 'tc-into-token' }).into(S);
      await expectStored(S, 'tc-into', 'token', 'tc-into-token', context);

      expect(await app(S).where({ name: 'tc-insert' }).first('token', 'note')).toEqual({
        token: 'tc-token-3',
        note: 'tc-note',
      });
    });

    itWhen(db.name !== 'postgres')(
      'columns named in another letter case are encrypted on insert and update',
      async () => {
        await app(t.secrets).insert({ name: 'cc', TOKEN: 'cc-token', Note: 'cc-note' });
        await expectStored(t.secrets, 'cc', 'token', 'cc-token', `${t.secrets}.token`);
        await expectStored(t.secrets, 'cc', 'note', 'cc-note', `${t.secrets}.note`);

        await app(t.secrets).where({ name: 'cc' }).update({ Token: 'cc-token-2' });
        await expectStored(t.secrets, 'cc', 'token', 'cc-token-2', `${t.secrets}.token`);
        await app(t.secrets).where({ name: 'cc' }).update('NOTE', 'cc-note-2');
        await expectStored(t.secrets, 'cc', 'note', 'cc-note-2', `${t.secrets}.note`);

        await app(t.secrets).insert([
          { name: 'cc-a', ToKeN: 'cc-a-token' },
          { name: 'cc-b', ToKeN: 'cc-b-token' },
        ]);
        await expectStored(t.secrets, 'cc-a', 'token', 'cc-a-token', `${t.secrets}.token`);
        await expectStored(t.secrets, 'cc-b', 'token', 'cc-b-token', `${t.secrets}.token`);

        if (db.name === 'mariadb') {
          // an update join (MySQL) writing a qualified column of the joined table
          await app(t.owners).insert({ name: 'cc' });
          await app(t.owners)
            .join(t.secrets, `${t.secrets}.name`, `${t.owners}.name`)
            .where(`${t.owners}.name`, 'cc')
            .update({ [`${t.secrets}.NOTE`]: 'cc-joined-note' });
          await expectStored(t.secrets, 'cc', 'note', 'cc-joined-note', `${t.secrets}.note`);
          await app(t.secrets).where({ name: 'cc' }).update('NOTE', 'cc-note-2');
        }

        // and the wrapped knex reads them back as plaintext
        expect(await app(t.secrets).where({ name: 'cc' }).first('token', 'note')).toEqual({
          token: 'cc-token-2',
          note: 'cc-note-2',
        });
      },
    );

    itWhen(db.name !== 'postgres')(
      'merge and upsert values named in another letter case are encrypted',
      async () => {
        const context = `${t.secrets}.token`;
        await app(t.secrets).insert({ name: 'mc', token: 'first' });
        await onConflict(app(t.secrets).insert({ name: 'mc', TOKEN: 'merged-insert' })).merge();
        await expectStored(t.secrets, 'mc', 'token', 'merged-insert', context);

        await onConflict(app(t.secrets).insert({ name: 'mc', token: 'unused' })).merge({
          Token: 'merged-object',
          NOTE: 'merged-note',
        });
        await expectStored(t.secrets, 'mc', 'token', 'merged-object', context);
        await expectStored(t.secrets, 'mc', 'note', 'merged-note', `${t.secrets}.note`);

        await onConflict(
          app(t.secrets).insert({ name: 'mc', TOKEN: 'merged-listed', note: 'not-merged' }),
        ).merge(['TOKEN']);
        await expectStored(t.secrets, 'mc', 'token', 'merged-listed', context);
        await expectStored(t.secrets, 'mc', 'note', 'merged-note', `${t.secrets}.note`);

        if (db.name === 'mariadb') {
          const { id } = (await plain(t.secrets).where({ name: 'mc' }).first('id')) as {
            id: number;
          };
          await (app(t.secrets) as unknown as { upsert(v: object): Promise<unknown> }).upsert({
            id,
            name: 'mc',
            ToKen: 'upserted',
          });
          await expectStored(t.secrets, 'mc', 'token', 'upserted', context);
        }
      },
    );

    itWhen(db.name === 'sqlite')(
      'returning columns named in another letter case are decrypted',
      async () => {
        // SQLite names the returned columns as the table declares them: `token`, not `TOKEN`
        const inserted = await app(t.secrets)
          .insert({ name: 'ret-case', TOKEN: 'ret-token', note: 'ret-note' })
          .returning(['TOKEN', 'Note as n']);
        expect(inserted).toEqual([{ token: 'ret-token', n: 'ret-note' }]);
        await expectStored(t.secrets, 'ret-case', 'token', 'ret-token', `${t.secrets}.token`);
        const updated = await app(t.upper.secrets)
          .where({ name: 'ret-case' })
          .update({ Token: 'ret-token-2' })
          .returning('*');
        expect(updated[0]).toMatchObject({ token: 'ret-token-2', note: 'ret-note' });
      },
    );

    itWhen(db.name !== 'postgres')(
      'select, first and pluck of columns named in another letter case decrypt',
      async () => {
        await app(t.owners).insert({ name: 'rc-owner', TOKEN: 'rc-owner-token' });
        const { id: ownerId } = (await plain(t.owners).where({ name: 'rc-owner' }).first('id')) as {
          id: number;
        };
        await app(t.secrets).insert({
          name: 'rc',
          token: 'rc-token',
          note: 'rc-note',
          owner_id: ownerId,
        });
        // SQLite returns a column under its declared name; MySQL / MariaDB as the query spells it
        const key = (name: string) => (db.name === 'sqlite' ? name.toLowerCase() : name);
        const rows = await app(t.secrets)
          .select('NAME', 'TOKEN', 'Note as n', { tk: 'ToKeN' })
          .where({ name: 'rc' });
        expect(rows).toEqual([
          { [key('NAME')]: 'rc', [key('TOKEN')]: 'rc-token', n: 'rc-note', tk: 'rc-token' },
        ]);
        expect(await app(t.secrets).where({ name: 'rc' }).first('Note')).toEqual({
          [key('Note')]: 'rc-note',
        });
        expect(
          await app(t.secrets).where({ name: 'rc' }).first(`${t.secrets}.TOKEN as secret`),
        ).toEqual({ secret: 'rc-token' });
        if (db.name === 'mariadb') {
          // (Knex's pluck reads the key as spelled, which SQLite does not return)
          expect(await app(t.secrets).where({ name: 'rc' }).pluck('TOKEN')).toEqual(['rc-token']);
        }
        expect(await app(t.secrets).where({ name: 'rc' }).pluck('token')).toEqual(['rc-token']);
        const joined = await app(t.secrets)
          .join(t.owners, `${t.owners}.id`, `${t.secrets}.owner_id`)
          .select(`${t.owners}.TOKEN as owner`, `${t.secrets}.Token as secret`, 'NOTE')
          .where(`${t.secrets}.name`, 'rc');
        expect(joined).toEqual([
          { owner: 'rc-owner-token', secret: 'rc-token', [key('NOTE')]: 'rc-note' },
        ]);
      },
    );

    it('a table named in another letter case decrypts through aliases, joins, withSchema and schema.table', async () => {
      const S = t.upper.secrets;
      const O = t.upper.owners;
      await app(O).insert({ name: 'ada', token: 'owner-token' });
      const { id: ownerId } = (await plain(O).where({ name: 'ada' }).first('id')) as { id: number };
      await app(S).insert({ name: 'ta', token: 'ta-token', note: 'ta-note', owner_id: ownerId });
      await expectStored(O, 'ada', 'token', 'owner-token', `${t.owners}.token`);

      expect(await app(`${S} as s`).select('s.token as secret').where('s.name', 'ta')).toEqual([
        { secret: 'ta-token' },
      ]);
      expect(await app({ x: S }).select('x.note').where('x.name', 'ta')).toEqual([
        { note: 'ta-note' },
      ]);
      expect(
        await app(`${S} as s`)
          .join(`${O} as o`, 'o.id', 's.owner_id')
          .select('s.name', 's.token as secret', 'o.token as owner')
          .where('s.name', 'ta'),
      ).toEqual([{ name: 'ta', secret: 'ta-token', owner: 'owner-token' }]);
      expect(
        await app(S)
          .join(O, `${O}.id`, `${S}.owner_id`)
          .select(`${S}.token as secret`, `${O}.*`)
          .where(`${S}.name`, 'ta'),
      ).toEqual([{ secret: 'ta-token', id: ownerId, name: 'ada', token: 'owner-token' }]);
      expect(await app(S).withSchema(schema).where({ name: 'ta' }).first('token')).toEqual({
        token: 'ta-token',
      });
      expect(await app(`${schema}.${S}`).where({ name: 'ta' }).first('note')).toEqual({
        note: 'ta-note',
      });
      await app(S).withSchema(schema).where({ name: 'ta' }).update({ note: 'ta-note-2' });
      await expectStored(S, 'ta', 'note', 'ta-note-2', `${t.secrets}.note`);
    });

    itWhen(db.name === 'sqlite')(
      'a qualifier, alias or schema in another letter case than the query declares decrypts',
      async () => {
        // SQLite matches aliases, table qualifiers and schema names case-insensitively too
        await app(t.secrets).insert({ name: 'qa', token: 'qa-token', note: 'qa-note' });
        expect(
          await app(`${t.secrets} as s`).select('S.TOKEN as secret').where('S.name', 'qa'),
        ).toEqual([{ secret: 'qa-token' }]);
        expect(
          await app(t.secrets).select(`${t.upper.secrets}.note as n`).where({ name: 'qa' }),
        ).toEqual([{ n: 'qa-note' }]);
        expect(await app(`${t.secrets} as s`).select('S.*').where('s.name', 'qa')).toEqual([
          expect.objectContaining({ token: 'qa-token', note: 'qa-note' }),
        ]);
        expect(
          await app(t.secrets).withSchema('MAIN').where({ name: 'qa' }).first('Token'),
        ).toEqual({ token: 'qa-token' });
        await app(`MAIN.${t.upper.secrets}`).insert({ name: 'qa-2', ToKeN: 'qa-2-token' });
        await expectStored(t.secrets, 'qa-2', 'token', 'qa-2-token', `${t.secrets}.token`);
      },
    );

    it('result keys the database returns in another letter case are decrypted', async () => {
      // the table declares `Secret_Value`; withCmek is configured with `secret_value`
      const context = `${t.declared}.secret_value`;
      await app(t.declared).insert({ name: 'rk', Secret_Value: 'rk-secret' });
      await expectStored(t.declared, 'rk', 'Secret_Value', 'rk-secret', context);
      // `select *` returns the declared name, which no query spelled
      expect(await app(t.declared).where({ name: 'rk' }).first()).toMatchObject({
        Secret_Value: 'rk-secret',
      });
      expect(await app(t.declared).select().where({ name: 'rk' })).toEqual([
        expect.objectContaining({ Secret_Value: 'rk-secret' }),
      ]);
      if (db.name !== 'postgres') {
        // (Knex streams PostgreSQL results only with the optional pg-query-stream package)
        const streamed: unknown[] = [];
        for await (const row of app(t.declared).select('*').where({ name: 'rk' }).stream()) {
          streamed.push(row);
        }
        expect(streamed).toEqual([expect.objectContaining({ Secret_Value: 'rk-secret' })]);
        // on SQLite `select secret_value` also comes back as `Secret_Value`
        await app(t.declared).insert({ name: 'rk-2', secret_value: 'rk-2-secret' });
        await expectStored(t.declared, 'rk-2', 'Secret_Value', 'rk-2-secret', context);
        const [row] = await app(t.declared).select('secret_value').where({ name: 'rk-2' });
        expect(Object.values(row as object)).toEqual(['rk-2-secret']);
      }
    });

    it('encryptRow and decryptRows match table and column names in another letter case', async () => {
      const row = await app.encryptRow(t.upper.secrets, { name: 'er', TOKEN: 'er-token' });
      expect(row.TOKEN).toMatch(/^cmek:v1:/);
      await plain(t.secrets).insert({ name: 'er', token: row.TOKEN });
      // unquoted in raw SQL: every database folds it to the declared column
      const result = await app.raw(`select name, TOKEN from ${t.secrets} where name = ?`, ['er']);
      const rows: Record<string, unknown>[] =
        db.name === 'postgres' ? result.rows : db.name === 'mariadb' ? result[0] : result;
      expect(Object.values(rows[0]!)[1]).toMatch(/^cmek:v1:/);
      await app.decryptRows(t.upper.secrets, rows);
      expect(Object.values(rows[0]!)).toEqual(['er', 'er-token']);
    });

    it('a table configured with its schema is encrypted when a query names it without one', async () => {
      const keyed = withCmek(wrappedBase, {
        envelope,
        tables: { [`${schema}.${t.secrets}`]: { columns: ['token'] } },
      });
      const context = `${schema}.${t.secrets}.token`;
      await keyed(t.secrets).insert({ name: 'sk', token: 'sk-token' });
      await expectStored(t.secrets, 'sk', 'token', 'sk-token', context);
      await keyed(t.upper.secrets).insert({ name: 'sk-upper', token: 'sk-upper-token' });
      await expectStored(t.upper.secrets, 'sk-upper', 'token', 'sk-upper-token', context);
      expect(await keyed(t.secrets).where({ name: 'sk' }).first('token')).toEqual({
        token: 'sk-token',
      });
      await expect(keyed(t.secrets).where('token', 'needle')).rejects.toMatchObject({
        code: 'CMEK_QUERY',
        field: 'token',
      });
    });

    it('filters, sorts and groups naming an encrypted column in another letter case are refused', async () => {
      const S = t.upper.secrets;
      const SCHEMA = schema.toUpperCase();
      // a configured key with a schema, in yet another case
      const keyed = withCmek(wrappedBase, {
        envelope,
        tables: { [`${SCHEMA}.${S}`]: { columns: ['TOKEN'] } },
      });
      const cases: [string, () => PromiseLike<unknown>][] = [
        [
          'schema key, withSchema',
          () => keyed(t.secrets).withSchema(schema).where('token', 'needle'),
        ],
        [
          'schema key, schema.table',
          () => keyed(`${schema}.${t.secrets}`).where('Token', 'needle'),
        ],
        ['where', () => app(t.secrets).where('TOKEN', 'needle')],
        ['where object', () => app(t.secrets).where({ Note: 'needle' })],
        ['where qualified', () => app(t.secrets).whereIn(`${t.secrets}.ToKeN`, ['needle'])],
        ['whereNot', () => app(t.secrets).whereNot('NOTE', 'needle')],
        ['nested where', () => app(t.secrets).where((q) => q.where('Token', 'needle'))],
        ['orderBy alias', () => app(`${t.secrets} as s`).orderBy('s.NOTE')],
        ['orderBy alias case', () => app(`${t.secrets} as s`).orderBy('S.note')],
        ['groupBy', () => app(t.secrets).select('name').groupBy('Token')],
        ['having', () => app(t.secrets).select('name').groupBy('name').having('NOTE', '=', 'x')],
        ['distinct', () => app(t.secrets).distinct('TOKEN')],
        ['max', () => app(t.secrets).max('Note')],
        ['join on', () => app(t.secrets).join(t.owners, `${t.owners}.TOKEN`, `${t.secrets}.Token`)],
        ['increment', () => app(t.secrets).where({ name: 'x' }).increment('TOKEN', 1)],
        ['table case', () => app(S).where('token', 'needle')],
        ['table and column case', () => app(S).where('TOKEN', 'needle')],
        ['table case alias', () => app(`${S} as x`).where('X.token', 'needle')],
        ['table qualifier case', () => app(t.secrets).where(`${S}.note`, 'needle')],
        ['withSchema case', () => app(S).withSchema(SCHEMA).where('note', 'needle')],
        ['schema.table case', () => app(`${SCHEMA}.${S}`).where('Note', 'needle')],
        ['schema.table.column', () => app(t.secrets).where(`${schema}.${t.secrets}.token`, 'x')],
        ['schema.table.column case', () => app(t.secrets).where(`${SCHEMA}.${S}.NOTE`, 'x')],
        ['update where', () => app(S).where('TOKEN', 'needle').update({ name: 'z' })],
        ['delete where', () => app(t.secrets).where({ NOTE: 'needle' }).del()],
        ['first where', () => app(t.secrets).where('Token', 'needle').first()],
        ['subquery', () => app(t.owners).whereIn('name', app(S).select('TOKEN'))],
        [
          'two aliases differing only in case',
          () =>
            app(`${t.secrets} as s`)
              .join(`${t.owners} as S`, 'S.id', 's.owner_id')
              .select('S.token'),
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
        expect((error as CmekQueryError).code, name).toBe('CMEK_QUERY');
        expect((error as CmekQueryError).field, name).toMatch(/^(token|note)$/i);
        expect((error as Error).message, name).not.toContain('needle');
      }
    });

    it('checkColumns finds a column the table declares in another letter case', async () => {
      const widths = await app.checkColumns();
      expect(widths.filter((w) => w.table === t.declared)).toEqual([
        expect.objectContaining({ column: 'Secret_Value', ok: true }),
      ]);
    });

    itWhen(db.name !== 'postgres')(
      'the row store reads a column the table declares in another letter case',
      async () => {
        await app(t.declared).insert({ name: 'rs', Secret_Value: 'rs-secret' });
        const rows = await app.rowStore(t.declared).scan(undefined, 100);
        const stored = (await plain(t.declared).where({ name: 'rs' }).first()) as {
          id: number;
          Secret_Value: string;
        };
        const row = rows.find((r) => Number(r.id) === Number(stored.id));
        expect(row?.values).toEqual({ secret_value: stored.Secret_Value });
        expect(row?.values.secret_value).toMatch(/^cmek:v1:/);
      },
    );

    itWhen(db.name === 'postgres')(
      'PostgreSQL: a quoted column differing only in case from an encrypted one is encrypted too',
      async () => {
        const twins = withCmek(wrappedBase, {
          envelope,
          tables: { [t.twins]: { columns: ['token'] } },
        });
        const context = `${t.twins}.token`;
        const returned = await twins(t.twins)
          .insert({ name: 'tw', token: 'lower-value', Token: 'upper-value' })
          .returning(['token', 'Token']);
        expect(returned).toEqual([{ token: 'lower-value', Token: 'upper-value' }]);
        await expectStored(t.twins, 'tw', 'token', 'lower-value', context);
        await expectStored(t.twins, 'tw', 'Token', 'upper-value', context);
        expect(await twins(t.twins).where({ name: 'tw' }).first('token', 'Token')).toEqual({
          token: 'lower-value',
          Token: 'upper-value',
        });
        expect(await twins(t.twins).where({ name: 'tw' }).first()).toMatchObject({
          token: 'lower-value',
          Token: 'upper-value',
        });
        await expect(twins(t.twins).where('Token', 'x')).rejects.toMatchObject({
          code: 'CMEK_QUERY',
          field: 'token',
        });
        expect((await twins.checkColumns()).map((w) => w.column).sort()).toEqual([
          'Token',
          'token',
        ]);
      },
    );

    itWhen(db.name === 'postgres')(
      'PostgreSQL refuses a column named in another letter case that does not exist, storing nothing',
      async () => {
        // Knex quotes identifiers: "TOKEN" is another column, which this table does not have
        await expect(
          app(t.secrets).insert({ name: 'pg-case', TOKEN: 'pg-token' }),
        ).rejects.toMatchObject({ code: '42703' });
        expect(await plain(t.secrets).where({ name: 'pg-case' })).toEqual([]);
      },
    );
  });
}
