/** withCmek's options, the column check, and the secrecy of a failed write's error. */
import {
  CmekConfigError,
  CmekQueryError,
  createBlindIndexKey,
  createEnvelope,
  loadBlindIndexes,
} from '@cmek/core';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { pgTable, text as pgText, serial, varchar } from 'drizzle-orm/pg-core';
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { drizzle as drizzleProxy } from 'drizzle-orm/sqlite-proxy';
import { afterAll, describe, expect, it } from 'vitest';
import { withCmek } from '../src/index';
import { countingProvider } from './support/provider';

const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  apiToken: text('api_token'),
  count: integer('count'),
});

describe('withCmek options', () => {
  const db = drizzle(':memory:');
  db.$client.exec(
    'create table users (id integer primary key autoincrement, name text not null unique, api_token text, count integer)',
  );
  const envelope = createEnvelope({ kek: countingProvider() });
  afterAll(() => db.$client.close());

  it('names columns by their key or their database name, with the database names in the default context', async () => {
    for (const column of ['apiToken', 'api_token']) {
      const app = withCmek(db, { envelope, tables: [{ table: users, columns: [column] }] });
      expect(app.$cmek.rowStore(users).contextFor('apiToken')).toEqual({
        field: 'users.api_token',
      });
    }
  });

  it('refuses a missing envelope, a non-table, an unknown, a primary-key or a non-text column', () => {
    const bad: unknown[] = [
      { tables: [{ table: users, columns: ['apiToken'] }] },
      { envelope, tables: [] },
      { envelope, tables: [{ table: {}, columns: ['apiToken'] }] },
      { envelope, tables: [{ table: users, columns: ['nope'] }] },
      { envelope, tables: [{ table: users, columns: ['id'] }] },
      { envelope, tables: [{ table: users, columns: ['count'] }] },
      { envelope, tables: [{ table: users, columns: { apiToken: { context: { field: 1 } } } }] },
      { envelope, tables: [{ table: users, columns: { apiToken: { maxPlaintextBytes: -1 } } }] },
    ];
    for (const options of bad) {
      expect(() => withCmek(db, options as never)).toThrow(CmekConfigError);
    }
    expect(() => withCmek({} as never, { envelope, tables: [] })).toThrow(CmekConfigError);
  });

  it('blindIndex: refuses a missing, short, non-text or encrypted index column, a bad option, and no indexer', async () => {
    const kek = countingProvider();
    const indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
    const indexed = sqliteTable('indexed', {
      id: integer('id').primaryKey(),
      secret: text('secret'),
      secretBidx: text('secret_bidx', { length: 80 }),
      short: text('short', { length: 40 }),
      other: text('other'),
      count: integer('count'),
    });
    const withIndex = (blindIndex: unknown, more: Record<string, unknown> = {}) => ({
      envelope,
      indexer,
      tables: [{ table: indexed, columns: { secret: { blindIndex }, ...more } }],
    });
    const ok = withCmek(db, withIndex({ column: 'secret_bidx' }) as never);
    expect(ok.$cmek.rowStore(indexed).blindIndexes).toEqual({
      secret: [{ column: 'secret_bidx' }],
    });
    const missing = () => withCmek(db, withIndex({ column: 'secret_hash' }) as never);
    expect(missing).toThrow(CmekConfigError);
    expect(missing).toThrow(/'secret_hash', which indexed has not/);
    const bad = [
      withIndex({ column: 'short' }),
      withIndex({ column: 'count' }),
      withIndex({ column: 'id' }),
      withIndex({ column: 'other' }, { other: {} }),
      withIndex({ column: 'secretBidx', mode: 'fast' }),
      withIndex({ column: 'secretBidx', normalize: 'upper' }),
      withIndex([]),
      { ...withIndex({ column: 'secretBidx' }), indexer: undefined },
      { ...withIndex({ column: 'secretBidx' }), indexer: {} },
    ];
    for (const options of bad) {
      expect(() => withCmek(db, options as never)).toThrow(CmekConfigError);
    }
    indexer.close();
  });

  it('refuses to wrap a database twice', () => {
    const app = withCmek(db, { envelope, tables: [{ table: users, columns: ['apiToken'] }] });
    expect(() =>
      withCmek(app, { envelope, tables: [{ table: users, columns: ['apiToken'] }] }),
    ).toThrow(CmekConfigError);
  });

  it('a batch of 50 rows costs one data key to write and one unwrap to read back', async () => {
    const kek = countingProvider();
    const counted = createEnvelope({ kek });
    const app = withCmek(db, {
      envelope: counted,
      tables: [{ table: users, columns: ['apiToken'] }],
    });
    await app
      .insert(users)
      .values(Array.from({ length: 50 }, (_, i) => ({ name: `batch-${i}`, apiToken: `t-${i}` })));
    expect(kek.calls.generateDataKey).toBe(1);
    // a fresh envelope (cold caches) reads the 50 rows back: one unwrap of their one DEK
    const reader = withCmek(db, {
      envelope: createEnvelope({ kek }),
      tables: [{ table: users, columns: ['apiToken'] }],
    });
    const rows = await reader.select().from(users);
    expect(rows.filter((r) => r.name.startsWith('batch-'))).toHaveLength(50);
    expect(kek.calls.unwrap).toBe(1);
  });

  it('the error of a failed write holds neither the plaintext nor the token', async () => {
    const app = withCmek(db, { envelope, tables: [{ table: users, columns: ['apiToken'] }] });
    await app.insert(users).values({ name: 'dup', apiToken: 'first-secret-value' });
    let error: unknown;
    try {
      await app.insert(users).values({ name: 'dup', apiToken: 'second-secret-value' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    const seen = [error, (error as { cause?: unknown }).cause]
      .map((e) => `${(e as Error)?.message} ${(e as Error)?.stack} ${JSON.stringify(e)}`)
      .join(' ');
    expect(seen).toContain('UNIQUE');
    expect(seen).not.toContain('second-secret-value');
    expect(seen).not.toMatch(/cmek:v1:[A-Za-z0-9_-]{8}/);
  });
});

describe('db.batch()', () => {
  it('refuses a batch holding a query that writes or reads an encrypted column', async () => {
    const statements: string[] = [];
    const proxy = drizzleProxy(
      async (sql) => {
        statements.push(sql);
        return { rows: [] };
      },
      async (queries) => {
        statements.push(...queries.map((q) => q.sql));
        return queries.map(() => ({ rows: [] }));
      },
    );
    const app = withCmek(proxy, {
      envelope: createEnvelope({ kek: countingProvider() }),
      tables: [{ table: users, columns: ['apiToken'] }],
    });
    expect(() =>
      app.batch([app.insert(users).values({ name: 'b', apiToken: 'batch-secret' })]),
    ).toThrow(CmekQueryError);
    expect(() => app.batch([app.select().from(users)])).toThrow(CmekQueryError);
    expect(statements).toEqual([]);
    await app.batch([app.select({ id: users.id }).from(users)]);
    expect(statements).toHaveLength(1);
  });
});

describe('checkColumns', () => {
  const sqlite = drizzle(':memory:');
  afterAll(() => sqlite.$client.close());
  const envelope = createEnvelope({ kek: countingProvider() });
  const accounts = pgTable('accounts', {
    id: serial('id').primaryKey(),
    short: varchar('short', { length: 64 }),
    wide: varchar('wide', { length: 2000 }),
    free: pgText('free'),
  });

  it('measures each column against the token of its longest plaintext, from the schema', async () => {
    const app = withCmek(sqlite, {
      envelope,
      tables: [{ table: accounts, columns: { wide: { maxPlaintextBytes: 200 }, free: {} } }],
    });
    const widths = await app.$cmek.checkColumns();
    expect(widths.map((w) => [w.column, w.declared, w.ok])).toEqual([
      ['accounts.wide', 2000, true],
      ['accounts.free', undefined, true],
    ]);
    expect(widths[0]!.needed).toBeGreaterThan(200);
  });

  it('throws naming a column too short for its ciphertext, with the length it needs', async () => {
    const app = withCmek(sqlite, {
      envelope,
      tables: [{ table: accounts, columns: { short: {}, wide: { maxPlaintextBytes: 200 } } }],
    });
    const error = await app.$cmek.checkColumns().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CmekConfigError);
    expect((error as Error).message).toMatch(
      /accounts\.short holds 64 characters, needs at least \d+/,
    );
    expect((error as Error).message).not.toContain('accounts.wide');
  });
});
