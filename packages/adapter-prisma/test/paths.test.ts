/**
 * The less travelled public paths of Prisma Client: field references (`model.fields.x`) compared
 * with an encrypted field, the extension stacked with another query extension (in both orders),
 * `createMany({ skipDuplicates })`, a nested to-many `updateMany` with `{ set }`, a lookup with a
 * `null` in its `in`. Each either stores a token (read back with SQL) and finds the right rows,
 * or is refused before the query runs.
 */
import { CmekInvalidInputError } from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmekExtension } from '../src/index';
import { MODELS, openDatabase, pgUrl, type TestDatabase } from './support/db';
import { expectQueryRefused, expectSealed, POST_SECRET, USER_TOKEN } from './support/expect';
import { checkingIndexer, expectIndexed } from './support/indexed';

const NEEDLE = 'needle-paths-51d2';

describe.skipIf(!pgUrl)('other public paths', () => {
  let t: TestDatabase;
  let n = 0;
  const email = () => `p${++n}@example.test`;
  beforeAll(async () => {
    t = await openDatabase('paths');
  });
  afterAll(() => t?.close());

  it('a field reference compared with an encrypted field is refused, on either side', async () => {
    await t.db.user.create({ data: { email: email(), slackToken: NEEDLE } });
    const fields = t.db.user.fields;
    await expectQueryRefused(
      () => t.db.user.findMany({ where: { email: { equals: fields.slackToken } } }),
      'User.slackToken',
      NEEDLE,
    );
    await expectQueryRefused(
      () => t.db.user.count({ where: { email: { gt: fields.note } } }),
      'User.note',
      NEEDLE,
    );
    await expectQueryRefused(
      () => t.db.user.findMany({ where: { slackToken: { equals: fields.email } } }),
      'User.slackToken',
      NEEDLE,
    );
    // an indexed field: its index field does not hold what the reference names either
    await expectQueryRefused(
      () => t.db.apiToken.findMany({ where: { tokenHash: { equals: t.db.apiToken.fields.name } } }),
      'ApiToken.tokenHash',
      NEEDLE,
    );
    await expectQueryRefused(
      () => t.db.apiToken.findMany({ where: { name: { equals: t.db.apiToken.fields.tokenHash } } }),
      'ApiToken.tokenHash',
      NEEDLE,
    );
  });

  it('stacked with another query extension, in either order, what it writes is encrypted', async () => {
    const stamp = {
      name: 'stamp',
      query: {
        user: {
          create({
            args,
            query,
          }: {
            args: { data: Record<string, unknown> };
            query: (a: unknown) => Promise<unknown>;
          }) {
            return query({ ...args, data: { ...args.data, slackToken: 'stamped-secret' } });
          },
        },
      },
    };
    const cmek = cmekExtension({ envelope: t.envelope, models: MODELS, indexer: t.indexer });
    const outer = t.plain.$extends(cmek).$extends(stamp);
    const inner = t.plain.$extends(stamp).$extends(cmek);
    for (const client of [outer, inner]) {
      const created = (await client.user.create({ data: { email: email() } })) as {
        id: number;
        slackToken: string | null;
      };
      expect(created.slackToken).toBe('stamped-secret');
      const row = await t.row('prisma_users', created.id);
      await expectSealed(t, row.slackToken, 'stamped-secret', USER_TOKEN);
    }
  });

  it('createMany with skipDuplicates stores tokens and their index', async () => {
    const check = await checkingIndexer(t);
    try {
      await t.db.apiToken.createMany({
        data: [
          { name: 'dup-1', tokenHash: 'dup-secret-1' },
          { name: 'dup-2', tokenHash: 'dup-secret-1' },
          { name: 'dup-3', tokenHash: 'dup-secret-3' },
        ],
        skipDuplicates: true,
      });
      const { rows } = await t.raw.query<{ id: number; name: string }>(
        "select id, name from prisma_api_tokens where name like 'dup-%' order by name",
      );
      expect(rows.map((r) => r.name)).toEqual(['dup-1', 'dup-3']);
      await expectIndexed(t, check, rows[0]!.id, 'tokenHash', 'dup-secret-1');
      await expectIndexed(t, check, rows[1]!.id, 'tokenHash', 'dup-secret-3');
    } finally {
      check.close();
    }
  });

  it('a nested to-many updateMany with { set } stores a token', async () => {
    const user = await t.db.user.create({
      data: { email: email(), posts: { create: [{ title: 'a' }, { title: 'b' }] } },
    });
    await t.db.user.update({
      where: { id: user.id },
      data: {
        posts: { updateMany: { where: { title: 'a' }, data: { secret: { set: 'set-secret' } } } },
      },
    });
    const { rows } = await t.raw.query<{ title: string; secret: string | null }>(
      'select title, secret from prisma_posts where "authorId" = $1 order by title',
      [user.id],
    );
    await expectSealed(t, rows[0]!.secret, 'set-secret', POST_SECRET);
    expect(rows[1]!.secret).toBeNull();
  });

  it('a lookup whose in holds null is refused rather than matching the index of a null', async () => {
    const lookup = () =>
      t.db.apiToken.findMany({
        where: { tokenHash: { in: [NEEDLE, null as unknown as string] } },
      });
    await expect(lookup()).rejects.toBeInstanceOf(CmekInvalidInputError);
    await expect(lookup()).rejects.not.toThrow(NEEDLE);
  });
});
