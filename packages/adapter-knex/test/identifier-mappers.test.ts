/**
 * Identifier mappers (objection's `knexSnakeCaseMappers()`, or any knex config `wrapIdentifier`
 * / `postProcessResponse`), on each real database: the application names identifiers in
 * camelCase (`accessToken`), the database in snake_case (`access_token`). Configured with either
 * side's names, every write must be encrypted under the configured names' context, whatever the
 * spelling of the query: each one is read back around the adapter, through a plain Knex without
 * the mappers.
 */
import { CmekConfigError, CmekQueryError, createEnvelope, type Envelope } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CmekKnex, knexRowStore, withCmek } from '../src/index';
import { databases, itWhen, uniquePrefix } from './support/databases';
import { snakeCase, snakeCaseIdentifiers, snakeCaseMappers } from './support/identifier-mappers';
import { knexFactory } from './support/knex';
import { countingProvider } from './support/provider';

describe('identifier mappers in the configuration', () => {
  const mapped = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: ':memory:' },
    useNullAsDefault: true,
    ...snakeCaseMappers(),
  });
  const envelope = createEnvelope({ kek: countingProvider() });
  afterAll(() => mapped.destroy());

  it('configured names the mapping sends to one database name are a CmekConfigError', () => {
    const cases = [
      { t: { columns: ['accessToken', 'access_token'] } },
      { t: { columns: ['AccessToken', 'ACCESS_TOKEN'] } },
      { userSecrets: { columns: ['a'] }, user_secrets: { columns: ['b'] } },
      { t: { columns: ['user_id'], primaryKey: 'userId' } },
    ];
    for (const tables of cases) {
      expect(() => withCmek(mapped, { envelope, tables }), JSON.stringify(tables)).toThrow(
        CmekConfigError,
      );
    }
    // without a mapping, these are distinct identifiers
    const plain = knexFactory({ client: 'better-sqlite3', useNullAsDefault: true });
    expect(() =>
      withCmek(plain, { envelope, tables: { t: { columns: ['accessToken', 'access_token'] } } }),
    ).not.toThrow();
  });

  it('a wrapIdentifier that cannot map a name without a queryContext is a CmekConfigError', async () => {
    const needsContext = (fail: (value: string) => boolean) =>
      knexFactory({
        client: 'better-sqlite3',
        useNullAsDefault: true,
        wrapIdentifier: (value, origImpl, queryContext: { schema?: string } | undefined) => {
          if (queryContext === undefined && fail(value)) throw new Error('no queryContext');
          return origImpl(snakeCase(value));
        },
      });
    // a configured name: when withCmek is called
    const onConfig = needsContext((value) => value === 'accessToken');
    expect(() =>
      withCmek(onConfig, { envelope, tables: { t: { columns: ['accessToken'] } } }),
    ).toThrow(CmekConfigError);
    // a name of a query: before the query runs
    const onQuery = needsContext((value) => value === 'mystery');
    const app = withCmek(onQuery, { envelope, tables: { t: { columns: ['accessToken'] } } });
    await expect(app('t').insert({ mystery: 'needle' })).rejects.toBeInstanceOf(CmekConfigError);
    // a mapping that returns something else than a string
    const returnsNumber = knexFactory({
      client: 'better-sqlite3',
      useNullAsDefault: true,
      wrapIdentifier: (() => 42) as unknown as NonNullable<Knex.Config['wrapIdentifier']>,
    });
    expect(() =>
      withCmek(returnsNumber, { envelope, tables: { t: { columns: ['token'] } } }),
    ).toThrow(CmekConfigError);
    await Promise.all([onConfig.destroy(), onQuery.destroy(), returnsNumber.destroy()]);
  });

  it('a wrapIdentifier that quotes names itself, ignoring origImpl, is matched by the name it quotes', async () => {
    const quoting = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
      wrapIdentifier: (value) => (value === '*' ? value : `"${snakeCase(value)}"`),
    });
    try {
      await quoting.schema.createTable('user_secrets', (t) => {
        t.increments('id');
        t.text('access_token');
      });
      const app = withCmek(quoting, {
        envelope,
        tables: { user_secrets: { columns: ['access_token'] } },
      });
      await app('userSecrets').insert({ accessToken: 'quoted-value' });
      // raw SQL is not intercepted: it shows what is stored
      const [stored] = (await quoting.raw('select access_token from user_secrets')) as {
        access_token: string;
      }[];
      expect(stored!.access_token).toMatch(/^cmek:v1:/);
      expect(
        await envelope.decrypt(stored!.access_token, {
          context: { field: 'user_secrets.access_token' },
        }),
      ).toBe('quoted-value');
      expect(await app('userSecrets').first('accessToken')).toEqual({
        access_token: 'quoted-value',
      });
      await expect(app('userSecrets').where({ accessToken: 'needle' })).rejects.toMatchObject({
        code: 'CMEK_QUERY',
        field: 'access_token',
      });
    } finally {
      await quoting.destroy();
    }
  });
});

