/** Non-strings on encrypted paths are refused (CMEK_INVALID_INPUT) and no error carries the value. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cmekPlugin } from '../src/index';
import { models } from './support/models';
import {
  type Database,
  mongooses,
  mongoUrl,
  onFerretDb,
  openDatabase,
  rawIntegration,
} from './support/mongo';

const MARKER = 'T-obj-4711-secret';

/** Every text an error exposes: message, String(), stack, cause chain, enumerable props. */
function texts(error: unknown): string {
  const out: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current != null && depth < 5; depth++) {
    const e = current as Error & { errors?: Record<string, { value?: unknown; reason?: unknown }> };
    out.push(String(e), String(e.message), String(e.stack));
    try {
      out.push(JSON.stringify(e));
    } catch {}
    for (const sub of Object.values(e.errors ?? {})) {
      out.push(String(sub), JSON.stringify(sub.value ?? null), String(sub.reason));
    }
    current = e.cause;
  }
  return out.join('\n');
}

async function refusal(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('the write was not refused');
}

for (const { label, mongoose } of mongooses) {
  describe.skipIf(!mongoUrl)(`error secrecy (${label})`, () => {
    let db: Database;
    let m: ReturnType<typeof models>;
    beforeAll(async () => {
      db = await openDatabase(mongoose, mongoUrl!);
      m = models(db, mongoose);
    });
    afterAll(async () => db?.close());

    const values: [string, unknown][] = [
      ['an object', { a: MARKER }],
      ['an array', [MARKER]],
      ['a number', 4711],
      ['a Date', new Date(4711)],
      ['a boolean', true],
    ];
    for (const [kind, value] of values) {
      const writes: [string, () => Promise<unknown>][] = [
        ['create', () => m.Integration.create({ name: 'x', slackToken: value as string })],
        ['save', () => new m.Integration({ name: 'x', slackToken: value }).save()],
        ['insertMany', () => m.Integration.insertMany([{ name: 'x', slackToken: value }])],
        ['create (array path)', () => m.Integration.create({ webhooks: [{ secret: value }] })],
        ['create (Mixed path)', () => m.Integration.create({ extra: { apiKey: value } })],
        ['updateOne', () => m.Integration.updateOne({}, { $set: { slackToken: value } })],
        [
          'bulkWrite',
          () => m.Integration.bulkWrite([{ insertOne: { document: { slackToken: value } } }]),
        ],
        ['replaceOne', () => m.Integration.replaceOne({}, { slackToken: value })],
      ];
      for (const [path, run] of writes) {
        it(`${path} refuses ${kind} with CMEK_INVALID_INPUT, no error text holds it`, async () => {
          const before = await db.raw.collection('integrations').countDocuments();
          const error = await refusal(run);
          expect((error as { code?: string }).code).toBe('CMEK_INVALID_INPUT');
          const all = texts(error);
          expect(all).not.toContain(MARKER);
          expect(all).not.toContain('4711');
          expect(await db.raw.collection('integrations').countDocuments()).toBe(before);
        });
      }
    }

    it('a validation error of a document with a refused value holds no value', () => {
      const doc = new m.Integration({ slackToken: { a: MARKER } });
      const error = doc.validateSync();
      expect(error).toBeDefined();
      expect(texts(error)).not.toContain(MARKER);
      expect(error!.errors.slackToken!.value).toBeUndefined();
    });

    it('non-UTF-8 bytes are refused and store nothing; UTF-8 bytes are stored encrypted and read as the string', async () => {
      const before = await db.raw.collection('integrations').countDocuments();
      const bad = await refusal(() =>
        m.Integration.create({ slackToken: Buffer.from([0xff, 0xfe]) as unknown as string }),
      );
      expect((bad as { code?: string }).code).toBe('CMEK_INVALID_INPUT');
      expect(await db.raw.collection('integrations').countDocuments()).toBe(before);
      // bytes are not in the model's type: a caller passing them anyway is what is tested
      const bytes = Buffer.from('héllo-bytes', 'utf8') as unknown as string;
      const doc = await m.Integration.create({ slackToken: bytes });
      const raw = await rawIntegration(db, doc._id);
      expect(String(raw.slackToken).startsWith('cmek:v1:')).toBe(true);
      expect((await m.Integration.findById(doc._id).lean())!.slackToken).toBe('héllo-bytes');
    });
    it('a duplicate key on an encrypted path: no whole token in the driver error, its class and code kept', async () => {
      const { Schema } = mongoose;
      const schema = new Schema({ name: String, apiKey: { type: String, unique: true } });
      schema.plugin(cmekPlugin, { envelope: db.envelope, fields: ['apiKey'] });
      const Unique = db.conn.model(`UniqueKey${Date.now()}`, schema);
      await Unique.init();
      const first = await Unique.create({ name: 'a', apiKey: MARKER });
      // the model's collection reads below the plugin: the stored token
      const { apiKey: token } = (await Unique.collection.findOne({
        _id: first._id,
      })) as unknown as { apiKey: string };
      expect(token.startsWith('cmek:v1:')).toBe(true);
      // a token that decrypts under the field's context is stored as it is: the same token twice
      const writes: [string, () => Promise<unknown>][] = [
        ['create', () => Unique.create({ name: 'b', apiKey: token })],
        [
          'insertMany (unordered)',
          () => Unique.insertMany([{ apiKey: token }], { ordered: false }),
        ],
        [
          'updateOne',
          async () => {
            const other = await Unique.create({ name: 'c', apiKey: 'another' });
            return Unique.updateOne({ _id: other._id }, { $set: { apiKey: token } });
          },
        ],
      ];
      for (const [label, run] of writes) {
        const error = await refusal(run);
        // FerretDB answers a unique violation of an update with code 1 (MongoDB: 11000)
        const code = onFerretDb && label === 'updateOne' ? 1 : 11000;
        expect((error as { code?: unknown }).code, label).toBe(code);
        expect((error as Error).name, label).toMatch(/^Mongo(Server|BulkWrite)Error$/);
        expect(error, label).toBeInstanceOf(Error);
        const all = texts(error);
        expect(all, label).not.toContain(token);
        expect(all, label).not.toContain(token.slice(0, 40));
        expect(all, label).not.toContain(MARKER);
      }
    });

    it('insertMany does not decrypt what it wrote; find decrypts at most once per field', async () => {
      const spy = vi.spyOn(db.envelope, 'decryptMany');
      const spyOne = vi.spyOn(db.envelope, 'decrypt');
      const docs = await m.Integration.insertMany(
        Array.from({ length: 30 }, (_, i) => ({ name: 'count-me', slackToken: `tok-${i}` })),
      );
      expect(docs.map((d) => d.slackToken)).toEqual(
        Array.from({ length: 30 }, (_, i) => `tok-${i}`),
      );
      expect(spy).toHaveBeenCalledTimes(0);
      const found = await m.Integration.find({ name: 'count-me' }).lean();
      expect(found).toHaveLength(30);
      expect(spy.mock.calls.length).toBeLessThanOrEqual(5);
      expect(spyOne).toHaveBeenCalledTimes(0);
      spy.mockRestore();
      spyOne.mockRestore();
    });
  });
}
