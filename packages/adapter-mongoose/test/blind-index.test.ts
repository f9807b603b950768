/**
 * Blind indexes over the real server, with both Mongoose majors: every write path writes the
 * index of `token` beside it (read back with the driver and compared with a second indexer's
 * value), equality lookups find the document by it, other operators stay refused, the unique
 * index rejects a duplicate secret, and a lookup costs no KEK call.
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
import { standInClientBulkWrite } from './support/client-bulk-write';
import { mongooses, mongoUrl } from './support/mongo';

const run = randomBytes(4).toString('hex');
const secret = (name: string) => `tok-${name}-${run}`;

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`blind indexes (${label})`, () => {
    let db: TokensDatabase;
    let removeStandIn = (): void => undefined;

    beforeAll(async () => {
      db = await openTokensDatabase(mongoose, mongoUrl!);
      removeStandIn = await standInClientBulkWrite(db);
    });
    afterAll(async () => {
      removeStandIn();
      await db?.close();
    });

    const ids = (docs: readonly { _id: unknown }[]) => docs.map((d) => String(d._id)).sort();

    it('save: create, insertOne and doc.save() write the index; a new value moves it, null and undefined remove it', async () => {
      const { ApiToken } = db;
      const a = await ApiToken.create({ name: 'a', token: secret('create') });
      await expectIndexed(db, a._id, secret('create'));
      expect(a.token).toBe(secret('create'));
      const b = await ApiToken.insertOne({ name: 'b', token: secret('insertOne') });
      await expectIndexed(db, b._id, secret('insertOne'));
      const c = new ApiToken({ name: 'c', token: secret('new-save') });
      await c.save();
      await expectIndexed(db, c._id, secret('new-save'));

      const loaded = (await ApiToken.findById(a._id))!;
      loaded.token = secret('create-2');
      await loaded.save();
      await expectIndexed(db, a._id, secret('create-2'));
      // a save that does not write token leaves its index as it is
      const before = (await db.rawToken(a._id)).tokenBidx;
      loaded.name = 'renamed';
      await loaded.save();
      expect((await db.rawToken(a._id)).tokenBidx).toBe(before);
      loaded.token = null;
      await loaded.save();
      await expectIndexed(db, a._id, null);
      const other = (await ApiToken.findById(b._id))!;
      other.set('token', undefined);
      await other.save();
      await expectIndexed(db, b._id, null);
    });

    it('insertMany writes the index of each document; a null value gets none', async () => {
      const docs = await db.ApiToken.insertMany([
        { name: 'm1', token: secret('many-1') },
        { name: 'm2', token: null },
        { name: 'm3', token: secret('many-3') },
      ]);
      await expectIndexed(db, docs[0]!._id, secret('many-1'));
      await expectIndexed(db, docs[1]!._id, null);
      await expectIndexed(db, docs[2]!._id, secret('many-3'));
    });

    it('update queries: updateOne, updateMany, findOneAndUpdate, findByIdAndUpdate with $set and top-level keys move the index; null and $unset remove it', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'u', token: secret('u0') });
      await ApiToken.updateOne({ _id: doc._id }, { $set: { token: secret('u1') } });
      await expectIndexed(db, doc._id, secret('u1'));
      await ApiToken.updateMany({ _id: doc._id }, { token: secret('u2') });
      await expectIndexed(db, doc._id, secret('u2'));
      const found = await ApiToken.findOneAndUpdate(
        { _id: doc._id },
        { $set: { token: secret('u3') } },
        { new: true },
      );
      expect(found!.token).toBe(secret('u3'));
      await expectIndexed(db, doc._id, secret('u3'));
      await ApiToken.findByIdAndUpdate(doc._id, { token: secret('u4') });
      await expectIndexed(db, doc._id, secret('u4'));
      // an update of another path leaves the index as it is
      await ApiToken.updateOne({ _id: doc._id }, { $set: { name: 'u-renamed' } });
      await expectIndexed(db, doc._id, secret('u4'));
      await ApiToken.updateOne({ _id: doc._id }, { $set: { token: null } });
      await expectIndexed(db, doc._id, null);
      await ApiToken.updateOne({ _id: doc._id }, { $set: { token: secret('u5') } });
      await ApiToken.updateOne({ _id: doc._id }, { $unset: { token: 1 } });
      await expectIndexed(db, doc._id, null);
    });

    it('upserts: $setOnInsert writes the index of the inserted value', async () => {
      const { ApiToken } = db;
      await ApiToken.updateOne(
        { name: `upsert-${run}` },
        { $setOnInsert: { token: secret('upsert') } },
        { upsert: true },
      );
      const doc = await ApiToken.findOne({ name: `upsert-${run}` }).lean();
      await expectIndexed(db, doc!._id, secret('upsert'));
    });

    it('replaceOne and findOneAndReplace write the index of the replacement', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'r', token: secret('r0') });
      await ApiToken.replaceOne({ _id: doc._id }, { name: 'r1', token: secret('r1') });
      await expectIndexed(db, doc._id, secret('r1'));
      await ApiToken.findOneAndReplace({ _id: doc._id }, { name: 'r2', token: secret('r2') });
      await expectIndexed(db, doc._id, secret('r2'));
      await ApiToken.replaceOne({ _id: doc._id }, { name: 'r3' });
      await expectIndexed(db, doc._id, null);
    });

    it('bulkWrite: insertOne, updateOne, updateMany and replaceOne write the index; filters look it up', async () => {
      const { ApiToken } = db;
      const a = await ApiToken.create({ name: 'bw-a', token: secret('bw-a') });
      const b = await ApiToken.create({ name: 'bw-b', token: secret('bw-b') });
      const c = await ApiToken.create({ name: 'bw-c', token: secret('bw-c') });
      const inserted = new mongoose.Types.ObjectId();
      await ApiToken.bulkWrite([
        { insertOne: { document: { _id: inserted, name: 'bw-i', token: secret('bw-i') } } },
        { updateOne: { filter: { token: secret('bw-a') }, update: { token: secret('bw-a2') } } },
        { updateMany: { filter: { _id: b._id }, update: { $set: { token: secret('bw-b2') } } } },
        {
          replaceOne: {
            filter: { _id: c._id },
            replacement: { name: 'bw-c', token: secret('bw-c2') },
          },
        },
      ]);
      await expectIndexed(db, inserted, secret('bw-i'));
      await expectIndexed(db, a._id, secret('bw-a2'));
      await expectIndexed(db, b._id, secret('bw-b2'));
      await expectIndexed(db, c._id, secret('bw-c2'));
      await ApiToken.bulkWrite([{ deleteOne: { filter: { token: secret('bw-i') } } }]);
      expect(await ApiToken.countDocuments({ _id: inserted })).toBe(0);
    });

    it('connection.bulkWrite writes the index of the operations of a model with the plugin', async () => {
      const { ApiToken } = db;
      const a = await ApiToken.create({ name: 'cbw', token: secret('cbw') });
      const inserted = new mongoose.Types.ObjectId();
      const ops = [
        { model: ApiToken, name: 'insertOne', document: { _id: inserted, token: secret('cbw-i') } },
        {
          model: ApiToken,
          name: 'updateOne',
          filter: { _id: a._id },
          update: { token: secret('cbw-2') },
        },
      ];
      await db.conn.bulkWrite(ops as unknown as Parameters<typeof db.conn.bulkWrite>[0]);
      await expectIndexed(db, inserted, secret('cbw-i'));
      await expectIndexed(db, a._id, secret('cbw-2'));
    });

    it('lookups: findOne({ token }), $eq, $in, $or, countDocuments, update and delete filters find the right documents', async () => {
      const { ApiToken } = db;
      const x = await ApiToken.create({ name: 'lx', token: secret('lx') });
      const y = await ApiToken.create({ name: 'ly', token: secret('ly') });
      const found = await ApiToken.findOne({ token: secret('lx') });
      expect(String(found!._id)).toBe(String(x._id));
      expect(found!.token).toBe(secret('lx'));
      expect(ids(await ApiToken.find({ token: { $eq: secret('ly') } }).lean())).toEqual(ids([y]));
      expect(
        ids(await ApiToken.find({ token: { $in: [secret('lx'), secret('ly'), secret('no')] } })),
      ).toEqual(ids([x, y]));
      expect(
        ids(await ApiToken.find({ $or: [{ token: secret('lx') }, { name: 'ly' }] }).lean()),
      ).toEqual(ids([x, y]));
      expect(await ApiToken.countDocuments({ token: secret('ly') })).toBe(1);
      expect(await ApiToken.findOne({ token: secret('absent') })).toBeNull();
      const filter = { token: secret('lx') };
      await ApiToken.updateOne(filter, { $set: { note: 'found by token' } });
      expect(filter).toEqual({ token: secret('lx') }); // the caller's filter is not changed
      expect((await ApiToken.findById(x._id).lean())!.note).toBe('found by token');
      await ApiToken.deleteMany({ token: { $in: [secret('ly')] } });
      expect(await ApiToken.findById(y._id)).toBeNull();
      expect(await ApiToken.findById(x._id)).not.toBeNull();
    });

    it('a normalised slow-mode index finds the document by a differently written value', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'e', email: `Alice-${run}@Example.com` });
      const stored = await db.rawToken(doc._id);
      expect(stored.emailBidx).toBe(
        db.check.compute('ApiToken.email', `alice-${run}@example.com`, {
          normalize: ['trim', 'lowercase'],
          mode: 'slow',
        }),
      );
      expect(stored.emailBidx).toMatch(/^cmek:bi1:s10:/);
      const found = await ApiToken.findOne({ email: `  alice-${run}@EXAMPLE.com` }).lean();
      expect(String(found!._id)).toBe(String(doc._id));
      expect(found!.email).toBe(`Alice-${run}@Example.com`);
    });

    it('other operators on an indexed path stay refused: $regex, $ne, $nin, $gt, sort, and an upsert filtering on it', async () => {
      const { ApiToken } = db;
      const refused = [
        () => ApiToken.find({ token: /tok/ }).exec(),
        () => ApiToken.find({ token: { $regex: 'tok' } }).exec(),
        () => ApiToken.find({ token: { $ne: 'x' } }).exec(),
        () => ApiToken.find({ token: { $nin: ['x'] } }).exec(),
        () => ApiToken.find({ token: { $gt: 'a' } }).exec(),
        () => ApiToken.find({ token: { $in: ['x'], $exists: true } }).exec(),
        () => ApiToken.find().sort({ token: 1 }).exec(),
        () => ApiToken.updateOne({ token: 'x' }, { $set: { name: 'n' } }, { upsert: true }).exec(),
        () =>
          ApiToken.bulkWrite([
            { updateOne: { filter: { token: 'x' }, update: { name: 'n' }, upsert: true } },
          ]),
      ];
      for (const query of refused) {
        await expect(query()).rejects.toSatisfy(
          (e) => CmekQueryError.isInstance(e) && (e as CmekQueryError).field === 'token',
        );
      }
      // null is still answered by the value itself
      const empty = await ApiToken.create({ name: `null-${run}`, token: null });
      const nulls = await ApiToken.find({ token: null, name: `null-${run}` }).lean();
      expect(ids(nulls)).toEqual(ids([empty]));
    });

    it('a unique index on the index path rejects a duplicate secret, on insert and on update, without the secret in the error', async () => {
      const { ApiToken } = db;
      const first = await ApiToken.create({ name: 'u1', token: secret('unique') });
      const other = await ApiToken.create({ name: 'u2', token: secret('other') });
      for (const write of [
        () => ApiToken.create({ name: 'dup', token: secret('unique') }),
        () => ApiToken.updateOne({ _id: other._id }, { $set: { token: secret('unique') } }),
      ]) {
        let caught: unknown;
        try {
          await write();
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(Error);
        // the stored index value is cut to its prefix and two characters, like a token
        const index = tokenIndex(db, secret('unique'));
        expect(
          JSON.stringify({ m: (caught as Error).message, s: (caught as Error).stack }),
        ).not.toContain(index);
        expect(
          JSON.stringify({ m: (caught as Error).message, s: (caught as Error).stack }),
        ).not.toContain(secret('unique'));
      }
      expect(ids(await ApiToken.find({ token: secret('unique') }).lean())).toEqual(ids([first]));
      await expectIndexed(db, other._id, secret('other'));
    });

    it('a lookup makes no KEK call once the indexer is loaded', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'kek', token: secret('kek') });
      db.counter.reset();
      expect(await ApiToken.countDocuments({ token: secret('kek') })).toBe(1);
      const found = await ApiToken.findOne({ token: { $in: [secret('kek')] } })
        .select('name')
        .lean();
      expect(String(found!._id)).toBe(String(doc._id));
      expect(db.counter.counts.total).toBe(0);
    });

    it('the collection guard refuses a plaintext (or a token) in an index path', async () => {
      const { ApiToken } = db;
      const doc = await ApiToken.create({ name: 'g', token: secret('guard') });
      for (const value of [secret('guard'), (await db.rawToken(doc._id)).token]) {
        await expect(
          ApiToken.collection.updateOne({ _id: doc._id }, { $set: { tokenBidx: value } }),
        ).rejects.toSatisfy(
          (e) =>
            CmekPlaintextRejectedError.isInstance(e) &&
            (e as CmekPlaintextRejectedError).field === 'tokenBidx' &&
            !(e as Error).message.includes(secret('guard')),
        );
      }
      await expect(
        ApiToken.collection.insertOne({ name: 'g2', tokenBidx: 'plain' }),
      ).rejects.toSatisfy((e) => CmekPlaintextRejectedError.isInstance(e));
      expect((await db.rawToken(doc._id)).tokenBidx).toBe(tokenIndex(db, secret('guard')));
    });
  });
}
