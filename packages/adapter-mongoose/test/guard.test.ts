/**
 * The collection guard below the middleware: a value that reaches the collection unencrypted
 * (a hook registered after the plugin, a direct `Model.collection` call) is refused with
 * CMEK_PLAINTEXT_REJECTED before anything is sent; the raw collection is read to show nothing
 * was written.
 */
import { CmekPlaintextRejectedError, CmekQueryError } from '@cmek/core';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmekPlugin } from '../src/index';
import { ctx, integrationSchema, models, sample } from './support/models';
import {
  at,
  type Database,
  expectToken,
  type Mongoose,
  mongooses,
  mongoUrl,
  openDatabase,
} from './support/mongo';

const LATE = 'late-plain-3b9d';

async function expectRejected(run: () => Promise<unknown>, field: string): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(CmekPlaintextRejectedError.isInstance(caught), String(caught)).toBe(true);
  const error = caught as CmekPlaintextRejectedError;
  expect(error.code).toBe('CMEK_PLAINTEXT_REJECTED');
  expect(error.field).toBe(field);
  expect(error.message).not.toContain(LATE);
}

/** The pre / insertMany / bulkWrite argument in both majors (Mongoose 8 passes `next` first). */
function hookArgument(first: unknown, second: unknown): unknown {
  return typeof first === 'function' ? second : first;
}
function done(first: unknown): void {
  if (typeof first === 'function') first();
}

type Loose = Record<string, unknown>;

