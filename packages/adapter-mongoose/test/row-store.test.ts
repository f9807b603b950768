/** mongooseRowStore over the real server: scan order, compare-and-set, and a backfill through it. */
import { randomBytes } from 'node:crypto';
import { CmekConfigError, CmekQueryError, createEnvelope, createKeyring } from '@cmek/core';
import { backfill, rewrap, verify } from '@cmek/core/engine';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmekPlugin, mongooseRowStore } from '../src/index';
import { ctx, models, sample } from './support/models';
import { type Database, expectToken, mongooses, mongoUrl, openDatabase } from './support/mongo';

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`mongooseRowStore (${label})`, () => {
    let db: Database;
    let m: ReturnType<typeof models>;

    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      m = models(db, mongoose);
      await m.Integration.init();
    });
    afterAll(async () => db?.close());

    it('refuses paths inside arrays and paths the plugin does not know', () => {
      expect(() => mongooseRowStore(m.Integration)).toThrow(CmekConfigError);
      expect(() => mongooseRowStore(m.Integration, ['webhooks.secret'])).toThrow(/inside an array/);
      expect(() => mongooseRowStore(m.Integration, ['name'])).toThrow(/not a path of the plugin/);
      const plain = db.conn.model('Plain', new mongoose.Schema({ a: String }));
      expect(() => mongooseRowStore(plain, ['a'])).toThrow(/has no cmekPlugin/);
    });

    it('scans by _id ascending in pages, with hex ids and raw values', async () => {
      const coll = db.raw.collection('integrations');
      await coll.deleteMany({});
      const ids = [1, 2, 3, 4, 5].map(() => new ObjectId());
      ids.sort((a, b) => a.toHexString().localeCompare(b.toHexString()));
      // inserted out of order, with legacy plaintext, a missing value and a nested one
      await coll.insertMany([
        { _id: ids[3]!, slackToken: 'legacy-3' },
        { _id: ids[0]!, slackToken: 'legacy-0', settings: { smtp: { password: 'p0' } } },
        { _id: ids[4]!, slackToken: null },
        { _id: ids[1]!, slackToken: 'legacy-1' },
        { _id: ids[2]! },
      ]);
      const store = mongooseRowStore(m.Integration, ['slackToken', 'settings.smtp.password']);
      expect(store.name).toBe('Integration');
      expect(store.fields).toEqual(['slackToken', 'settings.smtp.password']);
      expect(store.contextFor('settings.smtp.password')).toEqual(ctx('settings.smtp.password'));
      const first = await store.scan(undefined, 2);
      expect(first.map((r) => r.id)).toEqual([ids[0]!.toHexString(), ids[1]!.toHexString()]);
      expect(first[0]!.values).toEqual({ slackToken: 'legacy-0', 'settings.smtp.password': 'p0' });
      const rest = await store.scan(first[1]!.id, 10);
      expect(rest.map((r) => r.id)).toEqual(ids.slice(2).map((i) => i.toHexString()));
      expect(rest.map((r) => r.values.slackToken)).toEqual([null, 'legacy-3', null]);
      expect(await store.scan(rest[2]!.id, 10)).toEqual([]);
    });

    it('count() is the number of documents of the collection, and the engine puts it in its progress', async () => {
      const coll = db.raw.collection('integrations');
      await coll.deleteMany({});
      const store = mongooseRowStore(m.Integration, ['slackToken', 'settings.smtp.password']);
      expect(await store.count()).toBe(0);
      await coll.insertMany([1, 2, 3, 4, 5].map((i) => ({ slackToken: `legacy-${i}` })));
      expect(await store.count()).toBe(5);
      await coll.deleteOne({ slackToken: 'legacy-5' });
      expect(await store.count()).toBe(4);
      const totals: (number | undefined)[] = [];
      await verify(store, {
        envelope: db.envelope,
        batchSize: 3,
        onProgress: (e) => totals.push(e.total),
      });
      expect(totals).toEqual([4, 4, 4, 4]);
    });

    it('compareAndSet writes only over the expected value', async () => {
      const coll = db.raw.collection('integrations');
      const _id = new ObjectId();
      await coll.insertOne({ _id, slackToken: 'old' });
      const store = mongooseRowStore(m.Integration, ['slackToken']);
      expect(await store.compareAndSet(_id.toHexString(), 'slackToken', 'stale', 'new')).toBe(
        false,
      );
      expect((await coll.findOne({ _id }))!.slackToken).toBe('old');
      expect(await store.compareAndSet(_id.toHexString(), 'slackToken', 'old', 'new')).toBe(true);
      expect((await coll.findOne({ _id }))!.slackToken).toBe('new');
      expect(
        await store.compareAndSet(new ObjectId().toHexString(), 'slackToken', 'new', 'x'),
      ).toBe(false);
    });

    it('a compare-and-set the database refuses is a CmekQueryError without the old or new value', async () => {
      const schema = new mongoose.Schema({ apiKey: { type: String, unique: true } });
      schema.plugin(cmekPlugin, { envelope: db.envelope, fields: ['apiKey'] });
      const Keys = db.conn.model(`CasKeys${Date.now()}`, schema);
      await Keys.init();
      const coll = db.raw.collection(Keys.collection.collectionName);
      const taken = new ObjectId();
      const legacy = new ObjectId();
      const token = await db.envelope.encrypt('the-taken-secret', {
        context: { field: `${Keys.modelName}.apiKey` },
      });
      await coll.insertMany([
        { _id: taken, apiKey: token },
        { _id: legacy, apiKey: 'legacy-plaintext-4711' },
      ]);
      const store = mongooseRowStore(Keys, ['apiKey']);
      // the new value is already another document's: a real unique-index violation
      const error = await store
        .compareAndSet(legacy.toHexString(), 'apiKey', 'legacy-plaintext-4711', token)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(CmekQueryError.isInstance(error)).toBe(true);
      const e = error as CmekQueryError;
      expect(e.message).toMatch(/compareAndSet on .*\.apiKey failed in the database/);
      expect(Object.keys(e)).not.toContain('cause');
      expect(e.cause).toBeInstanceOf(Error);
      const cause = e.cause as Error;
      const texts = [
        e.message,
        e.stack,
        JSON.stringify(e),
        cause.message,
        cause.stack,
        JSON.stringify(cause),
      ].join('\n');
      expect(texts).not.toContain('legacy-plaintext-4711');
      expect(texts).not.toContain(token!.slice(0, 30));
      expect((await coll.findOne({ _id: legacy }))!.apiKey).toBe('legacy-plaintext-4711');
    });

    it('compareAndSet of two fields of one document at once keeps both writes', async () => {
      // FerretDB 1.x loses one of two concurrent updates of a document: the store serialises them
      const coll = db.raw.collection('integrations');
      const store = mongooseRowStore(m.Integration, ['slackToken', 'settings.smtp.password']);
      for (let i = 0; i < 10; i++) {
        const _id = new ObjectId();
        await coll.insertOne({ _id, slackToken: 'a', settings: { smtp: { password: 'b' } } });
        const id = _id.toHexString();
        const done = await Promise.all([
          store.compareAndSet(id, 'slackToken', 'a', 'a2'),
          store.compareAndSet(id, 'settings.smtp.password', 'b', 'b2'),
        ]);
        expect(done).toEqual([true, true]);
        const raw = await coll.findOne({ _id });
        expect([raw!.slackToken, raw!.settings.smtp.password]).toEqual(['a2', 'b2']);
      }
    });

    it('a backfill through the store encrypts legacy plaintext that the plugin then reads', async () => {
      const coll = db.raw.collection('integrations');
      await coll.deleteMany({});
      const _id = new ObjectId();
      await coll.insertOne({
        _id,
        name: 'legacy',
        slackToken: 'xoxb-legacy',
        settings: { smtp: { password: 'legacy-pw' } },
      });
      const made = await m.Integration.create(sample());
      const store = mongooseRowStore(m.Integration, ['slackToken', 'settings.smtp.password']);
      const report = await backfill(store, { envelope: db.envelope, batchSize: 1 });
      expect(report.status).toBe('completed');
      const raw = await coll.findOne({ _id });
      await expectToken(db.envelope, raw!.slackToken, ctx('slackToken'), 'xoxb-legacy');
      await expectToken(
        db.envelope,
        raw!.settings.smtp.password,
        ctx('settings.smtp.password'),
        'legacy-pw',
      );
      const read = await m.Integration.findById(_id.toHexString());
      expect(read!.slackToken).toBe('xoxb-legacy');
      expect(read!.get('settings.smtp.password')).toBe('legacy-pw');
      expect((await m.Integration.findById(made._id))!.slackToken).toBe('xoxb-123');
    });

    it('rewrap through the store moves every DEK to a new KEK; verify with it alone finds all', async () => {
      await db.raw.collection('integrations').deleteMany({});
      await m.Integration.create([sample(), sample()]);
      const store = mongooseRowStore(m.Integration, ['slackToken', 'settings.smtp.password']);
      const next = createLocalKekProviderFromKey(randomBytes(32));
      const keyring = createKeyring({ primary: next, decryptOnly: [db.envelope.keyring.primary] });
      const moved = await rewrap(store, { keyring, batchSize: 1 });
      expect(moved.status).toBe('completed');
      expect(moved.fields.slackToken!.written).toBe(2);
      const onlyNext = createEnvelope({ kek: createKeyring({ primary: next }) });
      const report = await verify(store, { envelope: onlyNext, batchSize: 10 });
      expect(report.undecryptable).toBe(0);
      const raw = await db.raw.collection('integrations').find().toArray();
      for (const doc of raw) {
        expect(onlyNext.inspect(doc.slackToken).keyRef).toBe(next.keyRef);
        expect(await onlyNext.decrypt(doc.slackToken, { context: ctx('slackToken') })).toBe(
          'xoxb-123',
        );
      }
    });
  });
}
