/**
 * The review of blind indexes on Mongoose: the write and filter paths the first tests did not
 * walk, each read back with the driver. A write must keep `tokenBidx` the index of `token` (or
 * be refused before anything is sent); a lookup must find exactly the documents of the value.
 */
import { randomBytes } from 'node:crypto';
import { CmekPlaintextRejectedError, CmekQueryError } from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectIndexed,
  openTokensDatabase,
  type TokensDatabase,
  tokenIndex,
} from './support/api-tokens';
import { mongooses, mongoUrl } from './support/mongo';

const run = randomBytes(4).toString('hex');
const secret = (name: string) => `tok-${name}-${run}`;

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`blind-index paths (${label})`, () => {
    let db: TokensDatabase;

    beforeAll(async () => {
      db = await openTokensDatabase(mongoose, mongoUrl!);
    });
    afterAll(async () => {
      await db?.close();
    });

    const ids = (docs: readonly { _id: unknown }[]) => docs.map((d) => String(d._id)).sort();
    const refusal = async (write: () => PromiseLike<unknown>) => {
      try {
        await write();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const isIndexRefusal = (e: unknown) =>
      CmekQueryError.isInstance(e) &&
      /blind-index path 'tokenBidx'|encrypted path 'tokenBidx'/.test((e as Error).message);

    it('a write of the index path without its value is refused before anything is sent (a new document drops it)', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'direct', token: secret('direct') });
      const other = tokenIndex(db, secret('not-the-value'));
      const writes: (() => PromiseLike<unknown>)[] = [
        () => ApiToken.updateOne({ _id: doc._id }, { $set: { tokenBidx: other } }),
        () => ApiToken.updateOne({ _id: doc._id }, { tokenBidx: other }),
        () => ApiToken.updateOne({ _id: doc._id }, { $unset: { tokenBidx: 1 } }),
        () => ApiToken.updateOne({ _id: doc._id }, { $rename: { tokenBidx: 'moved' } }),
        () => ApiToken.updateOne({ _id: doc._id }, { $rename: { name: 'tokenBidx' } }),
        () =>
          ApiToken.updateOne(
            { name: `direct-upsert-${run}` },
            { $setOnInsert: { tokenBidx: other } },
            { upsert: true },
          ),
        () => ApiToken.replaceOne({ _id: doc._id }, { name: 'direct', tokenBidx: other }),
        () => ApiToken.findOneAndReplace({ _id: doc._id }, { name: 'direct', tokenBidx: other }),
        () =>
          ApiToken.bulkWrite([
            { updateOne: { filter: { _id: doc._id }, update: { $unset: { tokenBidx: '' } } } },
          ]),
        () => ApiToken.insertMany([{ name: 'direct-3', tokenBidx: other }]),
      ];
      for (const write of writes) expect(isIndexRefusal(await refusal(write))).toBe(true);
      await expectIndexed(db, doc._id, secret('direct'));
      expect(await ApiToken.countDocuments({ name: 'direct-3' })).toBe(0);
      // a new document without its value: the index of the absent value is removed (save)
      const bare = await ApiToken.create({ name: 'direct-2', tokenBidx: other });
      await expectIndexed(db, bare._id, null);
      expect(await ApiToken.countDocuments({ name: `direct-upsert-${run}` })).toBe(0);
      // a loaded document whose index path is set
      const loaded = (await ApiToken.findById(doc._id))!;
      loaded.set('tokenBidx', other);
      expect(isIndexRefusal(await refusal(() => loaded.save()))).toBe(true);
      await expectIndexed(db, doc._id, secret('direct'));
    });

    it('the value and its index path written together: the index of the value wins', async () => {
      const { ApiToken } = db;
      const other = tokenIndex(db, secret('not-the-value'));
      const doc = await ApiToken.create({ name: 'both', token: secret('both'), tokenBidx: other });
      await expectIndexed(db, doc._id, secret('both'));
      await ApiToken.updateOne(
        { _id: doc._id },
        { $set: { token: secret('both-2'), tokenBidx: other } },
      );
      await expectIndexed(db, doc._id, secret('both-2'));
      // a document copied with its stored index: the index is computed again from the value
      const copy = (await ApiToken.findById(doc._id).lean())!;
      await ApiToken.deleteOne({ _id: doc._id });
      await ApiToken.create(copy);
      await expectIndexed(db, doc._id, secret('both-2'));
    });

    it('$rename of the value and an update pipeline touching it or its index are refused', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'pipe', token: secret('pipe') });
      // Mongoose 9 takes an update pipeline only with this option; Mongoose 8 ignores it
      const pipeline = { updatePipeline: true } as never;
      for (const write of [
        () => ApiToken.updateOne({ _id: doc._id }, { $rename: { token: 'moved' } }),
        () => ApiToken.updateMany({ _id: doc._id }, [{ $set: { token: '$name' } }], pipeline),
        () => ApiToken.updateMany({ _id: doc._id }, [{ $set: { tokenBidx: '$name' } }], pipeline),
        () => ApiToken.updateMany({ _id: doc._id }, [{ $unset: ['tokenBidx'] }], pipeline),
        () => ApiToken.updateMany({ _id: doc._id }, [{ $unset: 'token' }], pipeline),
      ]) {
        expect(CmekQueryError.isInstance(await refusal(write))).toBe(true);
      }
      await expectIndexed(db, doc._id, secret('pipe'));
    });

    it('findOneAndUpdate upsert with $set and $setOnInsert, doc.set().save(), doc.updateOne() and setUpdate write the index', async () => {
      const { ApiToken } = db;
      const name = `fou-${run}`;
      const created = await ApiToken.findOneAndUpdate(
        { name },
        { $set: { token: secret('fou') }, $setOnInsert: { note: 'inserted' } },
        { upsert: true, new: true },
      );
      await expectIndexed(db, created!._id, secret('fou'));
      const loaded = (await ApiToken.findById(created!._id))!;
      loaded.set('token', secret('set'));
      await loaded.save();
      await expectIndexed(db, created!._id, secret('set'));
      await loaded.updateOne({ $set: { token: secret('doc-update') } });
      await expectIndexed(db, created!._id, secret('doc-update'));
      const query = ApiToken.updateOne({ _id: created!._id }, { $set: { name } });
      query.setUpdate({ $set: { token: secret('set-update') } });
      await query.exec();
      await expectIndexed(db, created!._id, secret('set-update'));
    });

    it('bulkWrite updateOne with $unset, and insertMany ordered:false with rawResult, keep the index in step', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'bw-unset', token: secret('bw-unset') });
      await ApiToken.bulkWrite([
        { updateOne: { filter: { _id: doc._id }, update: { $unset: { token: '' } } } },
      ]);
      await expectIndexed(db, doc._id, null);
      const result = (await ApiToken.insertMany(
        [
          { name: 'im-1', token: secret('im-1') },
          { name: 'im-2', token: secret('im-2') },
        ],
        { ordered: false, rawResult: true },
      )) as unknown as { insertedIds: Record<string, unknown> };
      const inserted = Object.values(result.insertedIds);
      await expectIndexed(db, inserted[0], secret('im-1'));
      await expectIndexed(db, inserted[1], secret('im-2'));
    });

    it('lean, exists, distinct of another path, populate match and a discriminator look the value up', async () => {
      const { ApiToken } = db;
      const a = await ApiToken.create({ name: 'la', token: secret('la') });
      await ApiToken.create({ name: 'lb', token: secret('lb') });
      expect(ids(await ApiToken.find({ token: secret('la') }).lean())).toEqual(ids([a]));
      expect(String((await ApiToken.exists({ token: secret('la') }))?._id)).toBe(String(a._id));
      expect(await ApiToken.exists({ token: secret('none') })).toBeNull();
      expect(await ApiToken.distinct('name', { token: secret('lb') })).toEqual(['lb']);
      const ownerSchema = new mongoose.Schema({
        title: String,
        apiToken: { type: mongoose.Schema.Types.ObjectId, ref: 'ApiToken' },
      });
      const Owner = db.conn.model(`Owner${run}`, ownerSchema);
      const owner = await Owner.create({ title: 'o', apiToken: a._id });
      const matched = await Owner.findById(owner._id).populate({
        path: 'apiToken',
        match: { token: secret('la') },
      });
      expect((matched!.apiToken as unknown as { token: string }).token).toBe(secret('la'));
      const unmatched = await Owner.findById(owner._id).populate({
        path: 'apiToken',
        match: { token: secret('lb') },
      });
      expect(unmatched!.apiToken).toBeNull();
      const Special = ApiToken.discriminator(
        `Special${run}`,
        new mongoose.Schema({ level: Number }),
      );
      const special = await Special.create({ name: 'sp', token: secret('special'), level: 2 });
      await expectIndexed(db, special._id, secret('special'));
      expect(ids(await Special.find({ token: secret('special') }).lean())).toEqual(ids([special]));
      expect(await Special.countDocuments({ token: secret('la') })).toBe(0);
      await Special.updateOne({ _id: special._id }, { $set: { token: secret('special-2') } });
      await expectIndexed(db, special._id, secret('special-2'));
    });

    it('the collection guard refuses a plaintext in the index path of insertOne, insertMany and replaceOne', async () => {
      const { ApiToken } = db;
      for (const write of [
        () => ApiToken.collection.insertOne({ name: 'cg', tokenBidx: secret('cg') }),
        () => ApiToken.collection.insertMany([{ name: 'cg', tokenBidx: secret('cg') }]),
        () => ApiToken.collection.replaceOne({ name: 'cg' }, { tokenBidx: secret('cg') }),
      ]) {
        const error = await refusal(write);
        expect(CmekPlaintextRejectedError.isInstance(error)).toBe(true);
        expect((error as Error).message).not.toContain(secret('cg'));
      }
      expect(await ApiToken.countDocuments({ name: 'cg' })).toBe(0);
    });
  });
}
