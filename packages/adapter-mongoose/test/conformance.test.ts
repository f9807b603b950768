/** The shared adapter conformance suite, on the real server, with both Mongoose majors. */
import { randomBytes } from 'node:crypto';
import { createBlindIndexKey, loadBlindIndexes } from '@cmek/core';
import { createLocalKekProviderFromKey } from '@cmek/provider-local';
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
        blindIndex: true,
        async setup(): Promise<AdapterSession> {
          db = await openDatabase(mongoose, mongoUrl!);
          const { envelope, raw } = db;
          const kek = createLocalKekProviderFromKey(randomBytes(32));
          const indexer = await loadBlindIndexes({ keys: [await createBlindIndexKey(kek)], kek });
          const index = { column: 'tokenHashBidx' };
          const schema = new mongoose.Schema({
            secret: String,
            note: String,
            label: String,
            tokenHash: String,
            tokenHashBidx: String,
          });
          // sparse: documents without a token hash (no index) are not indexed
          schema.index({ tokenHashBidx: 1 }, { unique: true, sparse: true });
          schema.plugin(cmekPlugin, {
            envelope,
            indexer,
            fields: { secret: {}, note: {}, tokenHash: { blindIndex: index } },
          });
          const Secret = db.conn.model('Secret', schema);
          await Secret.init();
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
            blindIndex: {
              field: 'tokenHash',
              index,
              indexer,
              async findBy(value) {
                return (await Secret.find({ tokenHash: value }).lean()).map((d) => String(d._id));
              },
              async findIn(values) {
                const docs = await Secret.find({ tokenHash: { $in: [...values] } }).lean();
                return docs.map((d) => String(d._id));
              },
              async rawIndexed(id) {
                const doc = await coll.findOne({ _id: oid(id) });
                if (doc === null) return null;
                return {
                  value: (doc.tokenHash as string | null | undefined) ?? null,
                  index: (doc.tokenHashBidx as string | null | undefined) ?? null,
                };
              },
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
