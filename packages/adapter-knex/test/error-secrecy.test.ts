/**
 * No error of a write through the adapter shows the value written, on each real database.
 *
 * Every write path of the README is given non-strings (objects, numbers, arrays, booleans,
 * bigints, Dates, `knex.raw`, `knex.ref`, subqueries) for an encrypted column: each is refused
 * with `CMEK_INVALID_INPUT` naming the column and the type, before Knex or the driver sees it,
 * and nothing is written. Strings that fail in the database for another reason (a NOT NULL or
 * unique violation on another column, a value too long) give the driver's error with every
 * bound value (the token, the other columns' values) scrubbed from its message, stack and fields.
 * Every text of each error (message, `String()`, stack, JSON, `util.inspect`, the cause chain)
 * is scanned for the markers.
 */
import { createEnvelope, type Envelope } from '@cmek/core';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekKnex, withCmek } from '../src/index';
import { databases, itWhen, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';
import { createTables, dropTables, type Tables } from './support/schema';
import { expectNoSecret, rejection } from './support/secrecy';

const MARK = 'S3cr3t-Marker-7f3a9';
const NUMBER = 913377331;
const YEAR = 2087;

for (const db of databases) {
  describe.skipIf(!db.available)(`error secrecy on ${db.name}`, () => {
    let plain: Knex;
    let base: Knex;
    let app: CmekKnex;
    let envelope: Envelope;
    let t: Tables;

    beforeAll(async () => {
      plain = db.connect();
      base = db.connect();
      t = await createTables(plain, uniquePrefix('e'));
      envelope = createEnvelope({ kek: countingProvider() });
      app = withCmek(base, {
        envelope,
        tables: { [t.secrets]: { columns: ['token', 'note'] } },
      });
    });
    afterAll(async () => {
      await dropTables(plain, t);
      await Promise.all([plain.destroy(), base.destroy()]);
    });
    beforeEach(async () => {
      await plain(t.secrets).del();
    });

    const onConflict = (query: Knex.QueryBuilder) =>
      db.name === 'mariadb' ? query.onConflict() : query.onConflict('name');

    /** The values an encrypted column refuses, with the type its message names. */
    const refusedValues = (): [string, unknown][] => [
      ['an object', { a: MARK }],
      ['an array', [MARK]],
      ['a number', NUMBER],
      ['a boolean', true],
      ['a bigint', BigInt(NUMBER)],
      ['a Date', new Date(Date.UTC(YEAR, 0, 2))],
      ['a knex.raw() SQL fragment', app.raw(`'${MARK}'`)],
      ['a knex.ref() reference', app.ref('name')],
      ['a subquery', app(t.plain).select('name').where('name', MARK)],
      ['a subquery', (qb: Knex.QueryBuilder) => qb.select('name').from(t.plain)],
    ];

    /** Each write path of the README, writing `value` to the encrypted column `token`. */
    const writePaths = (
      value: unknown,
    ): [string, () => PromiseLike<unknown>, 'insert' | 'update'][] => [
      ['insert(row)', () => app(t.secrets).insert({ name: 'w', token: value }), 'insert'],
      [
        'insert([rows])',
        () =>
          app(t.secrets).insert([
            { name: 'w', token: 'fine' },
            { name: 'w2', token: value },
          ]),
        'insert',
      ],
      [
        'batchInsert',
        () =>
          app.batchInsert(t.secrets, [
            { name: 'w', token: 'fine' },
            { name: 'w2', token: value },
          ]),
        'insert',
      ],
      [
        'update(obj)',
        () => app(t.secrets).where({ name: 'seed' }).update({ token: value }),
        'update',
      ],
      [
        'update(col, value)',
        () =>
          (
            app(t.secrets).where({ name: 'seed' }) as unknown as {
              update(c: string, v: unknown): PromiseLike<unknown>;
            }
          ).update('token', value),
        'update',
      ],
      [
        'onConflict().merge()',
        () => onConflict(app(t.secrets).insert({ name: 'seed', token: value })).merge(),
        'update',
      ],
      [
        'onConflict().merge({ col: value })',
        () =>
          onConflict(app(t.secrets).insert({ name: 'seed', token: 'fine' })).merge({ note: value }),
        'update',
      ],
      [
        'transaction(cb)',
        () => app.transaction((trx) => trx(t.secrets).insert({ name: 'w', note: value })),
        'insert',
      ],
      ['encryptRow', () => app.encryptRow(t.secrets, { name: 'w', token: value }), 'insert'],
      ...(db.name === 'mariadb'
        ? [
            [
              'upsert',
              () =>
                (app(t.secrets) as unknown as { upsert(v: object): PromiseLike<unknown> }).upsert({
                  name: 'seed',
                  token: value,
                }),
              'update',
            ] as [string, () => PromiseLike<unknown>, 'insert' | 'update'],
          ]
        : []),
    ];

    it('non-strings written to an encrypted column are refused on every write path, naming the column and the type only', async () => {
      for (const [type, value] of refusedValues()) {
        for (const [path, write, kind] of writePaths(value)) {
          await plain(t.secrets).del();
          await plain(t.secrets).insert({ name: 'seed', token: null, note: null });
          const error = await rejection(write());
          expect(error, `${path} ← ${type}`).toMatchObject({ code: 'CMEK_INVALID_INPUT' });
          const message = (error as Error).message;
          expect(message, path).toMatch(new RegExp(`${t.secrets}\\.(token|note)`));
          expect(message, path).toContain(`not ${type}`);
          expectNoSecret(error, [MARK, String(NUMBER), String(YEAR)]);
          const rows = await plain(t.secrets).select('name', 'token', 'note');
          // nothing written: the seed row alone, untouched
          expect(rows, `${path} ← ${type} (${kind})`).toEqual([
            { name: 'seed', token: null, note: null },
          ]);
        }
      }
    });

    it('a non-UTF-8 Buffer is refused and stores nothing; UTF-8 bytes are stored encrypted and read back as the string', async () => {
      const bad = Buffer.from([0xff, 0xfe, 0x41, 0x80]);
      await plain(t.secrets).insert({ name: 'seed' });
      for (const [path, write] of writePaths(bad)) {
        const error = await rejection(write());
        expect(error, path).toMatchObject({ code: 'CMEK_INVALID_INPUT' });
        expect(await plain(t.secrets).pluck('name'), path).toEqual(['seed']);
        expect(await plain(t.secrets).whereNotNull('token').count({ n: '*' })).toEqual([
          { n: db.name === 'postgres' ? '0' : 0 },
        ]);
      }
      const text = 'héllo-bytes ✓';
      await app(t.secrets).insert({ name: 'bytes', token: Buffer.from(text, 'utf8') });
      await app(t.secrets)
        .where({ name: 'seed' })
        .update({ note: new TextEncoder().encode(text) });
      const stored = await plain(t.secrets).whereIn('name', ['bytes', 'seed']).orderBy('name');
      expect(stored[0].token).toMatch(/^cmek:v1:/);
      expect(stored[1].note).toMatch(/^cmek:v1:/);
      const read = await app(t.secrets).select('name', 'token', 'note').orderBy('name');
      expect(read).toEqual([
        { name: 'bytes', token: text, note: null },
        { name: 'seed', token: null, note: text },
      ]);
      const row = await app.encryptRow(t.secrets, { name: 'r', token: Buffer.from(text) });
      expect(
        await envelope.decrypt(row.token as string, { context: { field: `${t.secrets}.token` } }),
      ).toBe(text);
    });

    /** Writes of a valid token value that fail in the database for another column's reason. */
    const failingWrites = (): [string, () => PromiseLike<unknown>][] => [
      ['insert: NOT NULL on name', () => app(t.secrets).insert({ name: null, token: MARK })],
      [
        'insert: unique name',
        () => app(t.secrets).insert({ name: `dup-${MARK}-name`, token: MARK, note: MARK }),
      ],
      [
        'insert([rows]): unique name',
        () =>
          app(t.secrets).insert([
            { name: `new-${NUMBER}`, token: MARK },
            { name: `dup-${MARK}-name`, token: MARK },
          ]),
      ],
      [
        'batchInsert: unique name',
        () => app.batchInsert(t.secrets, [{ name: `dup-${MARK}-name`, token: MARK }]),
      ],
      [
        'update: unique name',
        () =>
          app(t.secrets)
            .where({ name: 'other' })
            .update({ name: `dup-${MARK}-name`, token: MARK }),
      ],
      [
        'transaction: unique name',
        () =>
          app.transaction((trx) => trx(t.secrets).insert({ name: `dup-${MARK}-name`, note: MARK })),
      ],
    ];

    it('a write failing in the database for another column shows no bound value', async () => {
      for (const [path, write] of failingWrites()) {
        await plain(t.secrets).del();
        await plain(t.secrets).insert([{ name: `dup-${MARK}-name` }, { name: 'other' }]);
        const error = await rejection(write());
        // the driver's error, its class and code kept: applications match on them
        const code = (error as { code?: unknown }).code;
        expect(code, path).toBeDefined();
        expect(String(code), path).not.toMatch(/^CMEK_/);
        expectNoSecret(error, [MARK, String(NUMBER)]);
        expect(await plain(t.secrets).count({ n: '*' })).toEqual([
          { n: db.name === 'postgres' ? '2' : 2 },
        ]);
      }
    });

    itWhen(db.name !== 'sqlite')(
      'a value too long for another column shows neither it nor the token',
      async () => {
        const error = await rejection(
          app(t.secrets).insert({ name: `${MARK}-`.repeat(10), token: MARK }),
        );
        expectNoSecret(error, [MARK]);
      },
    );
  });
}
