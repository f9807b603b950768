/** Every read path returns plaintext; what ciphertext cannot answer throws CmekQueryError. */
import { CmekDecryptionError, CmekQueryError } from '@cmek/core';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctx, models, sample } from './support/models';
import { type Database, expectToken, mongooses, mongoUrl, openDatabase } from './support/mongo';

async function queryError(run: () => Promise<unknown>): Promise<CmekQueryError> {
  try {
    await run();
  } catch (error) {
    expect(CmekQueryError.isInstance(error)).toBe(true);
    return error as CmekQueryError;
  }
  throw new Error('expected a CmekQueryError, the call succeeded');
}

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`reads (${label})`, () => {
    let db: Database;
    let m: ReturnType<typeof models>;
    let id: unknown;
    const SECRETS = ['whsec-a', 'whsec-b'];

    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      m = models(db, mongoose);
      const owner = await m.Owner.create({ email: 'o@example', apiKey: 'owner-key' });
      const doc = await m.Integration.create({ ...sample(), name: 'read-me', owner: owner._id });
      id = doc._id;
      await m.Integration.create({ ...sample(), name: 'other', slackToken: 'xoxb-other' });
    });
    afterAll(async () => db?.close());

    const expectPlain = (doc: Record<string, unknown> | null) => {
      expect(doc).not.toBeNull();
      const d = doc as unknown as ReturnType<typeof sample>;
      expect(d.slackToken).toBe('xoxb-123');
      expect(d.settings.smtp.password).toBe('smtp-pass');
      expect(d.profile.pin).toBe('4242');
      expect(d.extra.apiKey).toBe('mixed-key');
      expect(d.webhooks.map((w) => w.secret)).toEqual(SECRETS);
    };

    it('the raw document holds tokens (the reads below have something to decrypt)', async () => {
      const raw = await db.raw
        .collection('integrations')
        .findOne({ _id: new ObjectId(String(id)) });
      await expectToken(db.envelope, raw!.slackToken, ctx('slackToken'), 'xoxb-123');
    });

    it('find, findOne, findById return hydrated documents with plaintext, not modified', async () => {
      const byId = await m.Integration.findById(id);
      expectPlain(byId!.toObject());
      expect(byId!.isModified()).toBe(false);
      expectPlain((await m.Integration.findOne({ name: 'read-me' }))!.toObject());
      const all = await m.Integration.find({ name: { $in: ['read-me', 'other'] } }).sort({
        name: 1,
      });
      expect(all.map((d) => d.slackToken)).toEqual(['xoxb-other', 'xoxb-123']);
      // saving an unchanged loaded document writes nothing in plaintext
      await byId!.save();
      const raw = await db.raw
        .collection('integrations')
        .findOne({ _id: new ObjectId(String(id)) });
      await expectToken(db.envelope, raw!.slackToken, ctx('slackToken'), 'xoxb-123');
    });

    it('lean() results are decrypted', async () => {
      expectPlain(await m.Integration.findById(id).lean());
      const list = await m.Integration.find({ name: 'read-me' }).lean();
      expectPlain(list[0] as Record<string, unknown>);
    });

    it('a projection without the encrypted paths reads fine', async () => {
      const doc = await m.Integration.findById(id).select('name').lean();
      expect(doc).toMatchObject({ name: 'read-me' });
      expect((doc as Record<string, unknown>).slackToken).toBeUndefined();
    });

    it('cursors (for await) decrypt each document', async () => {
      const seen: string[] = [];
      for await (const doc of m.Integration.find({
        name: { $in: ['read-me', 'other'] },
      }).cursor()) {
        seen.push(doc.slackToken!);
        expect(doc.webhooks[1]!.secret).toBe('whsec-b');
      }
      expect(seen.sort()).toEqual(['xoxb-123', 'xoxb-other']);
      const lean: string[] = [];
      for await (const doc of m.Integration.find({ name: 'read-me' }).lean().cursor()) {
        lean.push((doc as { slackToken: string }).slackToken);
      }
      expect(lean).toEqual(['xoxb-123']);
      const each: string[] = [];
      await m.Integration.find({ name: 'read-me' })
        .cursor()
        .eachAsync((doc) => {
          each.push(doc.get('settings.smtp.password'));
        });
      expect(each).toEqual(['smtp-pass']);
    });

    it('findOneAndUpdate with includeResultMetadata decrypts the value', async () => {
      const res = await m.Integration.findOneAndUpdate(
        { _id: id },
        { $set: { name: 'read-me' } },
        { new: true, includeResultMetadata: true },
      );
      expectPlain((res.value as { toObject(): Record<string, unknown> }).toObject());
    });

    it('populated documents whose schema has the plugin are decrypted', async () => {
      const doc = await m.Integration.findById(id).populate('owner');
      const owner = doc!.owner as unknown as { apiKey: string; email: string };
      expect(owner.email).toBe('o@example');
      expect(owner.apiKey).toBe('owner-key');
      const lean = await m.Integration.findById(id).populate('owner').lean();
      expect((lean!.owner as unknown as { apiKey: string }).apiKey).toBe('owner-key');
    });

    it('findOneAndDelete returns the deleted document decrypted', async () => {
      const doc = await m.Integration.create({ ...sample(), name: 'delete-me' });
      const deleted = await m.Integration.findOneAndDelete({ _id: doc._id });
      expectPlain(deleted!.toObject());
    });

    it('a token copied into another path does not decrypt', async () => {
      const doc = await m.Integration.create({ ...sample(), name: 'copied' });
      const coll = db.raw.collection('integrations');
      const _id = new ObjectId(String(doc._id));
      const raw = await coll.findOne({ _id });
      await coll.updateOne({ _id }, { $set: { 'profile.pin': raw!.slackToken } });
      await expect(m.Integration.findById(doc._id)).rejects.toSatisfy((e) =>
        CmekDecryptionError.isInstance(e),
      );
    });

    it('filters on encrypted paths throw CmekQueryError naming the path, not the value', async () => {
      const needle = 'needle-9f2c';
      for (const run of [
        () => m.Integration.find({ slackToken: needle }),
        () => m.Integration.findOne({ 'settings.smtp.password': { $in: [needle] } }),
        () => m.Integration.countDocuments({ 'extra.apiKey': needle }),
        () => m.Integration.deleteMany({ $or: [{ name: 'x' }, { 'profile.pin': needle }] }),
        () => m.Integration.find({ 'webhooks.secret': needle }),
        () => m.Integration.find({ webhooks: { $elemMatch: { secret: needle } } }),
        () => m.Integration.find({ settings: { smtp: { password: needle } } }),
        () => m.Integration.updateOne({ slackToken: { $regex: needle } }, { name: 'n' }),
        () => m.Integration.find({ $expr: { $eq: ['$slackToken', needle] } }),
      ]) {
        const error = await queryError(run);
        expect(error.message).not.toContain(needle);
        expect(error.field.length).toBeGreaterThan(0);
        expect(error.message).toContain(error.field);
      }
      expect((await queryError(() => m.Integration.find({ slackToken: needle }))).field).toBe(
        'slackToken',
      );
      expect(
        (await queryError(() => m.Integration.find({ 'webhooks.secret': needle }))).field,
      ).toBe('webhooks.secret');
    });

    it('presence and null filters on encrypted paths still work', async () => {
      await m.Integration.create({ name: 'no-token', slackToken: null });
      const withNull = await m.Integration.find({ slackToken: null, name: 'no-token' });
      expect(withNull).toHaveLength(1);
      const present = await m.Integration.countDocuments({
        name: 'read-me',
        slackToken: { $exists: true, $ne: null },
      });
      expect(present).toBe(1);
    });

    it('sorts, distinct and aggregations on encrypted paths throw CmekQueryError', async () => {
      expect((await queryError(() => m.Integration.find().sort({ slackToken: 1 }))).field).toBe(
        'slackToken',
      );
      expect(
        (await queryError(() => m.Integration.find().sort('-settings.smtp.password'))).field,
      ).toBe('settings.smtp.password');
      expect((await queryError(() => m.Integration.distinct('profile.pin'))).field).toBe(
        'profile.pin',
      );
      await queryError(() => m.Integration.aggregate([{ $match: { slackToken: 'x' } }]).exec());
      await queryError(() => m.Integration.aggregate([{ $group: { _id: '$slackToken' } }]).exec());
    });

    it('update operators Mongo would apply to ciphertext throw CmekQueryError', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ $inc: { slackToken: 1 } }, 'slackToken'],
        [{ $push: { slackToken: 'x' } }, 'slackToken'],
        [{ $addToSet: { webhooks: { url: 'u', secret: 's' } } }, 'webhooks.secret'],
        [{ $min: { 'profile.pin': '0' } }, 'profile.pin'],
        [{ $rename: { slackToken: 'oldToken' } }, 'slackToken'],
        [{ $pull: { webhooks: { secret: 'x' } } }, 'webhooks.secret'],
        [{ $set: { 'slackToken.inner': 'x' } }, 'slackToken'],
      ];
      for (const [update, field] of cases) {
        const error = await queryError(() => m.Integration.updateOne({ _id: id }, update));
        expect(error.field).toBe(field);
      }
      const ops = [{ updateOne: { filter: { _id: id }, update: { $inc: { slackToken: 1 } } } }];
      await queryError(() => m.Integration.bulkWrite(ops));
      // and nothing was changed by the refused calls
      expectPlain((await m.Integration.findById(id).lean()) as Record<string, unknown>);
    });
  });
}
