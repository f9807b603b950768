/** Every read path decrypts, nested records of other models included, one batch per field. */
import type { Envelope } from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CmekClient, extend, openDatabase, pgUrl, type TestDatabase } from './support/db';

describe.skipIf(!pgUrl)('read paths', () => {
  let t: TestDatabase;
  let userId: number;
  beforeAll(async () => {
    t = await openDatabase('reads');
    const u = await t.db.user.create({
      data: {
        email: 'reader@example.test',
        slackToken: 'xoxb-read',
        note: 'note-read',
        posts: {
          create: [
            { title: 'p1', secret: 'post-secret-1' },
            { title: 'p2', secret: null },
          ],
        },
        profile: { create: { pin: '0000' } },
      },
    });
    userId = u.id;
  });
  afterAll(() => t?.close());

  it('the stored values are tokens (the fixture is encrypted)', async () => {
    const row = await t.row('prisma_users', userId);
    expect(String(row.slackToken).startsWith('cmek:v1:')).toBe(true);
  });

  it('findUnique, findUniqueOrThrow, findFirst, findFirstOrThrow and findMany decrypt', async () => {
    const where = { id: userId };
    const reads = [
      await t.db.user.findUnique({ where }),
      await t.db.user.findUniqueOrThrow({ where }),
      await t.db.user.findFirst({ where }),
      await t.db.user.findFirstOrThrow({ where }),
      ...(await t.db.user.findMany({ where })),
    ];
    for (const u of reads) {
      expect(u?.slackToken).toBe('xoxb-read');
      expect(u?.note).toBe('note-read');
    }
  });

  it('include and select of relations decrypt the related records under their own fields', async () => {
    const u = await t.db.user.findUniqueOrThrow({
      where: { id: userId },
      include: { posts: { orderBy: { id: 'asc' } }, profile: true },
    });
    expect(u.posts.map((p) => p.secret)).toEqual(['post-secret-1', null]);
    expect(u.profile?.pin).toBe('0000');
    const selected = await t.db.user.findMany({
      where: { id: userId },
      select: {
        note: true,
        posts: { select: { secret: true, author: { select: { slackToken: true } } } },
      },
    });
    expect(selected[0]!.note).toBe('note-read');
    expect(selected[0]!.posts[0]!.secret).toBe('post-secret-1');
    expect(selected[0]!.posts[0]!.author.slackToken).toBe('xoxb-read');
    const posts = await t.db.post.findMany({
      where: { authorId: userId },
      include: { author: { include: { profile: true } } },
    });
    for (const p of posts) {
      expect(p.author.slackToken).toBe('xoxb-read');
      expect(p.author.profile?.pin).toBe('0000');
    }
  });

  it('the fluent API decrypts the related records', async () => {
    const posts = await t.db.user
      .findUnique({ where: { id: userId } })
      .posts({ orderBy: { id: 'asc' } });
    expect(posts?.map((p) => p.secret)).toEqual(['post-secret-1', null]);
    const profile = await t.db.user.findUniqueOrThrow({ where: { id: userId } }).profile();
    expect(profile?.pin).toBe('0000');
  });

  it('delete returns the plaintext', async () => {
    const u = await t.db.user.create({ data: { email: 'gone@example.test', slackToken: 'bye' } });
    const deleted = await t.db.user.delete({ where: { id: u.id } });
    expect(deleted.slackToken).toBe('bye');
  });

  it('reads in a $transaction, array and interactive, decrypt', async () => {
    const [found, count] = await t.db.$transaction([
      t.db.user.findUniqueOrThrow({ where: { id: userId } }),
      t.db.user.count(),
    ]);
    expect(found.slackToken).toBe('xoxb-read');
    expect(count).toBeGreaterThan(0);
    const inside = await t.db.$transaction((tx) =>
      tx.post.findMany({ where: { authorId: userId }, orderBy: { id: 'asc' } }),
    );
    expect(inside[0]!.secret).toBe('post-secret-1');
  });

  it('a result set is decrypted with one decryptMany per field', async () => {
    for (let i = 0; i < 4; i++) {
      await t.db.user.create({
        data: {
          email: `many${i}@example.test`,
          slackToken: `tok-${i}`,
          note: `n-${i}`,
          posts: { create: { title: 't', secret: `s-${i}` } },
        },
      });
    }
    const calls: string[] = [];
    const counting: Envelope = new Proxy(t.envelope, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (key === 'decryptMany' && typeof value === 'function') {
          return (values: readonly unknown[], options: { context: { field: string } }) => {
            calls.push(options.context.field);
            return (value as (...a: unknown[]) => unknown).call(target, values, options);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const db: CmekClient = extend(t.plain, counting, t.indexer);
    const users = await db.user.findMany({ include: { posts: true } });
    expect(users.length).toBeGreaterThanOrEqual(5);
    expect(users.find((u) => u.email === 'many3@example.test')?.posts[0]?.secret).toBe('s-3');
    expect(calls.sort()).toEqual(['Post.secret', 'User.note', 'User.slackToken']);
  });

  it('a write returns the plaintext it wrote without decrypting it', async () => {
    const calls: string[] = [];
    const counting: Envelope = new Proxy(t.envelope, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (key === 'decryptMany' || key === 'decrypt') calls.push(String(key));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const db = extend(t.plain, counting, t.indexer);
    const u = await db.user.create({ data: { email: 'fresh@example.test', slackToken: 'fresh' } });
    expect(u.slackToken).toBe('fresh');
    expect(calls).toEqual([]);
  });

  it('legacy plaintext written around the adapter reads as it is (the default plaintext policy)', async () => {
    const { rows } = await t.raw.query<{ id: number }>(
      `insert into prisma_users (email, "slackToken") values ('legacy@example.test', 'legacy-plain') returning id`,
    );
    const u = await t.db.user.findUniqueOrThrow({ where: { id: rows[0]!.id } });
    expect(u.slackToken).toBe('legacy-plain');
  });
});
