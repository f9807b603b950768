/**
 * Equality lookups on a blind-indexed field are answered through its index field; every other
 * filter, sort or cursor on it stays refused; the unique index field refuses a duplicate secret.
 */
import {
  type BlindIndexer,
  createBlindIndexKey,
  createEnvelope,
  loadBlindIndexes,
} from '@cmek/core';
import { kekCallCounter } from '@cmek/test-suite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmekExtension } from '../src/index';
import { type CmekClient, MODELS, openDatabase, pgUrl, type TestDatabase } from './support/db';
import { expectQueryRefused } from './support/expect';
import { checkingIndexer, expectedIndex } from './support/indexed';

const NEEDLE = 'needle-bidx-7c1e';

const expectRefused = (run: () => PromiseLike<unknown>, field: string) =>
  expectQueryRefused(run, field, NEEDLE);

describe.skipIf(!pgUrl)('blind-index lookups', () => {
  let t: TestDatabase;
  let check: BlindIndexer;
  let alice: number;
  let bob: number;
  let carol: number;
  beforeAll(async () => {
    t = await openDatabase('bidx_lookups');
    check = await checkingIndexer(t);
    const owner = await t.db.user.create({ data: { email: 'owner@example.test' } });
    ({ id: alice } = await t.db.apiToken.create({
      data: {
        name: 'alice',
        tokenHash: 'tok-alice',
        email: 'Alice@Example.test',
        ownerId: owner.id,
      },
    }));
    ({ id: bob } = await t.db.apiToken.create({
      data: { name: 'bob', tokenHash: 'tok-bob', email: 'bob@example.test' },
    }));
    ({ id: carol } = await t.db.apiToken.create({
      data: { name: 'carol', tokenHash: null, email: 'alice@example.test' },
    }));
  });
  afterAll(async () => {
    check?.close();
    await t?.close();
  });

  const ids = (rows: { id: number }[]) => rows.map((r) => r.id).sort((a, b) => a - b);

  it('where field = value, { equals } and { in } find exactly the rows, decrypted', async () => {
    const found = await t.db.apiToken.findMany({ where: { tokenHash: 'tok-alice' } });
    expect(found.map((r) => [r.id, r.tokenHash, r.email])).toEqual([
      [alice, 'tok-alice', 'Alice@Example.test'],
    ]);
    expect(
      ids(await t.db.apiToken.findMany({ where: { tokenHash: { equals: 'tok-bob' } } })),
    ).toEqual([bob]);
    expect(
      ids(
        await t.db.apiToken.findMany({
          where: { tokenHash: { in: ['tok-alice', 'tok-bob', 'tok-nobody'] } },
        }),
      ),
    ).toEqual([alice, bob]);
    expect(await t.db.apiToken.findMany({ where: { tokenHash: 'tok-nobody' } })).toEqual([]);
    expect(await t.db.apiToken.findMany({ where: { tokenHash: { in: [] } } })).toEqual([]);
    // the normaliser applies to lookups too
    expect(ids(await t.db.apiToken.findMany({ where: { email: '  ALICE@example.TEST' } }))).toEqual(
      [alice, carol],
    );
    // null tests stay on the field itself
    expect(ids(await t.db.apiToken.findMany({ where: { tokenHash: null } }))).toEqual([carol]);
  });

  it('lookups work inside AND / OR / NOT, relation filters, count and the where of an include', async () => {
    const u = t.db.apiToken;
    expect(
      ids(await u.findMany({ where: { AND: [{ tokenHash: 'tok-alice' }, { name: 'alice' }] } })),
    ).toEqual([alice]);
    expect(
      ids(await u.findMany({ where: { OR: [{ tokenHash: 'tok-bob' }, { name: 'carol' }] } })),
    ).toEqual([bob, carol]);
    expect(
      ids(
        await u.findMany({ where: { NOT: { tokenHash: 'tok-alice' }, tokenHash: { not: null } } }),
      ),
    ).toEqual([bob]);
    expect(await u.count({ where: { email: 'bob@example.test' } })).toBe(1);
    const owners = await t.db.user.findMany({
      where: { apiTokens: { some: { tokenHash: 'tok-alice' } } },
      include: { apiTokens: { where: { email: 'alice@example.test' } } },
    });
    expect(owners.map((o) => o.email)).toEqual(['owner@example.test']);
    expect(owners[0]!.apiTokens.map((a) => a.tokenHash)).toEqual(['tok-alice']);
  });

  it('findUnique, update and delete find a row by a field whose index field is @unique', async () => {
    // the generated WhereUniqueInput names only the unique fields: the encrypted field needs a cast
    const byToken = (value: string) => ({ tokenHash: value }) as unknown as { id: number };
    const found = await t.db.apiToken.findUnique({ where: byToken('tok-bob') });
    expect(found?.id).toBe(bob);
    expect(found?.tokenHash).toBe('tok-bob');
    expect(await t.db.apiToken.findUnique({ where: byToken('tok-nobody') })).toBeNull();
    const updated = await t.db.apiToken.update({
      where: byToken('tok-bob'),
      data: { name: 'bob2' },
    });
    expect(updated.id).toBe(bob);
    const { id } = await t.db.apiToken.create({ data: { name: 'dave', tokenHash: 'tok-dave' } });
    await t.db.apiToken.delete({ where: byToken('tok-dave') });
    expect(await t.db.apiToken.findFirst({ where: { id } })).toBeNull();
    // a nested write's where too
    const owner = await t.db.user.findFirstOrThrow({ where: { email: 'owner@example.test' } });
    await t.db.user.update({
      where: { id: owner.id },
      data: { apiTokens: { update: { where: byToken('tok-alice'), data: { name: 'alice2' } } } },
    });
    expect((await t.db.apiToken.findUniqueOrThrow({ where: { id: alice } })).name).toBe('alice2');
  });

  it("the caller's where is left as it was", async () => {
    const where = { OR: [{ tokenHash: 'tok-alice' }, { email: { in: ['bob@example.test'] } }] };
    const before = structuredClone(where);
    await t.db.apiToken.findMany({ where });
    expect(where).toEqual(before);
  });

  it('every other filter, sort or cursor on an indexed field stays refused', async () => {
    const u = t.db.apiToken;
    for (const run of [
      () => u.findMany({ where: { tokenHash: { contains: NEEDLE } } }),
      () => u.findMany({ where: { tokenHash: { startsWith: NEEDLE } } }),
      () => u.findMany({ where: { tokenHash: { gt: NEEDLE } } }),
      () => u.findMany({ where: { tokenHash: { not: NEEDLE } } }),
      () => u.findMany({ where: { tokenHash: { equals: NEEDLE, mode: 'insensitive' } } }),
      () => u.findMany({ where: { tokenHash: { in: [NEEDLE], not: NEEDLE } } }),
      () => u.findMany({ where: { tokenHash: { notIn: [NEEDLE] } } }),
      () => u.findMany({ orderBy: { tokenHash: 'asc' } }),
      () => u.findMany({ cursor: { tokenHash: NEEDLE } as never }),
      () => u.findMany({ distinct: ['tokenHash'] }),
      () => u.groupBy({ by: ['tokenHash'] }),
      () => u.findMany({ where: { tokenHash: NEEDLE, tokenHashBidx: 'x' } }),
    ]) {
      await expectRefused(run, 'ApiToken.tokenHash');
    }
    // a field without an index is refused as before
    await expectRefused(
      () => t.db.user.findMany({ where: { slackToken: NEEDLE } }),
      'User.slackToken',
    );
  });

  it('a duplicate secret in the @unique index field is a P2002 error holding no value', async () => {
    const error = (await t.db.apiToken
      .create({ data: { name: 'again', tokenHash: 'tok-alice' } })
      .then(
        () => undefined,
        (err: unknown) => err,
      )) as Error & { code?: string; meta?: unknown };
    expect(error.code).toBe('P2002');
    const text = `${error.message}${error.stack}${JSON.stringify(error.meta)}`;
    expect(text).toContain('tokenHashBidx');
    for (const value of ['tok-alice', expectedIndex(check, 'tokenHash', 'tok-alice'), 'cmek:v1:']) {
      expect(text).not.toContain(value);
    }
    expect(await t.db.apiToken.count({ where: { name: 'again' } })).toBe(0);
  });

  it('a lookup makes no KEK call', async () => {
    const counter = kekCallCounter();
    const envelope = createEnvelope({ kek: t.kek, onEvent: counter.onEvent });
    const indexer = await loadBlindIndexes({
      keys: [t.indexKey],
      kek: t.kek,
      onEvent: counter.onEvent,
    });
    expect(counter.counts.unwrap).toBe(1); // loading the index key
    counter.reset();
    const db = t.plain.$extends(cmekExtension({ envelope, models: MODELS, indexer }));
    const select = { id: true } as const;
    expect((await db.apiToken.findFirst({ where: { tokenHash: 'tok-bob' }, select }))?.id).toBe(
      bob,
    );
    expect(
      (await db.apiToken.findMany({ where: { email: { in: ['bob@example.test'] } }, select }))
        .length,
    ).toBe(1);
    expect(await db.apiToken.count({ where: { tokenHash: { equals: 'tok-alice' } } })).toBe(1);
    expect(counter.counts.total).toBe(0);
    indexer.close();
  });

  it('during a rotation of the index key inside one column, lookups match both keys', async () => {
    const next = await createBlindIndexKey(t.kek);
    const rotating = await loadBlindIndexes({ keys: [next, t.indexKey], kek: t.kek });
    try {
      const db: CmekClient = t.plain.$extends(
        cmekExtension({ envelope: t.envelope, models: MODELS, indexer: rotating }),
      ) as unknown as CmekClient;
      const { id: erin } = await db.apiToken.create({
        data: { name: 'erin', email: 'Alice@example.test' },
      });
      const row = await t.row('prisma_api_tokens', erin);
      expect(row.emailBidx).toBe(rotating.compute('ApiToken.email', 'alice@example.test'));
      expect(row.emailBidx).not.toBe(expectedIndex(check, 'email', 'alice@example.test'));
      // rows indexed under the current key and under the next one
      expect(ids(await db.apiToken.findMany({ where: { email: 'alice@example.test' } }))).toEqual([
        alice,
        carol,
        erin,
      ]);
      // the extension with the old key alone finds the old rows only
      expect(ids(await t.db.apiToken.findMany({ where: { email: 'alice@example.test' } }))).toEqual(
        [alice, carol],
      );
    } finally {
      rotating.close();
    }
  });
});
