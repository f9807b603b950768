/**
 * Every write path of Prisma keeps the blind indexes in step: each test reads the stored row with
 * SQL and compares the index field with the index computed by a second indexer loaded from the
 * same wrapped key (test/support/indexed.ts).
 */
import { type BlindIndexer, CmekInvalidInputError } from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, pgUrl, type TestDatabase } from './support/db';
import { checkingIndexer, expectedIndex, expectIndexed, TOKEN_HASH } from './support/indexed';

describe.skipIf(!pgUrl)('blind indexes on every write path', () => {
  let t: TestDatabase;
  let check: BlindIndexer;
  let n = 0;
  const name = () => `token-${++n}`;
  const run = `${process.pid}-${Date.now()}`;
  const secret = (tag: string) => `bidx-secret-${tag}-${run}`;
  beforeAll(async () => {
    t = await openDatabase('bidx_writes');
    check = await checkingIndexer(t);
  });
  afterAll(async () => {
    check?.close();
    await t?.close();
  });

  const idsOf = async (names: string[]) => {
    const { rows } = await t.raw.query<{ id: number }>(
      'select id from prisma_api_tokens where name = any($1) order by id',
      [names],
    );
    return rows.map((r) => r.id);
  };

  it('create writes the index of each indexed field, normalised, and returns the plaintext', async () => {
    const created = await t.db.apiToken.create({
      data: { name: name(), tokenHash: secret('create'), email: '  Alice@Example.TEST ' },
    });
    expect(created.tokenHash).toBe(secret('create'));
    expect(created.email).toBe('  Alice@Example.TEST ');
    await expectIndexed(t, check, created.id, 'tokenHash', secret('create'));
    await expectIndexed(t, check, created.id, 'email', '  Alice@Example.TEST ');
    // the normalised index is the index of the normalised value
    const row = await t.row('prisma_api_tokens', created.id);
    expect(row.emailBidx).toBe(check.compute('ApiToken.email', 'alice@example.test'));
    // a null value has a null index; a field left out leaves its index null
    const empty = await t.db.apiToken.create({ data: { name: name(), tokenHash: null } });
    await expectIndexed(t, check, empty.id, 'tokenHash', null);
    await expectIndexed(t, check, empty.id, 'email', null);
  });

  it('createMany writes the index of every row', async () => {
    const names = [name(), name(), name()];
    await t.db.apiToken.createMany({
      data: [
        { name: names[0]!, tokenHash: secret('many-0') },
        { name: names[1]!, tokenHash: null, email: 'b@example.test' },
        { name: names[2]! },
      ],
    });
    const [a, b, c] = await idsOf(names);
    await expectIndexed(t, check, a!, 'tokenHash', secret('many-0'));
    await expectIndexed(t, check, b!, 'tokenHash', null);
    await expectIndexed(t, check, b!, 'email', 'b@example.test');
    await expectIndexed(t, check, c!, 'tokenHash', null);
  });

  it('createManyAndReturn writes the index of every row', async () => {
    const out = await t.db.apiToken.createManyAndReturn({
      data: [
        { name: name(), tokenHash: secret('cmar-0') },
        { name: name(), tokenHash: secret('cmar-1') },
      ],
    });
    expect(out.map((r) => r.tokenHash)).toEqual([secret('cmar-0'), secret('cmar-1')]);
    for (const [i, r] of out.entries()) {
      await expectIndexed(t, check, r.id, 'tokenHash', secret(`cmar-${i}`));
    }
  });

  it('update moves the index, { set } too; null clears it; another field leaves it', async () => {
    const { id } = await t.db.apiToken.create({
      data: { name: name(), tokenHash: secret('before') },
    });
    await t.db.apiToken.update({ where: { id }, data: { tokenHash: secret('after') } });
    await expectIndexed(t, check, id, 'tokenHash', secret('after'));
    await t.db.apiToken.update({ where: { id }, data: { tokenHash: { set: secret('set') } } });
    await expectIndexed(t, check, id, 'tokenHash', secret('set'));
    await t.db.apiToken.update({ where: { id }, data: { email: 'other@example.test' } });
    await expectIndexed(t, check, id, 'tokenHash', secret('set'));
    await t.db.apiToken.update({ where: { id }, data: { tokenHash: { set: null } } });
    await expectIndexed(t, check, id, 'tokenHash', null);
    await t.db.apiToken.update({ where: { id }, data: { email: null } });
    await expectIndexed(t, check, id, 'email', null);
  });

  it('updateMany and updateManyAndReturn write the index', async () => {
    const names = [name(), name()];
    await t.db.apiToken.createMany({ data: names.map((nm) => ({ name: nm })) });
    const { count } = await t.db.apiToken.updateMany({
      where: { name: names[0]! },
      data: { email: 'um@example.test' },
    });
    expect(count).toBe(1);
    const out = await t.db.apiToken.updateManyAndReturn({
      where: { name: names[1]! },
      data: { tokenHash: secret('umar') },
    });
    expect(out[0]!.tokenHash).toBe(secret('umar'));
    const [a, b] = await idsOf(names);
    await expectIndexed(t, check, a!, 'email', 'um@example.test');
    await expectIndexed(t, check, b!, 'tokenHash', secret('umar'));
  });

  it('upsert writes the index in its create and in its update', async () => {
    const nm = name();
    const created = await t.db.apiToken.upsert({
      where: { id: -1 },
      create: { name: nm, tokenHash: secret('upsert-create') },
      update: {},
    });
    await expectIndexed(t, check, created.id, 'tokenHash', secret('upsert-create'));
    await t.db.apiToken.upsert({
      where: { id: created.id },
      create: { name: nm },
      update: { tokenHash: secret('upsert-update') },
    });
    await expectIndexed(t, check, created.id, 'tokenHash', secret('upsert-update'));
  });

  it('nested writes write the index: create, createMany, update, updateMany, upsert, connectOrCreate', async () => {
    const names = [name(), name(), name()];
    const owner = await t.db.user.create({
      data: {
        email: `${names[0]}@example.test`,
        apiTokens: {
          create: [{ name: names[0]!, tokenHash: secret('nested-create') }],
          createMany: { data: [{ name: names[1]!, tokenHash: secret('nested-many') }] },
        },
      },
    });
    const [a, b] = await idsOf(names.slice(0, 2));
    await expectIndexed(t, check, a!, 'tokenHash', secret('nested-create'));
    await expectIndexed(t, check, b!, 'tokenHash', secret('nested-many'));
    await t.db.user.update({
      where: { id: owner.id },
      data: {
        apiTokens: {
          update: { where: { id: a! }, data: { tokenHash: secret('nested-update') } },
          updateMany: { where: { id: b! }, data: { email: 'nested@example.test' } },
        },
      },
    });
    await expectIndexed(t, check, a!, 'tokenHash', secret('nested-update'));
    await expectIndexed(t, check, b!, 'email', 'nested@example.test');
    await t.db.user.update({
      where: { id: owner.id },
      data: {
        apiTokens: {
          upsert: [
            { where: { id: a! }, create: { name: 'unused' }, update: { tokenHash: null } },
            {
              where: { id: -1 },
              create: { name: names[2]!, email: 'Up@Example.test' },
              update: {},
            },
          ],
        },
      },
    });
    await expectIndexed(t, check, a!, 'tokenHash', null);
    const [c] = await idsOf([names[2]!]);
    await expectIndexed(t, check, c!, 'email', 'Up@Example.test');
    const coc = name();
    await t.db.user.update({
      where: { id: owner.id },
      data: {
        apiTokens: {
          connectOrCreate: {
            where: { id: -1 },
            create: { name: coc, tokenHash: secret('connect-or-create') },
          },
        },
      },
    });
    const [d] = await idsOf([coc]);
    await expectIndexed(t, check, d!, 'tokenHash', secret('connect-or-create'));
  });

  it('both $transaction forms write the index', async () => {
    const [a] = await t.db.$transaction([
      t.db.apiToken.create({ data: { name: name(), tokenHash: secret('tx-array') } }),
    ]);
    await expectIndexed(t, check, a.id, 'tokenHash', secret('tx-array'));
    const id = await t.db.$transaction(async (tx) => {
      const created = await tx.apiToken.create({ data: { name: name() } });
      await tx.apiToken.update({
        where: { id: created.id },
        data: { tokenHash: secret('tx-interactive') },
      });
      return created.id;
    });
    await expectIndexed(t, check, id, 'tokenHash', secret('tx-interactive'));
  });

  it('a token of the field written back is indexed by its plaintext', async () => {
    const { id } = await t.db.apiToken.create({
      data: { name: name(), email: 'Copied@Example.test' },
    });
    const stored = (await t.row('prisma_api_tokens', id)).email as string;
    const copy = await t.db.apiToken.create({ data: { name: name(), email: stored } });
    const row = await t.row('prisma_api_tokens', copy.id);
    expect(row.email).toBe(stored);
    expect(row.emailBidx).toBe(expectedIndex(check, 'email', 'Copied@Example.test'));
  });

  it('data setting an index field itself is refused, on every write path, before anything is written', async () => {
    const nm = name();
    const forged = check.compute(TOKEN_HASH.field, 'forged');
    const { id } = await t.db.apiToken.create({ data: { name: name() } });
    for (const run of [
      () => t.db.apiToken.create({ data: { name: nm, tokenHashBidx: forged } }),
      () => t.db.apiToken.createMany({ data: [{ name: nm, emailBidx: null }] }),
      () => t.db.apiToken.update({ where: { id }, data: { tokenHashBidx: { set: forged } } }),
      () => t.db.apiToken.updateMany({ where: { id }, data: { emailBidx: forged } }),
      () =>
        t.db.apiToken.upsert({
          where: { id },
          create: { name: nm },
          update: { tokenHashBidx: forged },
        }),
      () =>
        t.db.user.create({
          data: {
            email: `${nm}@example.test`,
            apiTokens: { create: { name: nm, emailBidx: forged } },
          },
        }),
    ]) {
      const error = await run().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(CmekInvalidInputError.isInstance(error), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/ApiToken\.(tokenHashBidx|emailBidx)/);
    }
    expect(await idsOf([nm])).toEqual([]);
    expect((await t.row('prisma_api_tokens', id)).tokenHashBidx).toBeNull();
  });
});
