/**
 * Blind indexes through the wrapped Knex, on each real database: every write path writes the
 * index column beside the encrypted one (read back around the adapter and compared with the index
 * computed by a second indexer loaded from the same stored key), `where` / `whereIn` lookups find
 * the rows without a KEK call, every other operator stays refused, and a write that sets the
 * index column itself is refused.
 */
import {
  type BlindIndexer,
  CmekConfigError,
  CmekInvalidInputError,
  CmekQueryError,
  createBlindIndexKey,
  createEnvelope,
  type Envelope,
  loadBlindIndexes,
} from '@cmek/core';
import { type KekCallCounter, kekCallCounter, type MemoryKekProvider } from '@cmek/test-suite';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CmekKnex, withCmek } from '../src/index';
import { databases, itWhen, uniquePrefix } from './support/databases';
import { countingProvider } from './support/provider';

for (const db of databases) {
  describe.skipIf(!db.available)(`blind indexes on ${db.name}`, () => {
    const table = `${uniquePrefix('b')}tokens`;
    const label = `${table}.token_hash`;
    let plain: Knex;
    let base: Knex;
    let app: CmekKnex;
    let envelope: Envelope;
    let kek: MemoryKekProvider;
    let counter: KekCallCounter;
    let storedKey: string;
    let indexer: BlindIndexer;
    /** Loaded separately from the same stored key: the expected index values. */
    let check: BlindIndexer;

    beforeAll(async () => {
      plain = db.connect();
      base = db.connect();
      await plain.schema.dropTableIfExists(table);
      await plain.schema.createTable(table, (t) => {
        t.increments('id').primary();
        t.string('name', 64).notNullable().unique();
        t.text('token');
        t.text('token_hash');
        t.string('token_hash_bidx', 80).unique();
      });
      kek = countingProvider();
      counter = kekCallCounter();
      envelope = createEnvelope({ kek, onEvent: counter.onEvent });
      storedKey = await createBlindIndexKey(kek);
      indexer = await loadBlindIndexes({ keys: [storedKey], kek });
      check = await loadBlindIndexes({ keys: [storedKey], kek });
      app = withCmek(base, {
        envelope,
        indexer,
        tables: {
          [table]: {
            columns: { token: {}, token_hash: { blindIndex: { column: 'token_hash_bidx' } } },
          },
        },
      });
    });
    afterAll(async () => {
      indexer?.close();
      check?.close();
      await plain?.schema.dropTableIfExists(table);
      await Promise.all([plain?.destroy(), base?.destroy()]);
    });
    beforeEach(async () => {
      await plain(table).del();
    });

    const stored = async (name: string) =>
      (await plain(table).where({ name }).first('token_hash', 'token_hash_bidx')) as {
        token_hash: string | null;
        token_hash_bidx: string | null;
      };
    /** The raw row holds the token and the index of `plaintext`, and the plaintext nowhere. */
    const expectIndexed = async (name: string, plaintext: string | null) => {
      const row = await stored(name);
      if (plaintext === null) {
        expect(row).toEqual({ token_hash: null, token_hash_bidx: null });
        return;
      }
      expect(row.token_hash).toMatch(/^cmek:v1:/);
      expect(row.token_hash).not.toContain(plaintext);
      expect(row.token_hash_bidx).not.toContain(plaintext);
      expect(await envelope.decrypt(row.token_hash!, { context: { field: label } })).toBe(
        plaintext,
      );
      expect(row.token_hash_bidx).toBe(check.compute(label, plaintext));
    };
    const names = (rows: readonly { name?: unknown }[]) => rows.map((r) => String(r.name)).sort();

    it('insert of one row writes the index column', async () => {
      await app(table).insert({ name: 'one', token_hash: 'h-one' });
      await expectIndexed('one', 'h-one');
    });

    it('insert of many rows and batchInsert write each index, null for a null value', async () => {
      await app(table).insert([
        { name: 'a', token_hash: 'h-a' },
        { name: 'b', token_hash: null },
      ]);
      await app.batchInsert(table, [{ name: 'c', token_hash: 'h-c' }], 10);
      await expectIndexed('a', 'h-a');
      await expectIndexed('b', null);
      await expectIndexed('c', 'h-c');
    });

    it('update(obj) and update(col, value) move the index; null clears it; another column leaves it', async () => {
      await app(table).insert({ name: 'u', token_hash: 'h-u1', token: 't' });
      await app(table).where({ name: 'u' }).update({ token_hash: 'h-u2' });
      await expectIndexed('u', 'h-u2');
      const before = (await stored('u')).token_hash_bidx;
      await app(table).where({ name: 'u' }).update({ token: 'other' });
      expect((await stored('u')).token_hash_bidx).toBe(before);
      await app(table).where({ name: 'u' }).update('token_hash', 'h-u3');
      await expectIndexed('u', 'h-u3');
      await app(table).where({ name: 'u' }).update({ token_hash: null });
      await expectIndexed('u', null);
    });

    it('onConflict().merge() and .merge([col]) write the merged index', async () => {
      await app(table).insert({ name: 'm', token_hash: 'h-m1' });
      await app(table).insert({ name: 'm', token_hash: 'h-m2' }).onConflict('name').merge();
      await expectIndexed('m', 'h-m2');
      await app(table)
        .insert({ name: 'm', token_hash: 'h-m3', token: 'x' })
        .onConflict('name')
        .merge(['token_hash']);
      await expectIndexed('m', 'h-m3');
    });

    it('onConflict().merge({ col: value }) writes the index of the merge value', async () => {
      await app(table).insert({ name: 'mv', token_hash: 'h-mv1' });
      await app(table)
        .insert({ name: 'mv', token_hash: 'h-mv-insert' })
        .onConflict('name')
        .merge({ token_hash: 'h-mv2' });
      await expectIndexed('mv', 'h-mv2');
    });

    itWhen(db.name === 'mariadb')('upsert (MySQL) writes the index', async () => {
      await app(table).upsert({ id: 1, name: 'up', token_hash: 'h-up1' });
      await app(table).upsert({ id: 1, name: 'up', token_hash: 'h-up2' });
      await expectIndexed('up', 'h-up2');
    });

    it('writes inside transaction(cb) and a transaction handle write the index', async () => {
      await app.transaction(async (trx) => {
        await trx(table).insert({ name: 'tx', token_hash: 'h-tx' });
      });
      const trx = await app.transaction();
      await trx(table).insert({ name: 'tx2', token_hash: 'h-tx2' });
      await trx.commit();
      await expectIndexed('tx', 'h-tx');
      await expectIndexed('tx2', 'h-tx2');
    });

    it('encryptRow gives the index column for a raw insert', async () => {
      const row = await app.encryptRow(table, { name: 'raw', token_hash: 'h-raw' });
      expect(row.token_hash_bidx).toBe(check.compute(label, 'h-raw'));
      await plain(table).insert(row);
      await expectIndexed('raw', 'h-raw');
    });

    it('a token of the column written back is indexed by its plaintext', async () => {
      await app(table).insert({ name: 'src', token_hash: 'h-copied' });
      const token = (await stored('src')).token_hash!;
      await app(table).where({ name: 'src' }).update({ token_hash: null }); // the index is unique
      await app(table).insert({ name: 'dst', token: null, token_hash: token });
      expect((await stored('dst')).token_hash_bidx).toBe(check.compute(label, 'h-copied'));
    });

    it('refuses a write that sets the index column itself, before any SQL', async () => {
      const index = check.compute(label, 'h-direct');
      const attempts: (() => PromiseLike<unknown>)[] = [
        () => app(table).insert({ name: 'd', token_hash_bidx: index }),
        () => app(table).insert({ name: 'd', token_hash: 'h-direct', TOKEN_HASH_BIDX: index }),
        () => app(table).where({ name: 'd' }).update({ token_hash_bidx: index }),
        () => app(table).where({ name: 'd' }).update('token_hash_bidx', index),
        () => app(table).insert({ name: 'd' }).onConflict('name').merge({ token_hash_bidx: index }),
        () => app.encryptRow(table, { token_hash_bidx: index }),
      ];
      for (const attempt of attempts) {
        const error = await Promise.resolve()
          .then(() => attempt())
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(CmekQueryError);
        expect((error as Error).message).toContain('blind index');
      }
      expect(await plain(table).count({ n: '*' })).toEqual([
        { n: db.name === 'postgres' ? '0' : 0 },
      ]);
    });

    it('where(col, v), where({ col: v }), where(col, "=", v) and whereIn find the rows, in select, first, update and delete', async () => {
      await app(table).insert([
        { name: 'x', token_hash: 'h-x' },
        { name: 'y', token_hash: 'h-y' },
        { name: 'z', token_hash: null },
      ]);
      expect(names(await app(table).where('token_hash', 'h-x').select('name'))).toEqual(['x']);
      expect(names(await app(table).where({ token_hash: 'h-y' }).select('name'))).toEqual(['y']);
      expect(names(await app(table).where('token_hash', '=', 'h-x').select('name'))).toEqual(['x']);
      expect(
        names(await app(table).whereIn('token_hash', ['h-x', 'h-y', 'h-none']).select('name')),
      ).toEqual(['x', 'y']);
      expect(
        names(await app(table).where('name', 'z').orWhere('token_hash', 'h-y').select('name')),
      ).toEqual(['y', 'z']);
      expect(
        names(
          await app(table)
            .where('name', 'x')
            .andWhere(`${table}.token_hash`, 'h-x')
            .orWhereIn('token_hash', ['h-y'])
            .select('name'),
        ),
      ).toEqual(['x', 'y']);
      expect(
        names(
          await app(table)
            .where((q) => q.where('token_hash', 'h-x').orWhere('token_hash', 'h-y'))
            .select('name'),
        ),
      ).toEqual(['x', 'y']);
      expect(names(await app(`${table} as t`).where('t.token_hash', 'h-x').select('name'))).toEqual(
        ['x'],
      );
      const first = await app(table).where('token_hash', 'h-y').first('name', 'token_hash');
      expect(first).toEqual({ name: 'y', token_hash: 'h-y' });
      expect(await app(table).where('token_hash', 'h-none').first()).toBeUndefined();
      expect(names(await app(table).whereNull('token_hash').select('name'))).toEqual(['z']);
      // a subquery built on the wrapped instance is rewritten too
      expect(
        names(
          await app(table)
            .whereIn('id', app(table).select('id').where('token_hash', 'h-x'))
            .select('name'),
        ),
      ).toEqual(['x']);
      await app(table).where('token_hash', 'h-x').update({ token: 'found' });
      expect((await plain(table).where({ name: 'x' }).first('token'))?.token).toMatch(/^cmek:v1:/);
      await app(table).where('token_hash', 'h-y').del();
      expect(names(await plain(table).select('name'))).toEqual(['x', 'z']);
      // the builder is left as written: it runs again the same
      const query = app(table).where('token_hash', 'h-x').select('name');
      expect(names(await query)).toEqual(['x']);
      expect(names(await query)).toEqual(['x']);
    });

    it('a select of the index column returns it as stored', async () => {
      await app(table).insert({ name: 'sel', token_hash: 'h-sel' });
      const rows = await app(table).where({ name: 'sel' }).select('*');
      expect(rows[0]).toMatchObject({
        token_hash: 'h-sel',
        token_hash_bidx: check.compute(label, 'h-sel'),
      });
    });

    it('a lookup makes no KEK call', async () => {
      await app(table).insert({ name: 'k', token_hash: 'h-k' });
      counter.reset();
      kek.resetCalls();
      const found = await app(table)
        .where('token_hash', 'h-k')
        .whereIn('token_hash', ['h-k'])
        .pluck('name');
      expect(found).toEqual(['k']);
      expect(counter.counts.total).toBe(0);
    });

    it('whereNot, whereNotIn, <>, like, ranges, order, group and functions stay refused', () => {
      const refused = [
        () => app(table).whereNot('token_hash', 'h'),
        () => app(table).whereNot({ token_hash: 'h' }),
        () => app(table).whereNotIn('token_hash', ['h']),
        () => app(table).where('token_hash', '<>', 'h'),
        () => app(table).where('token_hash', '!=', 'h'),
        () => app(table).where('token_hash', 'like', 'h%'),
        () => app(table).where('token_hash', '>', 'h'),
        () => app(table).whereBetween('token_hash', ['a', 'b']),
        () => app(table).where('token_hash', app.raw('?', ['h'])),
        () => app(table).where('token_hash', app.ref('name')),
        () => app(table).whereIn('token_hash', plain(table).select('name')),
        () => app(table).orderBy('token_hash'),
        () => app(table).groupBy('token_hash').select('token_hash'),
        () => app(table).having('token_hash', '=', 'h').groupBy('id').select('id'),
        () =>
          app(table).whereIn('id', function () {
            this.select('id').from(table).where('token_hash', 'h');
          }),
        () => app(table).where('token', 'h'),
      ];
      return Promise.all(
        refused.map((query) =>
          expect(Promise.resolve(query())).rejects.toBeInstanceOf(CmekQueryError),
        ),
      );
    });

    it('a lookup of a value that is no string is refused with CmekInvalidInputError', async () => {
      await expect(Promise.resolve(app(table).where('token_hash', 42))).rejects.toBeInstanceOf(
        CmekInvalidInputError,
      );
    });

    it('the unique index column rejects a duplicate secret, with no secret in the error', async () => {
      await app(table).insert({ name: 'u1', token_hash: 'h-unique-secret' });
      const error = await Promise.resolve(
        app(table).insert({ name: 'u2', token_hash: 'h-unique-secret' }),
      ).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(Error);
      const text = `${error!.message} ${error!.stack} ${JSON.stringify(error)}`;
      expect(text).not.toContain('h-unique-secret');
      // MySQL quotes the duplicate value cut at 64 characters: not even its start is left
      expect(text).not.toContain(check.compute(label, 'h-unique-secret').slice(0, 40));
      expect(names(await plain(table).select('name'))).toEqual(['u1']);
    });

    it('during a rotation inside the column a lookup matches values of either key', async () => {
      await app(table).insert({ name: 'old', token_hash: 'h-rot' });
      const nextKey = await createBlindIndexKey(kek);
      const both = await loadBlindIndexes({ keys: [nextKey, storedKey], kek });
      const rotating = db.connect();
      try {
        const app2 = withCmek(rotating, {
          envelope,
          indexer: both,
          tables: {
            [table]: { columns: { token_hash: { blindIndex: { column: 'token_hash_bidx' } } } },
          },
        });
        await app2(table).insert({ name: 'new', token_hash: 'h-rot-2' });
        expect((await stored('new')).token_hash_bidx).toBe(both.compute(label, 'h-rot-2'));
        expect((await stored('new')).token_hash_bidx).not.toBe(check.compute(label, 'h-rot-2'));
        expect(
          names(await app2(table).whereIn('token_hash', ['h-rot', 'h-rot-2']).select('name')),
        ).toEqual(['new', 'old']);
        expect(names(await app2(table).where('token_hash', 'h-rot').select('name'))).toEqual([
          'old',
        ]);
      } finally {
        both.close();
        await rotating.destroy();
      }
    });

    it('checkColumns checks the index column: missing, too short', async () => {
      const widths = await app.checkColumns({ maxPlaintextBytes: 64 });
      expect(widths.find((w) => w.column === 'token_hash_bidx')).toMatchObject({
        declared: 80,
        needed: 73,
        ok: true,
      });
      const short = `${table}_short`;
      await plain.schema.dropTableIfExists(short);
      await plain.schema.createTable(short, (t) => {
        t.increments('id');
        t.text('token_hash');
        t.string('token_hash_bidx', 40);
      });
      const other = db.connect();
      try {
        const cfg = (column: string) =>
          withCmek(other, {
            envelope,
            indexer,
            tables: { [short]: { columns: { token_hash: { blindIndex: { column } } } } },
          });
        await expect(cfg('token_hash_bidx').checkColumns()).rejects.toThrow(
          /token_hash_bidx holds 40 characters, needs at least 73/,
        );
        await expect(cfg('nope_bidx').checkColumns()).rejects.toThrow(
          /names the column 'nope_bidx'/,
        );
      } finally {
        await other.destroy();
        await plain.schema.dropTableIfExists(short);
      }
    });
  });
}

