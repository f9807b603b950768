/** Every write path of Prisma stores ciphertext: each test reads the stored row with SQL. */
import { CmekInvalidInputError } from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, pgUrl, type TestDatabase } from './support/db';
import { expectSealed, POST_SECRET, PROFILE_PIN, USER_NOTE, USER_TOKEN } from './support/expect';

describe.skipIf(!pgUrl)('write paths', () => {
  let t: TestDatabase;
  let n = 0;
  const email = () => `w${++n}@example.test`;
  beforeAll(async () => {
    t = await openDatabase('writes');
  });
  afterAll(() => t?.close());

  const user = (id: number) => t.row('prisma_users', id);

  it('create stores tokens and returns the plaintext', async () => {
    const created = await t.db.user.create({
      data: { email: email(), slackToken: 'xoxb-create', note: 'a note' },
    });
    expect(created.slackToken).toBe('xoxb-create');
    expect(created.note).toBe('a note');
    const row = await user(created.id);
    await expectSealed(t, row.slackToken, 'xoxb-create', USER_TOKEN);
    await expectSealed(t, row.note, 'a note', USER_NOTE);
  });

  it('null stays null and the empty string is encrypted', async () => {
    const created = await t.db.user.create({
      data: { email: email(), slackToken: null, note: '' },
    });
    const row = await user(created.id);
    expect(row.slackToken).toBeNull();
    await expectSealed(t, row.note, '', USER_NOTE);
    expect(created.note).toBe('');
  });

  it('createMany stores tokens for every row', async () => {
    const emails = [email(), email(), email()];
    const { count } = await t.db.user.createMany({
      data: emails.map((e, i) => ({ email: e, slackToken: `many-${i}` })),
    });
    expect(count).toBe(3);
    const { rows } = await t.raw.query<{ email: string; slackToken: string }>(
      'select email, "slackToken" from prisma_users where email = any($1) order by id',
      [emails],
    );
    expect(rows.map((r) => r.email)).toEqual(emails);
    for (const [i, r] of rows.entries())
      await expectSealed(t, r.slackToken, `many-${i}`, USER_TOKEN);
  });

  it('createMany with a single object stores a token', async () => {
    const e = email();
    await t.db.user.createMany({ data: { email: e, note: 'single' } });
    const { rows } = await t.raw.query('select note from prisma_users where email = $1', [e]);
    await expectSealed(t, rows[0]!.note, 'single', USER_NOTE);
  });

  it('createManyAndReturn stores tokens and returns the plaintext', async () => {
    const out = await t.db.user.createManyAndReturn({
      data: [
        { email: email(), slackToken: 'cmar-1' },
        { email: email(), slackToken: 'cmar-2' },
      ],
    });
    expect(out.map((u) => u.slackToken)).toEqual(['cmar-1', 'cmar-2']);
    for (const u of out)
      await expectSealed(t, (await user(u.id)).slackToken, u.slackToken!, USER_TOKEN);
  });

  it('update stores a token, for a plain value and for { set }', async () => {
    const { id } = await t.db.user.create({ data: { email: email(), slackToken: 'before' } });
    const updated = await t.db.user.update({ where: { id }, data: { slackToken: 'after' } });
    expect(updated.slackToken).toBe('after');
    await expectSealed(t, (await user(id)).slackToken, 'after', USER_TOKEN);
    await t.db.user.update({ where: { id }, data: { slackToken: { set: 'via set' } } });
    await expectSealed(t, (await user(id)).slackToken, 'via set', USER_TOKEN);
    await t.db.user.update({ where: { id }, data: { slackToken: { set: null } } });
    expect((await user(id)).slackToken).toBeNull();
  });

  it('updateMany stores tokens', async () => {
    const e = email();
    const { id } = await t.db.user.create({ data: { email: e } });
    const { count } = await t.db.user.updateMany({ where: { email: e }, data: { note: 'um' } });
    expect(count).toBe(1);
    await expectSealed(t, (await user(id)).note, 'um', USER_NOTE);
  });

  it('updateManyAndReturn stores tokens and returns the plaintext', async () => {
    const e = email();
    const { id } = await t.db.user.create({ data: { email: e } });
    const out = await t.db.user.updateManyAndReturn({
      where: { email: e },
      data: { slackToken: 'umar' },
    });
    expect(out.map((u) => u.slackToken)).toEqual(['umar']);
    await expectSealed(t, (await user(id)).slackToken, 'umar', USER_TOKEN);
  });

  it('upsert encrypts its create and its update', async () => {
    const e = email();
    const created = await t.db.user.upsert({
      where: { email: e },
      create: { email: e, slackToken: 'upsert-created' },
      update: { slackToken: 'upsert-updated' },
    });
    expect(created.slackToken).toBe('upsert-created');
    await expectSealed(t, (await user(created.id)).slackToken, 'upsert-created', USER_TOKEN);
    const updated = await t.db.user.upsert({
      where: { email: e },
      create: { email: e, slackToken: 'not used' },
      update: { slackToken: 'upsert-updated' },
    });
    expect(updated.slackToken).toBe('upsert-updated');
    await expectSealed(t, (await user(created.id)).slackToken, 'upsert-updated', USER_TOKEN);
  });

  it('nested create encrypts the related models, to-many and to-one', async () => {
    const created = await t.db.user.create({
      data: {
        email: email(),
        slackToken: 'parent',
        posts: {
          create: [
            { title: 'one', secret: 'post-1' },
            { title: 'two', secret: 'post-2' },
          ],
        },
        profile: { create: { pin: '1234' } },
      },
      include: { posts: { orderBy: { id: 'asc' } }, profile: true },
    });
    expect(created.posts.map((p) => p.secret)).toEqual(['post-1', 'post-2']);
    expect(created.profile?.pin).toBe('1234');
    for (const p of created.posts) {
      await expectSealed(t, (await t.row('prisma_posts', p.id)).secret, p.secret!, POST_SECRET);
    }
    await expectSealed(
      t,
      (await t.row('prisma_profiles', created.profile!.id)).pin,
      '1234',
      PROFILE_PIN,
    );
    // and the other way round: a post creating its author
    const post = await t.db.post.create({
      data: {
        title: 't',
        secret: 's',
        author: { create: { email: email(), note: 'author note' } },
      },
      include: { author: true },
    });
    expect(post.author.note).toBe('author note');
    await expectSealed(t, (await user(post.authorId)).note, 'author note', USER_NOTE);
  });

  it('nested createMany encrypts', async () => {
    const created = await t.db.user.create({
      data: {
        email: email(),
        posts: {
          createMany: {
            data: [
              { title: 'a', secret: 'cm-a' },
              { title: 'b', secret: 'cm-b' },
            ],
          },
        },
      },
      include: { posts: { orderBy: { id: 'asc' } } },
    });
    expect(created.posts.map((p) => p.secret)).toEqual(['cm-a', 'cm-b']);
    for (const p of created.posts) {
      await expectSealed(t, (await t.row('prisma_posts', p.id)).secret, p.secret!, POST_SECRET);
    }
  });

  it('nested update encrypts, to-many with where and to-one', async () => {
    const created = await t.db.user.create({
      data: {
        email: email(),
        posts: { create: { title: 'x', secret: 'old' } },
        profile: { create: { pin: 'old pin' } },
      },
      include: { posts: true, profile: true },
    });
    const postId = created.posts[0]!.id;
    await t.db.user.update({
      where: { id: created.id },
      data: {
        posts: { update: { where: { id: postId }, data: { secret: 'new secret' } } },
        profile: { update: { pin: 'new pin' } },
      },
    });
    await expectSealed(t, (await t.row('prisma_posts', postId)).secret, 'new secret', POST_SECRET);
    await expectSealed(
      t,
      (await t.row('prisma_profiles', created.profile!.id)).pin,
      'new pin',
      PROFILE_PIN,
    );
    // the to-one form with a where
    await t.db.user.update({
      where: { id: created.id },
      data: { profile: { update: { where: { userId: created.id }, data: { pin: 'with where' } } } },
    });
    await expectSealed(
      t,
      (await t.row('prisma_profiles', created.profile!.id)).pin,
      'with where',
      PROFILE_PIN,
    );
    await t.db.post.update({
      where: { id: postId },
      data: { author: { update: { data: { slackToken: 'via author' } } } },
    });
    await expectSealed(t, (await user(created.id)).slackToken, 'via author', USER_TOKEN);
  });

  it('nested updateMany encrypts', async () => {
    const created = await t.db.user.create({
      data: {
        email: email(),
        posts: {
          create: [
            { title: 'm', secret: 'a' },
            { title: 'm', secret: 'b' },
          ],
        },
      },
      include: { posts: true },
    });
    await t.db.user.update({
      where: { id: created.id },
      data: { posts: { updateMany: { where: { title: 'm' }, data: { secret: 'all' } } } },
    });
    for (const p of created.posts) {
      await expectSealed(t, (await t.row('prisma_posts', p.id)).secret, 'all', POST_SECRET);
    }
  });

  it('nested upsert encrypts its create and its update', async () => {
    const { id } = await t.db.user.create({ data: { email: email() } });
    const first = await t.db.user.update({
      where: { id },
      data: {
        profile: { upsert: { create: { pin: 'ups-create' }, update: { pin: 'ups-update' } } },
      },
      include: { profile: true },
    });
    expect(first.profile?.pin).toBe('ups-create');
    const profileId = first.profile!.id;
    await expectSealed(
      t,
      (await t.row('prisma_profiles', profileId)).pin,
      'ups-create',
      PROFILE_PIN,
    );
    await t.db.user.update({
      where: { id },
      data: { profile: { upsert: { create: { pin: 'no' }, update: { pin: 'ups-update' } } } },
    });
    await expectSealed(
      t,
      (await t.row('prisma_profiles', profileId)).pin,
      'ups-update',
      PROFILE_PIN,
    );
    const { id: postId } = await t.db.post.create({ data: { title: 'u', authorId: id } });
    await t.db.user.update({
      where: { id },
      data: {
        posts: {
          upsert: [
            { where: { id: postId }, create: { title: 'u' }, update: { secret: 'list-upsert' } },
          ],
        },
      },
    });
    await expectSealed(t, (await t.row('prisma_posts', postId)).secret, 'list-upsert', POST_SECRET);
  });

  it('nested connectOrCreate encrypts its create', async () => {
    const e = email();
    const post = await t.db.post.create({
      data: {
        title: 'coc',
        author: {
          connectOrCreate: { where: { email: e }, create: { email: e, slackToken: 'coc' } },
        },
      },
    });
    await expectSealed(t, (await user(post.authorId)).slackToken, 'coc', USER_TOKEN);
  });

  it('$transaction with an array of writes encrypts each', async () => {
    const [a, b] = await t.db.$transaction([
      t.db.user.create({ data: { email: email(), slackToken: 'tx-array-1' } }),
      t.db.user.create({ data: { email: email(), note: 'tx-array-2' } }),
    ]);
    expect(a.slackToken).toBe('tx-array-1');
    expect(b.note).toBe('tx-array-2');
    await expectSealed(t, (await user(a.id)).slackToken, 'tx-array-1', USER_TOKEN);
    await expectSealed(t, (await user(b.id)).note, 'tx-array-2', USER_NOTE);
  });

  it('an interactive $transaction encrypts its writes', async () => {
    const id = await t.db.$transaction(async (tx) => {
      const u = await tx.user.create({ data: { email: email(), slackToken: 'itx' } });
      await tx.post.create({ data: { title: 'p', secret: 'itx-post', authorId: u.id } });
      await tx.user.update({ where: { id: u.id }, data: { note: 'itx-note' } });
      return u.id;
    });
    const row = await user(id);
    await expectSealed(t, row.slackToken, 'itx', USER_TOKEN);
    await expectSealed(t, row.note, 'itx-note', USER_NOTE);
    const { rows } = await t.raw.query('select secret from prisma_posts where "authorId" = $1', [
      id,
    ]);
    await expectSealed(t, rows[0]!.secret, 'itx-post', POST_SECRET);
  });

  it("the caller's arguments are left as they were", async () => {
    const data = {
      email: email(),
      slackToken: 'mine',
      posts: { create: [{ title: 'p', secret: 'mine too' }] },
    };
    const before = JSON.stringify(data);
    await t.db.user.create({ data });
    expect(JSON.stringify(data)).toBe(before);
  });

  it('a value that is not a string or null is refused before anything is written', async () => {
    const e = email();
    for (const value of [42, true, { nested: 'x' }, new Date(0), ['a']]) {
      const error = await t.db.user
        .create({ data: { email: e, slackToken: value as unknown as string } })
        .catch((err: unknown) => err);
      expect(CmekInvalidInputError.isInstance(error)).toBe(true);
      expect((error as Error).message).toContain('User.slackToken');
    }
    const { rows } = await t.raw.query('select 1 from prisma_users where email = $1', [e]);
    expect(rows).toHaveLength(0);
    const { id } = await t.db.user.create({ data: { email: e } });
    await expect(
      t.db.user.update({ where: { id }, data: { note: 7 as unknown as string } }),
    ).rejects.toMatchObject({ code: 'CMEK_INVALID_INPUT' });
    await expect(
      t.db.user.update({
        where: { id },
        data: { posts: { create: { title: 'x', secret: 1n as unknown as string } } },
      }),
    ).rejects.toMatchObject({ code: 'CMEK_INVALID_INPUT' });
  });

  it('a Prisma error of an encrypted write holds no token, and keeps its code', async () => {
    const e = email();
    // an unknown field: Prisma's validation error renders the call's arguments
    const invalid = (await t.db.user
      .create({ data: { email: e, slackToken: 'secret-in-args', bogus: 1 } as never })
      .then(
        () => undefined,
        (err: unknown) => err,
      )) as Error;
    expect(invalid).toBeInstanceOf(Error);
    expect(invalid.message).toContain('bogus');
    expect(invalid.message).toContain('[cmek token]');
    for (const text of [invalid.message, String(invalid.stack)]) {
      expect(text).not.toContain('cmek:v1:');
      expect(text).not.toContain('secret-in-args');
    }
    // a unique violation: the error keeps Prisma's code
    await t.db.user.create({ data: { email: e, slackToken: 'first' } });
    const duplicate = (await t.db.user.create({ data: { email: e, slackToken: 'second' } }).then(
      () => undefined,
      (err: unknown) => err,
    )) as Error & { code?: string };
    expect(duplicate.code).toBe('P2002');
    expect(`${duplicate.message}${duplicate.stack}`).not.toContain('cmek:v1:');
  });
});
