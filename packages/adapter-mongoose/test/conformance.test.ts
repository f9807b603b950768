/** The shared adapter conformance suite, on the real server, with both Mongoose majors. */
import { type AdapterSession, adapterConformanceSuite, type FieldValues } from '@cmek/test-suite';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { cmekPlugin } from '../src/index';
import { type Database, mongooses, mongoUrl, openDatabase } from './support/mongo';

const pick = (doc: Record<string, unknown> | null | undefined): FieldValues | null =>
  doc == null
    ? null
    : {
        secret: (doc.secret as string | null | undefined) ?? null,
        note: (doc.note as string | null | undefined) ?? null,
      };

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`conformance (${label})`, () => {
    let db: Database | undefined;
    adapterConformanceSuite(
      { describe, it, beforeAll, afterAll },
      {
        async setup(): Promise<AdapterSession> {
          db = await openDatabase(mongoose, mongoUrl!);
          const { envelope, raw } = db;
          const schema = new mongoose.Schema({ secret: String, note: String, label: String });
          schema.plugin(cmekPlugin, { envelope, fields: ['secret', 'note'] });
          const Secret = db.conn.model('Secret', schema);
          const coll = raw.collection('secrets');
          const oid = (id: string | number) => new ObjectId(String(id));
          return {
            envelope,
            fields: ['secret', 'note'],
            contextFor: (field) => ({ field: `Secret.${field}` }),
            async insert(values) {
              const doc = await Secret.create(values);
              return String(doc._id);
            },
            async insertMany(rows) {
              const docs = await Secret.insertMany(rows.map((r) => ({ ...r })));
              return docs.map((d) => String(d._id));
            },
            async update(id, patch) {
              // the ordinary document path: load, set, save
              const doc = await Secret.findById(id);
              if (!doc) throw new Error(`no document ${id}`);
              doc.set(patch);
              await doc.save();
            },
            async read(id) {
              return pick(await Secret.findById(id).lean());
            },
            async readAll() {
              const docs = await Secret.find().lean();
              return docs.map((d) => ({ id: String(d._id), values: pick(d)! }));
            },
            async rawRow(id) {
              return pick(await coll.findOne({ _id: oid(id) }));
            },
            async writeRaw(id, values) {
              await coll.updateOne({ _id: oid(id) }, { $set: { ...values } });
            },
            whereOnEncrypted(field, value) {
              return Secret.find({ [field]: value }).exec();
            },
          };
        },
        async cleanup() {
          await db?.close();
        },
      },
      { name: 'adapter conformance' },
    );
  });
}
