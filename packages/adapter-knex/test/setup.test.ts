/** withCmek's option validation and the column-width check, on each real database. */
import { CmekConfigError, createEnvelope } from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { withCmek } from '../src/index';
import { databases, uniquePrefix } from './support/databases';
import { knexFactory } from './support/knex';
import { countingProvider } from './support/provider';

describe('withCmek options', () => {
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: ':memory:' },
    useNullAsDefault: true,
  });
  const envelope = createEnvelope({ kek: countingProvider() });
  afterAll(() => knex.destroy());

  it.each([
    ['no envelope', { tables: { t: { columns: ['a'] } } }],
    ['no tables', { envelope }],
    ['empty tables', { envelope, tables: {} }],
    ['empty columns', { envelope, tables: { t: { columns: [] } } }],
    ['primary key encrypted', { envelope, tables: { t: { columns: ['id'] } } }],
    [
      'context for an unknown column',
      { envelope, tables: { t: { columns: ['a'], context: { b: { field: 'x' } } } } },
    ],
    [
      'context not of strings',
      { envelope, tables: { t: { columns: ['a'], context: { a: { field: 1 } } } } },
    ],
    // what the envelope would refuse at the first write is refused at setup
    [
      'context with a lone surrogate',
      { envelope, tables: { t: { columns: ['a'], context: { a: { field: '\uD800' } } } } },
    ],
    [
      'context value over 65,535 bytes',
      {
        envelope,
        tables: { t: { columns: ['a'], context: { a: { field: 'x'.repeat(65_536) } } } },
      },
    ],
    [
      'a column context both in columns and in the deprecated table context',
      {
        envelope,
        tables: {
          t: { columns: { a: { context: { field: 'x' } } }, context: { a: { field: 'y' } } },
        },
      },
    ],
    [
      'a column whose options are not an object',
      { envelope, tables: { t: { columns: { a: 1 } } } },
    ],
    [
      'a maxPlaintextBytes that is not a positive integer',
      { envelope, tables: { t: { columns: { a: { maxPlaintextBytes: 0 } } } } },
    ],
  ])('%s is a CmekConfigError', (_name, options) => {
    expect(() => withCmek(knex, options as never)).toThrow(CmekConfigError);
  });

  it("columns as an object: each column's own context binds its values; the deprecated table context is the same, with one warning", async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const byColumn = withCmek(knex, {
      envelope,
      tables: { t: { columns: { a: { context: { field: 'pinned.a' } }, b: {} } } },
    });
    const second = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: ':memory:' },
      useNullAsDefault: true,
    });
    const byTable = withCmek(second, {
      envelope,
      tables: { t: { columns: ['a'], context: { a: { field: 'pinned.a' } } } },
    });
    const row = await byColumn.encryptRow('t', { a: 'va', b: 'vb' });
    expect(await envelope.decrypt(row.a as string, { context: { field: 'pinned.a' } })).toBe('va');
    expect(await envelope.decrypt(row.b as string, { context: { field: 't.b' } })).toBe('vb');
    const other = await byTable.encryptRow('t', { a: 'va' });
    expect(await envelope.decrypt(other.a as string, { context: { field: 'pinned.a' } })).toBe(
      'va',
    );
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toMatchObject({ code: 'CMEK_DEP_KNEX_TABLE_CONTEXT' });
    warn.mockRestore();
    await second.destroy();
  });

  it('refuses something that is not a Knex instance', () => {
    expect(() => withCmek({} as never, { envelope, tables: { t: { columns: ['a'] } } })).toThrow(
      CmekConfigError,
    );
  });

  it('refuses to wrap an already wrapped instance (values would be encrypted twice)', () => {
    const once = withCmek(knex, { envelope, tables: { t: { columns: ['a'] } } });
    expect(() => withCmek(once, { envelope, tables: { t: { columns: ['a'] } } })).toThrow(
      CmekConfigError,
    );
  });

  it('leaves the Knex instance it wraps untouched', async () => {
    await knex.schema.createTable('u', (t) => {
      t.increments('id');
      t.text('secret');
    });
    withCmek(knex, { envelope, tables: { u: { columns: ['secret'] } } });
    await knex('u').insert({ secret: 'visible' });
    expect(await knex('u').pluck('secret')).toEqual(['visible']);
  });
});

for (const db of databases) {
  describe.skipIf(!db.available)(`checkColumns on ${db.name}`, () => {
    const table = `${uniquePrefix('c')}widths`;
    let plain: ReturnType<typeof db.connect>;
    beforeAll(async () => {
      plain = db.connect();
      await plain.schema.createTable(table, (t) => {
        t.increments('id');
        t.string('short', 40);
        t.string('wide', 1000);
        t.text('body');
      });
    });
    afterAll(async () => {
      await plain.schema.dropTableIfExists(table);
      await plain.destroy();
    });

    it('names each column too short for the ciphertext of its declared length, with the length it needs', async () => {
      const envelope = createEnvelope({ kek: countingProvider() });
      const app = withCmek(plain, {
        envelope,
        tables: { [table]: { columns: ['short', 'wide', 'body'] } },
      });
      const error = await app.checkColumns().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CmekConfigError);
      const needed = async (n: number) => (await envelope.encrypt('x'.repeat(n))).length;
      const message = (error as Error).message;
      expect(message).toContain(
        `${table}.short holds 40 characters, needs at least ${await needed(40)}`,
      );
      expect(message).toContain(
        `${table}.wide holds 1000 characters, needs at least ${await needed(1000)}`,
      );
      expect(message).not.toContain('.body');
    });

    it("a column's own maxPlaintextBytes is what it is checked for; the call's is for the others", async () => {
      const envelope = createEnvelope({ kek: countingProvider() });
      const app = withCmek(plain, {
        envelope,
        tables: { [table]: { columns: { wide: { maxPlaintextBytes: 2000 }, short: {} } } },
      });
      const error = await app.checkColumns({ maxPlaintextBytes: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const needed = async (n: number) => (await envelope.encrypt('x'.repeat(n))).length;
      const message = (error as Error).message;
      expect(message).toContain(
        `${table}.wide holds 1000 characters, needs at least ${await needed(2000)}`,
      );
      expect(message).toContain(
        `${table}.short holds 40 characters, needs at least ${await needed(1)}`,
      );
      await expect(
        app.checkColumns({ maxPlaintextBytes: 1, plaintextBytes: 1 }),
      ).rejects.toBeInstanceOf(CmekConfigError);
    });

    it('passes when every column is wide enough for the stated plaintext size', async () => {
      const envelope = createEnvelope({ kek: countingProvider() });
      const app = withCmek(plain, { envelope, tables: { [table]: { columns: ['wide', 'body'] } } });
      const widths = await app.checkColumns({ plaintextBytes: 200 });
      expect(widths.map((w) => [w.column, w.ok])).toEqual([
        ['wide', true],
        ['body', true],
      ]);
      expect(widths[0]!.needed).toBeGreaterThan(200);
    });
  });
}
