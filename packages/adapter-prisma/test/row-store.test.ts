/** `prismaRowStore`: scans, compare-and-set, and the engine's backfill / verify through it. */
import { CmekConfigError, CmekInvalidInputError, CmekQueryError, type RowStore } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prismaRowStore } from '../src/index';
import { MODELS, openDatabase, pgUrl, type TestDatabase } from './support/db';
import { expectSealed, USER_NOTE, USER_TOKEN } from './support/expect';

describe.skipIf(!pgUrl)('prismaRowStore', () => {
  let t: TestDatabase;
  let store: RowStore & { count(): Promise<number> };
  beforeAll(async () => {
    t = await openDatabase('store');
    store = prismaRowStore({ client: t.plain, model: 'User', fields: MODELS.User.fields });
  });
  afterAll(() => t?.close());

  const insertRaw = async (email: string, token: string | null, note: string | null) => {
    const { rows } = await t.raw.query<{ id: number }>(
      'insert into prisma_users (email, "slackToken", note) values ($1, $2, $3) returning id',
      [email, token, note],
    );
    return rows[0]!.id;
  };

  it('scans stored values in primary-key order, after a cursor, and counts rows', async () => {
    const a = await insertRaw('s1@example.test', 'plain-1', null);
    const { id: b } = await t.db.user.create({
      data: { email: 's2@example.test', slackToken: 'enc-2' },
    });
    const first = await store.scan(undefined, 1);
    expect(first).toEqual([{ id: a, values: { slackToken: 'plain-1', note: null } }]);
    const next = await store.scan(a, 10);
    expect(next[0]!.id).toBe(b);
    await expectSealed(t, next[0]!.values.slackToken, 'enc-2', USER_TOKEN);
    expect(await store.count()).toBe(2);
    expect(store.contextFor('note')).toEqual(USER_NOTE);
    expect(store.name).toBe('User');
  });

  it('compareAndSet writes only over the expected value', async () => {
    const id = await insertRaw('cas@example.test', 'old', null);
    expect(await store.compareAndSet(id, 'slackToken', 'not this', 'new')).toBe(false);
    expect((await t.row('prisma_users', id)).slackToken).toBe('old');
    expect(await store.compareAndSet(id, 'slackToken', 'old', 'new')).toBe(true);
    expect((await t.row('prisma_users', id)).slackToken).toBe('new');
    expect(
      await store.compareAndSetMany!([
        { id, field: 'slackToken', expected: 'new', next: 'newer' },
        { id, field: 'note', expected: 'absent', next: 'x' },
      ]),
    ).toEqual([true, false]);
    expect((await t.row('prisma_users', id)).slackToken).toBe('newer');
    await expect(store.compareAndSet(id, 'email', 'a', 'b')).rejects.toBeInstanceOf(
      CmekInvalidInputError,
    );
  });

  it('a raw plaintext write ($executeRawUnsafe, not intercepted) is found by verify and encrypted by backfill', async () => {
    await t.raw.query('delete from prisma_users');
    await t.db.user.create({ data: { email: 'ok@example.test', slackToken: 'through the orm' } });
    const legacy = 'raw-plaintext-token';
    // raw SQL names the test's schema itself (the adapter's `schema` option qualifies model queries)
    await t.db.$executeRawUnsafe(
      `insert into ${t.schema}.prisma_users (email, "slackToken") values ('raw@example.test', $1)`,
      legacy,
    );
    const { rows } = await t.raw.query<{ id: number; slackToken: string }>(
      `select id, "slackToken" from prisma_users where email = 'raw@example.test'`,
    );
    expect(rows[0]!.slackToken).toBe(legacy);
    const before = await verify(store, { envelope: t.envelope });
    expect(before.fields.slackToken!.plaintext).toBe(1);
    expect(before.fields.slackToken!.undecryptable).toBe(0);
    const report = await backfill(store, { envelope: t.envelope });
    expect(report.fields.slackToken!.written).toBe(1);
    expect(report.fields.slackToken!.skipped).toBe(1);
    await expectSealed(
      t,
      (await t.row('prisma_users', rows[0]!.id)).slackToken,
      legacy,
      USER_TOKEN,
    );
    const after = await verify(store, { envelope: t.envelope });
    expect(after.fields.slackToken!.plaintext).toBe(0);
    const read = await t.db.user.findUniqueOrThrow({ where: { id: rows[0]!.id } });
    expect(read.slackToken).toBe(legacy);
  });

  it('a failed compare-and-set is a CmekQueryError without the old or the new value', async () => {
    const id = await insertRaw('fail@example.test', 'legacy-secret-value', null);
    await t.raw.query(
      'alter table prisma_users add constraint prisma_short_token check (length("slackToken") < 30) not valid',
    );
    try {
      const next = await t.envelope.encrypt('legacy-secret-value', { context: USER_TOKEN });
      for (const run of [
        () => store.compareAndSet(id, 'slackToken', 'legacy-secret-value', next),
        () =>
          store.compareAndSetMany!([
            { id, field: 'slackToken', expected: 'legacy-secret-value', next },
          ]),
      ]) {
        const error = await run().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(CmekQueryError.isInstance(error), String(error)).toBe(true);
        const cause = (error as Error).cause as Error;
        for (const text of [(error as Error).message, cause.message, String(cause.stack)]) {
          expect(text).not.toContain('legacy-secret-value');
          expect(text).not.toContain(next);
        }
      }
    } finally {
      await t.raw.query('alter table prisma_users drop constraint prisma_short_token');
    }
  });

  it('refuses the extended client, an unknown model or field, and a missing primary key', () => {
    expect(() => prismaRowStore({ client: t.db, model: 'User', fields: ['slackToken'] })).toThrow(
      CmekConfigError,
    );
    expect(() => prismaRowStore({ client: t.plain, model: 'Nope', fields: ['x'] })).toThrow(
      CmekConfigError,
    );
    expect(() => prismaRowStore({ client: t.plain, model: 'User', fields: ['nope'] })).toThrow(
      CmekConfigError,
    );
    expect(() =>
      prismaRowStore({ client: t.plain, model: 'User', fields: ['note'], primaryKey: 'uuid' }),
    ).toThrow(CmekConfigError);
  });
});
