/** Filters, sorts, groups and aggregates on encrypted fields are refused with CmekQueryError. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, pgUrl, type TestDatabase } from './support/db';
import { expectQueryRefused } from './support/expect';

const NEEDLE = 'needle-9f3a';

const expectRefused = (run: () => PromiseLike<unknown>, field: string) =>
  expectQueryRefused(run, field, NEEDLE);

describe.skipIf(!pgUrl)('query refusal', () => {
  let t: TestDatabase;
  let id: number;
  beforeAll(async () => {
    t = await openDatabase('rules');
    ({ id } = await t.db.user.create({
      data: {
        email: 'r@example.test',
        slackToken: 'x',
        posts: { create: { title: 'p', secret: 's' } },
      },
    }));
  });
  afterAll(() => t?.close());

  it('a where on an encrypted field is refused on every operation', async () => {
    const where = { slackToken: NEEDLE };
    const u = t.db.user;
    for (const run of [
      () => u.findMany({ where }),
      () => u.findFirst({ where }),
      () =>
        u.findFirstOrThrow({
          where: { OR: [{ email: 'x' }, { slackToken: { contains: NEEDLE } }] },
        }),
      () => u.findUnique({ where: { id, ...where } }),
      () => u.count({ where }),
      () => u.aggregate({ where, _count: true }),
      () => u.update({ where: { id, NOT: where }, data: { note: 'n' } }),
      () => u.updateMany({ where, data: { note: 'n' } }),
      () => u.updateManyAndReturn({ where, data: { note: 'n' } }),
      () => u.upsert({ where: { id, ...where }, create: { email: 'e' }, update: {} }),
      () => u.delete({ where: { id, ...where } }),
      () => u.deleteMany({ where }),
    ]) {
      await expectRefused(run, 'User.slackToken');
    }
    // nothing was changed or deleted
    expect((await t.db.user.findUniqueOrThrow({ where: { id } })).note).toBeNull();
  });

  it('a relation filter on an encrypted field of the related model is refused', async () => {
    await expectRefused(
      () => t.db.user.findMany({ where: { posts: { some: { secret: NEEDLE } } } }),
      'Post.secret',
    );
    await expectRefused(
      () => t.db.user.findMany({ where: { profile: { is: { pin: NEEDLE } } } }),
      'Profile.pin',
    );
    await expectRefused(
      () => t.db.post.findMany({ where: { author: { note: NEEDLE } } }),
      'User.note',
    );
  });

  it('filters inside include, select and _count are refused', async () => {
    await expectRefused(
      () => t.db.user.findMany({ include: { posts: { where: { secret: NEEDLE } } } }),
      'Post.secret',
    );
    await expectRefused(
      () => t.db.user.findMany({ select: { posts: { orderBy: { secret: 'asc' } } } }),
      'Post.secret',
    );
    await expectRefused(
      () =>
        t.db.user.findMany({
          select: { _count: { select: { posts: { where: { secret: NEEDLE } } } } },
        }),
      'Post.secret',
    );
  });

  it('orderBy, cursor and distinct on an encrypted field are refused', async () => {
    await expectRefused(
      () => t.db.user.findMany({ orderBy: { slackToken: 'asc' } }),
      'User.slackToken',
    );
    await expectRefused(
      () =>
        t.db.user.findMany({
          orderBy: [{ email: 'asc' }, { note: { sort: 'desc', nulls: 'last' } }],
        }),
      'User.note',
    );
    await expectRefused(
      () => t.db.post.findMany({ orderBy: { author: { slackToken: 'asc' } } }),
      'User.slackToken',
    );
    await expectRefused(
      () => t.db.user.findMany({ cursor: { id, slackToken: NEEDLE } }),
      'User.slackToken',
    );
    await expectRefused(() => t.db.user.findMany({ distinct: ['slackToken'] }), 'User.slackToken');
    await expectRefused(() => t.db.user.findMany({ distinct: 'note' }), 'User.note');
  });

  it('groupBy by, having and orderBy, and aggregate _min / _max on an encrypted field are refused', async () => {
    await expectRefused(
      () => t.db.user.groupBy({ by: ['slackToken'], _count: true }),
      'User.slackToken',
    );
    await expectRefused(
      () =>
        t.db.user.groupBy({
          by: ['email'],
          having: { note: { _count: { gt: 1 } } },
          orderBy: { email: 'asc' },
        }),
      'User.note',
    );
    await expectRefused(
      () => t.db.user.groupBy({ by: ['email'], orderBy: { _max: { slackToken: 'asc' } } }),
      'User.slackToken',
    );
    await expectRefused(
      () => t.db.user.aggregate({ _min: { slackToken: true } }),
      'User.slackToken',
    );
    await expectRefused(() => t.db.user.aggregate({ _max: { note: true } }), 'User.note');
  });

  it("a nested write's where on an encrypted field is refused", async () => {
    await expectRefused(
      () =>
        t.db.user.update({
          where: { id },
          data: { posts: { updateMany: { where: { secret: NEEDLE }, data: { title: 't' } } } },
        }),
      'Post.secret',
    );
    await expectRefused(
      () =>
        t.db.user.update({ where: { id }, data: { posts: { deleteMany: { secret: NEEDLE } } } }),
      'Post.secret',
    );
  });

  it('null tests and _count of an encrypted field work', async () => {
    expect(await t.db.user.count({ where: { slackToken: { not: null } } })).toBe(1);
    expect(await t.db.user.count({ where: { note: null } })).toBe(1);
    expect(await t.db.user.count({ where: { note: { equals: null } } })).toBe(1);
    const agg = await t.db.user.aggregate({ _count: { slackToken: true, note: true } });
    expect(agg._count).toEqual({ slackToken: 1, note: 0 });
  });
});