describe('the blindIndex option', () => {
  const knex = databases[0]!.connect();
  afterAll(() => knex.destroy());
  const envelope = createEnvelope({ kek: countingProvider() });

  it('is refused without an indexer, malformed, on the primary key or an encrypted column, or twice', async () => {
    const kek = countingProvider();
    const indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
    const setup =
      (columns: Record<string, unknown>, withIndexer = true) =>
      () =>
        withCmek(knex, {
          envelope,
          ...(withIndexer ? { indexer } : {}),
          tables: { t: { columns: columns as never } },
        });
    expect(setup({ a: { blindIndex: { column: 'a_bidx' } } }, false)).toThrow(
      /tables\.t\.columns\.a\.blindIndex needs withCmek's `indexer`/,
    );
    expect(setup({ a: { blindIndex: { column: '' } } })).toThrow(CmekConfigError);
    expect(setup({ a: { blindIndex: { column: 'a_bidx', mode: 'fast' } } })).toThrow(
      /mode must be 'hmac' or 'slow'/,
    );
    expect(setup({ a: { blindIndex: { column: 'id' } } })).toThrow(/is the primary key/);
    expect(setup({ a: { blindIndex: { column: 'b' } }, b: {} })).toThrow(/is an encrypted column/);
    expect(
      setup({ a: { blindIndex: { column: 'x_bidx' } }, b: { blindIndex: { column: 'X_BIDX' } } }),
    ).toThrow(/already the index column of t\.a/);
    expect(() =>
      withCmek(knex, { envelope, indexer: {} as never, tables: { t: { columns: ['a'] } } }),
    ).toThrow(/must be the result of loadBlindIndexes/);
    expect(setup({ a: { blindIndex: { column: 'a_bidx' } } })).not.toThrow();
    indexer.close();
  });
});
