/**
 * `connection.bulkWrite([{ model, name, … }])`, Mongoose's bulk write across models (MongoDB
 * 8.0's client bulk write), runs no model middleware: the plugin's wrapper encrypts the
 * operations of its models before Mongoose casts them. FerretDB (and mongod before 8.0) lacks
 * the client bulk write, so there the test puts a stand-in for `client.bulkWrite` that applies
 * each operation Mongoose sends with the driver's collection methods; on mongod 8.0+
 * (MONGODB_URI) the real one runs. Either way the raw documents are read back with the driver.
 */
import { CmekPlaintextRejectedError, CmekQueryError } from '@cmek/core';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SentOperation, standInClientBulkWrite } from './support/client-bulk-write';
import { ctx, models, sample } from './support/models';
import { at, type Database, expectToken, mongooses, mongoUrl, openDatabase } from './support/mongo';

const LATE = 'plain-bulk-91c4';

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`connection.bulkWrite (${label})`, () => {
    let db: Database;
    let m: ReturnType<typeof models>;
    let removeStandIn = (): void => undefined;
    const sent: SentOperation[] = [];

    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      m = models(db, mongoose);
      removeStandIn = await standInClientBulkWrite(db, sent);
    });
    afterAll(async () => {
      removeStandIn();
      await db?.close();
    });

    const run = (ops: unknown[]) =>
      db.conn.bulkWrite(ops as Parameters<typeof db.conn.bulkWrite>[0]);
    const raw = (id: unknown) =>
      db.raw.collection('integrations').findOne({ _id: new ObjectId(String(id)) });

    it('connection.bulkWrite encrypts insertOne, updateOne, updateMany and replaceOne of a model with the plugin; the operations passed are not changed', async () => {
      const a = await m.Integration.create(sample());
      const b = await m.Integration.create(sample());
      const c = await m.Integration.create(sample());
      const inserted = new mongoose.Types.ObjectId();
      const ops = [
        {
          model: m.Integration,
          name: 'insertOne',
          document: { _id: inserted, ...sample(), slackToken: 'xoxb-cbw' },
        },
        {
          model: 'Integration',
          name: 'updateOne',
          filter: { _id: a._id },
          update: { $set: { 'settings.smtp.password': 'p-cbw' } },
        },
        {
          model: m.Integration,
          name: 'updateMany',
          filter: { _id: b._id },
          update: { $push: { webhooks: { url: 'https://c.example', secret: 'whsec-cbw' } } },
        },
        {
          model: m.Integration,
          name: 'replaceOne',
          filter: { _id: c._id },
          replacement: { name: 'replaced', slackToken: 'xoxb-crep' },
        },
      ];
      await run(ops);
      expect(ops[0]!.document!.slackToken).toBe('xoxb-cbw');
      expect(ops[1]!.update!.$set!['settings.smtp.password']).toBe('p-cbw');
      const stored = await raw(inserted);
      await expectToken(db.envelope, stored!.slackToken, ctx('slackToken'), 'xoxb-cbw');
      await expectToken(
        db.envelope,
        at(stored, 'webhooks.1.secret'),
        ctx('webhooks.secret'),
        'whsec-b',
      );
      await expectToken(
        db.envelope,
        at(await raw(a._id), 'settings.smtp.password'),
        ctx('settings.smtp.password'),
        'p-cbw',
      );
      await expectToken(
        db.envelope,
        at(await raw(b._id), 'webhooks.2.secret'),
        ctx('webhooks.secret'),
        'whsec-cbw',
      );
      await expectToken(
        db.envelope,
        (await raw(c._id))!.slackToken,
        ctx('slackToken'),
        'xoxb-crep',
      );
      expect((await m.Integration.findById(inserted))!.slackToken).toBe('xoxb-cbw');
      expect((await m.Integration.findById(c._id))!.slackToken).toBe('xoxb-crep');
    });

    it('connection.bulkWrite refuses filters on encrypted paths and plaintext from a model without the plugin on an encrypted collection; nothing is sent', async () => {
      const Plain = db.conn.model(
        'PlainIntegration',
        new mongoose.Schema({ name: String, slackToken: String }),
        'integrations',
      );
      const Other = db.conn.model(
        'Other',
        new mongoose.Schema({ name: String, slackToken: String }),
        'others',
      );
      const sentBefore = sent.length;
      await expect(
        run([
          { model: Other, name: 'insertOne', document: { name: 'first' } },
          { model: m.Integration, name: 'deleteMany', filter: { slackToken: LATE } },
        ]),
      ).rejects.toSatisfy(
        (e) => CmekQueryError.isInstance(e) && (e as CmekQueryError).field === 'slackToken',
      );
      let caught: unknown;
      try {
        await run([{ model: Plain, name: 'insertOne', document: { name: 'p', slackToken: LATE } }]);
      } catch (error) {
        caught = error;
      }
      expect(CmekPlaintextRejectedError.isInstance(caught), String(caught)).toBe(true);
      expect((caught as CmekPlaintextRejectedError).field).toBe('slackToken');
      expect((caught as Error).message).not.toContain(LATE);
      expect(sent.length).toBe(sentBefore);
      expect(await db.raw.collection('integrations').countDocuments({ slackToken: LATE })).toBe(0);
      expect(await db.raw.collection('others').countDocuments()).toBe(0);

      // a model without encrypted paths, on another collection, is passed on unchanged
      await run([
        { model: Other, name: 'insertOne', document: { name: 'o', slackToken: 'public' } },
      ]);
      expect((await db.raw.collection('others').findOne({ name: 'o' }))!.slackToken).toBe('public');
    });
  });
}
