/**
 * `mongooseRowStore` of a model with a blind index, driven by core's engine: the store declares
 * the index path, `backfill` encrypts legacy plaintext and fills missing indexes in the same
 * guarded write, `verify` reports missing and mismatched ones.
 */
import { backfill, verify } from '@cmek/core/engine';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mongooseRowStore } from '../src/index';
import {
  expectIndexed,
  openTokensDatabase,
  TOKEN_INDEX,
  type TokensDatabase,
  tokenIndex,
} from './support/api-tokens';
import { mongooses, mongoUrl } from './support/mongo';

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`blind indexes through the engine (${label})`, () => {
    let db: TokensDatabase;

    beforeAll(async () => {
      db = await openTokensDatabase(mongoose, mongoUrl!);
    });
    afterAll(async () => db?.close());

    it('mongooseRowStore declares the index path, scans it and writes it with the value in one compare-and-set', async () => {
      const store = mongooseRowStore(db.ApiToken, ['token', 'note']);
      expect(store.blindIndexes).toEqual({ token: [TOKEN_INDEX] });
      expect(mongooseRowStore(db.ApiToken, ['note']).blindIndexes).toBeUndefined();
      const doc = await db.ApiToken.create({ name: 'cas', token: 'cas-secret-1' });
      const rows = await store.scan(undefined, 100);
      const row = rows.find((r) => r.id === String(doc._id))!;
      expect(row.indexes).toEqual({ tokenBidx: tokenIndex(db, 'cas-secret-1') });
      const stored = row.values.token!;
      const next = await db.envelope.encrypt('cas-secret-2', {
        context: { field: 'ApiToken.token' },
      });
      const index = tokenIndex(db, 'cas-secret-2');
      expect(await store.compareAndSet(row.id, 'token', 'stale', next, { tokenBidx: index })).toBe(
        false,
      );
      await expectIndexed(db, doc._id, 'cas-secret-1');
      expect(await store.compareAndSet(row.id, 'token', stored, next, { tokenBidx: index })).toBe(
        true,
      );
      await expectIndexed(db, doc._id, 'cas-secret-2');
      // a compare-and-set without indexes (a rewrap) leaves the index path as it is
      const again = await db.envelope.encrypt('cas-secret-2', {
        context: { field: 'ApiToken.token' },
      });
      expect(await store.compareAndSet(row.id, 'token', next, again)).toBe(true);
      await expectIndexed(db, doc._id, 'cas-secret-2');
      await expect(
        store.compareAndSet(row.id, 'token', again, next, { emailBidx: index }),
      ).rejects.toThrow(/not a blind-index path of 'token'/);
    });

    it('backfill encrypts legacy plaintext and fills missing indexes; verify reports missing and mismatched ones', async () => {
      const coll = db.raw.collection('apitokens');
      await coll.deleteMany({});
      const legacy = new ObjectId();
      await coll.insertOne({ _id: legacy, name: 'legacy', token: 'legacy-secret' });
      const missing = await db.ApiToken.create({ name: 'missing', token: 'missing-secret' });
      await coll.updateOne(
        { _id: new ObjectId(String(missing._id)) },
        { $unset: { tokenBidx: 1 } },
      );
      const stale = await db.ApiToken.create({ name: 'stale', token: 'stale-secret' });
      await coll.updateOne(
        { _id: new ObjectId(String(stale._id)) },
        { $set: { tokenBidx: tokenIndex(db, 'another-secret') } },
      );
      const fine = await db.ApiToken.create({ name: 'fine', token: 'fine-secret' });
      const store = mongooseRowStore(db.ApiToken, ['token']);
      const options = { envelope: db.envelope, indexer: db.indexer };

      const before = await verify(store, options);
      expect(before.fields.token!.indexes!.tokenBidx).toMatchObject({
        ok: 1,
        missing: 2,
        mismatched: 1,
      });
      expect(before.indexProblems).toBe(3);

      const report = await backfill(store, options);
      expect(report.fields.token!.written).toBe(1);
      expect(report.fields.token!.indexes).toEqual({ candidates: 2, written: 2 });
      await expectIndexed(db, legacy, 'legacy-secret');
      await expectIndexed(db, missing._id, 'missing-secret');
      await expectIndexed(db, fine._id, 'fine-secret');
      expect(String((await db.ApiToken.findOne({ token: 'legacy-secret' }))!._id)).toBe(
        legacy.toHexString(),
      );

      const after = await verify(store, options);
      expect(after.fields.token!.indexes!.tokenBidx).toMatchObject({
        ok: 3,
        missing: 0,
        mismatched: 1,
        ids: [String(stale._id)],
      });
      expect(after.indexProblems).toBe(1);
    });
  });
}
