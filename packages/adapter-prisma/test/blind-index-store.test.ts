/**
 * `prismaRowStore` of a model with blind indexes: it declares them, scans them, writes them with
 * the value under the same guard, and the engine's backfill / verify fill and check them.
 */
import { type BlindIndexer, CmekInvalidInputError, type RowStore } from '@cmek/core';
import { backfill, verify } from '@cmek/core/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prismaRowStore } from '../src/index';
import { MODELS, openDatabase, pgUrl, type TestDatabase } from './support/db';
import { checkingIndexer, expectedIndex, expectIndexed } from './support/indexed';

describe.skipIf(!pgUrl)('prismaRowStore with blind indexes', () => {
  let t: TestDatabase;
  let check: BlindIndexer;
  let store: RowStore;
  beforeAll(async () => {
    t = await openDatabase('bidx_store');
    check = await checkingIndexer(t);
    store = prismaRowStore({ client: t.plain, model: 'ApiToken', fields: MODELS.ApiToken.fields });
  });
  afterAll(async () => {
    check?.close();
    await t?.close();
  });

  const insertRaw = async (name: string, tokenHash: string | null, bidx: string | null) => {
    const { rows } = await t.raw.query<{ id: number }>(
      'insert into prisma_api_tokens (name, "tokenHash", "tokenHashBidx") values ($1, $2, $3) returning id',
      [name, tokenHash, bidx],
    );
    return rows[0]!.id;
  };

  it('declares its blind indexes and scans the index fields', async () => {
    expect(store.blindIndexes).toEqual({
      tokenHash: [{ column: 'tokenHashBidx' }],
      email: [{ column: 'emailBidx', normalize: ['trim', 'lowercase'] }],
    });
    const { id } = await t.db.apiToken.create({ data: { name: 'scan', tokenHash: 'tok-scan' } });
    const [row] = await store.scan(id - 1, 1);
    expect(row!.id).toBe(id);
    expect(row!.indexes).toEqual({
      tokenHashBidx: expectedIndex(check, 'tokenHash', 'tok-scan'),
      emailBidx: null,
    });
    // a store of a model without indexes declares none and scans none
    const users = prismaRowStore({ client: t.plain, model: 'User', fields: MODELS.User.fields });
    expect(users.blindIndexes).toBeUndefined();
  });

  it('compareAndSet writes the value and its index together, only over the expected value', async () => {
    const id = await insertRaw('cas', 'legacy-cas', null);
    const next = await t.envelope.encrypt('legacy-cas', {
      context: { field: 'ApiToken.tokenHash' },
    });
    const index = expectedIndex(check, 'tokenHash', 'legacy-cas');
    expect(
      await store.compareAndSet(id, 'tokenHash', 'not this', next, { tokenHashBidx: index }),
    ).toBe(false);
    let row = await t.row('prisma_api_tokens', id);
    expect([row.tokenHash, row.tokenHashBidx]).toEqual(['legacy-cas', null]);
    expect(
      await store.compareAndSetMany!([
        { id, field: 'tokenHash', expected: 'legacy-cas', next, indexes: { tokenHashBidx: index } },
      ]),
    ).toEqual([true]);
    await expectIndexed(t, check, id, 'tokenHash', 'legacy-cas');
    // without indexes (a rewrap) the index is left as it is
    const rewrapped = await t.envelope.encrypt('legacy-cas', {
      context: { field: 'ApiToken.tokenHash' },
    });
    expect(await store.compareAndSet(id, 'tokenHash', next, rewrapped)).toBe(true);
    row = await t.row('prisma_api_tokens', id);
    expect([row.tokenHash, row.tokenHashBidx]).toEqual([rewrapped, index]);
    // the index field of another field is refused
    await expect(
      store.compareAndSet(id, 'tokenHash', rewrapped, next, { emailBidx: index }),
    ).rejects.toBeInstanceOf(CmekInvalidInputError);
  });

  it('backfill with the indexer fills a missing index, and verify reports a mismatch', async () => {
    await t.raw.query('delete from prisma_api_tokens');
    const legacy = await insertRaw('legacy', 'tok-legacy', null);
    const { id: unindexed } = await t.db.apiToken.create({
      data: { name: 'unindexed', tokenHash: 'tok-unindexed' },
    });
    await t.raw.query('update prisma_api_tokens set "tokenHashBidx" = null where id = $1', [
      unindexed,
    ]);
    const { id: fine } = await t.db.apiToken.create({
      data: { name: 'fine', tokenHash: 'tok-fine', email: 'fine@example.test' },
    });
    const before = await verify(store, { envelope: t.envelope, indexer: t.indexer });
    expect(before.fields.tokenHash!.indexes!.tokenHashBidx).toMatchObject({
      ok: 1,
      missing: 2,
      mismatched: 0,
    });
    expect(before.indexProblems).toBe(2);

    const report = await backfill(store, { envelope: t.envelope, indexer: t.indexer });
    expect(report.fields.tokenHash!.written).toBe(1);
    expect(report.fields.tokenHash!.indexes).toEqual({ candidates: 2, written: 2 });
    await expectIndexed(t, check, legacy, 'tokenHash', 'tok-legacy');
    await expectIndexed(t, check, unindexed, 'tokenHash', 'tok-unindexed');
    await expectIndexed(t, check, fine, 'email', 'fine@example.test');
    expect(
      (await t.db.apiToken.findFirst({ where: { tokenHash: 'tok-legacy' }, select: { id: true } }))
        ?.id,
    ).toBe(legacy);

    // an index of another value: a mismatch, with the row's key
    await t.raw.query('update prisma_api_tokens set "emailBidx" = $1 where id = $2', [
      expectedIndex(check, 'email', 'someone-else@example.test'),
      fine,
    ]);
    const after = await verify(store, { envelope: t.envelope, indexer: t.indexer });
    expect(after.fields.tokenHash!.indexes!.tokenHashBidx).toMatchObject({
      missing: 0,
      mismatched: 0,
    });
    expect(after.fields.email!.indexes!.emailBidx).toMatchObject({ mismatched: 1, ids: [fine] });
    expect(after.indexProblems).toBe(1);
  });
});
