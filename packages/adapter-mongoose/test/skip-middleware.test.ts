/**
 * Mongoose 9's `{ middleware: false }` / `middleware: { pre: false }` skips user middleware but
 * not the plugin's (its hooks are marked as Mongoose built-in middleware): writes still store
 * tokens, reads still decrypt, filters are still checked. Mongoose 8 ignores the option; the
 * same tests run there and show the ordinary behaviour.
 */
import { CmekQueryError } from '@cmek/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStored, models, sample } from './support/models';
import { at, type Database, mongooses, mongoUrl, openDatabase } from './support/mongo';

const SKIP = { middleware: false } as const;
const SKIP_PRE = { middleware: { pre: false } } as const;

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`{ middleware: false } (${label})`, () => {
    let db: Database;
    let m: ReturnType<typeof models>;

    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      m = models(db, mongoose);
    });
    afterAll(async () => db?.close());

    /** The raw document holds tokens of these plaintexts, and Mongoose reads them back. */
    const expectEncrypted = async (_id: unknown, expected: Record<string, string>) => {
      await expectStored(db, _id, expected);
      const read = await m.Integration.findById(_id).lean();
      for (const [path, plaintext] of Object.entries(expected))
        expect(at(read, path)).toBe(plaintext);
    };

    it('save, create, insertOne, insertMany, bulkWrite and bulkSave with { middleware: false } store tokens', async () => {
      const saved = new m.Integration(sample());
      await saved.save(SKIP);
      expect(saved.slackToken).toBe('xoxb-123');
      await expectEncrypted(saved._id, {
        slackToken: 'xoxb-123',
        'settings.smtp.password': 'smtp-pass',
        'extra.apiKey': 'mixed-key',
        'webhooks.1.secret': 'whsec-b',
      });
      const pre = new m.Integration({ ...sample(), slackToken: 'xoxb-pre' });
      await pre.save(SKIP_PRE);
      await expectEncrypted(pre._id, { slackToken: 'xoxb-pre' });
      saved.slackToken = 'xoxb-changed';
      await saved.save(SKIP);
      await expectEncrypted(saved._id, { slackToken: 'xoxb-changed', 'profile.pin': '4242' });

      const [created] = await m.Integration.create([{ ...sample(), slackToken: 'xoxb-c' }], SKIP);
      await expectEncrypted(created!._id, { slackToken: 'xoxb-c' });
      const one = await m.Integration.insertOne({ ...sample(), slackToken: 'xoxb-i1' }, SKIP);
      await expectEncrypted(one._id, { slackToken: 'xoxb-i1' });
      const [many] = await m.Integration.insertMany([{ ...sample(), slackToken: 'xoxb-im' }], SKIP);
      expect(many!.slackToken).toBe('xoxb-im');
      await expectEncrypted(many!._id, { slackToken: 'xoxb-im', 'webhooks.0.secret': 'whsec-a' });

      const bulkId = new mongoose.Types.ObjectId();
      await m.Integration.bulkWrite(
        [
          { insertOne: { document: { _id: bulkId, ...sample(), slackToken: 'xoxb-bw' } } },
          {
            updateOne: {
              filter: { _id: many!._id },
              update: { $set: { 'settings.smtp.password': 'p-bw' } },
            },
          },
        ],
        SKIP,
      );
      await expectEncrypted(bulkId, { slackToken: 'xoxb-bw' });
      await expectEncrypted(many!._id, { 'settings.smtp.password': 'p-bw' });

      const fresh = new m.Integration({ ...sample(), slackToken: 'xoxb-bs-new' });
      const loaded = (await m.Integration.findById(one._id))!;
      loaded.set('profile.pin', '5151');
      await m.Integration.bulkSave([fresh, loaded], SKIP);
      expect(fresh.slackToken).toBe('xoxb-bs-new');
      expect(loaded.get('profile.pin')).toBe('5151');
      await expectEncrypted(fresh._id, { slackToken: 'xoxb-bs-new' });
      await expectEncrypted(one._id, { 'profile.pin': '5151', slackToken: 'xoxb-i1' });
    });

    it('query updates and replacements with { middleware: false } store tokens', async () => {
      const doc = await m.Integration.create(sample());
      await m.Integration.updateOne({ _id: doc._id }, { $set: { slackToken: 'xoxb-u1' } }, SKIP);
      await expectEncrypted(doc._id, { slackToken: 'xoxb-u1' });
      await m.Integration.updateMany(
        { _id: doc._id },
        { $set: { 'settings.smtp.password': 'p-um' } },
        SKIP_PRE,
      );
      await expectEncrypted(doc._id, { 'settings.smtp.password': 'p-um' });
      const found = await m.Integration.findOneAndUpdate(
        { _id: doc._id },
        { $push: { webhooks: { url: 'https://c.example', secret: 'whsec-c' } } },
        { ...SKIP, returnDocument: 'after' },
      );
      expect(found!.webhooks[2]!.secret).toBe('whsec-c');
      await expectEncrypted(doc._id, { 'webhooks.2.secret': 'whsec-c' });
      await doc.updateOne({ $set: { 'profile.pin': '6161' } }, SKIP);
      await expectEncrypted(doc._id, { 'profile.pin': '6161' });
      await m.Integration.replaceOne({ _id: doc._id }, { name: 'r', slackToken: 'xoxb-rep' }, SKIP);
      await expectEncrypted(doc._id, { slackToken: 'xoxb-rep' });
      const replaced = await m.Integration.findOneAndReplace(
        { _id: doc._id },
        { name: 'r2', slackToken: 'xoxb-foar' },
        { ...SKIP, returnDocument: 'after' },
      );
      expect(replaced!.slackToken).toBe('xoxb-foar');
      await expectEncrypted(doc._id, { slackToken: 'xoxb-foar' });
      const upserted = await m.Integration.findOneAndUpdate(
        { name: `upsert-${Date.now()}` },
        { $setOnInsert: { slackToken: 'xoxb-soi' } },
        { ...SKIP, upsert: true, returnDocument: 'after' },
      );
      await expectEncrypted(upserted!._id, { slackToken: 'xoxb-soi' });
    });

    it('reads with { middleware: false } are decrypted and their filters on encrypted paths refused', async () => {
      const doc = await m.Integration.create({ ...sample(), name: 'skip-read' });
      const hydrated = await m.Integration.findById(doc._id, null, SKIP);
      expect(hydrated!.slackToken).toBe('xoxb-123');
      expect(hydrated!.webhooks[1]!.secret).toBe('whsec-b');
      const lean = await m.Integration.find({ name: 'skip-read' }).setOptions(SKIP).lean();
      expect(lean[0]!.settings!.smtp!.password).toBe('smtp-pass');
      const one = await m.Integration.findOne({ name: 'skip-read' }, null, SKIP_PRE).lean();
      expect(one!.profile!.pin).toBe('4242');
      const deleted = await m.Integration.findOneAndDelete({ _id: doc._id }, SKIP);
      expect(deleted!.slackToken).toBe('xoxb-123');
      const refusals = [
        () => m.Integration.find({ slackToken: 'needle' }, null, SKIP),
        () => m.Integration.countDocuments({ 'profile.pin': 'needle' }).setOptions(SKIP),
        () => m.Integration.find().sort({ slackToken: 1 }).setOptions(SKIP),
        () =>
          m.Integration.aggregate([{ $match: { slackToken: 'needle' } }])
            .option(SKIP)
            .exec(),
      ];
      for (const run of refusals) {
        await expect(run()).rejects.toSatisfy((e) => CmekQueryError.isInstance(e));
      }
    });
  });
}