for (const db of databases) {
  describe.skipIf(!db.available)(`identifier mappers on ${db.name}`, () => {
    /** Without mappers: reads what is really stored. */
    let plain: Knex;
    /** snake_case wrapIdentifier and camelCase postProcessResponse (knexSnakeCaseMappers). */
    let mapped: Knex;
    /** The wrapIdentifier alone: result keys come back snake_case. */
    let keysOnly: Knex;
    let envelope: Envelope;
    /** Configured with the database-side names (`access_token`), used with the app-side ones. */
    let dbSide: CmekKnex;
    /** Configured with the application-side names (`accessToken`), as documented before. */
    let appSide: CmekKnex;
    /** `<prefix>user_secrets` and `<prefix>owner_accounts`, as the database names them. */
    let table: string;
    let owners: string;
    /** `<prefix>userSecrets` and `<prefix>ownerAccounts`, as the application names them. */
    let appTable: string;
    let appOwners: string;

    beforeAll(async () => {
      const prefix = uniquePrefix('m');
      table = `${prefix}user_secrets`;
      owners = `${prefix}owner_accounts`;
      appTable = `${prefix}userSecrets`;
      appOwners = `${prefix}ownerAccounts`;
      expect(snakeCase(appTable)).toBe(table);
      plain = db.connect();
      mapped = db.connect(snakeCaseMappers());
      keysOnly = db.connect(snakeCaseIdentifiers());
      await plain.schema.createTable(owners, (t) => {
        t.increments('id').primary();
        t.string('display_name', 64).notNullable();
        t.text('api_key');
      });
      await plain.schema.createTable(table, (t) => {
        t.increments('id').primary();
        t.string('display_name', 64).notNullable().unique();
        t.integer('owner_id');
        t.text('access_token');
        t.text('refresh_token');
        t.integer('hit_count').defaultTo(0);
      });
      envelope = createEnvelope({ kek: countingProvider() });
      const dbSideTables = {
        [table]: { columns: ['access_token', 'refresh_token'] },
        [owners]: { columns: ['api_key'] },
      };
      dbSide = withCmek(mapped, { envelope, tables: dbSideTables });
      appSide = withCmek(mapped, {
        envelope,
        tables: {
          [appTable]: { columns: ['accessToken', 'refreshToken'] },
          [appOwners]: { columns: ['apiKey'] },
        },
      });
    });
    afterAll(async () => {
      for (const name of [table, owners]) await plain.schema.dropTableIfExists(name);
      await Promise.all([plain.destroy(), mapped.destroy(), keysOnly.destroy()]);
    });

    // MySQL / MariaDB take no conflict target (ON DUPLICATE KEY UPDATE).
    const onConflict = (query: Knex.QueryBuilder) =>
      db.name === 'mariadb' ? query.onConflict() : query.onConflict('displayName');

    /** The stored `column` of the row `name`, read without the mappers. */
    const storedValue = async (name: string, column: string): Promise<unknown> => {
      const row = (await plain(table).where({ display_name: name }).first()) as
        | Record<string, unknown>
        | undefined;
      expect(row, name).toBeDefined();
      return row![column];
    };

    /** Asserts the stored `column` of row `name` is a token that opens to `expected` under `field`. */
    const expectStored = async (
      name: string,
      column: string,
      expected: string,
      field: string,
    ): Promise<void> => {
      const value = await storedValue(name, column);
      expect(typeof value, `${name}.${column}`).toBe('string');
      expect(value as string).toMatch(/^cmek:v1:/);
      expect(await envelope.decrypt(value as string, { context: { field } })).toBe(expected);
    };

    it('db-side names configured, app-side names in queries: insert, update, merge and upsert are stored encrypted', async () => {
      const access = `${table}.access_token`;
      const refresh = `${table}.refresh_token`;
      const row = { displayName: 'w1', accessToken: 'at-1', refreshToken: 'rt-1' };
      await dbSide(appTable).insert(row);
      expect(row.accessToken).toBe('at-1'); // the caller's object keeps its plaintext
      await expectStored('w1', 'access_token', 'at-1', access);
      await expectStored('w1', 'refresh_token', 'rt-1', refresh);

      await dbSide(appTable).where({ displayName: 'w1' }).update({ accessToken: 'at-2' });
      await expectStored('w1', 'access_token', 'at-2', access);
      await dbSide(appTable).where({ displayName: 'w1' }).update('refreshToken', 'rt-2');
      await expectStored('w1', 'refresh_token', 'rt-2', refresh);

      await onConflict(dbSide(appTable).insert({ displayName: 'w1', accessToken: 'at-3' })).merge();
      await expectStored('w1', 'access_token', 'at-3', access);
      await onConflict(dbSide(appTable).insert({ displayName: 'w1', accessToken: 'unused' })).merge(
        { refreshToken: 'rt-merged' },
      );
      await expectStored('w1', 'refresh_token', 'rt-merged', refresh);
      await expectStored('w1', 'access_token', 'at-3', access);
      await onConflict(
        dbSide(appTable).insert({
          displayName: 'w1',
          accessToken: 'at-listed',
          refreshToken: 'not-merged',
        }),
      ).merge(['accessToken']);
      await expectStored('w1', 'access_token', 'at-listed', access);
      await expectStored('w1', 'refresh_token', 'rt-merged', refresh);

      // an array of rows, into the table named as the database names it
      await dbSide(table).insert([
        { displayName: 'w2', accessToken: 'at-w2' },
        { displayName: 'w3', refreshToken: 'rt-w3' },
      ]);
      await expectStored('w2', 'access_token', 'at-w2', access);
      await expectStored('w3', 'refresh_token', 'rt-w3', refresh);
      expect(await storedValue('w2', 'refresh_token')).toBeNull();

      // transactions, and a builder started from insert().into()
      await dbSide.transaction(async (trx) => {
        await trx(appTable).insert({ displayName: 'w4', accessToken: 'at-w4' });
      });
      await expectStored('w4', 'access_token', 'at-w4', access);
      await dbSide.insert({ displayName: 'w5', refreshToken: 'rt-w5' }).into(appTable);
      await expectStored('w5', 'refresh_token', 'rt-w5', refresh);

      if (db.name === 'mariadb') {
        const { id } = (await plain(table).where({ display_name: 'w1' }).first('id')) as {
          id: number;
        };
        await (dbSide(appTable) as unknown as { upsert(v: object): Promise<unknown> }).upsert({
          id,
          displayName: 'w1',
          accessToken: 'at-upserted',
        });
        await expectStored('w1', 'access_token', 'at-upserted', access);
      }

      // and the wrapped knex reads them back as plaintext, under the app-side keys
      expect(
        await dbSide(appTable).where({ displayName: 'w4' }).first('accessToken', 'refreshToken'),
      ).toEqual({ accessToken: 'at-w4', refreshToken: null });
    });

    itWhen(db.returning)(
      'db-side names configured: insert and update returning decrypt the app-side keys',
      async () => {
        const inserted = await dbSide(appTable)
          .insert({ displayName: 'r1', accessToken: 'at-r1', refreshToken: 'rt-r1' })
          .returning(['displayName', 'accessToken', 'refreshToken as secondToken']);
        expect(inserted).toEqual([
          { displayName: 'r1', accessToken: 'at-r1', secondToken: 'rt-r1' },
        ]);
        await expectStored('r1', 'access_token', 'at-r1', `${table}.access_token`);
        const updated = await dbSide(appTable)
          .where({ displayName: 'r1' })
          .update({ accessToken: 'at-r2' })
          .returning('*');
        expect(updated).toEqual([
          expect.objectContaining({
            displayName: 'r1',
            accessToken: 'at-r2',
            refreshToken: 'rt-r1',
          }),
        ]);
        await expectStored('r1', 'access_token', 'at-r2', `${table}.access_token`);
      },
    );

    it('db-side names configured: select, first, joins and stream decrypt the keys the mappers return', async () => {
      await dbSide(appOwners).insert({ displayName: 's1-owner', apiKey: 'owner-key' });
      const owner = (await plain(owners).where({ display_name: 's1-owner' }).first('id')) as {
        id: number;
      };
      await dbSide(appTable).insert({
        displayName: 's1',
        ownerId: owner.id,
        accessToken: 'at-s1',
        refreshToken: 'rt-s1',
      });
      await expectStored('s1', 'access_token', 'at-s1', `${table}.access_token`);
      const where = { displayName: 's1' };
      expect(await dbSide(appTable).where(where).first()).toMatchObject({
        displayName: 's1',
        accessToken: 'at-s1',
        refreshToken: 'rt-s1',
      });
      expect(await dbSide(appTable).select().where(where)).toEqual([
        expect.objectContaining({ accessToken: 'at-s1', refreshToken: 'rt-s1' }),
      ]);
      expect(
        await dbSide(appTable)
          .select('displayName', 'accessToken', 'accessToken as sameToken', { tk: 'refreshToken' })
          .where(where),
      ).toEqual([{ displayName: 's1', accessToken: 'at-s1', sameToken: 'at-s1', tk: 'rt-s1' }]);
      expect(
        await dbSide(appTable).where(where).first(`${appTable}.accessToken as secret`),
      ).toEqual({ secret: 'at-s1' });
      // the database-side spelling in the same query reads the same column
      expect(await dbSide(appTable).where(where).first(`${table}.access_token as secret`)).toEqual({
        secret: 'at-s1',
      });
      expect(await dbSide(table).where({ display_name: 's1' }).first('refresh_token')).toEqual({
        refreshToken: 'rt-s1',
      });
      expect(
        await dbSide(`${appTable} as s`)
          .join(`${appOwners} as o`, 'o.id', 's.ownerId')
          .select('s.accessToken as secretToken', 'o.apiKey as ownerKey', 'o.*')
          .where('s.displayName', 's1'),
      ).toEqual([
        {
          secretToken: 'at-s1',
          ownerKey: 'owner-key',
          id: owner.id,
          displayName: 's1-owner',
          apiKey: 'owner-key',
        },
      ]);
      expect(await dbSide(appTable).where(where).pluck('access_token')).toEqual(['at-s1']);
      if (db.name !== 'postgres') {
        // (Knex streams PostgreSQL results only with the optional pg-query-stream package)
        const streamed: unknown[] = [];
        for await (const row of dbSide(appTable).select('*').where(where).stream()) {
          streamed.push(row);
        }
        expect(streamed).toEqual([expect.objectContaining({ accessToken: 'at-s1' })]);
      }
      // with wrapIdentifier alone, the keys come back as the database names them
      const bare = withCmek(keysOnly, {
        envelope,
        tables: { [table]: { columns: ['access_token', 'refresh_token'] } },
      });
      expect(await bare(appTable).where(where).first('accessToken', 'refreshToken')).toEqual({
        access_token: 'at-s1',
        refresh_token: 'rt-s1',
      });
      expect(await bare(appTable).where(where).first()).toMatchObject({
        access_token: 'at-s1',
        refresh_token: 'rt-s1',
      });
    });

    it('db-side names configured: filters, sorts and groups naming an encrypted column app-side are refused', async () => {
      let queries = 0;
      const count = () => {
        queries++;
      };
      mapped.on('query', count);
      const bare = withCmek(keysOnly, {
        envelope,
        tables: { [table]: { columns: ['access_token'] } },
      });
      const cases: [string, () => PromiseLike<unknown>][] = [
        ['where', () => dbSide(appTable).where('accessToken', 'needle')],
        ['where object', () => dbSide(appTable).where({ refreshToken: 'needle' })],
        ['where, db-side table', () => dbSide(table).where({ accessToken: 'needle' })],
        ['where qualified', () => dbSide(appTable).where(`${appTable}.accessToken`, 'needle')],
        ['where qualified db-side', () => dbSide(appTable).where(`${table}.accessToken`, 'x')],
        ['whereIn', () => dbSide(appTable).whereIn('AccessToken', ['needle'])],
        ['whereNot', () => dbSide(appTable).whereNot('refreshToken', 'needle')],
        ['nested where', () => dbSide(appTable).where((q) => q.where('accessToken', 'needle'))],
        ['orderBy alias', () => dbSide(`${appTable} as s`).orderBy('s.refreshToken')],
        ['groupBy', () => dbSide(appTable).select('displayName').groupBy('accessToken')],
        ['distinct', () => dbSide(appTable).distinct('accessToken')],
        ['max', () => dbSide(appTable).max('refreshToken')],
        [
          'join on',
          () => dbSide(appTable).join(appOwners, `${appOwners}.apiKey`, `${appTable}.accessToken`),
        ],
        ['increment', () => dbSide(appTable).where({ displayName: 'x' }).increment('accessToken')],
        [
          'update where',
          () => dbSide(appTable).where('accessToken', 'needle').update({ hitCount: 1 }),
        ],
        ['delete where', () => dbSide(appTable).where({ accessToken: 'needle' }).del()],
        ['first where', () => dbSide(appTable).where('refreshToken', 'needle').first()],
        [
          'subquery',
          () => dbSide(appOwners).whereIn('displayName', dbSide(appTable).select('accessToken')),
        ],
        ['wrapIdentifier alone', () => bare(appTable).where({ accessToken: 'needle' })],
      ];
      try {
        for (const [name, query] of cases) {
          const error = await Promise.resolve()
            .then(query)
            .then(
              () => undefined,
              (e: unknown) => e,
            );
          expect(error, name).toBeInstanceOf(CmekQueryError);
          expect((error as CmekQueryError).code, name).toBe('CMEK_QUERY');
          // the column as configured
          expect((error as CmekQueryError).field, name).toMatch(
            /^(access_token|refresh_token|api_key)$/,
          );
          expect((error as Error).message, name).not.toContain('needle');
        }
      } finally {
        mapped.off('query', count);
      }
      expect(queries, 'queries sent').toBe(0);
    });

    it('values written under either spelling read back under the other, and through the row store', async () => {
      const access = `${table}.access_token`;
      await dbSide(appTable).insert({ displayName: 'x1', accessToken: 'at-x1' });
      await dbSide(table).insert({ display_name: 'x2', access_token: 'at-x2' });
      await expectStored('x1', 'access_token', 'at-x1', access);
      await expectStored('x2', 'access_token', 'at-x2', access);
      expect(await dbSide(table).where({ display_name: 'x1' }).first('access_token')).toEqual({
        accessToken: 'at-x1',
      });
      expect(await dbSide(appTable).where({ displayName: 'x2' }).first('accessToken')).toEqual({
        accessToken: 'at-x2',
      });

      // the store the CLI drives: the configured names, over the instance with the mappers
      const store = dbSide.rowStore(appTable);
      expect(store.fields).toEqual(['access_token', 'refresh_token']);
      expect(store.contextFor('access_token')).toEqual({ field: access });
      const { id } = (await plain(table).where({ display_name: 'x1' }).first('id')) as {
        id: number;
      };
      const scanned = (await store.scan(undefined, 1000)).find((r) => Number(r.id) === id);
      expect(scanned?.values).toEqual({
        access_token: await storedValue('x1', 'access_token'),
        refresh_token: null,
      });
      const declared = knexRowStore({ knex: mapped, table, columns: ['access_token'] });
      expect((await declared.scan(id - 1, 1))[0]?.values).toEqual({
        access_token: await storedValue('x1', 'access_token'),
      });

      // legacy plaintext written around the adapter: backfilled, verified, read app-side
      await plain(table).insert({ display_name: 'x3', access_token: 'legacy-x3' });
      const report = await backfill(store, { envelope });
      expect(report.fields.access_token?.written).toBeGreaterThanOrEqual(1);
      await expectStored('x3', 'access_token', 'legacy-x3', access);
      expect(await dbSide(appTable).where({ displayName: 'x3' }).first('accessToken')).toEqual({
        accessToken: 'legacy-x3',
      });
      const verified = await verify(store, { envelope });
      expect(verified.undecryptable).toBe(0);
      expect(verified.fields.access_token?.plaintext).toBe(0);
      expect(verified.fields.refresh_token?.plaintext).toBe(0);
    });

    it('checkColumns finds the columns configured with database-side names through the mappers', async () => {
      const widths = await dbSide.checkColumns();
      expect(widths.filter((w) => w.ok).length).toBe(widths.length);
      expect(widths.filter((w) => w.table === table).length).toBe(2);
      expect(widths.filter((w) => w.table === owners).length).toBe(1);
    });

    it('app-side names configured: queries in either spelling are encrypted, decrypted and refused as before', async () => {
      const access = `${appTable}.accessToken`;
      const refresh = `${appTable}.refreshToken`;
      await appSide(appTable).insert({
        displayName: 'a1',
        accessToken: 'at-a1',
        refreshToken: 'rt',
      });
      await expectStored('a1', 'access_token', 'at-a1', access);
      await expectStored('a1', 'refresh_token', 'rt', refresh);
      await appSide(appTable).where({ displayName: 'a1' }).update({ refreshToken: 'rt-a1' });
      await expectStored('a1', 'refresh_token', 'rt-a1', refresh);
      await onConflict(
        appSide(appTable).insert({ displayName: 'a1', accessToken: 'at-a2' }),
      ).merge();
      await expectStored('a1', 'access_token', 'at-a2', access);
      if (db.returning) {
        expect(
          await appSide(appTable)
            .where({ displayName: 'a1' })
            .update({ accessToken: 'at-a3' })
            .returning(['accessToken', 'refreshToken']),
        ).toEqual([{ accessToken: 'at-a3', refreshToken: 'rt-a1' }]);
        await expectStored('a1', 'access_token', 'at-a3', access);
      } else {
        await appSide(appTable).where({ displayName: 'a1' }).update({ accessToken: 'at-a3' });
      }
      expect(await appSide(appTable).where({ displayName: 'a1' }).first()).toMatchObject({
        accessToken: 'at-a3',
        refreshToken: 'rt-a1',
      });
      expect(
        await appSide(appTable).select('accessToken as token').where({ displayName: 'a1' }),
      ).toEqual([{ token: 'at-a3' }]);
      await expect(appSide(appTable).where('accessToken', 'needle')).rejects.toMatchObject({
        code: 'CMEK_QUERY',
        field: 'accessToken',
      });

      // the database-side spelling of a query reaches the same columns, under the same context
      await appSide(table).insert({ display_name: 'a2', access_token: 'at-a4' });
      await expectStored('a2', 'access_token', 'at-a4', access);
      expect(await appSide(table).where({ display_name: 'a2' }).first('access_token')).toEqual({
        accessToken: 'at-a4',
      });
      await expect(appSide(table).where('refresh_token', 'needle')).rejects.toMatchObject({
        code: 'CMEK_QUERY',
        field: 'refreshToken',
      });

      // and its row store reads what the adapter wrote
      const store = appSide.rowStore(appTable);
      expect(store.contextFor('accessToken')).toEqual({ field: access });
      const { id } = (await plain(table).where({ display_name: 'a2' }).first('id')) as {
        id: number;
      };
      expect((await store.scan(id - 1, 1))[0]?.values).toEqual({
        accessToken: await storedValue('a2', 'access_token'),
        refreshToken: null,
      });
    });
  });
}
