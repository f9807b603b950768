/**
 * `aggregate()` with `$merge` / `$out` stores what the pipeline outputs: a stage that writes an
 * encrypted path is refused before the pipeline is sent. FerretDB 1.24 implements neither stage,
 * so there a pipeline that passes the check fails on the server (which shows it was sent); on
 * mongod (MONGODB_URI) its output holds the stored tokens.
 */
import { CmekError, CmekQueryError } from '@cmek/core';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctx, models, sample } from './support/models';
import {
  type Database,
  expectToken,
  mongooses,
  mongoUrl,
  onFerretDb,
  openDatabase,
} from './support/mongo';

const LITERAL = 'literal-5e0a';

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`aggregate with $merge / $out (${label})`, () => {
    let db: Database;
    let m: ReturnType<typeof models>;

    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      m = models(db, mongoose);
    });
    afterAll(async () => db?.close());

    it('a pipeline with $merge or $out whose stages write an encrypted path is refused; nothing is written', async () => {
      const doc = await m.Integration.create(sample());
      const _id = new ObjectId(String(doc._id));
      const before = await db.raw.collection('integrations').findOne({ _id });
      const match = { $match: { name: 'acme' } };
      const pipelines: [Record<string, unknown>[], string][] = [
        [
          [match, { $set: { slackToken: LITERAL } }, { $merge: { into: 'integrations' } }],
          'slackToken',
        ],
        [
          [{ $addFields: { 'settings.smtp.password': LITERAL } }, { $out: 'archive' }],
          'settings.smtp.password',
        ],
        [[{ $project: { name: 1, 'profile.pin': LITERAL } }, { $out: 'archive' }], 'profile.pin'],
        [[{ $set: { extra: { apiKey: LITERAL } } }, { $out: 'archive' }], 'extra.apiKey'],
        [
          [{ $merge: { into: 'integrations', whenMatched: [{ $set: { slackToken: LITERAL } }] } }],
          'slackToken',
        ],
        [[{ $replaceWith: { slackToken: LITERAL } }, { $out: 'archive' }], 'slackToken'],
        [[{ $unionWith: { coll: 'plain' } }, { $merge: { into: 'archive' } }], 'slackToken'],
      ];
      for (const [pipeline, field] of pipelines) {
        for (const run of [
          () => m.Integration.aggregate(pipeline as never[]).exec(),
          // Mongoose 9's option to skip middleware does not skip the plugin's check
          () =>
            m.Integration.aggregate(pipeline as never[])
              .option({ middleware: false })
              .exec(),
          () => m.Integration.collection.aggregate(pipeline).toArray(),
        ]) {
          let caught: unknown;
          try {
            await run();
          } catch (error) {
            caught = error;
          }
          expect(CmekQueryError.isInstance(caught), String(caught)).toBe(true);
          expect((caught as CmekQueryError).field).toBe(field);
          expect((caught as Error).message).not.toContain(LITERAL);
        }
      }
      expect(await db.raw.collection('integrations').findOne({ _id })).toEqual(before);
      expect(await db.raw.collection('archive').countDocuments()).toBe(0);
    });

    it('a pipeline with $merge or $out that keeps the stored tokens is sent', async () => {
      const doc = await m.Integration.create({ ...sample(), name: 'copy-me' });
      const pipeline = [
        { $match: { name: 'copy-me' } },
        { $project: { name: 1, slackToken: 1 } },
        { $out: 'copies' },
      ];
      if (onFerretDb) {
        // FerretDB answers "$out is not implemented": the server saw the pipeline
        await expect(m.Integration.aggregate(pipeline as never[]).exec()).rejects.toSatisfy(
          (e) => !CmekError.isInstance(e) && /\$out/.test(String(e)),
        );
        return;
      }
      await m.Integration.aggregate(pipeline as never[]).exec();
      const _id = new ObjectId(String(doc._id));
      const source = await db.raw.collection('integrations').findOne({ _id });
      const copy = await db.raw.collection('copies').findOne({ _id });
      expect(copy!.slackToken).toBe(source!.slackToken);
      await expectToken(db.envelope, copy!.slackToken, ctx('slackToken'), 'xoxb-123');
    });
  });
}