/** The integration schema with hooks registered after the plugin, setting encrypted paths. */
function lateSchema(mongoose: Mongoose, db: Database) {
  const schema = integrationSchema(mongoose, db.envelope);
  const hooks = schema as unknown as {
    pre(name: string, options: object, fn: (this: Loose, ...args: unknown[]) => void): void;
  };
  const DOC = { document: true, query: false };
  const QUERY = { document: false, query: true };
  hooks.pre('save', DOC, function (this: Loose) {
    const doc = this as unknown as { get(p: string): unknown; set(p: string, v: unknown): void };
    const name = doc.get('name');
    if (name === 'late') doc.set('slackToken', LATE);
    if (name === 'late-nested') doc.set('settings.smtp.password', LATE);
    if (name === 'late-array') doc.set('webhooks', [{ url: 'u', secret: LATE }]);
  });
  hooks.pre('insertMany', {}, function (this: Loose, first: unknown, second: unknown) {
    for (const doc of hookArgument(first, second) as Loose[]) {
      if (doc.name === 'late') doc.slackToken = LATE;
    }
    done(first);
  });
  hooks.pre('bulkWrite', {}, function (this: Loose, first: unknown, second: unknown) {
    const operations = hookArgument(first, second) as Loose[];
    const marked = (op: Loose) =>
      ((op.insertOne as Loose | undefined)?.document as Loose | undefined)?.name === 'late-bulk';
    if (operations.some(marked)) {
      operations.push({ insertOne: { document: { name: 'late', profile: { pin: LATE } } } });
    }
    done(first);
  });
  hooks.pre('updateOne', QUERY, function (this: Loose) {
    const query = this as unknown as {
      getUpdate(): Loose | null;
      set(p: string, v: unknown): void;
    };
    if ((query.getUpdate()?.$set as Loose | undefined)?.name === 'late') {
      query.set('extra.apiKey', LATE);
    }
  });
  hooks.pre('replaceOne', QUERY, function (this: Loose) {
    const query = this as unknown as { getUpdate(): Loose | null; setUpdate(u: unknown): void };
    const replacement = query.getUpdate();
    if (replacement?.name === 'late') query.setUpdate({ ...replacement, slackToken: LATE });
  });
  return schema;
}

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`collection guard (${label})`, () => {
    let db: Database;
    let m: ReturnType<typeof models>;
    let Late: ReturnType<typeof models>['Integration'];

    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      m = models(db, mongoose);
      Late = db.conn.model('Late', lateSchema(mongoose, db), 'lates');
    });
    afterAll(async () => db?.close());

    const lates = () => db.raw.collection('lates');
    const integrations = () => db.raw.collection('integrations');
    const oid = (id: unknown) => new ObjectId(String(id));

    it("a pre('save') hook registered after the plugin that sets an encrypted path is refused; nothing is written", async () => {
      // the late hooks leave other documents alone: those are stored encrypted as usual
      const fine = await Late.create({ ...sample(), name: 'fine' });
      await expectToken(
        db.envelope,
        (await lates().findOne({ _id: oid(fine._id) }))!.slackToken,
        ctx('slackToken', 'Late'),
        'xoxb-123',
      );
      await expectRejected(() => new Late({ ...sample(), name: 'late' }).save(), 'slackToken');
      await expectRejected(() => Late.create({ name: 'late-nested' }), 'settings.smtp.password');
      await expectRejected(() => Late.insertOne({ name: 'late-array' }), 'webhooks.secret');
      expect(await lates().countDocuments({ name: /^late/ })).toBe(0);

      // an existing document: the save's update is refused, the stored token is unchanged
      const before = (await lates().findOne({ _id: oid(fine._id) }))!;
      const loaded = (await Late.findById(fine._id))!;
      loaded.name = 'late';
      await expectRejected(() => loaded.save(), 'slackToken');
      const nested = (await Late.findById(fine._id))!;
      nested.name = 'late-nested';
      await expectRejected(() => nested.save(), 'settings.smtp.password');
      const array = (await Late.findById(fine._id))!;
      array.name = 'late-array';
      await expectRejected(() => array.save(), 'webhooks.secret');
      expect(await lates().findOne({ _id: oid(fine._id) })).toEqual(before);
      expect(await lates().countDocuments({ name: /^late/ })).toBe(0);

      // bulkSave sends through Model.bulkWrite, whose middleware encrypts what the hook set
      const bulk = (await Late.findById(fine._id))!;
      bulk.name = 'late';
      const added = new Late({ ...sample(), name: 'late' });
      await Late.bulkSave([bulk, added]);
      for (const id of [fine._id, added._id]) {
        const stored = (await lates().findOne({ _id: oid(id) }))!;
        await expectToken(db.envelope, stored.slackToken, ctx('slackToken', 'Late'), LATE);
      }
    });

    it('insertMany, query and bulkWrite hooks registered after the plugin that set an encrypted path are refused; nothing is written', async () => {
      const target = await Late.create({ ...sample(), name: 'target' });
      const before = (await lates().findOne({ _id: oid(target._id) }))!;
      await expectRejected(
        () =>
          Late.insertMany([
            { ...sample(), name: 'ok' },
            { ...sample(), name: 'late' },
          ]),
        'slackToken',
      );
      await expectRejected(
        () => Late.updateOne({ _id: target._id }, { $set: { name: 'late' } }),
        'extra.apiKey',
      );
      await expectRejected(
        () => Late.replaceOne({ _id: target._id }, { ...sample(), name: 'late' }),
        'slackToken',
      );
      await expectRejected(
        () => Late.bulkWrite([{ insertOne: { document: { ...sample(), name: 'late-bulk' } } }]),
        'profile.pin',
      );
      expect(await lates().findOne({ _id: oid(target._id) })).toEqual(before);
      expect(await lates().countDocuments({ name: { $in: ['ok', 'late-bulk'] } })).toBe(0);
      expect(await lates().countDocuments({ 'extra.apiKey': LATE })).toBe(0);
    });

    it('Model.collection writes of plaintext are refused; tokens and null pass', async () => {
      const coll = m.Integration.collection;
      const doc = await m.Integration.create(sample());
      // (Mongoose 8's collection takes its own bson's ObjectIds; the raw driver reads with its own)
      const _id = new mongoose.Types.ObjectId(String(doc._id));
      const rawId = oid(doc._id);
      const before = (await integrations().findOne({ _id: rawId }))!;
      const pinned = (path: string, value: string) => ({
        _id: new mongoose.Types.ObjectId(),
        [path]: value,
      });
      const refusals: [() => Promise<unknown>, string][] = [
        [() => coll.insertOne({ name: 'direct', slackToken: LATE }), 'slackToken'],
        [
          () => coll.insertMany([{ name: 'direct', settings: { smtp: { password: LATE } } }]),
          'settings.smtp.password',
        ],
        [() => coll.updateOne({ _id }, { $set: { 'extra.apiKey': LATE } }), 'extra.apiKey'],
        [
          () =>
            coll.updateMany({}, {
              $push: { webhooks: { url: 'u', secret: LATE } },
            } as unknown as Parameters<typeof coll.updateMany>[1]),
          'webhooks.secret',
        ],
        [
          () =>
            coll.findOneAndUpdate(
              { name: 'direct' },
              { $setOnInsert: { 'profile.pin': LATE } },
              { upsert: true },
            ),
          'profile.pin',
        ],
        [
          () => coll.replaceOne({ _id }, { name: 'direct', webhooks: [{ secret: LATE }] }),
          'webhooks.secret',
        ],
        [() => coll.findOneAndReplace({ _id }, { slackToken: LATE }), 'slackToken'],
        [
          () => coll.bulkWrite([{ insertOne: { document: pinned('slackToken', LATE) } }]),
          'slackToken',
        ],
        [
          () =>
            coll.bulkWrite([
              {
                updateOne: {
                  filter: { slackToken: LATE },
                  update: { $set: { name: 'direct' } },
                  upsert: true,
                },
              },
            ]),
          'slackToken',
        ],
        [
          () =>
            coll.updateOne({ slackToken: LATE }, { $set: { name: 'direct' } }, { upsert: true }),
          'slackToken',
        ],
      ];
      for (const [run, field] of refusals) await expectRejected(run, field);
      for (const run of [
        () => coll.updateOne({ _id }, { $rename: { name: 'slackToken' } }),
        () => coll.updateOne({ _id }, { $inc: { slackToken: 1 } }),
      ]) {
        await expect(run()).rejects.toSatisfy((e) => CmekQueryError.isInstance(e));
      }
      expect(() => coll.aggregate([{ $set: { slackToken: LATE } }, { $out: 'copies' }])).toThrow(
        expect.objectContaining({ code: 'CMEK_QUERY', field: 'slackToken' }),
      );
      expect(() => coll.initializeOrderedBulkOp()).toThrow(
        expect.objectContaining({ code: 'CMEK_QUERY' }),
      );
      expect(await integrations().countDocuments({ name: 'direct' })).toBe(0);
      expect(await integrations().findOne({ _id: rawId })).toEqual(before);

      // tokens (copied from the database or encrypted by the application) and null pass
      const token = await db.envelope.encrypt('xoxb-direct', { context: ctx('slackToken') });
      const inserted = await coll.insertOne({
        name: 'direct-ok',
        slackToken: token,
        profile: null,
      });
      await coll.updateOne(
        { _id: inserted.insertedId },
        { $set: { 'settings.smtp.password': null }, $unset: { extra: 1 } },
      );
      await coll.updateOne({ _id }, { $pop: { webhooks: -1 } });
      const read = await m.Integration.findById(String(inserted.insertedId));
      expect(read!.slackToken).toBe('xoxb-direct');
      expect(at((await integrations().findOne({ _id: rawId }))!, 'webhooks.0.secret')).toBe(
        at(before, 'webhooks.1.secret'),
      );
    });

    it('a schema default on an encrypted path that Mongoose applies after the middleware (insertMany, bulkWrite insertOne, upserts) is refused; save and create encrypt it', async () => {
      const schema = new mongoose.Schema({
        name: String,
        apiKey: { type: String, default: LATE },
      });
      schema.plugin(cmekPlugin, { envelope: db.envelope, fields: ['apiKey'] });
      const Defaulted = db.conn.model('Defaulted', schema);
      const created = await Defaulted.create({ name: 'created' });
      expect(created.apiKey).toBe(LATE);
      const stored = await db.raw.collection('defaulteds').findOne({ _id: oid(created._id) });
      await expectToken(db.envelope, stored!.apiKey, ctx('apiKey', 'Defaulted'), LATE);
      await expectRejected(() => Defaulted.insertMany([{ name: 'many' }]), 'apiKey');
      await expectRejected(
        () => Defaulted.bulkWrite([{ insertOne: { document: { name: 'bulk' } } }]),
        'apiKey',
      );
      await expectRejected(
        () =>
          Defaulted.updateOne({ name: 'upsert' }, { $set: { name: 'upsert' } }, { upsert: true }),
        'apiKey',
      );
      expect(await db.raw.collection('defaulteds').countDocuments()).toBe(1);
      // the value given explicitly is encrypted by the middleware, on every one of these paths
      await Defaulted.insertMany([{ name: 'many', apiKey: 'given' }]);
      await Defaulted.updateOne(
        { name: 'upsert' },
        { $setOnInsert: { apiKey: 'given' } },
        { upsert: true },
      );
      for (const doc of await db.raw
        .collection('defaulteds')
        .find({ name: { $ne: 'created' } })
        .toArray()) {
        await expectToken(db.envelope, doc.apiKey, ctx('apiKey', 'Defaulted'), 'given');
      }
    });

    it('the guard covers discriminators, useDb models and Model.useConnection', async () => {
      const Special = m.Integration.discriminator(
        'GuardSpecial',
        new mongoose.Schema({ level: Number }),
      );
      await expectRejected(
        () => Special.collection.insertOne({ level: 1, slackToken: LATE }),
        'slackToken',
      );
      const sub = db.conn.useDb(`${db.raw.databaseName}_sub`);
      try {
        const Sub = sub.model('Integration', integrationSchema(mongoose, db.envelope));
        expect(Sub.collection).not.toBe(m.Integration.collection);
        await expectRejected(() => Sub.collection.insertOne({ slackToken: LATE }), 'slackToken');
        const Moved = db.conn.model('Moved', integrationSchema(mongoose, db.envelope), 'moved');
        const first = Moved.collection;
        Moved.useConnection(sub);
        expect(Moved.collection).not.toBe(first);
        await expectRejected(() => Moved.collection.insertOne({ slackToken: LATE }), 'slackToken');
        const moved = await Moved.create(sample());
        const stored = await sub.db!.collection('moved').findOne({ _id: moved._id });
        await expectToken(db.envelope, stored!.slackToken, ctx('slackToken', 'Moved'), 'xoxb-123');
        expect(await sub.db!.collection('moved').countDocuments({ slackToken: LATE })).toBe(0);
      } finally {
        await sub.dropDatabase();
      }
    });
  });
}
